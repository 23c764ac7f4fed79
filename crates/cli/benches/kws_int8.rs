//! Integer engine speed on quantized MLPerf Tiny KWS DS-CNN models, against ONNX Runtime running
//! the same QDQ graph in the same run.
//!
//! `cargo bench -p milliwatt --bench kws_int8` prints, per model, inference-only medians of several
//! runs over the 4,890 reference feature rows (batches of 256), one thread and two: milliwatt's
//! integer engine (the QDQ graph lowered as `milliwatt eval --engine integer` lowers it, the
//! batches split over the threads) and ONNX Runtime (`intra_op_num_threads`, session creation
//! excluded), and their ratio. The features are quantized for the model's input as `eval` does
//! when that input is 8-bit; both engines get the same tensors.
//!
//! Models: MLPerf's own int8 QDQ model, and the float model quantized by `milliwatt quantize`
//! (calibration split) with `--scheme w8a8` and `--scheme w4a8`.
//!
//! Needs ../shared (and the .venv for ONNX Runtime); says what is missing otherwise.
mod common;

use common::{batches, infer_seconds, median, onnxruntime_seconds, BATCH};
use milliwatt::eval::{input_quantization, prepare_engine, quantize_features, Engine};
use mw_exec::Plan;
use mw_ir::Limits;
use mw_tensor::Tensor;
use std::path::{Path, PathBuf};
use std::process::Command;

const RUNS: usize = 7;
const BENCH: &str = "kws_int8 bench";

/// `milliwatt quantize` of the float model with `scheme` (calibration split), into `dir`.
fn quantize(float_model: &Path, data: &Path, scheme: &str, dir: &Path) -> Result<PathBuf, String> {
    let model = dir.join(format!("kws_{scheme}.onnx"));
    let out = Command::new(env!("CARGO_BIN_EXE_milliwatt"))
        .arg("quantize")
        .arg(float_model)
        .arg("--calib")
        .arg(format!("speech-commands:{}", data.display()))
        .args([
            "--calib-split",
            "calibration",
            "--scheme",
            scheme,
            "--no-measure",
            "-o",
        ])
        .arg(&model)
        .output()
        .map_err(|e| format!("milliwatt does not run: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    Ok(model)
}

/// Times one quantized model on both engines, one thread and two, and prints the figures.
fn bench_model(label: &str, model: &Path, features: &Tensor, dir: &Path) {
    let limits = Limits::default();
    let graph = mw_onnx::load(model, &limits).expect("model loads");
    let x = match input_quantization(&graph).expect("input quantization") {
        Some(q) => quantize_features(features, &q).expect("quantized features"),
        None => features.clone(),
    };
    let x_npy = dir.join(format!("x_{}.npy", label.replace(' ', "_")));
    mw_data::write_npy(&x_npy, &x).expect("features written");
    let (lowered, _, fallback) = prepare_engine(graph, Engine::Integer).expect("lowered");
    let plan = Plan::new(lowered, limits).expect("plan");
    let batches = batches(&x);
    println!(
        "{label} ({}, input {}, {} op(s) left in float):",
        model.display(),
        x.dtype().name(),
        fallback.len()
    );
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for threads in [1, 2] {
        infer_seconds(&plan, &batches, threads); // warm-up
        let t = median(
            (0..RUNS)
                .map(|_| infer_seconds(&plan, &batches, threads))
                .collect(),
        );
        ours.push(t);
        theirs.push(onnxruntime_seconds(model, &x_npy, threads, RUNS));
    }
    for (i, threads) in [1, 2].into_iter().enumerate() {
        match &theirs[i] {
            Ok(ort) => println!(
                "  {threads} thread(s): milliwatt {:.3} s, onnxruntime {ort:.3} s, ratio {:.2}× (milliwatt / onnxruntime)",
                ours[i],
                ours[i] / ort
            ),
            Err(why) => println!(
                "  {threads} thread(s): milliwatt {:.3} s (onnxruntime unavailable: {why})",
                ours[i]
            ),
        }
    }
    println!(
        "  speed-up from a second thread (1-thread time / 2-thread time): milliwatt {:.2}×{}",
        ours[0] / ours[1],
        match (&theirs[0], &theirs[1]) {
            (Ok(a), Ok(b)) => format!(", onnxruntime {:.2}×", a / b),
            _ => String::new(),
        }
    );
}

fn main() {
    let (Some(float_model), Some(int8_model), Some(data), Some(mfcc)) = (
        mw_testkit::shared_or_skip(BENCH, "models/mlperf-tiny/kws_dscnn_float32.onnx"),
        mw_testkit::shared_or_skip(BENCH, "models/mlperf-tiny/kws_dscnn_int8_qdq.onnx"),
        mw_testkit::shared_or_skip(BENCH, "data/speech_commands_v0.02_test"),
        mw_testkit::shared_or_skip(BENCH, "data/kws_reference_features/mfcc.npy"),
    ) else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("mw-kws-int8-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary folder");
    let features = mw_data::read_npy(&mfcc).expect("mfcc.npy");
    println!(
        "inference of {} rows in batches of {BATCH}, median of {RUNS} runs",
        features.shape()[0]
    );
    bench_model("MLPerf int8 QDQ", &int8_model, &features, &dir);
    for scheme in ["w8a8", "w4a8"] {
        match quantize(&float_model, &data, scheme, &dir) {
            Ok(model) => bench_model(&format!("milliwatt {scheme}"), &model, &features, &dir),
            Err(why) => println!("milliwatt {scheme}: quantize failed: {why}"),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

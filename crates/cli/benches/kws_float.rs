//! Float engine speed on the MLPerf Tiny KWS DS-CNN, against ONNX Runtime in the same run.
//!
//! `cargo bench -p milliwatt --bench kws_float` prints, as medians of several runs:
//! * the whole `eval` of the 4,890 Speech Commands clips from WAVs (front end included), one thread;
//! * inference only on the 4,890 reference feature rows, milliwatt vs ONNX Runtime, one and two
//!   threads, and their ratio.
//!
//! Needs ../shared (and the .venv for ONNX Runtime); says what is missing otherwise.
mod common;

use common::{batches, infer_seconds, median, onnxruntime_seconds, BATCH};
use milliwatt::dataset::{DatasetSpec, SplitArg};
use milliwatt::eval::{eval_file, EvalOptions};
use mw_exec::Plan;
use mw_ir::Limits;

fn main() {
    let (Some(model), Some(data), Some(mfcc)) = (
        mw_testkit::shared_or_skip(
            "kws_float bench",
            "models/mlperf-tiny/kws_dscnn_float32.onnx",
        ),
        mw_testkit::shared_or_skip("kws_float bench", "data/speech_commands_v0.02_test"),
        mw_testkit::shared_or_skip("kws_float bench", "data/kws_reference_features/mfcc.npy"),
    ) else {
        return;
    };
    let limits = Limits::default();
    let options = EvalOptions {
        dataset: DatasetSpec::SpeechCommands(data),
        split: SplitArg::All,
        batch: BATCH,
        progress: false,
    };
    let eval_runs: Vec<f64> = (0..3)
        .map(|_| eval_file(&model, &options, &limits).expect("eval").seconds)
        .collect();
    println!(
        "eval of 4,890 clips from WAVs (front end + inference), 1 thread: median {:.3} s over {} runs",
        median(eval_runs.clone()),
        eval_runs.len()
    );

    let features = mw_data::read_npy(&mfcc).expect("mfcc.npy");
    let batches = batches(&features);
    let plan = Plan::new(mw_onnx::load(&model, &limits).expect("model"), limits).expect("plan");
    for threads in [1, 2] {
        let ours = median(
            (0..7)
                .map(|_| infer_seconds(&plan, &batches, threads))
                .collect(),
        );
        match onnxruntime_seconds(&model, &mfcc, threads, 7) {
            Ok(ort) => println!(
                "inference of 4,890 rows, {threads} thread(s): milliwatt {ours:.3} s, onnxruntime {ort:.3} s, ratio {:.2}× (milliwatt / onnxruntime)",
                ours / ort
            ),
            Err(why) => println!(
                "inference of 4,890 rows, {threads} thread(s): milliwatt {ours:.3} s (onnxruntime: {why})"
            ),
        }
    }
}

//! The float engine on the real MLPerf Tiny keyword-spotting model and the real Speech Commands
//! test set: accuracy from WAVs through milliwatt's own front end, agreement with ONNX Runtime on
//! the reference features, and the model's size. Skips (printing why) without ../shared or the
//! ONNX Runtime venv.
use milliwatt::dataset::{DatasetSpec, SplitArg};
use milliwatt::eval::{eval_file, EvalOptions};
use mw_exec::Plan;
use mw_ir::Limits;
use mw_tensor::Tensor;
use mw_testkit::{python_or_skip, shared_or_skip};
use std::process::Command;

const MODEL: &str = "models/mlperf-tiny/kws_dscnn_float32.onnx";
const DATA: &str = "data/speech_commands_v0.02_test";

fn eval_split(split: SplitArg) -> Option<milliwatt::eval::EvalReport> {
    let model = shared_or_skip("kws_float", MODEL)?;
    let data = shared_or_skip("kws_float", DATA)?;
    let options = EvalOptions {
        dataset: DatasetSpec::SpeechCommands(data),
        split,
        batch: 256,
        progress: false,
    };
    Some(eval_file(&model, &options, &Limits::default()).expect("eval runs"))
}

#[test]
fn top1_from_wavs_matches_onnxruntime_on_reference_features() {
    let Some(all) = eval_split(SplitArg::All) else {
        return;
    };
    println!("all: top-1 {:.4} ({}/{})", all.top1, all.correct, all.total);
    assert_eq!(all.total, 4890);
    assert!(all.top1 >= 0.9207, "top-1 {} below 0.9207", all.top1);
    let eval = eval_split(SplitArg::Eval).expect("shared present");
    println!(
        "eval: top-1 {:.4} ({}/{})",
        eval.top1, eval.correct, eval.total
    );
    assert_eq!(eval.total, 4450);
    assert!(eval.top1 >= 0.9163, "eval top-1 {} below 0.9163", eval.top1);
}

#[test]
fn float_engine_equals_onnxruntime_on_all_reference_features() {
    let Some(model) = shared_or_skip("kws_ort", MODEL) else {
        return;
    };
    let Some(mfcc) = shared_or_skip("kws_ort", "data/kws_reference_features/mfcc.npy") else {
        return;
    };
    let Some(py) = python_or_skip("kws_ort") else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("mw-kws-ort-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ort_out = dir.join("ort.npy");
    let script = r#"
import sys, numpy as np, onnxruntime as ort
opts = ort.SessionOptions(); opts.intra_op_num_threads = 2
s = ort.InferenceSession(sys.argv[1], opts, providers=["CPUExecutionProvider"])
x = np.load(sys.argv[2])
y = np.concatenate([s.run(None, {s.get_inputs()[0].name: x[i:i+512]})[0] for i in range(0, len(x), 512)])
np.save(sys.argv[3], y.astype(np.float32))
"#;
    let status = Command::new(&py)
        .args(["-c", script])
        .arg(&model)
        .arg(&mfcc)
        .arg(&ort_out)
        .status()
        .expect("python runs");
    assert!(status.success(), "onnxruntime script failed");
    let expected = mw_data::read_npy(&ort_out).unwrap();
    let features = mw_data::read_npy(&mfcc).unwrap();
    let graph = mw_onnx::load(&model, &Limits::default()).unwrap();
    let plan = Plan::new(graph, Limits::default()).unwrap();
    let n = features.shape()[0];
    let x = features.as_slice::<f32>().unwrap();
    let per = 49 * 10;
    let mut got = Vec::with_capacity(n * 12);
    for start in (0..n).step_by(512) {
        let end = (start + 512).min(n);
        let batch = Tensor::from_vec(
            vec![end - start, 49, 10, 1],
            x[start * per..end * per].to_vec(),
        )
        .unwrap();
        let out = plan.run(vec![batch]).unwrap().remove(0);
        got.extend_from_slice(out.as_slice::<f32>().unwrap());
    }
    let want = expected.as_slice::<f32>().unwrap();
    assert_eq!(got.len(), want.len());
    let max_diff = got
        .iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    println!("max |milliwatt - onnxruntime| over {n} clips: {max_diff:e}");
    assert!(
        max_diff <= 1e-4,
        "max abs difference {max_diff} exceeds 1e-4"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn inspect_reports_the_published_size() {
    let Some(model) = shared_or_skip("kws_inspect", MODEL) else {
        return;
    };
    let report = milliwatt::inspect::inspect_file(&model, &Limits::default()).unwrap();
    let t = &report.totals;
    println!(
        "{} MACs, {} params, {} weight bytes",
        t.macs, t.params, t.weight_bytes
    );
    assert!(
        (t.macs as f64 - 2.66e6).abs() <= 0.02 * 2.66e6,
        "MACs {}",
        t.macs
    );
    assert!(
        (t.params as f64 - 22.6e3).abs() <= 0.02 * 22.6e3,
        "params {}",
        t.params
    );
}

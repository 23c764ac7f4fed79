//! `milliwatt quantize --scheme w4a16` (int4 weights, int16 activations) of the float KWS model:
//! the integer engine lowers every layer (16-bit activations, weights kept packed) including the
//! final Softmax of 16-bit logits, so nothing between entry and exit computes in float, and
//! ONNX Runtime on the exported QDQ model agrees with milliwatt's integer engine on the top-1
//! prediction of ≥ 99 % of the eval split's clips. Skips without ../shared or Python with
//! onnxruntime.
mod int8_common;

use int8_common::*;
use mw_data::speech_commands::{features, Split};
use mw_data::{MfccFrontEnd, SpeechCommands};
use mw_ir::passes::{integer_only, lower_qdq};
use mw_ir::Limits;
use mw_testkit::{python_or_skip, shared_or_skip};
use std::process::Command;

const FLOAT_MODEL: &str = "models/mlperf-tiny/kws_dscnn_float32.onnx";
const DATA: &str = "data/speech_commands_v0.02_test";

#[test]
fn w4a16_kws_runs_integer_and_agrees_with_onnxruntime() {
    let test = "lowbit_a16";
    let (Some(float_model), Some(data), Some(py)) = (
        shared_or_skip(test, FLOAT_MODEL),
        shared_or_skip(test, DATA),
        python_or_skip(test),
    ) else {
        return;
    };
    let dir = temp_dir(test);
    let model = dir.join("kws_w4a16.onnx");
    let out = Command::new(env!("CARGO_BIN_EXE_milliwatt"))
        .arg("quantize")
        .arg(&float_model)
        .arg("--calib")
        .arg(format!("speech-commands:{}", data.display()))
        .args(["--scheme", "w4a16", "--no-measure", "-o"])
        .arg(&model)
        .output()
        .expect("binary runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let graph = mw_onnx::load(&model, &Limits::default()).unwrap();
    assert!(graph.meta.opset >= 21);
    let int4: Vec<&mw_ir::Value> = graph
        .values
        .iter()
        .filter(|v| {
            v.konst
                .as_ref()
                .is_some_and(|t| t.dtype() == mw_tensor::DType::I4)
        })
        .collect();
    assert!(int4.len() >= 5, "int4 weight tensors: {}", int4.len());
    let (lowered, pass) = lower_qdq(&graph).unwrap();
    let lint = integer_only(&lowered, Some(&pass)).unwrap();
    assert!(lint.is_integer_only(), "float ops: {:?}", lint.float_ops);
    assert!(
        lowered.nodes.iter().any(|n| n.op.op_type() == "MwQSoftmax"),
        "the Softmax is not lowered"
    );
    let convs = lowered
        .nodes
        .iter()
        .filter(|n| n.op.op_type().ends_with("QLinearConv"))
        .count();
    assert!(convs >= 9, "{convs} integer convolutions");

    let sc = SpeechCommands::open(&data).unwrap();
    let x = features(&MfccFrontEnd::new(), sc.clips(Split::Eval)).unwrap();
    let x_npy = dir.join("eval.npy");
    mw_data::write_npy(&x_npy, &x).unwrap();
    run_ort(&py, &model, &x_npy, &dir, 0, &[]);
    let (ours, _) = run_ours(&plan(lowered), &x, 500, 0, &[]);
    let theirs = read_f32(&dir.join("final.npy"));
    let (a, b) = (argmax(&ours, 12), argmax(&theirs, 12));
    let agree = a.iter().zip(&b).filter(|(p, q)| p == q).count();
    println!(
        "W4A16 top-1 agreement with ONNX Runtime {agree}/{} = {:.4} %",
        a.len(),
        100.0 * agree as f64 / a.len() as f64
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(a.len(), 4450);
    assert!(
        agree as f64 >= 0.99 * a.len() as f64,
        "top-1 agreement {agree}"
    );
}

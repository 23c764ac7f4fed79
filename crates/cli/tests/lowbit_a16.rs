//! `milliwatt quantize --scheme w4a16` (int4 weights, int16 activations) of the float KWS model:
//! the integer engine lowers every layer (16-bit activations, weights kept packed) including the
//! final Softmax of 16-bit logits, so nothing between entry and exit computes in float, and
//! ONNX Runtime on the exported QDQ model agrees with milliwatt's integer engine on the top-1
//! prediction of ≥ 99 % of the eval split's clips. Skips without ../shared or Python with
//! onnxruntime.
mod int8_common;

use int8_common::*;
use mw_ir::passes::{integer_only, lower_qdq};
use mw_testkit::{python_or_skip, shared_or_skip};

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
    let graph = quantize_lowbit(&float_model, &data, &model, &["--scheme", "w4a16"]);
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
    assert_eval_top1_agreement(&py, &data, &dir, &model, lowered, "W4A16");
    let _ = std::fs::remove_dir_all(&dir);
}

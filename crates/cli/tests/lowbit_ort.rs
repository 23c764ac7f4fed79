//! `milliwatt quantize --scheme w4a8` (int4 weights per channel, and group-wise with
//! `--group-size 32`; default rounding, calibration split) of the float KWS model: the exported
//! file re-imports with the same int4 weights, the integer engine runs it with zero float ops,
//! and ONNX Runtime (opset 21, INT4 DequantizeLinear) agrees with milliwatt's integer engine on
//! the top-1 prediction of ≥ 99 % of the eval split's clips.
//! Skips without ../shared or Python with onnxruntime.
mod int8_common;

use int8_common::*;
use mw_ir::passes::{integer_only, lower_qdq};
use mw_ir::Limits;
use mw_testkit::{python_or_skip, shared_or_skip};

const FLOAT_MODEL: &str = "models/mlperf-tiny/kws_dscnn_float32.onnx";
const DATA: &str = "data/speech_commands_v0.02_test";

#[test]
fn w4a8_kws_agrees_with_onnxruntime_on_the_eval_split() {
    check("lowbit_ort", &[]);
}

#[test]
fn w4a8_group_wise_kws_agrees_with_onnxruntime_on_the_eval_split() {
    check("lowbit_ort_g32", &["--group-size", "32"]);
}

/// Quantizes with `extra` arguments, then checks the round trip, zero float ops and the top-1
/// agreement with ONNX Runtime.
fn check(test: &str, extra: &[&str]) {
    let (Some(float_model), Some(data), Some(py)) = (
        shared_or_skip(test, FLOAT_MODEL),
        shared_or_skip(test, DATA),
        python_or_skip(test),
    ) else {
        return;
    };
    let dir = temp_dir(test);
    let model = dir.join("kws_w4a8.onnx");
    let args: Vec<&str> = ["--scheme", "w4a8"].iter().chain(extra).copied().collect();
    let graph = quantize_lowbit(&float_model, &data, &model, &args);
    // Round trip: export → import gives the same values.
    let again = dir.join("again.onnx");
    mw_onnx::save(&graph, &again).unwrap();
    let back = mw_onnx::load(&again, &Limits::default()).unwrap();
    for v in int4_values(&graph) {
        let b = back.values.iter().find(|b| b.name == v.name).unwrap();
        assert_eq!(b.konst, v.konst, "{}", v.name);
    }

    let (lowered, pass) = lower_qdq(&graph).unwrap();
    let lint = integer_only(&lowered, Some(&pass)).unwrap();
    assert!(
        lint.is_integer_only(),
        "float ops remain: {:?}",
        lint.float_ops
    );
    assert_eval_top1_agreement(
        &py,
        &data,
        &dir,
        &model,
        lowered,
        &format!("W4A8 {extra:?}"),
    );
    let _ = std::fs::remove_dir_all(&dir);
}

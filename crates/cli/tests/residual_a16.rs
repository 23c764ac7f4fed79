//! `milliwatt quantize --scheme w8a16` of a small residual CNN (ResNet's Add after two convs) on
//! the KWS features: `milliwatt inspect --integer-only` reports zero float ops (the 16-bit
//! residual Add lowers to MwQAdd), and ONNX Runtime on the exported QDQ model agrees with
//! milliwatt's integer engine on the top-1 prediction of ≥ 99 % of the eval split's clips.
//! The float model is built by `residual_a16/make_model.py` (onnx + numpy, fixed seed). Skips
//! without ../shared or Python with onnxruntime.
mod int8_common;

use int8_common::*;
use mw_ir::passes::{integer_only, lower_qdq};
use mw_ir::Limits;
use mw_testkit::{python_or_skip, shared_or_skip};
use std::path::Path;
use std::process::Command;

const DATA: &str = "data/speech_commands_v0.02_test";

fn milliwatt(args: &[&std::ffi::OsStr]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_milliwatt"))
        .args(args)
        .output()
        .expect("binary runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn make_float_model(py: &Path, out: &Path) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/residual_a16/make_model.py");
    let o = Command::new(py).arg(script).arg(out).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn w8a16_residual_add_is_integer_only_and_agrees_with_onnxruntime() {
    let test = "residual_a16";
    let (Some(data), Some(py)) = (shared_or_skip(test, DATA), python_or_skip(test)) else {
        return;
    };
    let dir = temp_dir(test);
    let (float_model, model) = (dir.join("residual.onnx"), dir.join("residual_w8a16.onnx"));
    make_float_model(&py, &float_model);
    let calib = format!("speech-commands:{}", data.display());
    milliwatt(&[
        "quantize".as_ref(),
        float_model.as_os_str(),
        "--calib".as_ref(),
        calib.as_ref(),
        "--calib-split".as_ref(),
        "calibration".as_ref(),
        "--scheme".as_ref(),
        "w8a16".as_ref(),
        "--no-measure".as_ref(),
        "-o".as_ref(),
        model.as_os_str(),
    ]);
    let inspect = milliwatt(&[
        "inspect".as_ref(),
        model.as_os_str(),
        "--integer-only".as_ref(),
    ]);
    assert!(
        inspect.contains("integer-only: zero float ops"),
        "{inspect}"
    );

    let graph = mw_onnx::load(&model, &Limits::default()).unwrap();
    let adds: Vec<_> = graph
        .nodes
        .iter()
        .filter(|n| n.op.op_type() == "Add")
        .collect();
    assert_eq!(adds.len(), 1, "the QDQ model keeps the residual Add");
    let i16_values = graph
        .values
        .iter()
        .filter(|v| v.dtype == Some(mw_tensor::DType::I16))
        .count();
    assert!(i16_values >= 8, "16-bit activations: {i16_values}");
    let (lowered, pass) = lower_qdq(&graph).unwrap();
    let lint = integer_only(&lowered, Some(&pass)).unwrap();
    assert!(lint.is_integer_only(), "float ops: {:?}", lint.float_ops);
    assert!(
        lowered.nodes.iter().any(|n| n.op.op_type() == "MwQAdd"),
        "the residual Add is not lowered"
    );
    assert_eval_top1_agreement(&py, &data, &dir, &model, lowered, "W8A16 residual");
    let _ = std::fs::remove_dir_all(&dir);
}

//! `milliwatt export`: the imported int8 KWS model written as QOperator ONNX holds standard ops only
//! and computes exactly what the QDQ file computes in our engine (skipped without ../shared); a
//! bad format is refused with no output file.
mod int8_common;

use int8_common::*;
use mw_ir::Limits;
use std::process::Command;

fn milliwatt(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_milliwatt"))
        .args(args)
        .output()
        .expect("binary runs")
}

#[test]
fn qoperator_export_keeps_the_models_results() {
    let Some(model) = mw_testkit::shared_or_skip("export_cli", QDQ_MODEL) else {
        return;
    };
    let Some(mfcc) = mw_testkit::shared_or_skip("export_cli", MFCC) else {
        return;
    };
    let dir = temp_dir("export-cli");
    let out = dir.join("kws_qop.onnx");
    let o = milliwatt(&[
        "export",
        model.to_str().unwrap(),
        "--format",
        "qoperator",
        "-o",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["format"], "qoperator");
    assert!(!report["converted"].as_array().unwrap().is_empty());

    let qdq = mw_onnx::load(&model, &Limits::default()).unwrap();
    let qop = mw_onnx::load(&out, &Limits::default()).unwrap();
    for n in &qop.nodes {
        let t = n.op.op_type();
        assert!(!t.starts_with("Mw"), "internal op {t} written to disk");
    }
    assert!(qop.nodes.iter().any(|n| n.op.op_type() == "QLinearConv"));
    let x = rows(&int8_features(&qdq, &mfcc), 0..64);
    let run = |g| {
        plan(g)
            .run(vec![x.clone()])
            .unwrap()
            .remove(0)
            .cast(mw_tensor::DType::F32)
            .into_vec::<f32>()
            .unwrap()
    };
    assert_eq!(run(qdq), run(qop), "QOperator file computes differently");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unknown_format_is_refused_without_output() {
    let dir = temp_dir("export-bad");
    let out = dir.join("x.onnx");
    let o = milliwatt(&[
        "export",
        "whatever.onnx",
        "--format",
        "tflite",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("unknown export format `tflite`"), "{err}");
    assert!(!out.exists());
    let _ = std::fs::remove_dir_all(&dir);
}

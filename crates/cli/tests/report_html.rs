//! `milliwatt report`: one self-contained HTML file with inline SVG naming each model, written
//! atomically (no temporary files left), and errors naming a bad profile file.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn milliwatt(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_milliwatt"))
        .args(args)
        .output()
        .expect("binary runs")
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mw-report-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

const EVAL: &str = r#"{"model":"kws_dscnn_float32.onnx","top1":0.91,
  "per_class":[{"label":"yes","correct":9,"total":10,"accuracy":0.9},
               {"label":"_silence_","correct":10,"total":10,"accuracy":1.0}]}"#;

#[test]
fn report_is_self_contained_and_names_each_model() {
    let Some(dir) = mw_testkit::shared_or_skip(
        "report_is_self_contained_and_names_each_model",
        "models/mlperf-tiny/kws_dscnn_int8_qdq.onnx",
    ) else {
        return;
    };
    let dir = dir.parent().unwrap();
    let float = dir.join("kws_dscnn_float32.onnx");
    let int8 = dir.join("kws_dscnn_int8_qdq.onnx");
    let d = temp_dir("ok");
    let eval = d.join("float_eval.json");
    std::fs::write(&eval, EVAL).unwrap();
    let out_path = d.join("report.html");
    let out = milliwatt(&[
        "report",
        s(&float),
        s(&int8),
        "--hw",
        "horowitz-45nm",
        "--hw",
        "ndp120",
        "--eval",
        s(&eval),
        "--rate",
        "10/s",
        "--budget",
        "10mW",
        "-o",
        s(&out_path),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(&out_path).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.trim_end().ends_with("</html>"));
    assert!(
        html.matches("<svg").count() >= 1 + 2 + 4,
        "scatter, 2 power, 4 layer charts"
    );
    for name in [
        "kws_dscnn_float32",
        "kws_dscnn_int8_qdq",
        "horowitz-45nm",
        "ndp120",
        "_silence_",
    ] {
        assert!(html.contains(name), "missing {name}");
    }
    // Self-contained: no external fetches.
    for bad in ["src=\"http", "href=\"http", "<link", "<script src", "url("] {
        assert!(!html.contains(bad), "external reference {bad}");
    }
    let mut names: Vec<String> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["float_eval.json", "report.html"], "no temp files");
    // Deterministic: the same inputs give the same bytes.
    let again = d.join("again.html");
    let out = milliwatt(&[
        "report",
        s(&float),
        s(&int8),
        "--hw",
        "horowitz-45nm",
        "--hw",
        "ndp120",
        "--eval",
        s(&eval),
        "--rate",
        "10/s",
        "--budget",
        "10mW",
        "-o",
        s(&again),
    ]);
    assert!(out.status.success());
    assert_eq!(std::fs::read(&again).unwrap(), html.as_bytes());
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn report_with_bad_hw_file_names_it_and_writes_nothing() {
    let d = temp_dir("badhw");
    let hw = d.join("broken_profile.toml");
    std::fs::write(&hw, "this is [not toml").unwrap();
    let out_path = d.join("report.html");
    let out = milliwatt(&[
        "report",
        "/nonexistent/model.onnx",
        "--hw",
        s(&hw),
        "-o",
        s(&out_path),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("broken_profile.toml"), "{err}");
    assert!(!out_path.exists());
    let _ = std::fs::remove_dir_all(&d);
}

//! `milliwatt quantize` end to end: the QDQ model and JSON report it writes for the real KWS model
//! (skipped without ../shared), and its refusals (typed message, non-zero exit, no output file).
use mw_ir::Limits;
use mw_testkit::shared_or_skip;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const MODEL: &str = "models/mlperf-tiny/kws_dscnn_float32.onnx";
const DATA: &str = "data/speech_commands_v0.02_test";

fn milliwatt(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_milliwatt"))
        .args(args)
        .output()
        .expect("binary runs")
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mw-quantize-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn quantizes_kws_into_a_qdq_model_with_a_report() {
    let (Some(model), Some(data)) = (
        shared_or_skip("quantize_cli", MODEL),
        shared_or_skip("quantize_cli", DATA),
    ) else {
        return;
    };
    let d = temp_dir("kws");
    let (out, report) = (d.join("kws_w8a8.onnx"), d.join("report.json"));
    let calib = format!("speech-commands:{}", data.display());
    let o = milliwatt(&[
        "quantize",
        s(&model),
        "--calib",
        &calib,
        "--calib-split",
        "calibration",
        "--scheme",
        "w8a8",
        "--calibration",
        "percentile",
        "--percentile",
        "99.999",
        "--keep-float",
        "Conv__95",
        "-o",
        s(&out),
        "--report",
        s(&report),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(
        table.contains("Conv+Relu") && table.contains("sensitivity"),
        "{table}"
    );
    let g = mw_onnx::load(&out, &Limits::default()).unwrap();
    let ops: Vec<&str> = g.nodes.iter().map(|n| n.op.op_type()).collect();
    assert!(ops.contains(&"QuantizeLinear") && ops.contains(&"DequantizeLinear"));
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["scheme"], "w8a8");
    assert_eq!(r["calibration"], "percentile(99.999)");
    assert_eq!(r["calibration_examples"], 440);
    let layers = r["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 14);
    let engine = |node: &str| {
        layers.iter().find(|l| l["node"] == node).unwrap()["engine"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(engine("Conv__95"), "float (kept: --keep-float Conv__95)");
    assert_eq!(engine("Conv__97"), "integer");
    assert!(r["model"]["top1_agreement"].as_f64().unwrap() > 0.97);
    assert!(!r["sensitivity"].as_array().unwrap().is_empty());

    // An unknown node is refused, naming it, and writes nothing.
    let out2 = d.join("never.onnx");
    let o = milliwatt(&[
        "quantize",
        s(&model),
        "--calib",
        &calib,
        "--keep-float",
        "no_such_node",
        "-o",
        s(&out2),
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("no_such_node"), "{}", stderr(&o));
    assert!(!out2.exists());
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn bad_arguments_are_refused_before_any_work() {
    let d = temp_dir("args");
    let out = d.join("out.onnx");
    let base = |extra: &[&str]| {
        let mut a = vec![
            "quantize",
            "/nonexistent/model.onnx",
            "--calib",
            "speech-commands:/nonexistent",
            "-o",
            s(&out),
        ];
        a.extend_from_slice(extra);
        milliwatt(&a)
    };
    let cases: [(&[&str], &str); 10] = [
        (&["--calib-split", "eval"], "eval split is reserved"),
        (&["--calib-split", "all"], "contains the eval split"),
        (&["--scheme", "w3a8"], "unknown scheme"),
        (&["--rounding", "stochastic"], "unknown rounding"),
        (&["--group-size", "0"], "at least 1"),
        (
            &["--scheme", "w4a16", "--activations", "uint8"],
            "16-bit activations are int16",
        ),
        (&["--calibration", "kl"], "unknown calibration"),
        (&["--percentile", "120"], "outside [0, 100]"),
        (&["--activations", "int4"], "unknown activation type"),
        (&["--overflow", "wrap"], "unknown overflow policy"),
    ];
    for (extra, message) in cases {
        let o = base(extra);
        assert!(!o.status.success(), "{extra:?} accepted");
        assert!(stderr(&o).contains(message), "{extra:?}: {}", stderr(&o));
    }
    let o = base(&[]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("/nonexistent/model.onnx"),
        "{}",
        stderr(&o)
    );
    assert!(!out.exists());
    let _ = std::fs::remove_dir_all(&d);
}

//! `milliwatt energy` on the real KWS model: JSON keys and positive figures on every built-in
//! profile, accuracy per mJ from an eval report, and errors that name the bad input.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BUILTINS: [&str; 5] = [
    "horowitz-45nm",
    "ndp120",
    "cortex-m4",
    "cortex-m4-cmsis",
    "phone-soc",
];

fn milliwatt(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_milliwatt"))
        .args(args)
        .output()
        .expect("binary runs")
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mw-energy-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn kws(test: &str) -> Option<PathBuf> {
    mw_testkit::shared_or_skip(test, "models/mlperf-tiny/kws_dscnn_float32.onnx")
}

fn json_of(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is one JSON object")
}

#[test]
fn json_has_keys_and_positive_figures_on_every_builtin() {
    let Some(model) = kws("json_has_keys_and_positive_figures_on_every_builtin") else {
        return;
    };
    for hw in BUILTINS {
        let v = json_of(&milliwatt(&[
            "energy",
            s(&model),
            "--hw",
            hw,
            "--rate",
            "10/s",
            "--budget",
            "10mW",
            "--json",
        ]));
        for key in ["energy_per_inference_uj", "latency_ms", "power_mw"] {
            let x = v[key]
                .as_f64()
                .unwrap_or_else(|| panic!("{hw}: `{key}` missing"));
            assert!(x > 0.0 && x.is_finite(), "{hw}: {key} = {x}");
        }
        let layers = v["layers"].as_array().expect("layers array");
        assert!(layers.len() >= 5, "{hw}: {} layers", layers.len());
        assert!(v["fallbacks"].is_array(), "{hw}: fallbacks");
        assert!(v["verdict"].is_object(), "{hw}: verdict");
        // Power at 10/s is at least the dynamic energy times the rate.
        let dynamic_mw = v["energy_per_inference_uj"].as_f64().unwrap() * 10.0 * 1e-3;
        assert!(
            v["power_mw"].as_f64().unwrap() >= dynamic_mw * 0.999,
            "{hw}"
        );
        assert!(v["accuracy_per_mj"].is_null());
    }
}

#[test]
fn accuracy_per_mj_from_eval_report() {
    let Some(model) = kws("accuracy_per_mj_from_eval_report") else {
        return;
    };
    let d = temp_dir("acc");
    let eval = d.join("eval.json");
    std::fs::write(&eval, r#"{"model":"m.onnx","top1":0.9,"per_class":[]}"#).unwrap();
    let v = json_of(&milliwatt(&[
        "energy",
        s(&model),
        "--hw",
        "ndp120",
        "--accuracy-from",
        s(&eval),
        "--json",
    ]));
    let uj = v["energy_per_inference_uj"].as_f64().unwrap();
    let per = v["accuracy_per_mj"].as_f64().unwrap();
    assert_eq!(v["accuracy_top1"].as_f64(), Some(0.9));
    assert!(
        (per - 0.9 / (uj * 1e-3)).abs() <= 1e-9 * per,
        "{per} vs {uj}"
    );
    // Text output carries the same line.
    let out = milliwatt(&[
        "energy",
        s(&model),
        "--hw",
        "ndp120",
        "--accuracy-from",
        s(&eval),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("accuracy per mJ"), "{text}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn bad_hw_file_names_the_file() {
    let d = temp_dir("badhw");
    let hw = d.join("my_board.toml");
    std::fs::write(&hw, "name = \"x\"\nunits = 3\n").unwrap();
    // The model need not exist: the profile is checked first.
    let out = milliwatt(&["energy", "/nonexistent/model.onnx", "--hw", s(&hw)]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("my_board.toml"), "{err}");
    let out = milliwatt(&[
        "energy",
        "/nonexistent/model.onnx",
        "--hw",
        s(&d.join("absent.toml")),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("absent.toml"));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn bad_eval_report_and_budget_without_rate_fail() {
    let d = temp_dir("badeval");
    let eval = d.join("not_eval.json");
    std::fs::write(&eval, r#"{"accuracy":0.9}"#).unwrap();
    let out = milliwatt(&[
        "energy",
        "/nonexistent/model.onnx",
        "--hw",
        "ndp120",
        "--accuracy-from",
        s(&eval),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not_eval.json") && err.contains("top1"),
        "{err}"
    );
    let out = milliwatt(&[
        "energy",
        "/nonexistent/model.onnx",
        "--hw",
        "ndp120",
        "--budget",
        "10mW",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--rate"));
    let _ = std::fs::remove_dir_all(&d);
}

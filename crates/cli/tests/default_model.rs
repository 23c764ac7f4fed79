//! The demo's default model (used when ../shared is absent): `tools/train_default.py` trains the
//! Fashion-MNIST MLP deterministically, and milliwatt quantizes it on the calibration split (the
//! first 1,000 training images) and runs it integer-only on the test set. Skips without
//! Fashion-MNIST (Debian's dataset-fashion-mnist) or the Python venv that `tools/setup.sh` makes.
use mw_testkit::{python_or_skip, workspace_root};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const FASHION: &str = "/usr/share/datasets/fashion-mnist";

fn milliwatt(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_milliwatt"))
        .args(args)
        .output()
        .expect("binary runs")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn fashion_or_skip() -> Option<PathBuf> {
    let dir = std::env::var_os("FASHION_MNIST_DIR").map_or(PathBuf::from(FASHION), PathBuf::from);
    if dir.join("train-images-idx3-ubyte.gz").is_file() {
        Some(dir)
    } else {
        eprintln!(
            "SKIP default_model: needs Fashion-MNIST in {} (apt-get install dataset-fashion-mnist)",
            dir.display()
        );
        None
    }
}

fn train(python: &Path, data: &Path, out: &Path) {
    let o = Command::new(python)
        .arg(workspace_root().join("tools/train_default.py"))
        .args([s(data), s(out), "--epochs", "1"])
        .output()
        .expect("python runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn top1(report: &Path) -> f64 {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report).unwrap()).unwrap();
    v["top1"].as_f64().expect("top1 in the eval report")
}

#[test]
fn default_model_trains_deterministically_and_runs_integer_only() {
    let (Some(python), Some(data)) = (python_or_skip("default_model"), fashion_or_skip()) else {
        return;
    };
    let d = std::env::temp_dir().join(format!("mw-default-model-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    let (a, b) = (d.join("a.onnx"), d.join("b.onnx"));
    train(&python, &data, &a);
    train(&python, &data, &b);
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());

    let dataset = format!("fashion-mnist:{}", data.display());
    let q = d.join("q.onnx");
    let o = milliwatt(&[
        "quantize",
        s(&a),
        "--calib",
        &dataset,
        "--calib-split",
        "calibration",
        "--scheme",
        "w8a8",
        "-o",
        s(&q),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let refused = milliwatt(&[
        "quantize",
        s(&a),
        "--calib",
        &dataset,
        "--calib-split",
        "all",
        "-o",
        s(&b),
    ]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("contains the eval split"));

    let (float_eval, int_eval) = (d.join("float.json"), d.join("int.json"));
    for (model, engine, report) in [(&a, "float", &float_eval), (&q, "integer", &int_eval)] {
        let o = milliwatt(&[
            "eval",
            s(model),
            "--dataset",
            &dataset,
            "--split",
            "eval",
            "--engine",
            engine,
            "--report",
            s(report),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let (f, i) = (top1(&float_eval), top1(&int_eval));
    eprintln!("default model (1 epoch): float top-1 {f:.4}, W8A8 integer top-1 {i:.4}");
    assert!(f > 0.80, "float top-1 {f}");
    assert!((f - i).abs() < 0.01, "float {f} vs integer {i}");
    let _ = std::fs::remove_dir_all(&d);
}

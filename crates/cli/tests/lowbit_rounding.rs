//! `milliwatt quantize --scheme w4a8 --rounding gptq` of the float KWS model (calibration split
//! only): the integer engine's top-1 on the eval split reaches the W4A8 target (≥ 0.905) and beats
//! nearest rounding's, and ONNX Runtime agrees with the integer engine on the top-1 prediction of
//! ≥ 99 % of the eval clips. Skips without ../shared or Python with onnxruntime (the ORT part).
mod int8_common;

use int8_common::*;
use mw_data::speech_commands::{features, Split};
use mw_data::{MfccFrontEnd, SpeechCommands};
use mw_ir::passes::lower_qdq;
use mw_ir::Limits;
use mw_testkit::{python_or_skip, shared_or_skip};
use std::path::{Path, PathBuf};
use std::process::Command;

const FLOAT_MODEL: &str = "models/mlperf-tiny/kws_dscnn_float32.onnx";
const DATA: &str = "data/speech_commands_v0.02_test";

fn milliwatt(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_milliwatt"))
        .args(args)
        .output()
        .expect("binary runs")
}

fn ok(o: &std::process::Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Quantizes to W4A8 with `rounding`; returns the model path.
fn quantize(float_model: &Path, calib: &str, dir: &Path, rounding: &str) -> PathBuf {
    let out = dir.join(format!("kws_w4a8_{rounding}.onnx"));
    let report = dir.join(format!("kws_w4a8_{rounding}.json"));
    ok(&milliwatt(&[
        "quantize",
        float_model.to_str().unwrap(),
        "--calib",
        calib,
        "--calib-split",
        "calibration",
        "--scheme",
        "w4a8",
        "--rounding",
        rounding,
        "--no-measure",
        "-o",
        out.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ]));
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    // Every weighted layer says which rounding produced its weights; none fell back.
    let weights: Vec<&serde_json::Value> = r["layers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l.get("weight").filter(|w| !w.is_null()))
        .collect();
    assert_eq!(weights.len(), 10);
    for w in weights {
        assert_eq!(w["rounding"]["method"], rounding, "{w}");
        assert!(w["rounding"]["note"].is_null(), "{w}");
        assert!(w["rounding"]["weight_sqnr_db"].as_f64().unwrap() > 10.0);
    }
    out
}

/// Integer-engine top-1 on the eval split, through `milliwatt eval --json`.
fn eval_top1(model: &Path, calib: &str) -> f64 {
    let s = ok(&milliwatt(&[
        "eval",
        model.to_str().unwrap(),
        "--dataset",
        calib,
        "--split",
        "eval",
        "--engine",
        "integer",
        "--json",
    ]));
    let v: serde_json::Value = serde_json::from_str(&s).unwrap();
    assert_eq!(v["total"], 4450);
    v["top1"].as_f64().unwrap()
}

#[test]
fn w4a8_gptq_reaches_the_target_and_runs_in_onnxruntime() {
    let test = "lowbit_rounding";
    let (Some(float_model), Some(data)) = (
        shared_or_skip(test, FLOAT_MODEL),
        shared_or_skip(test, DATA),
    ) else {
        return;
    };
    let dir = temp_dir(test);
    let calib = format!("speech-commands:{}", data.display());
    let nearest = eval_top1(&quantize(&float_model, &calib, &dir, "nearest"), &calib);
    let gptq_model = quantize(&float_model, &calib, &dir, "gptq");
    let gptq = eval_top1(&gptq_model, &calib);
    println!("W4A8 eval top-1: nearest {nearest:.4}, gptq {gptq:.4}");
    assert!(gptq > nearest, "gptq {gptq} vs nearest {nearest}");
    assert!(gptq >= 0.905, "gptq {gptq}");

    let Some(py) = python_or_skip(test) else {
        let _ = std::fs::remove_dir_all(&dir);
        return;
    };
    let graph = mw_onnx::load(&gptq_model, &Limits::default()).unwrap();
    let (lowered, _) = lower_qdq(&graph).unwrap();
    let sc = SpeechCommands::open(&data).unwrap();
    let x = features(&MfccFrontEnd::new(), sc.clips(Split::Eval)).unwrap();
    let x_npy = dir.join("eval.npy");
    mw_data::write_npy(&x_npy, &x).unwrap();
    run_ort(&py, &gptq_model, &x_npy, &dir, 0, &[]);
    let (ours, _) = run_ours(&plan(lowered), &x, 500, 0, &[]);
    let theirs = read_f32(&dir.join("final.npy"));
    let (a, b) = (argmax(&ours, 12), argmax(&theirs, 12));
    let agree = a.iter().zip(&b).filter(|(p, q)| p == q).count();
    println!(
        "W4A8 gptq top-1 agreement with ONNX Runtime {agree}/{} = {:.4} %",
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

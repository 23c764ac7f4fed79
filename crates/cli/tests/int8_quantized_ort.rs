//! `milliwatt quantize` (W8A8, MinMax on the calibration split) of the float KWS model, run by our
//! integer engine and by ONNX Runtime on the same float features: each layer (every QuantizeLinear
//! output) fed ONNX Runtime's input for that layer is within ±1 on every element and equal on
//! ≥ 99.9 %; end to end (each layer fed our previous layer) every layer is within ±1 on every
//! element and equal on ≥ 99 % (measured: equal on every element, the engine reproduces ORT's
//! requantization exactly); top-1 predictions agree on ≥ 99.5 % of the 4,890 reference-feature
//! clips; zero float ops after lowering. Skips without ../shared or Python
//! with onnxruntime.
mod int8_common;

use int8_common::*;
use mw_ir::passes::{integer_only, lower_qdq};
use mw_ir::Limits;
use mw_testkit::shared_or_skip;
use std::collections::HashMap;
use std::process::Command;

const FLOAT_MODEL: &str = "models/mlperf-tiny/kws_dscnn_float32.onnx";
const DATA: &str = "data/speech_commands_v0.02_test";
const LAYER_CLIPS: usize = 1000;

#[test]
fn quantized_kws_agrees_with_onnxruntime() {
    let Some((_, mfcc, py)) = material("int8_quantized_ort") else {
        return;
    };
    let (Some(float_model), Some(data)) = (
        shared_or_skip("int8_quantized_ort", FLOAT_MODEL),
        shared_or_skip("int8_quantized_ort", DATA),
    ) else {
        return;
    };
    let dir = temp_dir("int8-quantized-ort");
    let model = dir.join("kws_w8a8.onnx");
    let out = Command::new(env!("CARGO_BIN_EXE_milliwatt"))
        .arg("quantize")
        .arg(&float_model)
        .arg("--calib")
        .arg(format!("speech-commands:{}", data.display()))
        .args(["--calibration", "minmax", "--no-measure", "-o"])
        .arg(&model)
        .output()
        .expect("binary runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let graph = mw_onnx::load(&model, &Limits::default()).unwrap();
    let names = quantized_layers(&graph);
    let (lowered, pass) = lower_qdq(&graph).unwrap();
    let lint = integer_only(&lowered, Some(&pass)).unwrap();
    assert!(
        lint.is_integer_only(),
        "float ops remain: {:?}",
        lint.float_ops
    );
    run_ort(&py, &model, &mfcc, &dir, LAYER_CLIPS, &names);
    let ort_layers: HashMap<String, mw_tensor::Tensor> = names
        .iter()
        .enumerate()
        .map(|(k, n)| {
            (
                n.clone(),
                mw_data::read_npy(&dir.join(format!("layer_{k}.npy"))).unwrap(),
            )
        })
        .collect();
    let x = mw_data::read_npy(&mfcc).unwrap();
    let isolated = teacher_forced(&lowered, rows(&x, 0..LAYER_CLIPS), &ort_layers);
    let (ours, layers) = run_ours(&plan(lowered), &x, 500, LAYER_CLIPS, &names);
    let (mut worst_iso, mut worst_iso_diff, mut worst_e2e, mut worst_e2e_diff) = (1f64, 0, 1f64, 0);
    println!("QuantizeLinear output                    isolated: equal, max|d|   end to end: equal, max|d|");
    for name in &names {
        let theirs = ort_layers[name].as_slice::<i8>().unwrap();
        let (iso_eq, iso_max, n) = agreement(isolated[name].as_slice::<i8>().unwrap(), theirs);
        let (e2e_eq, e2e_max, _) = agreement(&layers[name], theirs);
        println!(
            "{:<40} {:9.5} % {iso_max:2}      {:9.5} % {e2e_max:2}   ({n} values)",
            tail(name, 40),
            100.0 * iso_eq,
            100.0 * e2e_eq
        );
        worst_iso = worst_iso.min(iso_eq);
        worst_iso_diff = worst_iso_diff.max(iso_max);
        worst_e2e = worst_e2e.min(e2e_eq);
        worst_e2e_diff = worst_e2e_diff.max(e2e_max);
    }
    let theirs = read_f32(&dir.join("final.npy"));
    let (a, b) = (argmax(&ours, 12), argmax(&theirs, 12));
    let agree = a.iter().zip(&b).filter(|(p, q)| p == q).count();
    println!(
        "top-1 agreement {agree}/{} = {:.4} %; output max |diff| {}",
        a.len(),
        100.0 * agree as f64 / a.len() as f64,
        max_abs_diff(&ours, &theirs)
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        worst_iso_diff <= 1,
        "an isolated layer differs by {worst_iso_diff}"
    );
    assert!(
        worst_iso >= 0.999,
        "an isolated layer is equal on only {worst_iso}"
    );
    assert!(
        worst_e2e_diff <= 1,
        "a layer differs end to end by {worst_e2e_diff}"
    );
    assert!(
        worst_e2e >= 0.99,
        "a layer is equal end to end on only {worst_e2e}"
    );
    assert!(
        agree as f64 >= 0.995 * a.len() as f64,
        "top-1 agreement {agree}"
    );
}

/// The last `n` characters of `s`.
fn tail(s: &str, n: usize) -> String {
    let c: Vec<char> = s.chars().collect();
    c[c.len().saturating_sub(n)..].iter().collect()
}

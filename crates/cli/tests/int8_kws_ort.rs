//! The imported MLPerf Tiny int8 KWS model (`kws_dscnn_int8_qdq.onnx`, tf2onnx QDQ) in the integer
//! engine against ONNX Runtime on the same int8 inputs (the reference features quantized as
//! `milliwatt eval` quantizes them):
//! * each layer (every QuantizeLinear output) fed ONNX Runtime's own input for that layer: within
//!   ±1 on every element and equal on ≥ 99.9 %. ORT's integer layers (`QLinearConv`) are matched
//!   bit for bit; ORT runs this model's first convolution, the average pool, the dense layer and
//!   the softmax in float, where a value on a rounding tie can land one step away;
//! * end to end (each layer fed our previous layer): equal on ≥ 99 % per layer — a one-step
//!   difference from ORT's float first convolution can grow by a step in later layers, so the
//!   largest difference is printed, not bounded;
//! * top-1 predictions agree on ≥ 99.5 % of the 4,890 clips; zero float ops after lowering.
//!
//! Skips without ../shared or Python with onnxruntime.
mod int8_common;

use int8_common::*;
use mw_ir::passes::{integer_only, lower_qdq};
use mw_ir::Limits;
use std::collections::HashMap;

/// Clips whose every layer output is compared (all clips for the top-1 agreement).
const LAYER_CLIPS: usize = 1000;

#[test]
fn integer_engine_agrees_with_onnxruntime_layer_by_layer() {
    let Some((model, mfcc, py)) = material("int8_kws_ort") else {
        return;
    };
    let dir = temp_dir("int8-kws-ort");
    let graph = mw_onnx::load(&model, &Limits::default()).unwrap();
    let x = int8_features(&graph, &mfcc);
    let x_npy = dir.join("x.npy");
    mw_data::write_npy(&x_npy, &x).unwrap();
    let names = quantized_layers(&graph);
    assert_eq!(names.len(), 12, "the model's QuantizeLinear outputs");
    let (lowered, pass) = lower_qdq(&graph).unwrap();
    let lint = integer_only(&lowered, Some(&pass)).unwrap();
    assert!(
        lint.is_integer_only(),
        "float ops remain: {:?}",
        lint.float_ops
    );
    run_ort(&py, &model, &x_npy, &dir, LAYER_CLIPS, &names);
    let ort_layers: HashMap<String, mw_tensor::Tensor> = names
        .iter()
        .enumerate()
        .map(|(k, n)| {
            let t = mw_data::read_npy(&dir.join(format!("layer_{k}.npy"))).unwrap();
            (n.clone(), t)
        })
        .collect();
    let isolated = teacher_forced(&lowered, rows(&x, 0..LAYER_CLIPS), &ort_layers);
    let plan = plan(lowered);
    let (ours, layers) = run_ours(&plan, &x, 500, LAYER_CLIPS, &names);
    let (mut worst_iso, mut worst_iso_diff, mut worst_e2e) = (1f64, 0, 1f64);
    println!("layer (QuantizeLinear output)            isolated: equal, max|d|   end to end: equal, max|d|");
    for (k, name) in names.iter().enumerate() {
        let theirs = ort_layers[name].as_slice::<i8>().unwrap();
        let iso = isolated[name].as_slice::<i8>().unwrap();
        let (iso_eq, iso_max, n) = agreement(iso, theirs);
        let (e2e_eq, e2e_max, _) = agreement(&layers[name], theirs);
        println!(
            "{k:2} {:<38} {:9.5} % {iso_max:2}      {:9.5} % {e2e_max:2}   ({n} values)",
            short(name),
            100.0 * iso_eq,
            100.0 * e2e_eq
        );
        worst_iso = worst_iso.min(iso_eq);
        worst_iso_diff = worst_iso_diff.max(iso_max);
        worst_e2e = worst_e2e.min(e2e_eq);
    }
    let theirs = read_f32(&dir.join("final.npy"));
    let (a, b) = (argmax(&ours, 12), argmax(&theirs, 12));
    let agree = a.iter().zip(&b).filter(|(p, q)| p == q).count();
    let labels = mw_data::read_npy(&mfcc.with_file_name("labels.npy"))
        .unwrap()
        .to_i64_vec()
        .unwrap();
    let correct = |p: &[usize]| {
        p.iter()
            .zip(&labels)
            .filter(|(p, l)| **p as i64 == **l)
            .count()
    };
    println!(
        "top-1 agreement {agree}/{} = {:.4} %; top-1 ours {:.4}, onnxruntime {:.4} \
         (reference features, all clips)",
        a.len(),
        100.0 * agree as f64 / a.len() as f64,
        correct(&a) as f64 / a.len() as f64,
        correct(&b) as f64 / b.len() as f64
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
        worst_e2e >= 0.99,
        "a layer is equal end to end on only {worst_e2e}"
    );
    assert!(
        agree as f64 >= 0.995 * a.len() as f64,
        "top-1 agreement {agree}"
    );
}

/// The last `;`-separated part of a tf2onnx name, at most 38 characters.
fn short(name: &str) -> String {
    let s = name.rsplit(';').next().unwrap_or(name);
    let s = s.strip_prefix("functional_1/").unwrap_or(s);
    s.chars().take(38).collect()
}

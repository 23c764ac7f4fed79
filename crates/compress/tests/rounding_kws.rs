//! Error-compensating rounding on the real MLPerf Tiny KWS model at 4-bit weights (per output
//! channel, symmetric ±7), weights only (activations stay float), each method separately:
//! nearest rounding, cross-layer equalization (CLE), bias correction (BC) and GPTQ.
//!
//! Per layer: output SQNR versus the float layer over the calibration split's inputs (from the
//! Hessian statistics). Per method: top-1 on the eval split with the dequantized 4-bit weights in
//! the float graph ("fake quant", W4A-float). Statistics come from the calibration split only.
//! Skips, printing why, without ../shared.
use mw_compress::rounding::{
    bias_correction, collect_hessians, dequantize, equalize, find_layers, gptq_layer,
    nearest_quantize, output_error, replace_inputs, GptqConfig, Grid, Hessian, Layer, Matrix,
    OutputError, Quantizer,
};
use mw_data::speech_commands::{feature_values, features_tensor};
use mw_data::{MfccFrontEnd, SpeechCommands, Split};
use mw_exec::Plan;
use mw_ir::{Graph, Limits};
use mw_tensor::Tensor;
use mw_testkit::shared_or_skip;

const MODEL: &str = "models/mlperf-tiny/kws_dscnn_float32.onnx";
const DATA: &str = "data/speech_commands_v0.02_test";
const BITS: u8 = 4;

fn features(data: &SpeechCommands, split: Split, batch: usize) -> (Vec<Tensor>, Vec<usize>) {
    let clips: Vec<_> = data.clips(split).cloned().collect();
    let front = MfccFrontEnd::new();
    let batches = clips
        .chunks(batch)
        .map(|c| features_tensor(feature_values(&front, c).unwrap()).unwrap())
        .collect();
    (batches, clips.iter().map(|c| c.label).collect())
}

fn load(test: &str) -> Option<(Graph, SpeechCommands)> {
    let model = shared_or_skip(test, MODEL)?;
    let dir = shared_or_skip(test, DATA)?;
    let mut g = mw_onnx::load(&model, &Limits::default()).unwrap();
    mw_ir::passes::simplify(&mut g).unwrap();
    Some((g, SpeechCommands::open(&dir).unwrap()))
}

fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best
}

fn outputs(g: &Graph, xs: &[Tensor]) -> Vec<f32> {
    let plan = Plan::new(g.clone(), Limits::default()).unwrap();
    xs.iter()
        .flat_map(|x| {
            plan.run(vec![x.clone()])
                .unwrap()
                .remove(0)
                .as_slice::<f32>()
                .unwrap()
                .to_vec()
        })
        .collect()
}

fn top1(g: &Graph, xs: &[Tensor], labels: &[usize]) -> f64 {
    let y = outputs(g, xs);
    let right = y
        .chunks(12)
        .map(argmax)
        .zip(labels)
        .filter(|(p, l)| p == *l)
        .count();
    right as f64 / labels.len() as f64
}

/// A graph with its layers and their calibration statistics.
struct Stats {
    graph: Graph,
    layers: Vec<Layer>,
    hessians: Vec<Vec<Hessian>>,
}

fn stats(graph: Graph, calib: &[Tensor]) -> Stats {
    let (layers, skipped) = find_layers(&graph);
    assert!(skipped.is_empty(), "{skipped:?}");
    let plan = Plan::new(graph.clone(), Limits::default()).unwrap();
    let hessians = collect_hessians(&plan, &layers, calib.iter().cloned()).unwrap();
    Stats {
        graph,
        layers,
        hessians,
    }
}

/// Every layer's weights at 4 bits by `gptq` or nearest rounding, optionally bias-corrected: the
/// fake-quantized graph and each layer's output error.
fn quantize(s: &Stats, gptq: bool, correct: bool) -> (Graph, Vec<OutputError>) {
    let mut changes = Vec::new();
    let mut errors = Vec::new();
    for (l, h) in s.layers.iter().zip(&s.hessians) {
        let w = l.matrix(&s.graph).unwrap();
        let m = Matrix::new(&w, l.rows, l.cols).unwrap();
        let q = Quantizer::absmax(m, Grid::symmetric(BITS).unwrap(), None).unwrap();
        let qi = if gptq {
            gptq_layer(m, h, &q, &GptqConfig::default()).unwrap()
        } else {
            nearest_quantize(m, &q).unwrap()
        };
        let wq = dequantize(&qi, l.rows, l.cols, &q).unwrap();
        let b = l.bias_values(&s.graph).unwrap();
        let mut bq = b.clone();
        if correct {
            let c = bias_correction(m, &wq, h).unwrap();
            bq.iter_mut().zip(&c).for_each(|(b, c)| *b += c);
            changes.push(l.set_bias(&bq).unwrap());
        }
        errors.push(output_error(m, &wq, &b, &bq, h).unwrap());
        changes.push(l.set_weight(&s.graph, &wq).unwrap());
    }
    (replace_inputs(&s.graph, changes, "w4").unwrap(), errors)
}

/// Mean per-layer SQNR (dB) weighted by each layer's MACs per example.
fn weighted_sqnr(s: &Stats, e: &[OutputError], examples: usize) -> f64 {
    let macs: Vec<f64> = s
        .layers
        .iter()
        .zip(&s.hessians)
        .map(|(l, h)| (l.rows * l.cols) as f64 * h[0].n as f64 / examples as f64)
        .collect();
    let total: f64 = macs.iter().sum();
    e.iter()
        .zip(&macs)
        .map(|(e, m)| e.sqnr_db() * m)
        .sum::<f64>()
        / total
}

#[test]
fn equalization_keeps_the_float_outputs_of_kws() {
    let Some((g, data)) = load("rounding_kws_equalize") else {
        return;
    };
    let (eval, _) = features(&data, Split::Eval, 512);
    let (eq, report) = equalize(&g).unwrap();
    println!(
        "CLE: {} pairs in {} sweeps",
        report.pairs.len(),
        report.sweeps
    );
    for p in &report.pairs {
        println!(
            "  {} → {}: scales {:.3}..{:.3}, first layer's min/max channel range {:.3} → {:.3}",
            p.first,
            p.second,
            p.scale_min,
            p.scale_max,
            p.first_range_ratio.0,
            p.first_range_ratio.1
        );
    }
    for (l, why) in &report.skipped {
        println!("  skipped {l}: {why}");
    }
    assert_eq!(report.pairs.len(), 8, "conv1 → dw → pw → … → pw4");
    let (a, b) = (outputs(&g, &eval[..2]), outputs(&eq, &eval[..2]));
    let diff = a
        .iter()
        .zip(&b)
        .fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    println!("CLE: max |Δ output| over 1,024 eval clips {diff:e}");
    assert!(diff < 1e-4, "{diff}");
}

#[test]
fn w4_rounding_methods_on_kws() {
    let Some((g, data)) = load("rounding_kws") else {
        return;
    };
    let (calib, _) = features(&data, Split::Calibration, 64);
    let n_calib = calib.iter().map(|t| t.shape()[0]).sum::<usize>();
    assert_eq!(n_calib, 440);
    let (eval, labels) = features(&data, Split::Eval, 512);
    assert_eq!(labels.len(), 4450);
    let float_top1 = top1(&g, &eval, &labels);
    let plain = stats(g.clone(), &calib);
    let cle = stats(equalize(&g).unwrap().0, &calib);

    let variants: [(&str, &Stats, bool, bool); 8] = [
        ("nearest", &plain, false, false),
        ("nearest+CLE", &cle, false, false),
        ("nearest+BC", &plain, false, true),
        ("nearest+CLE+BC", &cle, false, true),
        ("GPTQ", &plain, true, false),
        ("GPTQ+BC", &plain, true, true),
        ("GPTQ+CLE", &cle, true, false),
        ("GPTQ+CLE+BC", &cle, true, true),
    ];
    let mut per_layer = Vec::new();
    println!("W{BITS} weights per channel, float activations; float top-1 {float_top1:.4}");
    println!("{:<16} {:>14} {:>12}", "method", "wSQNR (dB)", "eval top-1");
    let mut summary = Vec::new();
    for (name, s, gptq, bc) in variants {
        let (q, errors) = quantize(s, gptq, bc);
        let w = weighted_sqnr(s, &errors, n_calib);
        let t = top1(&q, &eval, &labels);
        println!("{name:<16} {w:>14.2} {t:>12.4}");
        summary.push((name, w, t));
        per_layer.push((name, errors));
    }
    println!("\nper-layer output SQNR (dB) on the calibration split");
    print!("{:<58}", "layer");
    for (name, _) in &per_layer {
        print!(" {name:>14}");
    }
    println!();
    for (i, l) in plain.layers.iter().enumerate() {
        print!("{:<58}", l.name);
        for (_, e) in &per_layer {
            print!(" {:>14.2}", e[i].sqnr_db());
        }
        println!();
    }
    let get = |n: &str| summary.iter().find(|s| s.0 == n).unwrap();
    assert!(
        get("GPTQ").1 >= get("nearest").1,
        "GPTQ {:?} loses to nearest {:?} on weighted SQNR",
        get("GPTQ"),
        get("nearest")
    );
    for (name, errors) in &per_layer {
        assert!(errors.iter().all(|e| e.sqnr_db().is_finite()), "{name}");
    }
}

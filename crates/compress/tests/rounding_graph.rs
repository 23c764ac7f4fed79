//! Cross-layer equalization, the Hessian statistics and bias correction on a small
//! Conv → depthwise → pointwise → MatMul chain with random weights and inputs: the equalized graph
//! computes the same function, the statistics predict the measured output error of every layer
//! exactly, and bias correction zeroes the mean output shift.
mod quantize_util;

use mw_compress::rounding::{
    bias_correction, collect_hessians, dequantize, equalize, fake_quantize, find_layers,
    gptq_layer, nearest_quantize, output_error, replace_inputs, GptqConfig, Grid, Hessian, Layer,
    Matrix, Quantizer, Rounding, WeightQuantConfig,
};
use mw_exec::Plan;
use mw_ir::{Attr, Attrs, Graph, Limits};
use mw_tensor::Tensor;
use quantize_util::{batches, ints, Builder, Rng};

/// x [N,2,8,8] → Conv 3×3 (8, channel ranges spread over 100×) + Relu → depthwise 3×3 + Relu →
/// pointwise 1×1 (6) + Relu → GlobalAveragePool → Flatten → MatMul [6,4] + Add → `y`.
fn chain(seed: u64) -> Graph {
    let mut r = Rng::new(seed);
    let mut b = Builder::new();
    let x = b.input("x", &[2, 8, 8]);
    let pads = Attrs::new()
        .with("pads", ints(&[1, 1, 1, 1]))
        .with("kernel_shape", ints(&[3, 3]));
    let mut w1 = r.tensor(&[8, 2, 3, 3], 0.3);
    for (i, v) in w1.as_slice_mut::<f32>().unwrap().iter_mut().enumerate() {
        *v *= 10f32.powf((i / 18) as f32 / 3.5 - 1.0);
    }
    let w1 = b.konst("w1", w1);
    let b1 = b.konst("b1", r.tensor(&[8], 0.2));
    let c1 = b.node("Conv", "conv1", pads.clone(), &[x, w1, b1]);
    let a1 = b.node("Relu", "relu1", Attrs::new(), &[c1]);
    let w2 = b.konst("w2", r.tensor(&[8, 1, 3, 3], 0.4));
    let b2 = b.konst("b2", r.tensor(&[8], 0.1));
    let dw = pads.with("group", Attr::Int(8));
    let c2 = b.node("Conv", "dw", dw, &[a1, w2, b2]);
    let a2 = b.node("Relu", "relu2", Attrs::new(), &[c2]);
    let w3 = b.konst("w3", r.tensor(&[6, 8, 1, 1], 0.4));
    let b3 = b.konst("b3", r.tensor(&[6], 0.1));
    let c3 = b.node("Conv", "pw", Attrs::new(), &[a2, w3, b3]);
    let a3 = b.node("Relu", "relu3", Attrs::new(), &[c3]);
    let p = b.node("GlobalAveragePool", "gap", Attrs::new(), &[a3]);
    let f = b.node("Flatten", "flatten", Attrs::new(), &[p]);
    let w4 = b.konst("w4", r.tensor(&[6, 4], 0.5));
    let m = b.node("MatMul", "fc", Attrs::new(), &[f, w4]);
    let b4 = b.konst("b4", r.tensor(&[4], 0.1));
    let y = b.node("Add", "fc_bias", Attrs::new(), &[m, b4]);
    b.g.value_mut(y).name = "y".into();
    b.output(y);
    b.g
}

fn run(g: &Graph, xs: &[Tensor]) -> Vec<f32> {
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

/// Every value named `name` observed over the batches, concatenated.
fn observe(g: &Graph, xs: &[Tensor], name: &str) -> Vec<f32> {
    let plan = Plan::new(g.clone(), Limits::default()).unwrap();
    let id = g.find_value(name).unwrap();
    let mut out = Vec::new();
    for x in xs {
        plan.run_observed(vec![x.clone()], &mut |v, t| {
            if v == id {
                out.extend_from_slice(t.as_slice::<f32>().unwrap());
            }
        })
        .unwrap();
    }
    out
}

fn stats(g: &Graph, xs: &[Tensor]) -> (Vec<Layer>, Vec<Vec<Hessian>>) {
    let (layers, skipped) = find_layers(g);
    assert!(skipped.is_empty(), "{skipped:?}");
    let plan = Plan::new(g.clone(), Limits::default()).unwrap();
    let h = collect_hessians(&plan, &layers, xs.iter().cloned()).unwrap();
    (layers, h)
}

#[test]
fn equalization_keeps_the_function_and_equalizes_ranges() {
    let g = chain(1);
    let xs = batches(2, 3, 5, &[2, 8, 8]);
    let (eq, report) = equalize(&g).unwrap();
    let names: Vec<_> = report
        .pairs
        .iter()
        .map(|p| (p.first.as_str(), p.second.as_str()))
        .collect();
    assert_eq!(names, [("conv1", "dw"), ("dw", "pw")]);
    assert_eq!(report.skipped.len(), 1, "{:?}", report.skipped);
    assert_eq!(report.skipped[0].0, "pw");
    assert!(report.skipped[0].1.contains("GlobalAveragePool"));
    let (a, b) = (run(&g, &xs), run(&eq, &xs));
    let diff = a
        .iter()
        .zip(&b)
        .fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    assert!(diff < 1e-5, "max |Δ| {diff}");
    let p = &report.pairs[0];
    assert!(p.first_range_ratio.0 < 0.05, "{p:?}");
    assert!(p.first_range_ratio.1 > p.first_range_ratio.0 * 3.0, "{p:?}");
    assert!(p.scale_min < p.scale_max);
    // After convergence, conv1's output-channel ranges equal dw's (its input channels).
    let (layers, _) = find_layers(&eq);
    let w1 = layers[0].matrix(&eq).unwrap();
    let w2 = layers[1].matrix(&eq).unwrap();
    for c in 0..8 {
        let r1 = w1[c * 18..(c + 1) * 18]
            .iter()
            .fold(0f32, |m, v| m.max(v.abs()));
        let r2 = w2[c * 9..(c + 1) * 9]
            .iter()
            .fold(0f32, |m, v| m.max(v.abs()));
        assert!((r1 / r2 - 1.0).abs() < 1e-3, "channel {c}: {r1} vs {r2}");
    }
    // Deterministic, and the input graph is untouched.
    let again = equalize(&g).unwrap().0;
    assert_eq!(run(&again, &xs), b);
    assert_eq!(run(&g, &xs), a);
}

/// Quantizes one layer (nearest or GPTQ, optionally bias-corrected) in the graph.
fn quantize_one(
    g: &Graph,
    l: &Layer,
    h: &[Hessian],
    gptq: bool,
    correct: bool,
) -> (Graph, Vec<f32>, Vec<f32>) {
    let w = l.matrix(g).unwrap();
    let m = Matrix::new(&w, l.rows, l.cols).unwrap();
    let q = Quantizer::absmax(m, Grid::symmetric(3).unwrap(), None).unwrap();
    let qi = if gptq {
        gptq_layer(m, h, &q, &GptqConfig::default()).unwrap()
    } else {
        nearest_quantize(m, &q).unwrap()
    };
    let wq = dequantize(&qi, l.rows, l.cols, &q).unwrap();
    let mut b = l.bias_values(g).unwrap();
    if correct {
        let c = bias_correction(m, &wq, h).unwrap();
        b.iter_mut().zip(&c).for_each(|(b, c)| *b += c);
    }
    let mut ch = vec![l.set_weight(g, &wq).unwrap()];
    if correct {
        ch.push(l.set_bias(&b).unwrap());
    }
    (replace_inputs(g, ch, "fq").unwrap(), wq, b)
}

#[test]
fn statistics_predict_each_layers_output_error_and_bias_correction_zeroes_the_mean_shift() {
    let g = chain(3);
    let xs = batches(4, 2, 6, &[2, 8, 8]);
    let (layers, hs) = stats(&g, &xs);
    assert_eq!(layers.len(), 4);
    assert_eq!(
        [hs[0].len(), hs[1].len(), hs[2].len(), hs[3].len()],
        [1, 8, 1, 1]
    );
    assert_eq!(hs[0][0].n, 12 * 64);
    assert_eq!(hs[3][0].n, 12);
    for (l, h) in layers.iter().zip(&hs) {
        for (gptq, correct) in [(false, false), (true, false), (false, true)] {
            let correct = correct && l.name != "fc";
            let (q, wq, bq) = quantize_one(&g, l, h, gptq, correct);
            let out = &g.value(g.node(l.node).outputs[0]).name;
            let (y, yq) = (observe(&g, &xs, out), observe(&q, &xs, out));
            let w = l.matrix(&g).unwrap();
            let m = Matrix::new(&w, l.rows, l.cols).unwrap();
            let b = if l.name == "fc" {
                vec![0.0; l.rows]
            } else {
                l.bias_values(&g).unwrap()
            };
            let bq = if l.name == "fc" { b.clone() } else { bq };
            let predicted = output_error(m, &wq, &b, &bq, h).unwrap();
            let err: f64 = y
                .iter()
                .zip(&yq)
                .map(|(a, b)| ((a - b) as f64).powi(2))
                .sum();
            let sig: f64 = y.iter().map(|a| (*a as f64).powi(2)).sum();
            assert!(
                (predicted.error - err).abs() <= 1e-3 * err + 1e-6,
                "{}: {predicted:?} vs {err}",
                l.name
            );
            assert!(
                (predicted.signal - sig).abs() <= 1e-4 * sig,
                "{}: {predicted:?} vs {sig}",
                l.name
            );
            if correct {
                // Mean output shift per channel (NCHW: channel = (i / plane) % rows).
                let plane = y.len() / (12 * l.rows);
                let mut shift = vec![0f64; l.rows];
                for (i, (a, b)) in y.iter().zip(&yq).enumerate() {
                    shift[(i / plane) % l.rows] += (b - a) as f64;
                }
                let scale = sig.sqrt();
                assert!(
                    shift.iter().all(|s| s.abs() < 1e-4 * scale),
                    "{}: {shift:?}",
                    l.name
                );
            }
        }
    }
}

#[test]
fn gptq_lowers_the_output_error_of_every_layer() {
    let g = chain(5);
    let xs = batches(6, 4, 8, &[2, 8, 8]);
    let (layers, hs) = stats(&g, &xs);
    for (l, h) in layers.iter().zip(&hs) {
        let w = l.matrix(&g).unwrap();
        let m = Matrix::new(&w, l.rows, l.cols).unwrap();
        let b = l.bias_values(&g).unwrap();
        let err = |gptq| {
            let (_, wq, _) = quantize_one(&g, l, h, gptq, false);
            output_error(m, &wq, &b, &b, h).unwrap().error
        };
        let (near, gptq) = (err(false), err(true));
        assert!(gptq <= near, "{}: GPTQ {gptq} > nearest {near}", l.name);
    }
}

#[test]
fn fake_quantize_replaces_exactly_the_weights_in_both_modes() {
    let g = chain(7);
    let xs = batches(8, 2, 6, &[2, 8, 8]);
    let (layers, _) = find_layers(&g);
    let grid = Grid::symmetric(4).unwrap();
    for sequential in [false, true] {
        let cfg = WeightQuantConfig {
            grid,
            group: None,
            rounding: Rounding::Nearest,
            bias_correction: false,
            sequential,
        };
        let (q, outcomes) = fake_quantize(&g, &xs, &cfg).unwrap();
        assert_eq!(outcomes.len(), 4);
        let (now, _) = find_layers(&q);
        for (l, n) in layers.iter().zip(&now) {
            assert_eq!(l.name, n.name);
            let w = l.matrix(&g).unwrap();
            let m = Matrix::new(&w, l.rows, l.cols).unwrap();
            let qz = Quantizer::absmax(m, grid, None).unwrap();
            let want = dequantize(&nearest_quantize(m, &qz).unwrap(), l.rows, l.cols, &qz).unwrap();
            assert_eq!(
                n.matrix(&q).unwrap(),
                want,
                "{} (sequential {sequential})",
                l.name
            );
            assert_eq!(n.bias_values(&q).unwrap(), l.bias_values(&g).unwrap());
        }
        let (a, b) = (run(&g, &xs), run(&q, &xs));
        assert!(a.iter().zip(&b).any(|(x, y)| x != y));
    }
}

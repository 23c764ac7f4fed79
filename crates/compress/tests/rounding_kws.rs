//! Error-compensating rounding on the real MLPerf Tiny KWS model at 4-bit weights (per output
//! channel, symmetric ±7), weights only (activations stay float), each method separately:
//! nearest rounding, cross-layer equalization (CLE), bias correction (BC), GPTQ and AdaRound.
//!
//! Per layer: output SQNR versus the float layer over the calibration split's inputs (from the
//! Hessian statistics). Per method: top-1 on the eval split with the dequantized 4-bit weights in
//! the float graph ("fake quant", W4A-float). Statistics come from the calibration split only.
//! Skips, printing why, without ../shared.
use mw_compress::rounding::{
    equalize, fake_quantize, AdaRoundConfig, GptqConfig, Grid, LayerOutcome, Rounding,
    WeightQuantConfig,
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

/// Mean per-layer output SQNR (dB) weighted by each layer's MACs.
fn weighted_sqnr(outcomes: &[LayerOutcome]) -> f64 {
    let total: f64 = outcomes.iter().map(|o| o.macs as f64).sum();
    outcomes
        .iter()
        .map(|o| o.error.sqnr_db() * o.macs as f64)
        .sum::<f64>()
        / total
}

fn config(rounding: &str, bias_correction: bool, sequential: bool) -> WeightQuantConfig {
    WeightQuantConfig {
        grid: Grid::symmetric(BITS).unwrap(),
        group: None,
        rounding: match rounding {
            "gptq" => Rounding::Gptq(GptqConfig::default()),
            "adaround" => Rounding::AdaRound(AdaRoundConfig::default()),
            _ => Rounding::Nearest,
        },
        bias_correction,
        sequential,
    }
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
    assert_eq!(calib.iter().map(|t| t.shape()[0]).sum::<usize>(), 440);
    let (eval, labels) = features(&data, Split::Eval, 512);
    assert_eq!(labels.len(), 4450);
    let float_top1 = top1(&g, &eval, &labels);
    let cle = equalize(&g).unwrap().0;
    // (name, CLE, rounding, BC, sequential statistics)
    let variants = [
        ("nearest", false, "nearest", false, false),
        ("nearest+CLE", true, "nearest", false, false),
        ("nearest+BC", false, "nearest", true, false),
        ("nearest+CLE+BC", true, "nearest", true, false),
        ("GPTQ", false, "gptq", false, false),
        ("GPTQ+BC", false, "gptq", true, false),
        ("GPTQ+CLE", true, "gptq", false, false),
        ("GPTQ+CLE+BC", true, "gptq", true, false),
        ("AdaRound", false, "adaround", false, false),
        ("AdaRound+CLE", true, "adaround", false, false),
        ("nearest+BC seq", false, "nearest", true, true),
        ("GPTQ seq", false, "gptq", false, true),
        ("GPTQ+BC seq", false, "gptq", true, true),
        ("GPTQ+CLE seq", true, "gptq", false, true),
        ("GPTQ+CLE+BC seq", true, "gptq", true, true),
    ];
    println!(
        "W{BITS} weights per output channel (±7), float activations; float top-1 {float_top1:.4}"
    );
    println!("(seq: statistics of each layer from the graph whose earlier layers are quantized)");
    println!("{:<18} {:>11} {:>11}", "method", "wSQNR (dB)", "eval top-1");
    let mut results = Vec::new();
    for (name, eq, rounding, bc, seq) in variants {
        let base = if eq { &cle } else { &g };
        let (q, outcomes) = fake_quantize(base, &calib, &config(rounding, bc, seq)).unwrap();
        assert_eq!(outcomes.len(), 10);
        let w = weighted_sqnr(&outcomes);
        let t = top1(&q, &eval, &labels);
        println!("{name:<18} {w:>11.2} {t:>11.4}");
        results.push((name, w, t, outcomes));
    }
    let shown = [
        "nearest",
        "nearest+CLE",
        "nearest+BC",
        "GPTQ",
        "AdaRound",
        "GPTQ+CLE+BC",
    ];
    println!(
        "\nper-layer output SQNR (dB) versus the float layer, calibration split, float inputs"
    );
    print!("{:<54}", "layer");
    for n in shown {
        print!(" {n:>12}");
    }
    println!();
    for i in 0..10 {
        print!("{:<54}", results[0].3[i].layer);
        for n in shown {
            let r = results.iter().find(|r| r.0 == n).unwrap();
            print!(" {:>12.2}", r.3[i].error.sqnr_db());
        }
        println!();
    }
    let get = |n: &str| results.iter().find(|r| r.0 == n).unwrap();
    let (near, gptq) = (get("nearest"), get("GPTQ"));
    assert!(
        gptq.1 >= near.1,
        "GPTQ {:.2} dB loses to nearest {:.2} dB on weighted SQNR",
        gptq.1,
        near.1
    );
    let ada = get("AdaRound");
    assert!(
        ada.1 >= near.1,
        "AdaRound {:.2} dB loses to nearest {:.2} dB on weighted SQNR",
        ada.1,
        near.1
    );
    for (name, _, _, outcomes) in &results {
        assert!(
            outcomes.iter().all(|o| o.error.sqnr_db().is_finite()),
            "{name}"
        );
    }
}

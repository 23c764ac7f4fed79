//! Runs the measurement variants and assembles the [`QuantizeReport`].
use super::build::{build, Built, Parts};
use super::calib::Observed;
use super::layers::{Kind, Layer, Status, View};
use super::measure::{measure, Measured, Variant};
use super::report::*;
use super::trim::suffix;
use super::weights::{Granularity, QWeights};
use super::{QuantizeConfig, QuantizeError};
use mw_exec::Plan;
use mw_ir::ValueId;
use mw_tensor::Tensor;

/// Measurements: the full QDQ graph, then one graph per quantized layer alone.
pub(crate) struct AllMeasured {
    pub full: Measured,
    /// Probe index in `full` per layer / graph input, by float value id.
    pub full_probe: Vec<Option<usize>>,
    /// Per layer: its alone-variant's measurements.
    pub alone: Vec<Option<Measured>>,
}

/// Layers measured alone: quantized and with parameters of their own (not data movement).
fn measured_alone(l: &Layer) -> bool {
    l.quantized() && l.kind != Kind::Move
}

pub(crate) fn measure_all(
    parts: &Parts,
    built: &Built,
    float: &Plan,
    batches: &[Tensor],
    config: &QuantizeConfig,
) -> Result<AllMeasured, QuantizeError> {
    let g = parts.graph;
    let mut probes: Vec<(ValueId, ValueId)> = Vec::new();
    let mut full_probe = vec![None; g.values.len()];
    let outputs = g
        .inputs
        .iter()
        .copied()
        .chain(parts.layers.iter().map(|l| l.outputs[0]));
    for v in outputs {
        if full_probe[v.0].is_some() {
            continue;
        }
        let in_qdq = built.quantized.get(&v).map_or(v, |p| p.1);
        full_probe[v.0] = Some(probes.len());
        probes.push((v, in_qdq));
    }
    let mut variants = vec![Variant {
        plan: Plan::new(built.graph.clone(), config.limits)?,
        probes,
        feeds: None,
    }];
    let mut index = vec![None; parts.layers.len()];
    for (i, l) in parts.layers.iter().enumerate() {
        if !measured_alone(l) {
            continue;
        }
        let mut only = vec![false; parts.layers.len()];
        only[i] = true;
        let b = build(parts, &only)?;
        let y = l.output();
        let Some(&(_, dq)) = b.quantized.get(&y) else {
            continue;
        };
        index[i] = Some(variants.len());
        let (graph, feeds) = match suffix(&b.graph, &l.inputs, &config.limits) {
            Some(s) => (s.graph, Some(s.feeds)),
            None => (b.graph, None),
        };
        variants.push(Variant {
            plan: Plan::new(graph, config.limits)?,
            probes: vec![(y, dq)],
            feeds,
        });
    }
    let mut results = measure(float, &variants, batches)?.into_iter();
    let full = results.next().unwrap_or_default();
    let rest: Vec<Measured> = results.collect();
    let alone = index
        .iter()
        .map(|k| k.map(|k| rest[k - 1].clone()))
        .collect();
    Ok(AllMeasured {
        full,
        full_probe,
        alone,
    })
}

/// Bytes of the weight values packed at their format's bits (binary: 8 per byte, ternary: 4).
fn packed_weight_bytes(w: &QWeights) -> u64 {
    (w.q.len() as u64 * w.format.bits() as u64).div_ceil(8)
}

fn float_bytes(t: Option<&Tensor>) -> u64 {
    t.map_or(0, |t| t.byte_len() as u64)
}

fn layer_report(
    i: usize,
    l: &Layer,
    parts: &Parts,
    view: &View,
    built: &Built,
    m: Option<&AllMeasured>,
) -> LayerReport {
    let g = parts.graph;
    // Every layer but a (dead) node without outputs has one; that one reports on its input.
    let y = l
        .outputs
        .first()
        .or(l.inputs.first())
        .copied()
        .unwrap_or(ValueId(0));
    let qt = if l.quantized() {
        parts.tensors[y.0].as_ref()
    } else {
        None
    };
    let konst = |v: Option<ValueId>| v.and_then(|v| g.value(v).konst.as_deref());
    let float_weight_bytes =
        float_bytes(konst(l.weight.map(|w| w.value))) + float_bytes(konst(l.bias));
    let lw = parts.weights[i].as_ref();
    let weight = lw.zip(l.weight).map(|(lw, wu)| {
        let s = &lw.w.scales;
        WeightReport {
            tensor: g.value(wu.value).name.clone(),
            granularity: match &lw.w.granularity {
                Granularity::PerTensor => "per-tensor".into(),
                Granularity::PerChannel => "per-channel".into(),
                Granularity::Grouped { group_size, .. } => format!("group-wise ({group_size})"),
            },
            format: lw.w.format.name().into(),
            axis: wu.axis,
            scales: s.len(),
            scale_min: s.iter().copied().fold(f32::INFINITY, f32::min),
            scale_max: s.iter().copied().fold(0.0, f32::max),
            scale_mean: s.iter().sum::<f32>() / s.len().max(1) as f32,
            max_abs_q: lw.w.max_abs,
            bias: l.bias.map(|b| g.value(b).name.clone()),
            bias_max_abs_q: lw.bias.as_ref().map(|b| b.max_abs),
            rounding: lw.rounding.clone(),
        }
    });
    let weight_bytes = match lw {
        Some(lw) => {
            packed_weight_bytes(&lw.w) + lw.bias.as_ref().map_or(0, |b| 4 * b.q.len() as u64)
        }
        None => float_weight_bytes,
    };
    let accumulator = match (lw, l.kind, l.pool_window) {
        (Some(lw), _, _) => Some(AccumulatorReport::new(
            lw.bound.reduction,
            lw.w.max_abs,
            lw.bound.max_abs_input,
            lw.bound.bound,
        )),
        (None, Kind::AvgPool, Some(k)) if l.quantized() => {
            parts.tensors[l.inputs[0].0].as_ref().map(|x| {
                let q = &x.qparams;
                let span = (q.scheme.qmax() - q.zero_point).max(q.zero_point - q.scheme.qmin());
                AccumulatorReport::new(k, 1, span as u64, k as u64 * span as u64)
            })
        }
        _ => None,
    };
    let numel = view.facts[y.0].as_ref().map_or(0, |f| f.numel() as u64);
    let act_bytes = qt.map_or(1, |q| (q.qparams.scheme.bits() as u64).div_ceil(8));
    let engine = match &l.status {
        Status::Quantized => "integer".to_string(),
        Status::Float(why) => format!("float (kept: {why})"),
    };
    let probe = |mm: &Measured, k: Option<usize>| k.and_then(|k| mm.probes.get(k)?.db());
    let alone = m.and_then(|m| m.alone[i].as_ref());
    LayerReport {
        node: g.node(l.nodes[0]).name.clone(),
        nodes: l.nodes.iter().map(|n| g.node(*n).name.clone()).collect(),
        op: l.label.clone(),
        engine,
        output: g.value(y).name.clone(),
        quantized_output: built
            .quantized
            .get(&y)
            .filter(|_| l.quantized())
            .map(|p| built.graph.value(p.0).name.clone()),
        method: qt.map(|q| q.method.clone()),
        range: qt.map(|q| q.range),
        observed: qt.and_then(|q| q.observed),
        scale: qt.map(|q| q.qparams.scale),
        zero_point: qt.map(|q| q.qparams.zero_point),
        candidates: qt.map(|q| q.candidates.clone()).unwrap_or_default(),
        weight,
        accumulator,
        weight_bytes,
        float_weight_bytes,
        activation_bytes: numel * if l.quantized() { act_bytes } else { 4 },
        sqnr_db: m.and_then(|m| probe(&m.full, m.full_probe[y.0])),
        sqnr_alone_db: alone.and_then(|a| a.probes.first()?.db()),
        model_sqnr_alone_db: alone.and_then(|a| a.output.db()),
        top1_agreement_alone: alone.and_then(Measured::agreement),
    }
}

fn sensitivity(layers: &[LayerReport], parts: &Parts) -> Vec<Sensitivity> {
    let mut s: Vec<Sensitivity> = layers
        .iter()
        .zip(parts.layers)
        .filter(|(r, l)| l.quantized() && r.model_sqnr_alone_db.is_some())
        .map(|(r, _)| Sensitivity {
            node: r.node.clone(),
            op: r.op.clone(),
            model_sqnr_db: r.model_sqnr_alone_db,
            top1_agreement: r.top1_agreement_alone,
        })
        .collect();
    let key = |x: &Sensitivity| {
        (
            x.model_sqnr_db.unwrap_or(f64::INFINITY),
            x.top1_agreement.unwrap_or(1.0),
        )
    };
    // Stable: ties keep graph order.
    s.sort_by(|a, b| {
        key(a)
            .partial_cmp(&key(b))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    s
}

pub(crate) fn report(
    parts: &Parts,
    view: &View,
    built: &Built,
    m: Option<&AllMeasured>,
    observed: &Observed,
    config: &QuantizeConfig,
    timing: Timing,
) -> QuantizeReport {
    let g = parts.graph;
    let layers: Vec<LayerReport> = parts
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| layer_report(i, l, parts, view, built, m))
        .collect();
    let inputs = g
        .inputs
        .iter()
        .filter(|v| built.quantized.contains_key(v))
        .filter_map(|&v| {
            let q = parts.tensors[v.0].as_ref()?;
            Some(InputReport {
                tensor: g.value(v).name.clone(),
                method: q.method.clone(),
                range: q.range,
                observed: q.observed,
                scale: q.qparams.scale,
                zero_point: q.qparams.zero_point,
                candidates: q.candidates.clone(),
                sqnr_db: m.and_then(|m| m.full.probes.get(m.full_probe[v.0]?)?.db()),
            })
        })
        .collect();
    let quantized = parts.layers.iter().filter(|l| l.quantized()).count();
    let kept_float = parts
        .layers
        .iter()
        .filter_map(|l| match &l.status {
            Status::Float(why) => Some((g.node(l.nodes[0]).name.clone(), why.clone())),
            Status::Quantized => None,
        })
        .collect();
    let model = ModelReport {
        output_sqnr_db: m.and_then(|m| m.full.output.db()),
        top1_agreement: m.and_then(|m| m.full.agreement()),
        weight_bytes: layers.iter().map(|l| l.weight_bytes).sum(),
        float_weight_bytes: layers.iter().map(|l| l.float_weight_bytes).sum(),
        quantized_layers: quantized,
        float_layers: parts.layers.len() - quantized,
    };
    let granularity = match (config.per_channel, config.group_size) {
        (false, _) => "per-tensor".to_string(),
        (true, None) => "per-channel".to_string(),
        (true, Some(g)) => format!("group-wise ({g} input channels; depthwise per-channel)"),
    };
    QuantizeReport {
        scheme: config.scheme_label(),
        weights: format!("{} symmetric {granularity}", config.weights.name()),
        activations: format!("{} asymmetric per-tensor", config.activations.name()),
        calibration: config.ranges.label(),
        rounding: format!(
            "{}{}{}",
            config.rounding.name(),
            if config.equalize {
                " + equalization"
            } else {
                ""
            },
            if config.bias_correction {
                " + bias correction"
            } else {
                ""
            }
        ),
        equalization: parts.equalization.cloned(),
        calibration_examples: observed.examples,
        held_back_examples: observed.held_examples,
        calibration_batches: observed.batches.len(),
        inputs,
        sensitivity: sensitivity(&layers, parts),
        layers,
        kept_float,
        model,
        timing,
    }
}

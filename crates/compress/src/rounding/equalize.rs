//! Cross-layer equalization (Nagel et al., ICCV 2019), data-free: for two Convs joined by a
//! positively homogeneous activation (`Relu`, `LeakyRelu`, or none), `f(W₂·act(W₁x + b₁))` is
//! unchanged when output channel `i` of the first is divided by `s_i > 0` (weights and bias) and
//! input channel `i` of the second is multiplied by `s_i`. With `r1_i` = max |W₁| over output
//! channel `i` and `r2_i` = max |W₂| over input channel `i`, `s_i = √(r1_i·r2_i) / r2_i` makes
//! both ranges `√(r1_i·r2_i)`. Chains (Conv → dw → pw → …) are swept pair by pair until the
//! scales settle. BatchNormalization must already be folded (`mw_ir::passes::simplify`).
use super::layers::{find_layers, Layer, LayerKind};
use super::params::{replace_inputs, InputChange};
use super::RoundingError;
use mw_ir::{Graph, NodeId, ValueId};
use std::collections::HashMap;

/// Sweeps stop when no scale of a sweep differs from 1 by more than this.
const TOLERANCE: f64 = 1e-6;
/// At most this many sweeps over all pairs.
const MAX_SWEEPS: usize = 200;

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct EqualizedPair {
    pub first: String,
    pub second: String,
    /// The activation between them, if any.
    pub activation: Option<String>,
    /// Smallest and largest total scale `s_i` applied to the pair's channels.
    pub scale_min: f32,
    pub scale_max: f32,
    /// `min_i r_i / max_i r_i` of the first layer's per-channel ranges, before and after.
    pub first_range_ratio: (f32, f32),
}

#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct EqualizeReport {
    pub pairs: Vec<EqualizedPair>,
    /// Layers that were not equalized with a following layer, and why.
    pub skipped: Vec<(String, String)>,
    pub sweeps: usize,
}

struct Pair {
    first: usize,
    second: usize,
    activation: Option<String>,
}

/// The equalized graph (a new graph; `graph` is not changed) and what was done.
pub fn equalize(graph: &Graph) -> Result<(Graph, EqualizeReport), RoundingError> {
    let (layers, _) = find_layers(graph);
    let mut report = EqualizeReport::default();
    let pairs = find_pairs(graph, &layers, &mut report.skipped);
    if pairs.is_empty() {
        return Ok((graph.clone(), report));
    }
    let mut w: HashMap<usize, (Vec<f32>, Vec<f32>)> = HashMap::new();
    for p in &pairs {
        for i in [p.first, p.second] {
            if let std::collections::hash_map::Entry::Vacant(e) = w.entry(i) {
                e.insert((layers[i].matrix(graph)?, layers[i].bias_values(graph)?));
            }
        }
    }
    let before: Vec<f32> = pairs
        .iter()
        .map(|p| range_ratio(&ranges_out(&layers[p.first], &w[&p.first].0)))
        .collect();
    let mut total: Vec<Vec<f64>> = pairs
        .iter()
        .map(|p| vec![1.0; layers[p.first].rows])
        .collect();
    for sweep in 1..=MAX_SWEEPS {
        report.sweeps = sweep;
        let mut change = 0f64;
        for (p, tot) in pairs.iter().zip(&mut total) {
            let (l1, l2) = (&layers[p.first], &layers[p.second]);
            let r1 = ranges_out(l1, &w[&p.first].0);
            let r2 = ranges_in(l2, &w[&p.second].0);
            let s: Vec<f64> = r1
                .iter()
                .zip(&r2)
                .map(|(&a, &b)| {
                    let (a, b) = (a as f64, b as f64);
                    if a > 0.0 && b > 0.0 {
                        (a * b).sqrt() / b
                    } else {
                        1.0
                    }
                })
                .collect();
            change = s.iter().fold(change, |m, v| m.max((v - 1.0).abs()));
            tot.iter_mut().zip(&s).for_each(|(t, v)| *t *= v);
            let (w1, b1) = w.get_mut(&p.first).expect("loaded");
            scale_out(l1, w1, b1, &s);
            scale_in(l2, &mut w.get_mut(&p.second).expect("loaded").0, &s);
        }
        if change <= TOLERANCE {
            break;
        }
    }
    for ((p, tot), before) in pairs.iter().zip(&total).zip(before) {
        let after = range_ratio(&ranges_out(&layers[p.first], &w[&p.first].0));
        report.pairs.push(EqualizedPair {
            first: layers[p.first].name.clone(),
            second: layers[p.second].name.clone(),
            activation: p.activation.clone(),
            scale_min: tot.iter().copied().fold(f64::INFINITY, f64::min) as f32,
            scale_max: tot.iter().copied().fold(0.0, f64::max) as f32,
            first_range_ratio: (before, after),
        });
    }
    let mut changes: Vec<InputChange> = Vec::new();
    let mut ids: Vec<usize> = w.keys().copied().collect();
    ids.sort_unstable();
    for i in ids {
        let (m, b) = &w[&i];
        let l = &layers[i];
        changes.push(l.set_weight(graph, m)?);
        if l.bias.is_some_and(|s| s.value.is_some()) {
            changes.push(l.set_bias(b)?);
        }
    }
    Ok((replace_inputs(graph, changes, "cle")?, report))
}

/// Conv → [Relu | LeakyRelu] → Conv pairs whose intermediate values have no other reader and
/// whose weights belong to their layer alone.
fn find_pairs(graph: &Graph, layers: &[Layer], skipped: &mut Vec<(String, String)>) -> Vec<Pair> {
    let consumers = graph.consumers();
    let by_node: HashMap<NodeId, usize> = layers
        .iter()
        .enumerate()
        .map(|(i, l)| (l.node, i))
        .collect();
    let only_reader = |v: ValueId| -> Option<NodeId> {
        if graph.outputs.contains(&v) {
            return None;
        }
        match consumers.get(&v).map(Vec::as_slice) {
            Some([n]) => Some(*n),
            _ => None,
        }
    };
    let own_weight = |l: &Layer| {
        consumers.get(&l.weight).map_or(0, Vec::len) == 1
            && l.bias
                .and_then(|b| b.value)
                .is_none_or(|b| consumers.get(&b).map_or(0, Vec::len) == 1)
    };
    let mut pairs = Vec::new();
    for (i, l1) in layers.iter().enumerate() {
        if l1.kind != LayerKind::Conv {
            continue;
        }
        let out = graph.node(l1.node).outputs[0];
        let mut skip = |why: &str| skipped.push((l1.name.clone(), why.to_string()));
        let Some(next) = only_reader(out) else {
            skip("its output has several readers or is a graph output");
            continue;
        };
        let (activation, second) = match graph.node(next).op.op_type() {
            "Relu" | "LeakyRelu" => {
                let act = graph.node(next);
                match only_reader(act.outputs[0]) {
                    Some(n) => (Some(act.name.clone()), n),
                    None => {
                        skip("its activation's output has several readers or is a graph output");
                        continue;
                    }
                }
            }
            _ => (None, next),
        };
        let Some(&j) = by_node.get(&second) else {
            skip(&format!(
                "followed by {}, not a Conv (through Relu)",
                graph.node(second).op.op_type()
            ));
            continue;
        };
        let l2 = &layers[j];
        let fed = if activation.is_some() {
            graph.node(next).outputs[0]
        } else {
            out
        };
        if l2.kind != LayerKind::Conv || l2.input != fed {
            skip("the next layer is not a Conv reading it as data");
            continue;
        }
        if l2.cols / l2.taps.max(1) * l2.groups != l1.rows {
            skip("channel counts disagree");
            continue;
        }
        if !own_weight(l1) || !own_weight(l2) {
            skip("a weight or bias is shared with another node");
            continue;
        }
        pairs.push(Pair {
            first: i,
            second: j,
            activation,
        });
    }
    pairs
}

/// Max |w| over each output channel (row).
fn ranges_out(l: &Layer, m: &[f32]) -> Vec<f32> {
    m.chunks(l.cols)
        .map(|r| r.iter().fold(0f32, |a, v| a.max(v.abs())))
        .collect()
}

/// Max |w| over each input channel `c` of a Conv: rows of group `c / cg`, columns
/// `[(c % cg)·taps, (c % cg + 1)·taps)`.
fn ranges_in(l: &Layer, m: &[f32]) -> Vec<f32> {
    let taps = l.taps.max(1);
    let cg = l.cols / taps;
    let rpg = l.rows_per_group();
    (0..cg * l.groups)
        .map(|c| {
            let (g, ci) = (c / cg, c % cg);
            (g * rpg..(g + 1) * rpg)
                .flat_map(|r| &m[r * l.cols + ci * taps..r * l.cols + (ci + 1) * taps])
                .fold(0f32, |a, v| a.max(v.abs()))
        })
        .collect()
}

fn scale_out(l: &Layer, m: &mut [f32], b: &mut [f32], s: &[f64]) {
    for (r, row) in m.chunks_mut(l.cols).enumerate() {
        row.iter_mut().for_each(|v| *v = (*v as f64 / s[r]) as f32);
        b[r] = (b[r] as f64 / s[r]) as f32;
    }
}

fn scale_in(l: &Layer, m: &mut [f32], s: &[f64]) {
    let taps = l.taps.max(1);
    let cg = l.cols / taps;
    let rpg = l.rows_per_group();
    for (r, row) in m.chunks_mut(l.cols).enumerate() {
        let g = r / rpg;
        for (j, v) in row.iter_mut().enumerate() {
            *v = (*v as f64 * s[g * cg + j / taps]) as f32;
        }
    }
}

fn range_ratio(r: &[f32]) -> f32 {
    let max = r.iter().copied().fold(0f32, f32::max);
    let min = r.iter().copied().fold(f32::INFINITY, f32::min);
    if max > 0.0 {
        min / max
    } else {
        1.0
    }
}

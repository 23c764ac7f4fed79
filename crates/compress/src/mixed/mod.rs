//! Mixed precision: per weighted layer, a weight format (8, 4, 2 or 1 bits) and an activation
//! type (8 or 16 bits), chosen from measured per-layer sensitivity to meet a budget of weight
//! bytes or of energy per inference.
//!
//! [`search`] works in four steps, all on calibration data (the caller splits it into examples
//! to calibrate on and held-out examples for the proxy; never pass the evaluation split):
//!
//! 1. **Base**: the whole model at `config.base` (W8A8), quantized with
//!    [`crate::quantize::quantize`]; its weighted layers are the search's layers.
//! 2. **Sensitivity**: for every layer and every candidate format, the base with only that layer
//!    changed is quantized and measured: Δ weight bytes and Δ µJ ([`meter`]: the energy model's
//!    own counting on the assembled QDQ graph) and Δ proxy cost — the mean KL divergence of the
//!    model's output from the float model's on the held-out examples ([`proxy`]).
//! 3. **Fronts**: assuming the deltas add up, [`front::pareto_front`] gives every configuration
//!    not dominated in (bytes, proxy) and in (µJ, proxy) — the whole explored front.
//! 4. **Assembly**: front points spread along both fronts, and the best-predicted points within
//!    the budget, are quantized for real and measured (bytes, µJ, proxy); the chosen model is the
//!    evaluated point with the lowest real proxy among those whose real cost is within the budget.
//!    No point within the budget: no model, and the report says the lowest reachable cost.
//!
//! Deterministic: the same inputs give the same choice and the same graph.

pub mod front;
pub mod meter;
pub mod proxy;

use crate::quantize::{ActivationType, Calibration, QuantizeConfig, QuantizeError, WeightFormat};
use front::{pareto_front, Choice, Point};
use meter::Cost;
use mw_energy::{EnergyError, Profile};
use mw_exec::ExecError;
use mw_ir::Graph;
use mw_tensor::Tensor;
pub use proxy::{Holdout, Score};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::Instant;

/// Why the search failed.
#[derive(Debug, thiserror::Error)]
pub enum MixedError {
    #[error(transparent)]
    Quantize(Box<QuantizeError>),
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error("energy model: {0}")]
    Energy(#[from] EnergyError),
    #[error("invalid mixed-precision configuration: {0}")]
    Config(String),
}

impl From<QuantizeError> for MixedError {
    fn from(e: QuantizeError) -> Self {
        MixedError::Quantize(Box::new(e))
    }
}

/// What the chosen model must fit in.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Budget {
    /// Total weight bytes as the energy model stores them.
    WeightBytes(f64),
    /// Energy per inference in µJ on the configured profile.
    EnergyUj(f64),
}

/// One layer format: weights and activations.
pub type Format = (WeightFormat, ActivationType);

/// Configuration of [`search`].
pub struct MixedConfig {
    /// The starting point (every layer at its `weights`/`activations`, normally W8A8); its
    /// `layer_formats` must be empty. `measure` is ignored (the search measures itself).
    pub base: QuantizeConfig,
    /// Formats tried for every weighted layer (the base's format is always an option).
    pub candidates: Vec<Format>,
    pub budget: Budget,
    /// Needed for an energy budget; with a bytes budget, it adds µJ to the report.
    pub profile: Option<Profile>,
    /// Front points assembled per front, spread along it (besides those near the budget).
    pub spread: usize,
    /// Best-predicted points within the budget assembled.
    pub near_budget: usize,
}

impl MixedConfig {
    /// Every weight format of 8, 4, 2 and 1 bits with int8 and int16 activations.
    pub fn all_candidates() -> Vec<Format> {
        let mut out = Vec::new();
        for a in [ActivationType::Int8, ActivationType::Int16] {
            for w in [
                WeightFormat::Int8,
                WeightFormat::Int4,
                WeightFormat::Int2,
                WeightFormat::Binary,
            ] {
                out.push((w, a));
            }
        }
        out
    }
}

/// `w<bits>a<bits>`.
pub fn label(f: Format) -> String {
    format!("w{}a{}", f.0.bits(), f.1.bits())
}

/// One candidate of one layer, measured with only that layer changed from the base.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LayerOption {
    pub format: String,
    pub weight_bits: u32,
    pub activation_bits: u32,
    pub delta_weight_bytes: f64,
    pub delta_energy_uj: Option<f64>,
    /// Δ mean KL against the float model (nats), relative to the base.
    pub delta_kl: f64,
    pub score: Score,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LayerSensitivity {
    /// The layer's main node.
    pub node: String,
    pub options: Vec<LayerOption>,
}

/// A configuration on a predicted front (additive model).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FrontPoint {
    /// Predicted bytes (bytes front) or µJ (energy front).
    pub resource: f64,
    /// Predicted mean KL.
    pub kl: f64,
    /// Format label per layer, in layer order.
    pub formats: Vec<String>,
}

/// A configuration quantized for real and measured.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Evaluated {
    /// Node → format label.
    pub layers: BTreeMap<String, String>,
    /// `base`, `bytes front` or `energy front`.
    pub source: String,
    pub predicted_weight_bytes: f64,
    pub predicted_energy_uj: Option<f64>,
    pub predicted_kl: f64,
    pub weight_bytes: f64,
    pub energy_uj: Option<f64>,
    pub score: Score,
    pub within_budget: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MixedReport {
    pub scheme: String,
    pub budget: Budget,
    pub profile: Option<String>,
    pub calibration_examples: usize,
    pub holdout_examples: usize,
    pub layers: Vec<String>,
    pub base: Evaluated,
    pub sensitivity: Vec<LayerSensitivity>,
    pub bytes_front: Vec<FrontPoint>,
    pub energy_front: Vec<FrontPoint>,
    pub evaluated: Vec<Evaluated>,
    /// The chosen configuration, `None` when no evaluated point fits the budget.
    pub chosen: Option<Evaluated>,
    /// The lowest cost (bytes or µJ, the budget's unit) any evaluated point reached.
    pub lowest_reachable: f64,
    pub seconds: f64,
}

/// Searches per-layer formats for `graph` within `config.budget`; returns the chosen QDQ graph
/// (when one fits) and the report. `calib` are the calibration batches, `holdout` the held-out
/// examples the proxy is measured on.
pub fn search(
    graph: &Graph,
    calib: &[Tensor],
    holdout: &Holdout,
    config: &MixedConfig,
) -> Result<(Option<Graph>, MixedReport), MixedError> {
    let start = Instant::now();
    check(config)?;
    let base_config = QuantizeConfig {
        measure: false,
        ..config.base.clone()
    };
    let batches = calib.iter().cloned().map(Ok::<Tensor, Infallible>);
    let ctx = Ctx {
        calibration: Calibration::new(graph.clone(), batches, &base_config)?,
        holdout,
        config,
    };
    let (base_graph, base_report) = ctx.quantize(&BTreeMap::new())?;
    let layers: Vec<String> = base_report
        .layers
        .iter()
        .filter(|l| l.weight.is_some())
        .map(|l| l.node.clone())
        .collect();
    let base_cost = ctx.meter(&base_graph)?;
    let base_score = holdout.score(&base_graph, config.base.limits)?;
    let base_format = (config.base.weights, config.base.activations);
    let mut options = vec![base_format];
    options.extend(config.candidates.iter().filter(|&&f| f != base_format));

    let sensitivity = ctx.sensitivity(&layers, &options, base_cost, base_score)?;
    let bytes_options = choices(&sensitivity, |o| o.delta_weight_bytes);
    let bytes_front = pareto_front(&bytes_options);
    let energy_front = match config.profile {
        Some(_) => pareto_front(&choices(&sensitivity, |o| o.delta_energy_uj.unwrap_or(0.0))),
        None => Vec::new(),
    };
    let predict = |picks: &[usize]| Predicted::of(&sensitivity, picks, base_cost, base_score);
    let base = Evaluated {
        layers: layers
            .iter()
            .map(|n| (n.clone(), label(base_format)))
            .collect(),
        source: "base".into(),
        predicted_weight_bytes: base_cost.weight_bytes,
        predicted_energy_uj: base_cost.energy_uj,
        predicted_kl: base_score.kl,
        weight_bytes: base_cost.weight_bytes,
        energy_uj: base_cost.energy_uj,
        score: base_score,
        within_budget: within(config.budget, base_cost),
    };

    let mut evaluated = vec![base.clone()];
    let mut graphs = vec![base_graph];
    let mut seen = vec![vec![0usize; layers.len()]];
    // A configuration not seen yet, marked seen: the same configuration is assembled once.
    let mut fresh = |picks: &[usize]| -> bool {
        let new = !seen.iter().any(|s| s == picks);
        if new {
            seen.push(picks.to_vec());
        }
        new
    };
    let formats_of = |picks: &[usize]| -> BTreeMap<String, Format> {
        layers
            .iter()
            .zip(picks)
            .map(|(n, &i)| (n.clone(), options[i]))
            .collect()
    };
    // Assembles and measures `batch` in parallel; records the results in order and returns how
    // many fit the budget.
    let mut run = |batch: Vec<(&[usize], &str)>| -> Result<usize, MixedError> {
        let formats: Vec<_> = batch.iter().map(|(p, _)| formats_of(p)).collect();
        let mut fits = 0;
        for ((picks, source), (f, trial)) in batch
            .into_iter()
            .zip(formats.iter().zip(ctx.trials(&formats)?))
        {
            let p = predict(picks);
            let e = Evaluated {
                layers: f.iter().map(|(n, &f)| (n.clone(), label(f))).collect(),
                source: source.into(),
                predicted_weight_bytes: p.bytes,
                predicted_energy_uj: p.energy,
                predicted_kl: p.kl,
                weight_bytes: trial.cost.weight_bytes,
                energy_uj: trial.cost.energy_uj,
                score: trial.score,
                within_budget: within(config.budget, trial.cost),
            };
            fits += usize::from(e.within_budget);
            evaluated.push(e);
            graphs.push(trial.graph);
        }
        Ok(fits)
    };
    let mut spread_batch = Vec::new();
    for (front, name) in [
        (&bytes_front, "bytes front"),
        (&energy_front, "energy front"),
    ] {
        for p in spread(front, config.spread) {
            if fresh(&p.picks) {
                spread_batch.push((p.picks.as_slice(), name));
            }
        }
    }
    run(spread_batch)?;
    let (budget_front, name, budget_value) = match config.budget {
        Budget::WeightBytes(b) => (&bytes_front, "bytes front", b),
        Budget::EnergyUj(e) => (&energy_front, "energy front", e),
    };
    // The best-predicted points within the budget, in order, until `near_budget` of them fit:
    // a batch of as many new points as still needed never goes past the last one needed.
    let mut near = budget_front
        .iter()
        .rev()
        .filter(|p| p.resource <= budget_value);
    let mut fitting = 0;
    while fitting < config.near_budget {
        let batch: Vec<_> = near
            .by_ref()
            .filter(|p| fresh(&p.picks))
            .take(config.near_budget - fitting)
            .map(|p| (p.picks.as_slice(), name))
            .collect();
        if batch.is_empty() {
            break;
        }
        fitting += run(batch)?;
    }
    let best = (0..evaluated.len())
        .filter(|&i| evaluated[i].within_budget)
        .min_by(|&a, &b| {
            let (x, y) = (&evaluated[a].score, &evaluated[b].score);
            x.kl.total_cmp(&y.kl)
                .then(y.agreement.total_cmp(&x.agreement))
                .then(a.cmp(&b))
        });
    let lowest_reachable = evaluated
        .iter()
        .map(|e| resource_of(config.budget, e.weight_bytes, e.energy_uj))
        .fold(f64::INFINITY, f64::min);
    let describe = |f: &[Point], base: f64| -> Vec<FrontPoint> {
        f.iter()
            .map(|p| FrontPoint {
                resource: base + p.resource,
                kl: base_score.kl + p.cost,
                formats: p.picks.iter().map(|&i| label(options[i])).collect(),
            })
            .collect()
    };
    let report = MixedReport {
        scheme: "mixed".into(),
        budget: config.budget,
        profile: config.profile.as_ref().map(|p| p.name.clone()),
        calibration_examples: calib.iter().map(batch_len).sum(),
        holdout_examples: holdout.reference.len(),
        layers,
        base,
        sensitivity,
        bytes_front: describe(&bytes_front, base_cost.weight_bytes),
        energy_front: describe(&energy_front, base_cost.energy_uj.unwrap_or(0.0)),
        chosen: best.map(|i| evaluated[i].clone()),
        evaluated,
        lowest_reachable,
        seconds: start.elapsed().as_secs_f64(),
    };
    Ok((best.map(|i| graphs.swap_remove(i)), report))
}

fn batch_len(t: &Tensor) -> usize {
    t.shape().first().copied().unwrap_or(1)
}

fn check(config: &MixedConfig) -> Result<(), MixedError> {
    if !config.base.layer_formats.is_empty() {
        return Err(MixedError::Config(
            "the base configuration already has per-layer formats".into(),
        ));
    }
    if matches!(config.budget, Budget::EnergyUj(_)) && config.profile.is_none() {
        return Err(MixedError::Config(
            "an energy budget needs a hardware profile".into(),
        ));
    }
    let value = match config.budget {
        Budget::WeightBytes(v) | Budget::EnergyUj(v) => v,
    };
    if !(value.is_finite() && value > 0.0) {
        return Err(MixedError::Config(format!(
            "budget {value} is not positive"
        )));
    }
    Ok(())
}

fn resource_of(budget: Budget, bytes: f64, energy: Option<f64>) -> f64 {
    match budget {
        Budget::WeightBytes(_) => bytes,
        Budget::EnergyUj(_) => energy.unwrap_or(f64::INFINITY),
    }
}

fn within(budget: Budget, cost: Cost) -> bool {
    match budget {
        Budget::WeightBytes(b) => cost.weight_bytes <= b,
        Budget::EnergyUj(e) => cost.energy_uj.is_some_and(|u| u <= e),
    }
}

/// `n` points spread evenly by index along `front` (both ends included).
fn spread(front: &[Point], n: usize) -> Vec<&Point> {
    if front.is_empty() || n == 0 {
        return Vec::new();
    }
    let last = front.len() - 1;
    let mut idx: Vec<usize> = (0..n)
        .map(|k| if n == 1 { last } else { k * last / (n - 1) })
        .collect();
    idx.dedup();
    idx.into_iter().map(|i| &front[i]).collect()
}

fn choices(s: &[LayerSensitivity], resource: impl Fn(&LayerOption) -> f64) -> Vec<Vec<Choice>> {
    s.iter()
        .map(|l| {
            l.options
                .iter()
                .map(|o| Choice {
                    resource: resource(o),
                    cost: o.delta_kl,
                })
                .collect()
        })
        .collect()
}

/// The additive model's prediction for one configuration.
struct Predicted {
    bytes: f64,
    energy: Option<f64>,
    kl: f64,
}

impl Predicted {
    fn of(s: &[LayerSensitivity], picks: &[usize], base: Cost, score: Score) -> Predicted {
        let opts = || s.iter().zip(picks).map(|(l, &i)| &l.options[i]);
        Predicted {
            bytes: base.weight_bytes + opts().map(|o| o.delta_weight_bytes).sum::<f64>(),
            energy: base
                .energy_uj
                .map(|e| e + opts().filter_map(|o| o.delta_energy_uj).sum::<f64>()),
            kl: score.kl + opts().map(|o| o.delta_kl).sum::<f64>(),
        }
    }
}

struct Ctx<'a> {
    /// The base configuration's calibration, shared by every configuration tried.
    calibration: Calibration,
    holdout: &'a Holdout,
    config: &'a MixedConfig,
}

impl Ctx<'_> {
    fn quantize(
        &self,
        formats: &BTreeMap<String, Format>,
    ) -> Result<(Graph, crate::quantize::QuantizeReport), MixedError> {
        Ok(self.calibration.quantize(formats)?)
    }

    fn meter(&self, g: &Graph) -> Result<Cost, MixedError> {
        Ok(meter::measure(g, self.config.profile.as_ref())?)
    }

    /// `formats` quantized and measured in parallel; results (and the first error) in order.
    fn trials(&self, formats: &[BTreeMap<String, Format>]) -> Result<Vec<Trial>, MixedError> {
        let results: Vec<Result<Trial, MixedError>> =
            formats.par_iter().map(|f| self.trial(f)).collect();
        results.into_iter().collect()
    }

    fn trial(&self, formats: &BTreeMap<String, Format>) -> Result<Trial, MixedError> {
        let (graph, _) = self.quantize(formats)?;
        let cost = self.meter(&graph)?;
        let score = self.holdout.score(&graph, self.config.base.limits)?;
        Ok(Trial { graph, cost, score })
    }

    /// Every option of every layer, measured with only that layer changed.
    fn sensitivity(
        &self,
        layers: &[String],
        options: &[Format],
        base_cost: Cost,
        base_score: Score,
    ) -> Result<Vec<LayerSensitivity>, MixedError> {
        let probes: Vec<(usize, usize)> = (0..layers.len())
            .flat_map(|l| (1..options.len()).map(move |k| (l, k)))
            .collect();
        let measured: Vec<Result<(Cost, Score), MixedError>> = probes
            .par_iter()
            .map(|&(l, k)| {
                let t = self.trial(&BTreeMap::from([(layers[l].clone(), options[k])]))?;
                Ok((t.cost, t.score))
            })
            .collect();
        let measured = measured.into_iter().collect::<Result<Vec<_>, _>>()?;
        let per_layer = options.len() - 1;
        let mut out = Vec::with_capacity(layers.len());
        for (l, node) in layers.iter().enumerate() {
            let mut opts = Vec::with_capacity(options.len());
            for (k, &f) in options.iter().enumerate() {
                let (cost, score) = match k {
                    0 => (base_cost, base_score),
                    _ => measured[l * per_layer + k - 1],
                };
                opts.push(LayerOption {
                    format: label(f),
                    weight_bits: f.0.bits(),
                    activation_bits: f.1.bits(),
                    delta_weight_bytes: cost.weight_bytes - base_cost.weight_bytes,
                    delta_energy_uj: cost.energy_uj.zip(base_cost.energy_uj).map(|(a, b)| a - b),
                    delta_kl: score.kl - base_score.kl,
                    score,
                });
            }
            out.push(LayerSensitivity {
                node: node.clone(),
                options: opts,
            });
        }
        Ok(out)
    }
}

/// One configuration assembled and measured.
struct Trial {
    graph: Graph,
    cost: Cost,
    score: Score,
}

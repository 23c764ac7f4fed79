//! Weight-only quantization of a float graph in place of its weights ("fake quant"): every
//! weighted layer's weights are replaced by their dequantized grid values, rounded to nearest, by
//! GPTQ or by AdaRound, optionally bias-corrected; activations stay float. The result is a float graph any engine runs,
//! which isolates the effect of weight rounding from activation quantization.
//!
//! `sequential: false` takes every layer's statistics from the float graph. `sequential: true`
//! quantizes layer by layer in node order and takes layer `i`'s input statistics from the graph
//! whose layers before `i` are already quantized (as GPTQ's reference code and empirical bias
//! correction do): GPTQ then minimizes `‖(W − Ŵ)·X̂ᵀ‖²` on the inputs the quantized model
//! really sees, and bias correction sets `b̂ = b + W·E[x] − Ŵ·E[x̂]`, which also absorbs the
//! mean shift that earlier layers' rounding causes.
use super::adaround::AdaRoundConfig;
use super::bias::{output_error, OutputError};
use super::collect::collect_hessians;
use super::gptq::GptqConfig;
use super::grid::{dequantize, nearest_quantize, Grid, Matrix, Quantizer};
use super::hessian::Hessian;
use super::layers::{find_layers, Layer};
use super::params::replace_inputs;
use super::{adaround_layer, gptq_layer, RoundingError};
use mw_exec::Plan;
use mw_ir::{Graph, Limits};
use mw_tensor::Tensor;

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub enum Rounding {
    Nearest,
    Gptq(GptqConfig),
    AdaRound(AdaRoundConfig),
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct WeightQuantConfig {
    pub grid: Grid,
    /// Scales per output channel (`None`) or per group of this many input columns.
    pub group: Option<usize>,
    pub rounding: Rounding,
    pub bias_correction: bool,
    pub sequential: bool,
}

/// One layer's outcome: its output error over the calibration inputs it was quantized on.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct LayerOutcome {
    pub layer: String,
    /// Multiply-accumulates per example (`rows · cols ·` output positions).
    pub macs: u64,
    pub error: OutputError,
    /// Set when the layer has no place for a bias and bias correction was asked for.
    pub note: Option<String>,
}

/// The fake-quantized graph and one outcome per weighted layer (layers that cannot be viewed
/// as a weight matrix are left float and not listed).
pub fn fake_quantize(
    graph: &Graph,
    calib: &[Tensor],
    cfg: &WeightQuantConfig,
) -> Result<(Graph, Vec<LayerOutcome>), RoundingError> {
    let (layers, _) = find_layers(graph);
    let examples: usize = calib
        .iter()
        .map(|t| t.shape().first().copied().unwrap_or(0))
        .sum();
    let float_stats = stats(graph, &layers, calib)?;
    let mut current = graph.clone();
    let mut outcomes = Vec::with_capacity(layers.len());
    let mut changes = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        if cfg.sequential {
            // Node ids change with every rewrite: find the layer again, by name.
            let (now, _) = find_layers(&current);
            let lc = now
                .into_iter()
                .find(|x| x.name == l.name)
                .ok_or_else(|| l.err("lost while quantizing".into()))?;
            let seen = match i {
                0 => float_stats[0].clone(),
                _ => stats(&current, std::slice::from_ref(&lc), calib)?.remove(0),
            };
            let (change, outcome) =
                quantize_layer(&current, &lc, &float_stats[i], &seen, cfg, examples)?;
            outcomes.push(outcome);
            current = replace_inputs(&current, change, "wq")?;
        } else {
            let (change, outcome) =
                quantize_layer(graph, l, &float_stats[i], &float_stats[i], cfg, examples)?;
            outcomes.push(outcome);
            changes.extend(change);
        }
    }
    if !cfg.sequential {
        current = replace_inputs(graph, changes, "wq")?;
    }
    Ok((current, outcomes))
}

fn stats(
    graph: &Graph,
    layers: &[Layer],
    calib: &[Tensor],
) -> Result<Vec<Vec<Hessian>>, RoundingError> {
    let plan = Plan::new(graph.clone(), Limits::default())
        .map_err(|e| RoundingError::Run(e.to_string()))?;
    collect_hessians(&plan, layers, calib.iter().cloned())
}

/// The weight (and bias) changes of one layer; `float_in` and `seen` are its input statistics
/// in the float graph and in the graph it is quantized in (equal unless sequential).
fn quantize_layer(
    graph: &Graph,
    l: &Layer,
    float_in: &[Hessian],
    seen: &[Hessian],
    cfg: &WeightQuantConfig,
    examples: usize,
) -> Result<(Vec<super::InputChange>, LayerOutcome), RoundingError> {
    let w = l.matrix(graph)?;
    let m = Matrix::new(&w, l.rows, l.cols)?;
    let q = Quantizer::absmax(m, cfg.grid, cfg.group)?;
    let qi = match &cfg.rounding {
        Rounding::Nearest => nearest_quantize(m, &q)?,
        Rounding::Gptq(g) => gptq_layer(m, seen, &q, g)?,
        Rounding::AdaRound(a) => adaround_layer(m, seen, &q, a)?,
    };
    let wq = dequantize(&qi, l.rows, l.cols, &q)?;
    let b = l.bias_values(graph)?;
    let mut bq = b.clone();
    let mut changes = vec![l.set_weight(graph, &wq)?];
    let mut note = None;
    if cfg.bias_correction {
        match l.bias {
            Some(_) => {
                shift_bias(m, &wq, float_in, seen, &mut bq);
                changes.push(l.set_bias(&bq)?);
            }
            None => note = Some("no bias to correct (MatMul without a following Add)".into()),
        }
    }
    let error = output_error(m, &wq, &b, &bq, seen)?;
    let per_example = seen[0].n / examples.max(1) as u64;
    Ok((
        changes,
        LayerOutcome {
            layer: l.name.clone(),
            macs: (l.rows * l.cols) as u64 * per_example,
            error,
            note,
        },
    ))
}

/// `b̂ = b + W·E[x] − Ŵ·E[x̂]` per row (rows split evenly over the groups' statistics).
fn shift_bias(w: Matrix, w_hat: &[f32], float_in: &[Hessian], seen: &[Hessian], b: &mut [f32]) {
    let per = w.rows / float_in.len().max(1);
    for (r, br) in b.iter_mut().enumerate() {
        let (mf, mq) = (float_in[r / per].mean(), seen[r / per].mean());
        let d: f64 = (0..w.cols)
            .map(|c| w.data[r * w.cols + c] as f64 * mf[c] - w_hat[r * w.cols + c] as f64 * mq[c])
            .sum();
        *br = (*br as f64 + d) as f32;
    }
}

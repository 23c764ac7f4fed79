//! Error-compensating rounding inside the quantize pass: which weighted layers get input
//! statistics, and how a layer's nearest-rounded weights are replaced by GPTQ's or AdaRound's
//! on the same grid and scales, with the optional bias correction.
//!
//! Statistics (`XᵀX`, `Σx`, `n` of every layer's input, Conv inputs as im2col patches) come from
//! the float graph in the calibration pass itself ([`crate::rounding::HessianCollector`] fed by
//! the same `Plan::run_observed` callback as the histograms): no second pass. They are collected
//! when the rounding is not nearest, bias correction is asked for, or the weights are below
//! 8 bits (then the report gives every layer's weight-only output SQNR).
//!
//! The scales are the ones [`quantize_weights`](super::weights::quantize_weights) chose (per
//! tensor, per channel or blocked): the rounding library receives one scale per element
//! (`Quantizer { group: Some(1) }`), so every granularity maps exactly.
use super::config::{QuantizeConfig, WeightFormat, WeightRounding};
use super::layers::Layer as QLayer;
use super::report::RoundingReport;
use super::weights::{element_scales, QWeights, WeightLayout};
use super::QuantizeError;
use crate::rounding::{
    adaround_layer, bias_correction, dequantize, find_layers, gptq_layer, nearest_quantize,
    output_error, AdaRoundConfig, GptqConfig, Grid, Hessian, HessianCollector, Layer, LayerKind,
    Matrix, Quantizer, RoundingError, MAX_K,
};
use mw_ir::Graph;
use mw_tensor::{Data, Tensor};

/// One weighted layer's statistics, or why it has none (per quantize-pass layer; `None` for
/// layers without weights or when no statistics are needed).
pub(crate) type Targets = Vec<Option<Result<Target, String>>>;

#[derive(Debug)]
pub(crate) struct Target {
    pub layer: Layer,
    /// One per Conv group.
    pub hessians: Vec<Hessian>,
}

/// Whether the configuration needs per-layer input statistics.
pub(crate) fn needed(c: &QuantizeConfig) -> bool {
    c.rounding != WeightRounding::Nearest || c.bias_correction || c.weights != WeightFormat::Int8
}

/// Per quantize-pass layer: the rounding library's view of its weight, or why there is none.
pub(crate) fn candidates(graph: &Graph, layers: &[QLayer]) -> Vec<Option<Result<Layer, String>>> {
    let (found, skipped) = find_layers(graph);
    layers
        .iter()
        .map(|l| {
            let wu = l.weight.filter(|_| l.kind.weighted() && l.quantized())?;
            let node = l.nodes[0];
            let name = &graph.node(node).name;
            let rank = graph
                .value(wu.value)
                .konst
                .as_deref()
                .map_or(0, |t| t.rank());
            Some(match found.iter().find(|f| f.node == node) {
                Some(f) if f.weight != wu.value => Err("its weight is read differently".into()),
                Some(f) if f.cols > MAX_K => Err(format!(
                    "reduction length {} exceeds {MAX_K}, the largest collected",
                    f.cols
                )),
                Some(f) if f.kind == LayerKind::Conv && !(3..=4).contains(&rank) => {
                    Err("only 1-D and 2-D convolutions have statistics".into())
                }
                Some(f) => Ok(f.clone()),
                None => Err(skipped
                    .iter()
                    .find(|(n, _)| n == name)
                    .map_or("not a weight matrix".into(), |(_, why)| why.clone())),
            })
        })
        .collect()
}

/// A collector for the layers that have a view.
pub(crate) fn collector(
    graph: &Graph,
    cands: &[Option<Result<Layer, String>>],
) -> Result<HessianCollector, QuantizeError> {
    let ok: Vec<Layer> = cands.iter().flatten().flatten().cloned().collect();
    Ok(HessianCollector::new(graph, &ok)?)
}

/// Pairs the collected statistics (in candidate order) with their layers.
pub(crate) fn targets(
    cands: Vec<Option<Result<Layer, String>>>,
    hessians: Vec<Vec<Hessian>>,
) -> Targets {
    let mut hs = hessians.into_iter();
    cands
        .into_iter()
        .map(|c| {
            c.map(|r| {
                r.and_then(|layer| {
                    let hessians = hs.next().ok_or("no statistics collected")?;
                    Ok(Target { layer, hessians })
                })
            })
        })
        .collect()
}

/// A layer's stored weights, its (possibly corrected) float bias and what happened.
pub(crate) struct Rounded {
    pub w: QWeights,
    pub bias: Option<Tensor>,
    pub report: RoundingReport,
}

fn grid(f: WeightFormat) -> Result<Grid, RoundingError> {
    match f {
        WeightFormat::Int8 => Grid::symmetric(8),
        WeightFormat::Int4 => Grid::symmetric(4),
        WeightFormat::Int2 => Grid::symmetric(2),
        WeightFormat::Binary => Ok(Grid::Binary),
    }
}

/// `[a, b]` row-major → `[b, a]`.
fn transpose<T: Copy + Default>(m: &[T], a: usize, b: usize) -> Vec<T> {
    let mut t = vec![T::default(); m.len()];
    for i in 0..a {
        for j in 0..b {
            t[j * a + i] = m[i * b + j];
        }
    }
    t
}

/// Whether the stored weight is the transpose of the `[rows, cols]` matrix.
fn transposed(l: &Layer) -> bool {
    matches!(
        l.kind,
        LayerKind::MatMul | LayerKind::Gemm { trans_b: false }
    )
}

/// Rounds one layer: `nearest` is what [`quantize_weights`](super::weights::quantize_weights)
/// produced; `bias` the layer's float bias. Failures of the rounding method on this layer are
/// reported in the note (the nearest weights are kept); they never pass silently.
pub(crate) fn round_layer(
    graph: &Graph,
    layout: WeightLayout,
    nearest: QWeights,
    bias: Option<&Tensor>,
    target: Option<&Result<Target, String>>,
    config: &QuantizeConfig,
) -> Result<Rounded, QuantizeError> {
    let asked = config.rounding != WeightRounding::Nearest || config.bias_correction;
    let mut report = RoundingReport {
        method: WeightRounding::Nearest.name().into(),
        bias_corrected: false,
        note: None,
        weight_sqnr_nearest_db: None,
        weight_sqnr_db: None,
    };
    let t = match target {
        None => {
            return Ok(Rounded {
                w: nearest,
                bias: bias.cloned(),
                report,
            })
        }
        Some(Err(why)) => {
            if asked {
                report.note = Some(format!("no input statistics ({why}); nearest rounding"));
            }
            return Ok(Rounded {
                w: nearest,
                bias: bias.cloned(),
                report,
            });
        }
        Some(Ok(t)) => t,
    };
    let l = &t.layer;
    let (rows, cols) = (l.rows, l.cols);
    let wf = l.matrix(graph)?;
    let m = Matrix::new(&wf, rows, cols)?;
    let stored = element_scales(nearest.q.shape(), layout, &nearest.scales);
    let scales = if transposed(l) {
        transpose(&stored, cols, rows)
    } else {
        stored
    };
    let quant = Quantizer {
        grid: grid(nearest.format)?,
        scales,
        group: Some(1),
    };
    let near = nearest_quantize(m, &quant)?;
    let chosen = match config.rounding {
        WeightRounding::Nearest => None,
        WeightRounding::Gptq => Some(gptq_layer(m, &t.hessians, &quant, &GptqConfig::default())),
        WeightRounding::AdaRound => Some(adaround_layer(
            m,
            &t.hessians,
            &quant,
            &AdaRoundConfig::default(),
        )),
    };
    let q = match chosen {
        None => near.clone(),
        Some(Ok(q)) => {
            report.method = config.rounding.name().into();
            q
        }
        Some(Err(e)) => {
            report.note = Some(format!(
                "{} failed ({e}); nearest rounding",
                config.rounding.name()
            ));
            near.clone()
        }
    };
    let w_near = dequantize(&near, rows, cols, &quant)?;
    let w_hat = dequantize(&q, rows, cols, &quant)?;
    let b: Vec<f32> = match bias {
        Some(b) => b
            .as_slice::<f32>()
            .map_err(|e| l.err(e.to_string()))?
            .to_vec(),
        None => vec![0.0; rows],
    };
    let mut b_hat = b.clone();
    if config.bias_correction {
        if bias.is_some() && b.len() == rows {
            let d = bias_correction(m, &w_hat, &t.hessians)?;
            b_hat.iter_mut().zip(&d).for_each(|(x, d)| *x += d);
            report.bias_corrected = true;
        } else {
            let why = "no bias to correct (the layer has no bias input)";
            report.note = Some(match report.note.take() {
                Some(n) => format!("{n}; {why}"),
                None => why.into(),
            });
        }
    }
    if b.len() == rows {
        let db = |w: &[f32], bh: &[f32]| -> Result<f64, RoundingError> {
            Ok(output_error(m, w, &b, bh, &t.hessians)?.sqnr_db())
        };
        report.weight_sqnr_nearest_db = Some(db(&w_near, &b)?);
        report.weight_sqnr_db = Some(db(&w_hat, &b_hat)?);
    }
    let w = if q == near {
        nearest
    } else {
        let stored_q = if transposed(l) {
            transpose(&q, rows, cols)
        } else {
            q
        };
        let max_abs = stored_q
            .iter()
            .map(|v| v.unsigned_abs() as u32)
            .max()
            .unwrap_or(0);
        let shape = nearest.q.shape().to_vec();
        let qt = Tensor::narrow(nearest.format.dtype(), shape, Data::I8(stored_q))
            .map_err(|e| l.err(e.to_string()))?;
        QWeights {
            q: qt,
            max_abs,
            ..nearest
        }
    };
    let bias = match bias {
        Some(orig) if report.bias_corrected => {
            Some(Tensor::from_vec(orig.shape().to_vec(), b_hat).map_err(|e| l.err(e.to_string()))?)
        }
        other => other.cloned(),
    };
    Ok(Rounded { w, bias, report })
}

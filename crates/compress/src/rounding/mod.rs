//! Error-compensating rounding of weights, as a library the quantize pass calls: GPTQ (second
//! order, uses calibration inputs), AdaRound (learned rounding on the same statistics), cross-layer equalization (a graph pass, data-free) and
//! empirical bias correction, plus the pieces they share.
//!
//! A layer's weight is handled as a row-major `[rows, cols]` matrix: one row per output channel,
//! `cols` = the reduction length K of one row (Conv `[Cout, Cin/g, kh, kw]` → `[Cout, Cin/g·kh·kw]`,
//! grouped/depthwise rows read only their group's channels; MatMul `[K, N]` → `[N, K]`).
//! Quantized weights are `q · scale` with `q` on a [`Grid`] (symmetric INT2..INT8 or binary) and
//! scales per row or per group of columns ([`Quantizer`]).
//!
//! API (all deterministic; errors are [`RoundingError`], never panics on bad input):
//! - [`find_layers`]`(&Graph) -> (Vec<Layer>, Vec<(name, reason)>)`; [`Layer::matrix`],
//!   [`Layer::bias_values`], [`Layer::set_weight`], [`Layer::set_bias`] and
//!   [`replace_inputs`]`(&Graph, Vec<InputChange>, tag) -> Graph` (one rewrite patch).
//! - Statistics: [`HessianAccumulator`]`::{new(k), add_rows(&[f32], n), merge, finish() -> Hessian}`
//!   (`XᵀX`, `Σx`, `n`; K×K f64, K ≤ [`MAX_K`]); [`HessianCollector`] feeds one accumulator per
//!   layer and group from `Plan::run_observed` (Conv inputs as im2col patches);
//!   [`collect_hessians`]`(&Plan, &[Layer], batches) -> Vec<Vec<Hessian>>` (per layer, per group).
//! - Rounding: [`nearest_quantize`]`(Matrix, &Quantizer) -> Vec<i8>`,
//!   [`gptq_quantize`]`(Matrix, &Hessian, &Quantizer, &GptqConfig) -> Vec<i8>` (one group's
//!   Hessian; [`gptq_layer`] splits a grouped layer's rows over its Hessians),
//!   [`adaround_quantize`]`(Matrix, &Hessian, &Quantizer, &AdaRoundConfig) -> Vec<i8>` (learned
//!   up/down rounding, integer grids; [`adaround_layer`] for grouped layers),
//!   [`dequantize`]`(&[i8], rows, cols, &Quantizer) -> Vec<f32>`,
//!   [`Quantizer::absmax`]`(Matrix, Grid, group) ` for max-|w| (binary: mean-|w|) scales.
//! - [`equalize`]`(&Graph) -> (Graph, EqualizeReport)`: cross-layer equalization.
//! - [`bias_correction`]`(Matrix, w_hat, &[Hessian]) -> Vec<f32>` (add to the bias) and
//!   [`output_error`]`(Matrix, w_hat, bias, bias_hat, &[Hessian]) -> OutputError` (signal, error,
//!   SQNR of the layer output over the calibration inputs, from the statistics alone).
//! - [`fake_quantize`]`(&Graph, calib, &WeightQuantConfig) -> (Graph, Vec<LayerOutcome>)`: every
//!   layer's weights replaced by their dequantized values (nearest or GPTQ, optional bias
//!   correction, statistics from the float graph or sequentially from the partly quantized one).
pub mod adaround;
mod bias;
mod collect;
mod equalize;
mod error;
mod fake_quant;
pub mod gptq;
pub mod grid;
pub mod hessian;
mod layers;
pub mod linalg;
mod params;

pub use adaround::{adaround_quantize, AdaRoundConfig};
pub use bias::{bias_correction, output_error, OutputError};
pub use collect::{collect_hessians, HessianCollector};
pub use equalize::{equalize, EqualizeReport, EqualizedPair};
pub use error::RoundingError;
pub use fake_quant::{fake_quantize, LayerOutcome, Rounding, WeightQuantConfig};
pub use gptq::{gptq_quantize, GptqConfig};
pub use grid::{dequantize, nearest_quantize, Grid, Matrix, Quantizer};
pub use hessian::{Hessian, HessianAccumulator, MAX_K};
pub use layers::{find_layers, BiasSlot, Layer, LayerKind};
pub use params::{replace_inputs, InputChange};

/// GPTQ over a layer whose rows are split evenly over `hessians` (one per Conv group, in order):
/// rows `[g·rows/G, (g+1)·rows/G)` use `hessians[g]`. `quant` covers the whole matrix.
pub fn gptq_layer(
    w: Matrix,
    hessians: &[Hessian],
    quant: &Quantizer,
    cfg: &GptqConfig,
) -> Result<Vec<i8>, RoundingError> {
    per_group(w, hessians, quant, |m, h, q| gptq_quantize(m, h, q, cfg))
}

/// [`adaround_quantize`] over a grouped layer, as [`gptq_layer`].
pub fn adaround_layer(
    w: Matrix,
    hessians: &[Hessian],
    quant: &Quantizer,
    cfg: &AdaRoundConfig,
) -> Result<Vec<i8>, RoundingError> {
    per_group(w, hessians, quant, |m, h, q| {
        adaround_quantize(m, h, q, cfg)
    })
}

fn per_group(
    w: Matrix,
    hessians: &[Hessian],
    quant: &Quantizer,
    f: impl Fn(Matrix, &Hessian, &Quantizer) -> Result<Vec<i8>, RoundingError>,
) -> Result<Vec<i8>, RoundingError> {
    quant.check(w.rows, w.cols)?;
    if hessians.is_empty() || !w.rows.is_multiple_of(hessians.len()) {
        return Err(RoundingError::Shape(format!(
            "{} Hessians for {} rows",
            hessians.len(),
            w.rows
        )));
    }
    let per = w.rows / hessians.len();
    let gpr = quant.groups_per_row(w.cols);
    let mut out = Vec::with_capacity(w.data.len());
    for (g, h) in hessians.iter().enumerate() {
        let rows = g * per..(g + 1) * per;
        let part = Matrix::new(&w.data[rows.start * w.cols..rows.end * w.cols], per, w.cols)?;
        let q = Quantizer {
            grid: quant.grid,
            scales: quant.scales[rows.start * gpr..rows.end * gpr].to_vec(),
            group: quant.group,
        };
        out.extend(f(part, h, &q)?);
    }
    Ok(out)
}

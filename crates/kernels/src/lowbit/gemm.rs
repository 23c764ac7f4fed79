//! GEMM with packed sub-byte weights and the int8 output pipeline.
//!
//! Contract (weights on the left, the orientation of an NCHW convolution after im2col, as in
//! [`crate::int8::gemm`]):
//! `out[m][n] = stage.requantize(bias[m] + Σ_k w[m][k] · (x[k][n] − x_zero_point), channel m)`
//! with `w` a [`PackedWeights`] of `M` rows and `K` columns, `x` row-major `[K × N]` activations of
//! type `A` (`i8`, `u8` or `i16`), `out` row-major `[M × N]` of type `U`, one multiplier per row
//! (or one shared). The sum wraps in `i32`.
//!
//! The optimized path (see the module doc of [`crate::lowbit`]) packs the raw activations into
//! column panels, decodes [`MR`] weight rows at a time into a scratch panel, runs a microkernel per
//! tile and folds `− zx · Σ_k w[m][k]` into the bias.

mod kernel;
mod panel;

pub(crate) use panel::{Acts, WeightPanel};

use super::{check_act_zero_point, ActElem, LowBitError, OutElem, PackedWeights};
use crate::int8::gemm::Isa;
use crate::int8::requant::OutputStage;
use crate::int8::{check_len, checked_product};

/// Rows of every microkernel tile (output channels).
pub const MR: usize = 4;
/// Columns of the A8 tile (`vpmaddubsw`, 4 K values × 8 columns per vector).
pub const NR8: usize = 8;
/// Columns of the A16 tile (`vpmaddwd`, 2 K values × 8 columns per vector, two vectors).
pub const NR16: usize = 16;

/// Checks every length and range the contract names.
fn validate<A: ActElem, U: OutElem>(
    w: &PackedWeights,
    n: usize,
    x: &[A],
    x_zero_point: i32,
    bias: Option<&[i32]>,
    stage: &OutputStage,
    out: &[U],
) -> Result<(), LowBitError> {
    let (m, k) = (w.rows(), w.cols());
    check_len(
        "activations",
        x.len(),
        checked_product("activations", &[k, n])?,
    )?;
    check_len("output", out.len(), checked_product("output", &[m, n])?)?;
    if let Some(b) = bias {
        check_len("bias", b.len(), m)?;
    }
    check_act_zero_point::<A>(x_zero_point)?;
    super::check_weights_for::<A>(w)?;
    stage.check_channels(m)?;
    Ok(())
}

/// Optimized GEMM (contract in the module doc).
pub fn gemm<A: ActElem, U: OutElem>(
    w: &PackedWeights,
    n: usize,
    x: &[A],
    x_zero_point: i32,
    bias: Option<&[i32]>,
    stage: &OutputStage,
    out: &mut [U],
) -> Result<(), LowBitError> {
    gemm_with(Isa::detect(), w, n, x, x_zero_point, bias, stage, out)
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_with<A: ActElem, U: OutElem>(
    isa: Isa,
    w: &PackedWeights,
    n: usize,
    x: &[A],
    x_zero_point: i32,
    bias: Option<&[i32]>,
    stage: &OutputStage,
    out: &mut [U],
) -> Result<(), LowBitError> {
    validate(w, n, x, x_zero_point, bias, stage, out)?;
    let acts = pack_acts(w.cols(), n, x)?;
    run(
        isa,
        w,
        0..w.rows(),
        &acts,
        x_zero_point + A::OFFSET,
        bias,
        stage,
        out,
    );
    Ok(())
}

/// Packs `k × n` raw activations (stored values, row-major) for the microkernels; rows past `x`'s
/// end are zero.
pub(crate) fn pack_acts<A: ActElem>(k: usize, n: usize, x: &[A]) -> Result<Acts, LowBitError> {
    let mut acts = Acts::zeros(A::A8, k, n)?;
    let g = acts.group();
    let mut rows = vec![0i16; g * n];
    for j in 0..acts.groups() {
        for (t, dst) in rows.chunks_exact_mut(n.max(1)).enumerate().take(g) {
            match x.get((j * g + t) * n..(j * g + t + 1) * n) {
                Some(src) if j * g + t < k => {
                    for (d, &v) in dst.iter_mut().zip(src) {
                        *d = v.stored();
                    }
                }
                _ => dst.fill(0),
            }
        }
        acts.write_group(j, &rows);
    }
    Ok(acts)
}

/// Runs rows `rows` of `w` against packed activations: `out` is `[rows.len() × acts.n()]`; row
/// `m` uses `bias[m]` (indexed over all of `w`'s rows) and stage channel `m`. `zx` is the zero
/// point of the values stored in `acts`. Callers have validated lengths.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run<U: OutElem>(
    isa: Isa,
    w: &PackedWeights,
    rows: std::ops::Range<usize>,
    acts: &Acts,
    zx: i32,
    bias: Option<&[i32]>,
    stage: &OutputStage,
    out: &mut [U],
) {
    let n = acts.n();
    debug_assert_eq!(out.len(), rows.len() * n);
    let mut panel = WeightPanel::new(acts.is_a8(), w.cols());
    let mut acc = vec![0i32; MR * n];
    let sums = w.row_sums();
    for p0 in rows.clone().step_by(MR) {
        let count = MR.min(rows.end - p0);
        panel.load(w, p0, count);
        acts.multiply(isa, &panel, &mut acc);
        for r in 0..count {
            let row = p0 + r;
            let b = bias
                .map_or(0, |b| b[row])
                .wrapping_sub(zx.wrapping_mul(sums[row]));
            let o = (row - rows.start) * n;
            U::requantize_row(stage, &acc[r * n..(r + 1) * n], b, row, &mut out[o..o + n]);
        }
    }
}

/// The obviously-correct twin: decode every weight to `i32`, three loops.
pub mod reference {
    use super::*;

    /// Scalar GEMM with the contract of [`super::gemm`].
    pub fn gemm<A: ActElem, U: OutElem>(
        w: &PackedWeights,
        n: usize,
        x: &[A],
        x_zero_point: i32,
        bias: Option<&[i32]>,
        stage: &OutputStage,
        out: &mut [U],
    ) -> Result<(), LowBitError> {
        validate(w, n, x, x_zero_point, bias, stage, out)?;
        let (m, k) = (w.rows(), w.cols());
        let wv: Vec<i32> = w.unpack().into_iter().map(i32::from).collect();
        for i in 0..m {
            for j in 0..n {
                let mut acc = bias.map_or(0, |b| b[i]);
                for kk in 0..k {
                    let xv = x[kk * n + j].to_i32() - x_zero_point;
                    acc = acc.wrapping_add(wv[i * k + kk].wrapping_mul(xv));
                }
                out[i * n + j] = U::narrow(stage.requantize(acc, i));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests;

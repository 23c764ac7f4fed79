//! Int8 GEMM with the output pipeline.
//!
//! Contract (weights on the left, the layout of an NCHW convolution after im2col):
//! `out[m][n] = stage.requantize(bias[m] + Σ_k w[m][k] · (x[k][n] − x_zero_point), channel m)`
//! with `w` row-major `[M × K]` symmetric `i8` weights (zero point 0), `x` row-major `[K × N]`
//! activations of type `T` (`i8` or `u8`), `out` row-major `[M × N]` of type `U`, one multiplier per
//! output channel `m` (or one shared). The sum wraps in `i32` (see
//! [`crate::int8::overflow`] for when it is exact).
//!
//! The optimized path packs both operands into `i16` pairs along K (zero point subtracted, so each
//! value is in `[-255, 255]`) and runs an `MR × NR` microkernel: `vpmaddwd` + `vpaddd` under AVX2
//! (runtime-detected), portable loops otherwise. Widening to `i16` first avoids the `i16`
//! saturation of `vpmaddubsw`, so every path is bit-exact with [`reference::gemm`].

mod kernel;
mod pack;

pub(crate) use kernel::Isa;
pub use pack::PackedWeights;
pub(crate) use pack::{widen_row, PackedActs};

use super::requant::OutputStage;
use super::{check_len, check_zero_point, checked_product, Int8Error, QuantElem};

/// Rows of the microkernel tile (output channels).
pub const MR: usize = 4;
/// Columns of the microkernel tile (output pixels / batch).
pub const NR: usize = 16;

/// `M × N × K` of a GEMM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GemmShape {
    /// Output channels (rows of the weights).
    pub m: usize,
    /// Columns of the activations and of the output.
    pub n: usize,
    /// Reduction length.
    pub k: usize,
}

impl std::fmt::Display for GemmShape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "M×N×K={}×{}×{}", self.m, self.n, self.k)
    }
}

/// Checks every length and range the contract names.
fn validate<T: QuantElem, U: QuantElem>(
    s: GemmShape,
    w_len: usize,
    x: &[T],
    x_zero_point: i32,
    bias: Option<&[i32]>,
    stage: &OutputStage,
    out: &[U],
) -> Result<(), Int8Error> {
    check_len("weights", w_len, checked_product("weights", &[s.m, s.k])?)?;
    check_len(
        "activations",
        x.len(),
        checked_product("activations", &[s.k, s.n])?,
    )?;
    check_len("output", out.len(), checked_product("output", &[s.m, s.n])?)?;
    if let Some(b) = bias {
        check_len("bias", b.len(), s.m)?;
    }
    check_zero_point::<T>("activation zero point", x_zero_point)?;
    stage.check_channels(s.m)
}

/// Optimized GEMM: packs the weights and activations, then runs [`gemm_packed`].
pub fn gemm<T: QuantElem, U: QuantElem>(
    shape: GemmShape,
    w: &[i8],
    x: &[T],
    x_zero_point: i32,
    bias: Option<&[i32]>,
    stage: &OutputStage,
    out: &mut [U],
) -> Result<(), Int8Error> {
    validate(shape, w.len(), x, x_zero_point, bias, stage, out)?;
    let pw = PackedWeights::new(shape.m, shape.k, w)?;
    gemm_packed(&pw, shape.n, x, x_zero_point, bias, stage, out)
}

/// Optimized GEMM with weights packed offline.
pub fn gemm_packed<T: QuantElem, U: QuantElem>(
    w: &PackedWeights,
    n: usize,
    x: &[T],
    x_zero_point: i32,
    bias: Option<&[i32]>,
    stage: &OutputStage,
    out: &mut [U],
) -> Result<(), Int8Error> {
    let shape = GemmShape {
        m: w.m(),
        n,
        k: w.k(),
    };
    let w_len = shape.m * shape.k;
    validate(shape, w_len, x, x_zero_point, bias, stage, out)?;
    let acts = PackedActs::from_matrix(shape.k, n, x, x_zero_point)?;
    run_packed(Isa::detect(), w, &acts, bias, stage, 0, out);
    Ok(())
}

/// Runs the microkernel over every tile and the output pipeline over every valid element.
///
/// `out` is `[w.m() × acts.n()]`; row `m` uses `bias[m]` and stage channel `channel0 + m`. Callers
/// have validated lengths.
pub(crate) fn run_packed<U: QuantElem>(
    isa: Isa,
    w: &PackedWeights,
    acts: &PackedActs,
    bias: Option<&[i32]>,
    stage: &OutputStage,
    channel0: usize,
    out: &mut [U],
) {
    let (m, n, kp2) = (w.m(), acts.n(), w.kp2());
    debug_assert_eq!(out.len(), m * n);
    // One row panel at a time: tiles into `acc` ([MR × n]), then whole rows through the output
    // stage.
    let mut acc = vec![0i32; MR * n];
    for rp in 0..m.div_ceil(MR) {
        let a = w.panel(rp);
        for cp in 0..n.div_ceil(NR) {
            let tile = kernel::run(isa, kp2, a, acts.panel(cp));
            let (col0, cols) = (cp * NR, NR.min(n - cp * NR));
            for (r, t) in tile.iter().enumerate() {
                acc[r * n + col0..r * n + col0 + cols].copy_from_slice(&t[..cols]);
            }
        }
        let (row0, rows) = (rp * MR, MR.min(m - rp * MR));
        for r in 0..rows {
            let row = row0 + r;
            let bias_v = bias.map_or(0, |b| b[row]);
            stage.requantize_row(
                &acc[r * n..(r + 1) * n],
                bias_v,
                channel0 + row,
                &mut out[row * n..(row + 1) * n],
            );
        }
    }
}

/// The obviously-correct twin: three loops, zero point subtracted per term.
pub mod reference {
    use super::*;

    /// Scalar GEMM with the same contract as [`super::gemm`].
    pub fn gemm<T: QuantElem, U: QuantElem>(
        shape: GemmShape,
        w: &[i8],
        x: &[T],
        x_zero_point: i32,
        bias: Option<&[i32]>,
        stage: &OutputStage,
        out: &mut [U],
    ) -> Result<(), Int8Error> {
        validate(shape, w.len(), x, x_zero_point, bias, stage, out)?;
        let GemmShape { m, n, k } = shape;
        for i in 0..m {
            for j in 0..n {
                let mut acc = bias.map_or(0, |b| b[i]);
                for kk in 0..k {
                    let xv = x[kk * n + j].to_i32() - x_zero_point;
                    acc = acc.wrapping_add(i32::from(w[i * k + kk]).wrapping_mul(xv));
                }
                out[i * n + j] = stage.requantize_to(acc, i);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests;

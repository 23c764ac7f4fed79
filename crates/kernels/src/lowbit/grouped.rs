//! GEMM with group-wise weight scales: one scale per (output channel, block of consecutive
//! reduction indices), integer-only.
//!
//! # Contract
//! Weights `w` are `[M × K]` (a [`PackedWeights`]); group `g` of row `o` is the columns
//! `g·gs .. min((g+1)·gs, K)` (`gs` = the group size, `G = ⌈K / gs⌉` groups). `x` is `[K × N]` of
//! `A` with zero point `zx`; `out` is `[M × N]` of `U`. For every output:
//! 1. `acc_g = Σ_{k ∈ g} w[o][k] · (x[k][n] − zx)`, exact in `i32` (the bound below proves it);
//! 2. `s = Σ_g acc_g · m[o][g] + bias[o] · m_b[o]`, exact in `i64`;
//! 3. `y = clamp(rdiv(s, e[o]) + zy, qmin, qmax)`, with `rdiv` =
//!    [`crate::int8::requant::rounding_divide_by_pot_i64`] (round to nearest, ties away from zero,
//!    the rule of the project's rounding function) — the only rounding at run time.
//!
//! The multipliers are fixed offline ([`GroupedStage::new`]) from the real ones
//! `M[o][g] = s_x · s_w[o][g] / s_y` and `M_b[o] = s_b[o] / s_y` (the bias is an int32 of scale
//! `s_b`): one exponent `e[o]` per output channel shared by all its groups and its bias, and
//! `m = round(M · 2^e)` (ties away from zero) with the largest `m` of the channel in
//! `[2^(P−1), 2^P)`, `P = min(31, 63 − bits(B[o]))`, where
//! `B[o] = Σ_k |w[o][k]| · R + |bias[o]|` and `R` is the largest `|x − zx|` of `A` (`255` for
//! 8 bits, `65535` for 16). A channel with `B[o] ≥ 2^31` is refused (step 1 could wrap), so
//! `P = 31`; then `|Σ| < 2^63`, so step 2 cannot overflow, and `e ≤ 62`.
//!
//! # Error versus the real-valued formula
//! Against `y* = Σ_g acc_g · M[o][g] + bias · M_b[o]` (before `zy` and the clamp):
//! `|y − y*| ≤ 1/2 + (Σ_g |acc_g| + |bias|) · 2^−(e+1)`: the final rounding, plus half a unit of
//! `2^−e` per multiplier. Since the largest multiplier is at least `2^(P−1)` and `B[o] < 2^31`
//! gives `P = 31`, `2^−e ≤ max M / 2^30`, so the second term is at most
//! `2^−31 · (Σ_g |acc_g| + |bias|) · max(M[o][g], M_b[o])`: `2^−31` of the largest output the
//! channel could reach with every group at its largest multiplier — far below one output step
//! for any layer whose outputs fit 16 bits. Multipliers far below the channel's largest lose
//! relative precision (a group whose scale is `2^−31` of the largest rounds to `m = 0`).
//!
//! A channel whose largest multiplier exceeds `2^(P−1)` (so `e` would be negative) or whose
//! multipliers are not finite and positive is refused ([`GroupedError`]).
//!
//! # Fast path
//! Each group is its own [`PackedWeights`] of `M × gs` columns; the activations of a group are
//! packed once and every `MR`-row panel runs the low-bit microkernel ([`super::gemm`]), whose raw
//! `i32` sums (minus `zx · Σ w` of the row's group) are scaled and added into an `i64` row.
//! [`reference::gemm`] is the scalar twin (`i128`, decoded weights, explicit tie rule).
//!
//! A group-wise convolution ([`conv`]) is this GEMM behind the low-bit im2col.
pub mod conv;

use super::gemm::{pack_acts, WeightPanel, MR};
use super::{check_act_zero_point, ActElem, LowBitError, OutElem, PackedWeights};
use crate::int8::gemm::Isa;
use crate::int8::requant::rounding_divide_by_pot_i64;
use crate::int8::{check_len, checked_product, Int8Error};

/// Invalid group-wise parameters.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GroupedError {
    /// A scale that is not finite and positive.
    #[error("{what} scale {value} is not finite and positive")]
    BadScale { what: &'static str, value: f64 },
    /// A channel whose multipliers are too large for the `i64` sum at full precision.
    #[error("output channel {channel}: multiplier {value} is too large for the 64-bit sum")]
    MultiplierTooLarge { channel: usize, value: f64 },
    /// A row whose worst-case accumulator does not fit `i32`.
    #[error("output channel {channel}: worst-case accumulator {bound} does not fit i32")]
    AccumulatorOverflow { channel: usize, bound: u128 },
    /// A group size of zero.
    #[error("group size 0")]
    ZeroGroupSize,
    /// A low-bit error (lengths, zero points, formats).
    #[error(transparent)]
    LowBit(#[from] LowBitError),
}

impl From<Int8Error> for GroupedError {
    fn from(e: Int8Error) -> Self {
        GroupedError::LowBit(e.into())
    }
}

/// The offline output stage of one group-wise layer (see the module doc).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupedStage {
    /// `[M × G]` group multipliers.
    m: Vec<i64>,
    /// `[M]` bias multipliers.
    m_bias: Vec<i64>,
    /// `[M]` shared exponents.
    exp: Vec<u32>,
    zero_point: i32,
    qmin: i32,
    qmax: i32,
}

impl GroupedStage {
    /// The group multipliers of row `o`.
    pub fn row_multipliers(&self, o: usize) -> &[i64] {
        let g = self.m.len() / self.exp.len().max(1);
        &self.m[o * g..(o + 1) * g]
    }

    /// The bias multiplier and exponent of row `o`.
    pub fn row_bias_and_exponent(&self, o: usize) -> (i64, u32) {
        (self.m_bias[o], self.exp[o])
    }
}

/// A group-wise layer ready to run: weights split per group, bias and stage fixed.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupedGemm {
    /// The whole `[M × K]` weights (for the reference and for costs).
    weights: PackedWeights,
    /// One `[M × gs]` block per group (the last may be narrower).
    blocks: Vec<PackedWeights>,
    group_size: usize,
    bias: Vec<i32>,
    stage: GroupedStage,
}

/// Parameters of [`GroupedGemm::new`] that are real numbers.
#[derive(Debug, Clone, Copy)]
pub struct GroupedScales<'a> {
    /// Activation scale `s_x`.
    pub x: f32,
    /// `[M × G]` weight scales `s_w[o][g]`, row-major.
    pub w: &'a [f32],
    /// Output scale `s_y`.
    pub y: f32,
    /// `[M]` bias scales `s_b[o]` (ignored without a bias), or one shared.
    pub bias: &'a [f32],
}

impl GroupedGemm {
    /// Splits `weights` into groups of `group_size` columns and derives the stage for
    /// activations of `A` (module doc). `bias` is `[M]` or absent; `[qmin, qmax]` must lie in
    /// the range of every output type the layer will produce (checked again at run time).
    pub fn new<A: ActElem>(
        weights: PackedWeights,
        group_size: usize,
        bias: Option<&[i32]>,
        scales: GroupedScales<'_>,
        zero_point: i32,
        (qmin, qmax): (i32, i32),
    ) -> Result<Self, GroupedError> {
        super::check_weights_for::<A>(&weights)?;
        if group_size == 0 {
            return Err(GroupedError::ZeroGroupSize);
        }
        let (m, k) = (weights.rows(), weights.cols());
        let groups = k.div_ceil(group_size).max(1);
        check_len(
            "weight scales",
            scales.w.len(),
            checked_product("weight scales", &[m, groups])?,
        )?;
        let bias = bias.map_or_else(|| vec![0; m], <[i32]>::to_vec);
        check_len("bias", bias.len(), m)?;
        if qmin > qmax {
            return Err(Int8Error::Shape(format!("clamp range [{qmin}, {qmax}] is empty")).into());
        }
        let blocks = split(&weights, group_size, groups)?;
        let range = u64::try_from(i64::from(A::MAX) - i64::from(A::MIN)).unwrap_or(u64::MAX);
        let stage = stage(
            &weights,
            &bias,
            scales,
            range,
            groups,
            (zero_point, qmin, qmax),
        )?;
        Ok(Self {
            weights,
            blocks,
            group_size,
            bias,
            stage,
        })
    }

    /// Output channels.
    pub fn rows(&self) -> usize {
        self.weights.rows()
    }

    /// Reduction length.
    pub fn cols(&self) -> usize {
        self.weights.cols()
    }

    /// The whole weights.
    pub fn weights(&self) -> &PackedWeights {
        &self.weights
    }

    /// The group size.
    pub fn group_size(&self) -> usize {
        self.group_size
    }

    /// The stage.
    pub fn stage(&self) -> &GroupedStage {
        &self.stage
    }

    fn validate<A: ActElem, U: OutElem>(
        &self,
        n: usize,
        x: &[A],
        zx: i32,
        out: &[U],
    ) -> Result<(), LowBitError> {
        let (m, k) = (self.rows(), self.cols());
        check_len(
            "activations",
            x.len(),
            checked_product("activations", &[k, n])?,
        )?;
        check_len("output", out.len(), checked_product("output", &[m, n])?)?;
        check_act_zero_point::<A>(zx)?;
        super::check_weights_for::<A>(&self.weights)?;
        let s = &self.stage;
        for (what, v) in [
            ("output zero point", s.zero_point),
            ("clamp min", s.qmin),
            ("clamp max", s.qmax),
        ] {
            if !(U::MIN..=U::MAX).contains(&v) {
                return Err(Int8Error::OutOfRange {
                    what,
                    value: v.into(),
                    min: U::MIN.into(),
                    max: U::MAX.into(),
                }
                .into());
            }
        }
        Ok(())
    }

    /// Optimized GEMM (contract in the module doc).
    pub fn run<A: ActElem, U: OutElem>(
        &self,
        n: usize,
        x: &[A],
        zx: i32,
        out: &mut [U],
    ) -> Result<(), LowBitError> {
        self.run_with(Isa::detect(), n, x, zx, out)
    }

    pub(crate) fn run_with<A: ActElem, U: OutElem>(
        &self,
        isa: Isa,
        n: usize,
        x: &[A],
        zx: i32,
        out: &mut [U],
    ) -> Result<(), LowBitError> {
        self.validate(n, x, zx, out)?;
        let m = self.rows();
        let mut sum: Vec<i64> = (0..m)
            .flat_map(|o| {
                let b = i64::from(self.bias[o]) * self.stage.m_bias[o];
                std::iter::repeat_n(b, n)
            })
            .collect();
        let zs = zx + A::OFFSET;
        let groups = self.blocks.len();
        let mut acc = vec![0i32; MR * n];
        for (g, block) in self.blocks.iter().enumerate() {
            let k0 = g * self.group_size;
            let acts = pack_acts(block.cols(), n, &x[k0 * n..(k0 + block.cols()) * n])?;
            let mut panel = WeightPanel::new(A::A8, block.cols());
            let sums = block.row_sums();
            for p0 in (0..m).step_by(MR) {
                let count = MR.min(m - p0);
                panel.load(block, p0, count);
                acts.multiply(isa, &panel, &mut acc);
                for r in 0..count {
                    let row = p0 + r;
                    let mg = self.stage.m[row * groups + g];
                    let fix = zs.wrapping_mul(sums[row]);
                    let dst = &mut sum[row * n..(row + 1) * n];
                    for (s, &a) in dst.iter_mut().zip(&acc[r * n..(r + 1) * n]) {
                        *s += i64::from(a.wrapping_sub(fix)) * mg;
                    }
                }
            }
        }
        let st = &self.stage;
        for (row, (o, s)) in out
            .chunks_mut(n.max(1))
            .zip(sum.chunks(n.max(1)))
            .enumerate()
        {
            for (d, &v) in o.iter_mut().zip(s) {
                let y = rounding_divide_by_pot_i64(v, st.exp[row]);
                *d = U::narrow(
                    y.saturating_add(i64::from(st.zero_point))
                        .clamp(st.qmin.into(), st.qmax.into()) as i32,
                );
            }
        }
        Ok(())
    }
}

/// The `[M × gs]` column blocks of `w`.
fn split(w: &PackedWeights, gs: usize, groups: usize) -> Result<Vec<PackedWeights>, LowBitError> {
    let (m, k) = (w.rows(), w.cols());
    let all = w.unpack();
    (0..groups)
        .map(|g| {
            let (c0, c1) = ((g * gs).min(k), ((g + 1) * gs).min(k));
            let vals: Vec<i8> = (0..m)
                .flat_map(|o| all[o * k + c0..o * k + c1].iter().copied())
                .collect();
            PackedWeights::pack(w.format(), m, c1 - c0, &vals)
        })
        .collect()
}

/// Derives the multipliers and exponents (module doc).
fn stage(
    w: &PackedWeights,
    bias: &[i32],
    s: GroupedScales<'_>,
    range: u64,
    groups: usize,
    (zero_point, qmin, qmax): (i32, i32, i32),
) -> Result<GroupedStage, GroupedError> {
    let pos = |what: &'static str, v: f32| {
        if v.is_finite() && v > 0.0 {
            Ok(f64::from(v))
        } else {
            Err(GroupedError::BadScale {
                what,
                value: v.into(),
            })
        }
    };
    let (sx, sy) = (pos("input", s.x)?, pos("output", s.y)?);
    let (m, k) = (w.rows(), w.cols());
    let all = w.unpack();
    let mut out = GroupedStage {
        m: Vec::with_capacity(m * groups),
        m_bias: Vec::with_capacity(m),
        exp: Vec::with_capacity(m),
        zero_point,
        qmin,
        qmax,
    };
    for o in 0..m {
        let mut reals = Vec::with_capacity(groups + 1);
        for g in 0..groups {
            reals.push(sx * pos("weight", s.w[o * groups + g])? / sy);
        }
        let sb = match s.bias {
            [] => 1.0,
            [one] => pos("bias", *one)?,
            v => pos(
                "bias",
                *v.get(o).ok_or(Int8Error::Length {
                    what: "bias scales",
                    expected: m,
                    got: v.len(),
                })?,
            )?,
        };
        reals.push(if bias[o] == 0 { 0.0 } else { sb / sy });
        let wsum: u64 = all[o * k..(o + 1) * k]
            .iter()
            .map(|&v| u64::from(v.unsigned_abs()))
            .sum();
        let bound = u128::from(wsum) * u128::from(range) + u128::from(bias[o].unsigned_abs());
        if bound > i32::MAX as u128 {
            return Err(GroupedError::AccumulatorOverflow { channel: o, bound });
        }
        let bits = 128 - bound.leading_zeros();
        let p = 31u32.min(63u32.saturating_sub(bits));
        let (ms, e) = fix_row(&reals, p)
            .map_err(|value| GroupedError::MultiplierTooLarge { channel: o, value })?;
        out.m.extend_from_slice(&ms[..groups]);
        out.m_bias.push(ms[groups]);
        out.exp.push(e);
    }
    Ok(out)
}

/// `round(r · 2^e)` for every `r`, with the shared `e ≤ 62` that puts the largest in
/// `[2^(p−1), 2^p)`; `Err(largest)` when that needs `e < 0`.
fn fix_row(reals: &[f64], p: u32) -> Result<(Vec<i64>, u32), f64> {
    let top = reals.iter().copied().fold(0.0, f64::max);
    let limit = (1i64 << p) as f64;
    let mut e: i32 = if top > 0.0 {
        p as i32 - 1 - top.log2().floor() as i32
    } else {
        62
    };
    e = e.min(62);
    loop {
        if e < 0 {
            return Err(top);
        }
        let scale = 2f64.powi(e);
        // `f64::round` rounds ties away from zero.
        let ms: Vec<i64> = reals.iter().map(|&r| (r * scale).round() as i64).collect();
        if ms.iter().all(|&v| (v as f64) < limit) {
            return Ok((ms, e as u32));
        }
        e -= 1;
    }
}

/// The obviously-correct twin: decoded weights, `i128` sums, the tie rule written out.
pub mod reference {
    use super::*;

    /// `v / 2^e` rounded to nearest, ties away from zero.
    pub(crate) fn round_div(v: i128, e: u32) -> i128 {
        if e == 0 {
            return v;
        }
        let mag = (v.abs() + (1i128 << (e - 1))) >> e;
        if v < 0 {
            -mag
        } else {
            mag
        }
    }

    /// Scalar GEMM with the contract of [`GroupedGemm::run`].
    pub fn gemm<A: ActElem, U: OutElem>(
        layer: &GroupedGemm,
        n: usize,
        x: &[A],
        zx: i32,
        out: &mut [U],
    ) -> Result<(), LowBitError> {
        layer.validate(n, x, zx, out)?;
        let (m, k, gs) = (layer.rows(), layer.cols(), layer.group_size);
        let w: Vec<i32> = layer.weights.unpack().into_iter().map(i32::from).collect();
        let st = &layer.stage;
        for o in 0..m {
            let mult = st.row_multipliers(o);
            let (mb, e) = st.row_bias_and_exponent(o);
            for j in 0..n {
                let mut s = i128::from(layer.bias[o]) * i128::from(mb);
                for (g, &mg) in mult.iter().enumerate() {
                    let mut acc = 0i32;
                    for kk in g * gs..((g + 1) * gs).min(k) {
                        let xv = x[kk * n + j].to_i32() - zx;
                        acc = acc.wrapping_add(w[o * k + kk].wrapping_mul(xv));
                    }
                    s += i128::from(acc) * i128::from(mg);
                }
                let y = round_div(s, e) + i128::from(st.zero_point);
                let y = y.clamp(st.qmin.into(), st.qmax.into());
                out[o * n + j] = U::narrow(y as i32);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;

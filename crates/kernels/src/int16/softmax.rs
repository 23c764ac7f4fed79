//! Softmax over the last axis of 16-bit (or 8-bit) logits into 8- or 16-bit probabilities,
//! integer-only at run time.
//!
//! # Method
//! The int8 table method ([`crate::int8::softmax`]) extended to 16-bit inputs by splitting the
//! exponent into two base-256 digits, as gemmlowp's `exp_on_negative_values` splits it into
//! binary digits (a product of precomputed `exp` constants, one per digit):
//! `exp(−s·d) = exp(−s·256·h) · exp(−s·l)` for `d = 256·h + l`.
//!
//! Softmax is shift-invariant, so only `d = max − x` (in `0..=65535`) matters. Offline, with input
//! scale `s` (the input zero point does not matter), two tables of 256 entries in Q30:
//! `LO[l] = rne(2^30 · exp(−s·l))`, `HI[h] = rne(2^30 · exp(−s·256·h))` (`rne` = round half to
//! even, the float → integer rule), and `1 / s_y` as a [`QuantizedMultiplier`]
//! `m0 · 2^(shift−31)`. Per row of length `L`, all in integers:
//! ```text
//! E(d)  = ⌊(HI[d >> 8] · LO[d & 255] + 2^29) / 2^30⌋       (Q30, E(0) = 2^30)
//! S     = Σ_i E(max − x_i)                                (u64)
//! out_i = clamp(zy + ⌊(E_i · m0 · 2^shift + S · 2^30) / (S · 2^31)⌋, type range)
//! ```
//! Both divisions are [`div_round_half_up`], the one rounding function of this kernel (the int8
//! softmax uses it too). There is no per-row reciprocal: each output is one exact integer
//! division, so the only approximations are the tables and `m0`.
//!
//! # Error bound (what the tests assert)
//! With `v_i = p_i / s_y` the exact float softmax in output steps:
//! `|out_i − clamp(zy + v_i)| ≤ 1/2 + β(L, s_y)`, `β = ((L + 1) · 2^-29 + 2^-30) / s_y`,
//! for rows up to 10^8 elements. Derivation: each table entry is within 1/2 of its real value,
//! so `|E(d) − 2^30·exp(−s·d)| ≤ 3/2` (1/2 from each table scaled by the other factor ≤ 1,
//! 1/2 from the rounding); `S ≥ 2^30` (the maximum contributes exactly 2^30), so
//! `|E_i/S − p_i| ≤ 3/2 · 2^-30 · (1 + L) / (1 − 3/2 · L · 2^-30) ≤ 2^-29 · (L + 1)`; `m0` is
//! within a relative 2^-31 of `1/s_y`; the final rounding adds 1/2; clamping only shrinks
//! distances. For the KWS output layer (`L = 12`, `s_y = 2^-16`) `β ≈ 0.0016`: the kernel
//! equals the exactly rounded quantized softmax except within 0.0016 of a rounding tie, and
//! differs from it by at most 1 step whenever `β < 1/2`.
//!
//! The twin, [`reference::softmax`], computes the softmax in f64 and rounds it with the same
//! rule; it is the exactly rounded result the bound refers to.

use crate::int8::requant::{check_scale, QuantizedMultiplier};
use crate::int8::softmax::div_round_half_up;
use crate::int8::{check_len, checked_product, Int8Error, QParams};
use crate::lowbit::{ActElem, OutElem};
use std::marker::PhantomData;

/// Fixed-point bits of the exponential tables.
const FRAC_BITS: u32 = 30;
/// Entries per table: one base-256 digit of `d`.
const DIGIT: usize = 256;

/// Parameters of the softmax from `T` logits to `U` probabilities.
#[derive(Debug, Clone, PartialEq)]
pub struct SoftmaxParams<T, U> {
    /// `LO[l] = 2^30 · exp(−s·l)`.
    lo: Vec<u64>,
    /// `HI[h] = 2^30 · exp(−s·256·h)`.
    hi: Vec<u64>,
    inv_out: QuantizedMultiplier,
    zero_point: i32,
    _types: PhantomData<(T, U)>,
}

/// `rne(2^30 · exp(−t))` for `t ≥ 0`.
fn q30_exp(t: f64) -> u64 {
    ((-t).exp() * f64::from(1u32 << FRAC_BITS)).round_ties_even() as u64
}

/// Checks that `zp` is representable in `U`.
fn check_out_zero_point<U: OutElem>(zp: i32) -> Result<(), Int8Error> {
    if (U::MIN..=U::MAX).contains(&zp) {
        return Ok(());
    }
    Err(Int8Error::OutOfRange {
        what: "output zero point",
        value: zp.into(),
        min: U::MIN.into(),
        max: U::MAX.into(),
    })
}

impl<T: ActElem, U: OutElem> SoftmaxParams<T, U> {
    /// Derives the tables and the output multiplier offline. The output scale must be at
    /// least 2^-31 (`1/s_y` a [`QuantizedMultiplier`]); the input zero point does not matter.
    pub fn new(x_scale: f32, out: QParams) -> Result<Self, Int8Error> {
        check_scale("input", x_scale)?;
        check_scale("output", out.scale)?;
        check_out_zero_point::<U>(out.zero_point)?;
        let s = f64::from(x_scale);
        let digit = DIGIT as f64;
        Ok(Self {
            lo: (0..DIGIT).map(|l| q30_exp(s * l as f64)).collect(),
            hi: (0..DIGIT).map(|h| q30_exp(s * digit * h as f64)).collect(),
            inv_out: QuantizedMultiplier::from_real(1.0 / f64::from(out.scale))?,
            zero_point: out.zero_point,
            _types: PhantomData,
        })
    }

    /// `E(d)` in Q30 for `d` in `0..=65535`.
    #[inline(always)]
    fn exp(&self, d: u32) -> u64 {
        let (h, l) = ((d >> 8) as usize & (DIGIT - 1), d as usize & (DIGIT - 1));
        let product = u128::from(self.hi[h]) * u128::from(self.lo[l]);
        div_round_half_up(product, 1 << FRAC_BITS) as u64
    }

    /// `(left shift of the numerator, left shift of the denominator)` so that
    /// `num / den = E · m0 · 2^shift / (S · 2^31)` with both shifts non-negative.
    fn shifts(&self) -> (u32, u32) {
        let shift = self.inv_out.shift;
        if shift >= 0 {
            (shift as u32, 31)
        } else {
            (0, 31 + shift.unsigned_abs())
        }
    }
}

/// Softmax of each row of `x` (`[rows × len]`) into `out`.
pub fn softmax<T: ActElem, U: OutElem>(
    p: &SoftmaxParams<T, U>,
    rows: usize,
    len: usize,
    x: &[T],
    out: &mut [U],
) -> Result<(), Int8Error> {
    let n = checked_product("softmax", &[rows, len])?;
    check_len("input", x.len(), n)?;
    check_len("output", out.len(), n)?;
    let m0 = u128::from(p.inv_out.m0.unsigned_abs());
    let (num_shift, den_shift) = p.shifts();
    for (xr, or) in x
        .chunks_exact(len.max(1))
        .zip(out.chunks_exact_mut(len.max(1)))
    {
        let max = xr.iter().map(|v| v.to_i32()).max().unwrap_or(0);
        let e = |v: T| p.exp((max - v.to_i32()) as u32);
        let sum = xr
            .iter()
            .try_fold(0u64, |s, &v| s.checked_add(e(v)))
            .ok_or(Int8Error::SizeOverflow("softmax row sum"))?;
        // S < 2^64 and den_shift ≤ 62: no overflow; num < 2^30 · 2^31 · 2^31.
        let den = u128::from(sum) << den_shift;
        for (o, &v) in or.iter_mut().zip(xr) {
            let num = (u128::from(e(v)) * m0) << num_shift;
            // num/den ≤ m0 · 2^shift / 2^31 < 2^31.
            let q = div_round_half_up(num, den) as i64 + i64::from(p.zero_point);
            *o = U::narrow(q.clamp(U::MIN.into(), U::MAX.into()) as i32);
        }
    }
    Ok(())
}

/// The exactly rounded quantized softmax, in f64: the twin of [`softmax`].
pub mod reference {
    use super::{check_out_zero_point, Int8Error, QParams};
    use crate::int8::requant::check_scale;
    use crate::int8::{check_len, checked_product};
    use crate::lowbit::{ActElem, OutElem};

    /// Per row: `p_i = exp(s·(x_i − max)) / Σ_j exp(s·(x_j − max))` in f64, then
    /// `out_i = clamp(zy + ⌊p_i / s_y + 1/2⌋)` (round half up, the kernel's rule).
    pub fn softmax<T: ActElem, U: OutElem>(
        x_scale: f32,
        out_q: QParams,
        rows: usize,
        len: usize,
        x: &[T],
        out: &mut [U],
    ) -> Result<(), Int8Error> {
        check_scale("input", x_scale)?;
        check_scale("output", out_q.scale)?;
        check_out_zero_point::<U>(out_q.zero_point)?;
        let n = checked_product("softmax", &[rows, len])?;
        check_len("input", x.len(), n)?;
        check_len("output", out.len(), n)?;
        for (xr, or) in x
            .chunks_exact(len.max(1))
            .zip(out.chunks_exact_mut(len.max(1)))
        {
            let probabilities = exact(x_scale, xr);
            for (o, p) in or.iter_mut().zip(probabilities) {
                let q = (p / f64::from(out_q.scale) + 0.5).floor() + f64::from(out_q.zero_point);
                *o = U::narrow(q.clamp(U::MIN.into(), U::MAX.into()) as i32);
            }
        }
        Ok(())
    }

    /// The float softmax of one row of quantized logits with scale `x_scale`.
    pub fn exact<T: ActElem>(x_scale: f32, row: &[T]) -> Vec<f64> {
        let max = row.iter().map(|v| v.to_i32()).max().unwrap_or(0);
        let e: Vec<f64> = row
            .iter()
            .map(|v| (f64::from(x_scale) * f64::from(v.to_i32() - max)).exp())
            .collect();
        let sum: f64 = e.iter().sum();
        e.iter().map(|v| v / sum).collect()
    }
}

/// The bound `β(L, s_y)` of the module documentation, in output steps beyond the rounding's 1/2.
pub fn error_bound(len: usize, out_scale: f32) -> f64 {
    ((len as f64 + 1.0) * 2f64.powi(-29) + 2f64.powi(-30)) / f64::from(out_scale)
}

#[cfg(test)]
mod tests;

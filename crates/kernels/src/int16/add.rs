//! Quantized elementwise Add of any mix of `i8` / `u8` / `i16` inputs into an `i8` / `u8` / `i16`
//! output, integer-only (TFLite's two-scale scheme, [`crate::int8::add`], with a 15-bit pre-shift).
//!
//! # Contract
//! Offline: `twice_max = 2·max(s_a, s_b)`, input multipliers `M_a = s_a / twice_max` and
//! `M_b = s_b / twice_max` (both ≤ 1/2), output multiplier `M_out = twice_max / (2^15 · s_out)`,
//! each a [`QuantizedMultiplier`]. Per element, integer-only:
//! ```text
//! a' = mbqm((a − za) · 2^15, M_a);  b' = mbqm((b − zb) · 2^15, M_b)
//! out = clamp(mbqm(a' + b', M_out) + z_out, qmin, qmax)
//! ```
//! with `mbqm` = [`multiply_by_quantized_multiplier`], the project's one rounding function. `a`
//! and `b` each have the output's length or length 1 (a broadcast scalar); `[qmin, qmax]` is
//! the output type's range narrowed by a fused clamp.
//!
//! # Headroom (why every step fits `i32`)
//! * Zero points lie in the input type's range, so `|a − za| ≤ 65 535 < 2^16` (the extreme is an
//!   `i16` value at one end of the range with the zero point at the other). Hence
//!   `|(a − za) · 2^15| ≤ 65 535 · 2^15 = 2 147 450 880 < 2^31 − 1`: the pre-shift never saturates.
//!   (TFLite's 8-bit 2^20 would overflow here: 65 535 · 2^20 ≈ 2^36.)
//! * `M_a, M_b ≤ 1/2` (the rounding of the mantissa cannot pass 1/2: `1/2` is exact), and `mbqm`
//!   is within 1 of the exact product, so `|a'|, |b'| ≤ 2 147 450 880 / 2 + 1 = 1 073 725 441`;
//!   `|a' + b'| ≤ 2 147 450 882 < 2^31 − 1`: the sum never wraps.
//! * `M_out`'s left shift may saturate `mbqm`'s input only where the exact output lies far
//!   outside every 16-bit range, which the final clamp maps to the same bound.
//!
//! The tests assert both bounds on the extreme inputs, and the reference twin checks them in
//! `i128` on every element. 8-bit inputs keep 15 fractional bits after the rescale (an input
//! step is at least `2^15 · M ≥ 2^15 · s_small / (2 s_big)` units), ample for any output.
//!
//! The op `MwQAdd` runs the all-8-bit case on [`crate::int8::add`] (TFLite's 2^20 pre-shift,
//! unchanged) and every case involving a 16-bit tensor, or two different input types, here; both
//! share one rescale core (`int8::add::Rescale`), each with its own pre-shift.
//!
//! [`QuantizedMultiplier`]: crate::int8::requant::QuantizedMultiplier
//! [`multiply_by_quantized_multiplier`]: crate::int8::requant::multiply_by_quantized_multiplier

use crate::int8::add::{check_lengths, zip_broadcast, Rescale};
use crate::int8::requant::check_scale;
use crate::int8::{Int8Error, QParams};
use crate::lowbit::{check_act_zero_point, ActElem, OutElem};
use std::marker::PhantomData;

/// The pre-shift of the input rescale (TFLite's 16-bit Add uses the same).
pub const LEFT_SHIFT: u32 = 15;

/// Parameters of a quantized Add of `A` and `B` inputs into `U` outputs.
#[derive(Debug, Clone, PartialEq)]
pub struct AddParams<A, B, U> {
    rescale: Rescale,
    _types: PhantomData<(A, B, U)>,
}

impl<A: ActElem, B: ActElem, U: OutElem> AddParams<A, B, U> {
    /// Derives the parameters offline; `clamp` narrows the output range `[U::MIN, U::MAX]`
    /// (`None` for no clamp).
    pub fn new(
        a: QParams,
        b: QParams,
        out: QParams,
        clamp: Option<(i32, i32)>,
    ) -> Result<Self, Int8Error> {
        check_scale("input a", a.scale)?;
        check_scale("input b", b.scale)?;
        check_scale("output", out.scale)?;
        check_act_zero_point::<A>(a.zero_point)?;
        check_act_zero_point::<B>(b.zero_point)?;
        if !(U::MIN..=U::MAX).contains(&out.zero_point) {
            return Err(Int8Error::OutOfRange {
                what: "output zero point",
                value: out.zero_point.into(),
                min: U::MIN.into(),
                max: U::MAX.into(),
            });
        }
        let (lo, hi) = clamp.unwrap_or((U::MIN, U::MAX));
        let (qmin, qmax) = (lo.max(U::MIN), hi.min(U::MAX));
        if qmin > qmax {
            return Err(Int8Error::Shape(format!(
                "clamp range [{lo}, {hi}] leaves no output value"
            )));
        }
        Ok(Self {
            rescale: Rescale::new(a, b, out, LEFT_SHIFT, (qmin, qmax))?,
            _types: PhantomData,
        })
    }
}

/// `scale` (an input's rescale, whose shift fits: module docs) of every element of `x`
/// (one lookup per element for 8-bit inputs).
fn rescaled<A: ActElem>(x: &[A], scale: impl Fn(i32) -> i32) -> Vec<i32> {
    if A::A8 && x.len() > 256 {
        let table: Vec<i32> = (A::MIN..=A::MAX).map(&scale).collect();
        x.iter()
            .map(|v| table[(v.to_i32() - A::MIN) as usize])
            .collect()
    } else {
        x.iter().map(|v| scale(v.to_i32())).collect()
    }
}

/// Optimized Add: each input rescaled once (tabulated for 8-bit inputs), then summed.
pub fn add<A: ActElem, B: ActElem, U: OutElem>(
    p: &AddParams<A, B, U>,
    a: &[A],
    b: &[B],
    out: &mut [U],
) -> Result<(), Int8Error> {
    check_lengths(a.len(), b.len(), out.len())?;
    let r = &p.rescale;
    let ra = rescaled(a, |v| r.scale_a(v));
    let rb = rescaled(b, |v| r.scale_b(v));
    zip_broadcast(&ra, &rb, out, |av, bv| U::narrow(r.finish(av, bv)));
    Ok(())
}

/// The obviously-correct twin: every step per element in `i128`, each intermediate checked to
/// fit `i32` (the headroom proof) before the exact rounding twin sees it.
pub mod reference {
    use super::*;
    use crate::int8::requant::reference::multiply_by_quantized_multiplier as mbqm;

    /// `v` as `i32`, or the error naming the step that would have overflowed.
    fn fits(v: i128, step: &str) -> Result<i32, Int8Error> {
        i32::try_from(v).map_err(|_| Int8Error::Shape(format!("{step} = {v} overflows i32")))
    }

    /// Scalar Add with the module's contract.
    pub fn add<A: ActElem, B: ActElem, U: OutElem>(
        p: &AddParams<A, B, U>,
        a: &[A],
        b: &[B],
        out: &mut [U],
    ) -> Result<(), Int8Error> {
        check_lengths(a.len(), b.len(), out.len())?;
        let r = &p.rescale;
        for (i, o) in out.iter_mut().enumerate() {
            let av = i128::from(a[if a.len() == 1 { 0 } else { i }].to_i32() - r.a_zero_point);
            let bv = i128::from(b[if b.len() == 1 { 0 } else { i }].to_i32() - r.b_zero_point);
            let sa = mbqm(fits(av * (1 << LEFT_SHIFT), "a pre-shift")?, r.a_mult);
            let sb = mbqm(fits(bv * (1 << LEFT_SHIFT), "b pre-shift")?, r.b_mult);
            let sum = fits(i128::from(sa) + i128::from(sb), "rescaled sum")?;
            let raw = i128::from(mbqm(sum, r.out_mult)) + i128::from(r.out_zero_point);
            *o = U::narrow(raw.clamp(r.qmin.into(), r.qmax.into()) as i32);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;

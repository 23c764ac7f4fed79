//! ONNX Runtime's float requantization, reproduced bit for bit with integer arithmetic only.
//!
//! ONNX defines `QLinearConv`/`QLinearMatMul` as `saturate(round_half_even(acc · M) + zp)` with the
//! real multiplier `M = x_scale · w_scale / y_scale`. ONNX Runtime (MLAS `MlasRequantizeOutput`)
//! evaluates it in f32: `M` is the f32 product/quotient of the f32 scales, then
//! `q = round_half_even(clamp(f32(acc) ⊗ M, qmin − zp, qmax − zp)) + zp`, where `f32(acc)` rounds
//! `acc` to 24 significant bits and `⊗` is the f32 multiply (the exact product rounded to 24
//! significant bits, ties to even). Those two f32 roundings make ORT's result differ from the exact
//! `round(acc · M)` by one step on a few elements in 10^5, and the differences compound through a
//! network; reproducing them exactly is what lets an integer engine agree with ONNX Runtime on every
//! element of every layer.
//!
//! [`SoftFloatScale`] holds `M` as the integers of its f32 encoding (a 24-bit mantissa and a binary
//! exponent: a fixed-point multiplier `m · 2^e`); [`requantize`] performs both f32 roundings and
//! the final round-half-even on integers. No float instruction runs at inference time; the float
//! arithmetic that derives `M` from the scales runs once, offline. The reference twin is the f32
//! computation itself ([`reference::requantize`]); the two are compared on every `i32` class of
//! accumulator and random scales by property tests.

use crate::int8::QuantElem;

/// An f32 multiplier `mantissa · 2^exponent`, decoded from its bits. `mantissa < 2^24`; a normal
/// f32 has its implicit leading bit set (`mantissa ≥ 2^23`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SoftFloatScale {
    /// The significand as an integer (including the implicit bit of normal numbers).
    pub mantissa: u32,
    /// The power of two the significand is scaled by.
    pub exponent: i32,
}

/// f32: significant bits of a normal number.
const F32_PRECISION: u32 = 24;
/// f32: exponent of the least significant bit of a subnormal number (2^-149).
const F32_MIN_LSB_EXPONENT: i32 = -149;
/// f32: the largest finite value is below `2^F32_MAX_EXPONENT`.
const F32_MAX_EXPONENT: i32 = 128;

impl SoftFloatScale {
    /// Decodes a finite, non-negative f32 (offline). `None` for negative, NaN or infinite values.
    pub fn from_f32(m: f32) -> Option<Self> {
        if !m.is_finite() || m.is_sign_negative() {
            return None;
        }
        let bits = m.to_bits();
        let biased = ((bits >> 23) & 0xff) as i32;
        let fraction = bits & 0x7f_ffff;
        Some(if biased == 0 {
            Self {
                mantissa: fraction,
                exponent: F32_MIN_LSB_EXPONENT,
            }
        } else {
            Self {
                mantissa: fraction | (1 << 23),
                exponent: biased - 127 - 23,
            }
        })
    }

    /// The f32 this scale encodes (for reports and tests).
    pub fn to_f32(self) -> f32 {
        (f64::from(self.mantissa) * 2f64.powi(self.exponent)) as f32
    }
}

/// `round_half_even(clamp(f32(acc) ⊗ scale, lo, hi))`, as ONNX Runtime computes it in f32, with
/// integer arithmetic only. `lo ≤ hi` are the clamp bounds with the zero point already subtracted.
///
/// Fast path ([`FastRequant`]): the exact product `|acc| · mantissa` rounded once to an integer.
/// It equals the f32 result unless the exact value lies within one f32 rounding error of a tie
/// (about 2^-14 of outputs for 8-bit bounds), which takes the step-by-step emulation in
/// [`requantize_exact`].
#[inline(always)]
pub fn requantize(acc: i32, scale: SoftFloatScale, lo: i32, hi: i32) -> i32 {
    match FastRequant::new(scale, lo, hi).and_then(|f| f.apply(acc)) {
        Some(v) => v,
        None => requantize_exact(acc, scale, lo, hi),
    }
}

/// The fast path of [`requantize`] for one multiplier and clamp, set up once per row.
#[derive(Debug, Clone, Copy)]
pub struct FastRequant {
    mantissa: u64,
    shift: u32,
    half: u64,
    mask: u64,
    margin: u64,
    lo: i64,
    hi: i64,
}

impl FastRequant {
    /// `None` when the multiplier is not a normal f32 below 2^24 with a right shift of at most 62
    /// (then every value takes [`requantize_exact`]).
    #[inline(always)]
    pub fn new(scale: SoftFloatScale, lo: i32, hi: i32) -> Option<Self> {
        let shift = scale.exponent.unsigned_abs();
        if scale.exponent >= 0 || shift > 62 || scale.mantissa < 1 << 23 {
            return None;
        }
        Some(Self {
            mantissa: u64::from(scale.mantissa),
            shift,
            half: 1u64 << (shift - 1),
            mask: (1u64 << shift) - 1,
            margin: tie_margin(shift, lo, hi),
            lo: i64::from(lo),
            hi: i64::from(hi),
        })
    }

    /// The result, or `None` when `acc` needs [`requantize_exact`]: `|acc| ≥ 2^24` (f32(acc)
    /// rounds) or the exact value lies within the f32 product's rounding error of a tie.
    #[inline(always)]
    pub fn apply(&self, acc: i32) -> Option<i32> {
        let (value, safe) = self.apply_unchecked(acc);
        safe.then_some(value)
    }

    /// The fast-path value and whether it is exact (see [`Self::apply`]), without branches.
    #[inline(always)]
    fn apply_unchecked(&self, acc: i32) -> (i32, bool) {
        let a = u64::from(acc.unsigned_abs());
        let p = a * self.mantissa;
        let frac = p & self.mask;
        let up = u64::from(frac > self.half);
        let magnitude = ((p >> self.shift) + up) as i64;
        let sign = i64::from(acc >> 31); // 0 or -1
        let value = ((magnitude ^ sign) - sign).clamp(self.lo, self.hi) as i32;
        let safe = (a < 1 << F32_PRECISION) & (frac.abs_diff(self.half) > self.margin);
        (value, safe)
    }
}

/// `out[i] = saturate(requantize(acc[i] + bias, scale, qmin − zp, qmax − zp) + zp)` for a row:
/// the fast path over the whole row (branch-free, vectorized on AVX2 CPUs), then the exact
/// emulation for the few elements the fast path refused.
#[inline]
pub fn requantize_row<U: QuantElem>(
    acc: &[i32],
    bias: i32,
    scale: SoftFloatScale,
    zero_point: i32,
    (qmin, qmax): (i32, i32),
    out: &mut [U],
) {
    let (lo, hi) = (qmin - zero_point, qmax - zero_point);
    let exact = |a: i32| U::saturate(requantize_exact(a, scale, lo, hi) + zero_point);
    let Some(fast) = FastRequant::new(scale, lo, hi) else {
        for (o, &a) in out.iter_mut().zip(acc) {
            *o = exact(a.wrapping_add(bias));
        }
        return;
    };
    for (a, o) in acc.chunks(ROW_CHUNK).zip(out.chunks_mut(ROW_CHUNK)) {
        if !fast_chunk(&fast, a, bias, zero_point, o) {
            for (o, &a) in o.iter_mut().zip(a) {
                let a = a.wrapping_add(bias);
                *o = match fast.apply(a) {
                    Some(v) => U::saturate(v + zero_point),
                    None => exact(a),
                };
            }
        }
    }
}

/// Elements per pass of the branch-free loop.
const ROW_CHUNK: usize = 64;

/// The fast path over one chunk; `false` when some element needs the exact emulation (the chunk
/// is then redone element by element).
#[inline]
fn fast_chunk<U: QuantElem>(
    fast: &FastRequant,
    acc: &[i32],
    bias: i32,
    zero_point: i32,
    out: &mut [U],
) -> bool {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 was detected.
        return unsafe { fast_chunk_avx2(fast, acc, bias, zero_point, out) };
    }
    fast_chunk_generic(fast, acc, bias, zero_point, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn fast_chunk_avx2<U: QuantElem>(
    fast: &FastRequant,
    acc: &[i32],
    bias: i32,
    zero_point: i32,
    out: &mut [U],
) -> bool {
    fast_chunk_generic(fast, acc, bias, zero_point, out)
}

#[inline(always)]
fn fast_chunk_generic<U: QuantElem>(
    fast: &FastRequant,
    acc: &[i32],
    bias: i32,
    zero_point: i32,
    out: &mut [U],
) -> bool {
    let mut all_safe = true;
    for (o, &a) in out.iter_mut().zip(acc) {
        let (v, safe) = fast.apply_unchecked(a.wrapping_add(bias));
        all_safe &= safe;
        *o = U::saturate(v + zero_point);
    }
    all_safe
}

/// How close (in units of `2^-n`) to a tie the exact product may lie before the f32 product's
/// rounding could move it onto or across the tie. Values beyond the clamp bounds clamp either way;
/// below `2^b`, with `2^b` above both bounds, the f32 product errs by at most `2^(b-25)`.
#[inline(always)]
fn tie_margin(n: u32, lo: i32, hi: i32) -> u64 {
    let bound = lo.unsigned_abs().max(hi.unsigned_abs());
    let b = 32 - bound.leading_zeros() + 1;
    let e = (n + b).saturating_sub(25);
    if e >= 63 {
        u64::MAX
    } else {
        1u64 << e
    }
}

/// [`requantize`] without the fast path: both f32 roundings emulated step by step.
#[inline]
pub fn requantize_exact(acc: i32, scale: SoftFloatScale, lo: i32, hi: i32) -> i32 {
    let negative = acc < 0;
    // f32(acc): |acc| rounded to 24 significant bits.
    let (a, a_exp) = round_to_precision(u64::from(acc.unsigned_abs()), 0);
    // The exact product, then the f32 multiply's rounding (normal or subnormal result).
    let (p, p_exp) = round_to_precision(a * u64::from(scale.mantissa), a_exp + scale.exponent);
    let magnitude = round_half_even_to_integer(p, p_exp);
    let value = if negative { -magnitude } else { magnitude };
    value.clamp(i64::from(lo), i64::from(hi)) as i32
}

/// Rounds `x · 2^exp` to an f32's precision, ties to even: 24 significant bits, and no bit below
/// 2^-149 (subnormal results). Returns the rounded significand and its exponent; the value is
/// unchanged when it already fits.
#[inline(always)]
fn round_to_precision(x: u64, exp: i32) -> (u64, i32) {
    if x == 0 {
        return (0, exp);
    }
    let bits = 64 - x.leading_zeros();
    let drop_for_precision = bits.saturating_sub(F32_PRECISION) as i32;
    let drop_for_range = F32_MIN_LSB_EXPONENT - exp;
    let drop = drop_for_precision.max(drop_for_range);
    if drop <= 0 {
        return (x, exp);
    }
    (shift_right_half_even(x, drop as u32), exp + drop)
}

/// `round_half_even(x · 2^exp)` as an integer, saturating far beyond any i32 (values of 2^62 and
/// more, including what f32 would call infinity, are all beyond every clamp bound).
#[inline(always)]
fn round_half_even_to_integer(x: u64, exp: i32) -> i64 {
    if x == 0 {
        return 0;
    }
    if exp >= 0 {
        let bits = 64 - x.leading_zeros() as i32;
        if exp + bits >= 62 || exp + bits > F32_MAX_EXPONENT {
            return 1 << 62;
        }
        return (x << exp) as i64;
    }
    shift_right_half_even(x, exp.unsigned_abs()) as i64
}

/// `round_half_even(x / 2^n)` for any `n`.
#[inline(always)]
fn shift_right_half_even(x: u64, n: u32) -> u64 {
    if n >= 64 {
        // x / 2^n < 1: above one half only when n = 64 and x > 2^63 (x = 2^63 is a tie, to even 0).
        return u64::from(n == 64 && x > 1 << 63);
    }
    let q = x >> n;
    let rem = x & ((1u64 << n) - 1);
    let half = 1u64 << (n - 1);
    q + u64::from(rem > half || (rem == half && q & 1 == 1))
}

/// The twin: ONNX Runtime's computation, literally, in f32.
pub mod reference {
    /// `round_half_even(clamp(f32(acc) · scale, lo, hi))` in f32 arithmetic.
    pub fn requantize(acc: i32, scale: f32, lo: i32, hi: i32) -> i32 {
        let v = (acc as f32 * scale).max(lo as f32).min(hi as f32);
        v.round_ties_even() as i32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(acc: i32, scale: f32, lo: i32, hi: i32) {
        let s = SoftFloatScale::from_f32(scale).unwrap();
        let want = reference::requantize(acc, scale, lo, hi);
        let ctx = format!("acc {acc} scale {scale:e} ({s:?}) clamp [{lo}, {hi}]");
        assert_eq!(requantize(acc, s, lo, hi), want, "{ctx}");
        assert_eq!(requantize_exact(acc, s, lo, hi), want, "exact: {ctx}");
    }

    #[test]
    fn decodes_and_reencodes() {
        for m in [
            0.0f32,
            1.0,
            0.5,
            3.0e-3,
            1.7e-38,
            1.0e-45,
            7.5e-41,
            123.456,
            f32::MAX,
        ] {
            let s = SoftFloatScale::from_f32(m).unwrap();
            assert_eq!(s.to_f32(), m);
            assert!(s.mantissa < 1 << 24);
        }
        assert!(SoftFloatScale::from_f32(-1.0).is_none());
        assert!(SoftFloatScale::from_f32(f32::NAN).is_none());
        assert!(SoftFloatScale::from_f32(f32::INFINITY).is_none());
    }

    #[test]
    fn ties_go_to_even_after_the_f32_roundings() {
        for acc in -10..=10 {
            check(acc, 0.5, -128, 127);
            check(acc, 0.25, -128, 127);
            check(acc, 1.5, -128, 127);
        }
    }

    #[test]
    fn large_accumulators_round_to_24_bits_first() {
        for acc in [
            (1 << 24) + 1,
            (1 << 24) + 3,
            i32::MAX,
            i32::MIN,
            i32::MIN + 1,
            -(1 << 25) - 3,
        ] {
            for scale in [1.0e-7f32, 3.0e-8, 5.960_464_5e-8, 1.0e-5] {
                check(acc, scale, -32768, 32767);
            }
        }
    }

    #[test]
    fn extreme_scales_saturate_or_vanish() {
        for acc in [i32::MIN, -1, 0, 1, 12345, i32::MAX] {
            for scale in [0.0f32, 1.0e-45, 1.2e-38, 1.0e30, f32::MAX] {
                check(acc, scale, -128, 127);
            }
        }
    }

    /// An accumulator whose f32 product lands near a rounding boundary: ORT's two f32 roundings
    /// and an exact single rounding disagree here.
    #[test]
    fn reproduces_a_double_rounding_case() {
        // Search a small space for a case where exact rounding differs from the f32 result, and
        // check the soft-float result follows f32 there.
        let mut found = 0;
        let scale = 0.012_345_6f32;
        for acc in -400_000..400_000i32 {
            let exact = (f64::from(acc) * f64::from(scale)).round_ties_even() as i32;
            let ort = reference::requantize(acc, scale, i32::MIN, i32::MAX);
            if exact != ort {
                found += 1;
                check(acc, scale, i32::MIN, i32::MAX);
            }
        }
        assert!(found > 0, "the scan should meet f32 double rounding");
    }

    fn scale_from_bits(bits: u32) -> f32 {
        f32::from_bits(bits & 0x7fff_ffff)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        #[test]
        fn equals_f32_on_realistic_scales(
            acc in any::<i32>(),
            scale in 1.0e-9f32..4.0,
            zp in -128i32..=127,
        ) {
            let (lo, hi) = (-128 - zp, 127 - zp);
            check(acc, scale, lo, hi);
        }

        #[test]
        fn equals_f32_on_small_accumulators(
            acc in -(1i32 << 20)..(1 << 20),
            scale in 1.0e-6f32..0.1,
        ) {
            check(acc, scale, i32::MIN, i32::MAX);
        }

        #[test]
        fn equals_f32_on_any_finite_scale(acc in any::<i32>(), bits in any::<u32>()) {
            let scale = scale_from_bits(bits);
            prop_assume!(scale.is_finite());
            // Wide clamp bounds that f32 represents exactly.
            check(acc, scale, -(1 << 24), 1 << 24);
        }
    }
}

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
#[inline]
pub fn requantize(acc: i32, scale: SoftFloatScale, lo: i32, hi: i32) -> i32 {
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
        assert_eq!(
            requantize(acc, s, lo, hi),
            reference::requantize(acc, scale, lo, hi),
            "acc {acc} scale {scale:e} ({s:?}) clamp [{lo}, {hi}]"
        );
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

//! Accumulator-overflow guard: a bound on `|Σ_k w·(x − zx)|` that the quantizer checks against
//! `i32` for every reduction of a model, so the wrapping `i32` accumulators of the kernels hold the
//! exact sum.

use super::Int8Error;

/// The range of an activation tensor's stored values and its zero point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActRange {
    /// Smallest stored value that can occur (e.g. `-128`, or the zero point after a ReLU).
    pub min: i32,
    /// Largest stored value that can occur.
    pub max: i32,
    /// The zero point subtracted before multiplying.
    pub zero_point: i32,
}

impl ActRange {
    /// Largest `|x − zero_point|` over `x` in `[min, max]`.
    pub fn max_abs(self) -> u64 {
        let a = (i64::from(self.max) - i64::from(self.zero_point)).unsigned_abs();
        let b = (i64::from(self.min) - i64::from(self.zero_point)).unsigned_abs();
        a.max(b)
    }
}

/// Worst-case `|Σ_{k} w·(x − zx)|` for a reduction of length `k` with `|w| ≤ weights_max_abs`:
/// `k · weights_max_abs · act_range.max_abs()`, saturating at `u64::MAX`.
pub fn max_abs_accumulator(k: usize, weights_max_abs: u32, act_range: ActRange) -> u64 {
    (k as u64)
        .saturating_mul(u64::from(weights_max_abs))
        .saturating_mul(act_range.max_abs())
}

/// Checks that the worst-case accumulator plus the largest `|bias|` fits `i32`; returns that
/// bound.
pub fn check_accumulator_fits_i32(
    k: usize,
    weights_max_abs: u32,
    act_range: ActRange,
    bias_max_abs: u32,
) -> Result<u64, Int8Error> {
    let bound =
        max_abs_accumulator(k, weights_max_abs, act_range).saturating_add(bias_max_abs.into());
    if bound <= i32::MAX as u64 {
        Ok(bound)
    } else {
        Err(Int8Error::OutOfRange {
            what: "worst-case accumulator",
            value: i64::try_from(bound).unwrap_or(i64::MAX),
            min: i64::from(i32::MIN),
            max: i64::from(i32::MAX),
        })
    }
}

/// Longest reduction whose worst-case accumulator (bias included) still fits `i32`.
pub fn max_safe_reduction(weights_max_abs: u32, act_range: ActRange, bias_max_abs: u32) -> u64 {
    let per_term = u64::from(weights_max_abs) * act_range.max_abs();
    let room = (i32::MAX as u64).saturating_sub(bias_max_abs.into());
    room.checked_div(per_term).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const U8_ANY: ActRange = ActRange {
        min: 0,
        max: 255,
        zero_point: 0,
    };
    const I8_ANY: ActRange = ActRange {
        min: -128,
        max: 127,
        zero_point: 127,
    };

    #[test]
    fn bound_is_product_of_extremes() {
        assert_eq!(U8_ANY.max_abs(), 255);
        assert_eq!(I8_ANY.max_abs(), 255);
        assert_eq!(max_abs_accumulator(3, 127, U8_ANY), 3 * 127 * 255);
        assert_eq!(max_abs_accumulator(usize::MAX, u32::MAX, U8_ANY), u64::MAX);
    }

    #[test]
    fn i32_limit_is_where_kws_shapes_are_far_from() {
        // |w| ≤ 127, |x − zx| ≤ 255: 66_311 terms fit, 66_312 do not (2^31−1 / 32385).
        assert_eq!(max_safe_reduction(127, U8_ANY, 0), 66_311);
        assert!(check_accumulator_fits_i32(66_311, 127, U8_ANY, 0).is_ok());
        assert!(check_accumulator_fits_i32(66_312, 127, U8_ANY, 0).is_err());
        assert!(check_accumulator_fits_i32(66_311, 127, U8_ANY, 100_000).is_err());
        // KWS first conv: 10×4 taps from one channel.
        assert_eq!(
            check_accumulator_fits_i32(40, 127, I8_ANY, 1 << 20),
            Ok(40 * 32385 + (1 << 20))
        );
    }

    #[test]
    fn the_bound_is_attained() {
        // All weights -128 and all activations at the far end from the zero point.
        let (w, x, zx, k) = (-128i64, 0i64, 255i64, 1000usize);
        let acc = (0..k).map(|_| w * (x - zx)).sum::<i64>();
        let r = ActRange {
            min: 0,
            max: 255,
            zero_point: 255,
        };
        assert_eq!(max_abs_accumulator(k, 128, r), acc.unsigned_abs());
    }
}

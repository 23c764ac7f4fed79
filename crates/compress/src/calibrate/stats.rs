//! Exact running statistics every observer keeps: counts of finite and non-finite values, min, max.
use serde::Serialize;

use super::CalibError;

/// What an observer has seen. NaN and ±inf are counted here and nowhere else: they never reach a
/// min, max or histogram.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct ValueStats {
    pub finite: u64,
    /// Finite values equal to ±0: exactly representable on every grid, so the entropy and MSE
    /// searches leave them out of (respectively, give no error to) the distribution they model.
    pub zeros: u64,
    pub nan: u64,
    pub pos_inf: u64,
    pub neg_inf: u64,
    /// Smallest finite value (`-0.0` reported as `0.0`); `None` before any finite value.
    pub min: Option<f32>,
    pub max: Option<f32>,
}

impl ValueStats {
    /// Folds in a batch; returns the batch's largest finite `|x|` (0 when none).
    pub fn update(&mut self, values: &[f32]) -> f32 {
        let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
        let mut finite = 0u64;
        for &x in values {
            if x.is_finite() {
                finite += 1;
                self.zeros += u64::from(x == 0.0);
                lo = lo.min(x);
                hi = hi.max(x);
            } else if x.is_nan() {
                self.nan += 1;
            } else if x > 0.0 {
                self.pos_inf += 1;
            } else {
                self.neg_inf += 1;
            }
        }
        if finite == 0 {
            return 0.0;
        }
        self.finite += finite;
        // `+ 0.0` turns -0.0 into 0.0 so the result does not depend on which zero came first.
        self.min = Some(self.min.map_or(lo, |m| m.min(lo)) + 0.0);
        self.max = Some(self.max.map_or(hi, |m| m.max(hi)) + 0.0);
        lo.abs().max(hi.abs())
    }

    /// Adds the statistics of another observer of the same tensor.
    pub fn merge(&mut self, other: &ValueStats) {
        self.finite += other.finite;
        self.zeros += other.zeros;
        self.nan += other.nan;
        self.pos_inf += other.pos_inf;
        self.neg_inf += other.neg_inf;
        self.min = match (self.min, other.min) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.max = match (self.max, other.max) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }

    /// NaN plus infinite values seen.
    pub fn non_finite(&self) -> u64 {
        self.nan + self.pos_inf + self.neg_inf
    }

    /// `(min, max)` of the finite values, or [`CalibError::NoData`].
    pub fn min_max(&self) -> Result<(f32, f32), CalibError> {
        match (self.min, self.max) {
            (Some(lo), Some(hi)) => Ok((lo, hi)),
            _ => Err(CalibError::NoData),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_values_are_counted_not_ranged() {
        let mut s = ValueStats::default();
        let amax = s.update(&[
            f32::NAN,
            1.0,
            f32::INFINITY,
            -3.0,
            f32::NEG_INFINITY,
            0.0,
            -0.0,
        ]);
        assert_eq!(amax, 3.0);
        assert_eq!(s.zeros, 2);
        s.update(&[f32::NAN]);
        assert_eq!((s.finite, s.nan, s.pos_inf, s.neg_inf), (4, 2, 1, 1));
        assert_eq!(s.min_max(), Ok((-3.0, 1.0)));
        assert_eq!(s.non_finite(), 4);
    }

    #[test]
    fn only_non_finite_means_no_data() {
        let mut s = ValueStats::default();
        assert_eq!(s.update(&[f32::NAN, f32::INFINITY]), 0.0);
        assert_eq!(s.update(&[]), 0.0);
        assert_eq!(s.min_max(), Err(CalibError::NoData));
    }

    #[test]
    fn negative_zero_is_reported_as_zero() {
        let mut s = ValueStats::default();
        s.update(&[-0.0]);
        let (lo, hi) = s.min_max().unwrap();
        assert!(lo.is_sign_positive() && hi.is_sign_positive());
    }
}

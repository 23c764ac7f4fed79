//! Test helpers: a deterministic generator for data, and failure-context formatting.

use super::QuantElem;

/// SplitMix64: deterministic data from a seed proptest chooses.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub(crate) fn range(&mut self, lo: i32, hi: i32) -> i32 {
        let span = (i64::from(hi) - i64::from(lo) + 1) as u64;
        (i64::from(lo) + (self.next_u64() % span) as i64) as i32
    }

    /// `n` values of `T` over its whole range.
    pub(crate) fn quant<T: QuantElem>(&mut self, n: usize) -> Vec<T> {
        (0..n)
            .map(|_| T::saturate(self.range(T::MIN, T::MAX)))
            .collect()
    }

    /// `n` symmetric weights in `[-max_abs, max_abs]`.
    pub(crate) fn weights(&mut self, n: usize, max_abs: i32) -> Vec<i8> {
        (0..n)
            .map(|_| self.range(-max_abs, max_abs) as i8)
            .collect()
    }

    /// `n` values in `lo..=hi`.
    pub(crate) fn ints(&mut self, n: usize, lo: i32, hi: i32) -> Vec<i32> {
        (0..n).map(|_| self.range(lo, hi)).collect()
    }

    /// A real multiplier log-uniform in `[2^lo_exp, 2^hi_exp)`.
    pub(crate) fn multiplier(&mut self, lo_exp: i32, hi_exp: i32) -> f64 {
        let u = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        2f64.powf(f64::from(lo_exp) + u * f64::from(hi_exp - lo_exp))
    }
}

/// Index of the first difference of two slices, with both values.
pub(crate) fn first_mismatch<T: PartialEq + Copy>(a: &[T], b: &[T]) -> Option<(usize, T, T)> {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .map(|i| (i, a[i], b[i]))
}

//! A fixed-size histogram over a symmetric power-of-two range that grows by exact bin merges.
//!
//! The bins split `[-2^e, 2^e)` into `n` equal bins (`n` even, so 0 is a bin edge). `e` is the
//! smallest integer with `2^e >= max|x|` over every finite value seen. When a value beyond the
//! range arrives, `e` grows by `k` and each group of `2^k` adjacent bins merges into one (the
//! collapse PyTorch's `HistogramObserver` and ONNX Runtime's `merge_histogram` perform when the
//! range widens, but with an integer ratio, so no count is ever split or redistributed).
//!
//! Because every bin edge is `j * 2^(e+1) / n`, and the bin of `x` is computed exactly
//! (`floor(x * 2^-e * n/2)` in f64, with power-of-two scalings), the counts are a function of the
//! multiset of observed values alone: any split into batches, in any order, gives the same bins
//! as one batch. The price is resolution: the data span `max|x|` covers between `n/4` and `n/2`
//! of the positive bins (at the default 2048 bins, a bin is at most `max|x| / 512` wide).
//! Memory is `n` counters, fixed at construction.

/// Default bin count (ONNX Runtime's percentile calibrator uses 2048 too).
pub const DEFAULT_BINS: usize = 2048;
/// Largest bin count accepted (8 MiB of counters).
pub const MAX_BINS: usize = 1 << 20;

use super::CalibError;

#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    counts: Vec<u64>,
    /// `None` while every value seen is ±0 (those sit in bin `n/2`, valid for every `e`).
    exp: Option<i32>,
    /// How many times the range widened.
    merges: u32,
}

/// `2^e` for `e` within f64's normal exponent range.
pub(crate) fn pow2(e: i32) -> f64 {
    debug_assert!((-1022..=1023).contains(&e));
    f64::from_bits(((e + 1023) as u64) << 52)
}

/// The smallest `e` with `2^e >= a`, for finite `a > 0`.
fn ceil_log2(a: f32) -> i32 {
    let bits = (a as f64).to_bits(); // f32 values (subnormals too) are normal f64s
    let exp = ((bits >> 52) & 0x7ff) as i32 - 1023;
    let exact = bits & ((1u64 << 52) - 1) == 0;
    if exact {
        exp
    } else {
        exp + 1
    }
}

impl Histogram {
    pub fn new(bins: usize) -> Result<Histogram, CalibError> {
        if !(2..=MAX_BINS).contains(&bins) || bins & 1 != 0 {
            return Err(CalibError::Bins(bins));
        }
        Ok(Histogram {
            counts: vec![0; bins],
            exp: None,
            merges: 0,
        })
    }

    pub fn bins(&self) -> usize {
        self.counts.len()
    }

    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    pub fn merges(&self) -> u32 {
        self.merges
    }

    /// `T` of the covered range `[-T, T)`: `2^e`, or 0 while only zeros were seen.
    pub fn half_range(&self) -> f64 {
        self.exp.map_or(0.0, pow2)
    }

    /// Width of one bin, `2T / n`.
    pub fn bin_width(&self) -> f64 {
        2.0 * self.half_range() / self.bins() as f64
    }

    /// Left edge of bin `i` (`i == n` gives the right end of the range).
    pub fn edge(&self, i: usize) -> f64 {
        -self.half_range() + i as f64 * self.bin_width()
    }

    /// Widens the range (merging bins) so that it covers `amax`; `amax` finite and `>= 0`.
    pub fn cover(&mut self, amax: f32) {
        if amax > 0.0 {
            self.cover_exp(ceil_log2(amax));
        }
    }

    /// Widens the range to at least `[-2^need, 2^need)`.
    fn cover_exp(&mut self, need: i32) {
        match self.exp {
            None => self.exp = Some(need),
            Some(e) if need > e => {
                self.merge_by((need - e) as u32);
                self.exp = Some(need);
                self.merges += 1;
            }
            Some(_) => {}
        }
    }

    /// Collapses every `2^k` adjacent bins (aligned on the center) into one, keeping `n` bins.
    fn merge_by(&mut self, k: u32) {
        let n = self.bins();
        let half = (n / 2) as i64;
        let mut merged = vec![0u64; n];
        for (i, &c) in self.counts.iter().enumerate() {
            let m = i as i64 - half;
            // Floor division by 2^k; beyond 62 every bin lands next to the center.
            let j = if k < 63 { m >> k } else { m.signum().min(0) };
            merged[(j + half) as usize] += c;
        }
        self.counts = merged;
    }

    /// Bin of finite `x` once the range covers it.
    fn index(&self, x: f32) -> usize {
        let n = self.bins();
        let half = n / 2;
        let Some(e) = self.exp else {
            return half; // only ±0 can arrive before a range exists
        };
        // x * 2^-e is exact (power-of-two scaling within f64's range) and so is the product with
        // the integer n/2 (24 + 20 bits), so the floor is exact.
        let k = (x as f64 * pow2(-e) * half as f64).floor() as i64 + half as i64;
        k.clamp(0, n as i64 - 1) as usize
    }

    /// Counts finite values; the caller has called [`Histogram::cover`] with their max `|x|`.
    pub fn add_finite(&mut self, values: &[f32]) {
        for &x in values.iter().filter(|x| x.is_finite()) {
            let i = self.index(x);
            self.counts[i] += 1;
        }
    }

    /// Adds another histogram of the same bin count (exact: both are aligned on powers of two).
    pub fn merge(&mut self, other: &Histogram) -> Result<(), CalibError> {
        if other.bins() != self.bins() {
            return Err(CalibError::Bins(other.bins()));
        }
        let mut other = other.clone();
        if let Some(e) = other.exp {
            self.cover_exp(e);
        }
        if let Some(e) = self.exp {
            other.cover_exp(e);
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.merges += other.merges;
        Ok(())
    }

    /// Histogram of `|x|`: `n/2` bins over `[0, T)`, bin `k` holding the two bins at distance `k`
    /// from the center (their edges coincide, so folding loses nothing).
    pub fn folded_abs(&self) -> Vec<u64> {
        fold_abs(&self.counts)
    }
}

/// Folds `n` signed bins over `[-T, T)` into `n/2` bins of `|x|` over `[0, T)`: bin `k` holds the
/// two bins at distance `k` from the center (their edges coincide, so folding loses nothing).
pub(crate) fn fold_abs(counts: &[u64]) -> Vec<u64> {
    let half = counts.len() / 2;
    (0..half)
        .map(|k| counts[half + k] + counts[half - 1 - k])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist_of(bins: usize, batches: &[&[f32]]) -> Histogram {
        let mut h = Histogram::new(bins).unwrap();
        for b in batches {
            let amax = b.iter().fold(0f32, |m, x| m.max(x.abs()));
            h.cover(amax);
            h.add_finite(b);
        }
        h
    }

    #[test]
    fn ceil_log2_is_exact() {
        assert_eq!(ceil_log2(1.0), 0);
        assert_eq!(ceil_log2(1.0000001), 1);
        assert_eq!(ceil_log2(0.75), 0);
        assert_eq!(ceil_log2(0.5), -1);
        assert_eq!(ceil_log2(3.0), 2);
        assert_eq!(ceil_log2(f32::MAX), 128);
        assert_eq!(ceil_log2(f32::from_bits(1)), -149);
    }

    #[test]
    fn refuses_odd_zero_or_huge_bin_counts() {
        for n in [0, 1, 3, 2049, MAX_BINS + 2] {
            assert_eq!(Histogram::new(n), Err(CalibError::Bins(n)));
        }
    }

    #[test]
    fn bins_values_at_exact_edges() {
        // Range [-4, 4) in 8 bins of width 1.
        let h = hist_of(8, &[&[-4.0, -3.5, -0.0, 0.0, 0.5, 1.0, 3.9, 4.0, -1e-30]]);
        assert_eq!(h.half_range(), 4.0);
        // -4 → 0, -3.5 → 0, -1e-30 → 3, ±0 and 0.5 → 4, 1 → 5, 3.9 and 4 (clamped) → 7.
        assert_eq!(h.counts(), &[2, 0, 0, 1, 3, 1, 0, 2]);
        assert_eq!(h.folded_abs(), vec![4, 1, 0, 4]);
    }

    #[test]
    fn growth_merges_exactly_and_is_batch_independent() {
        let all: Vec<f32> = (0..1000)
            .map(|i| ((i * 37 % 1000) as f32 - 500.0) * 0.013)
            .collect();
        let one = hist_of(64, &[&all]);
        // Small values first, then ever wider ones: several merges, same bins.
        let mut sorted = all.clone();
        sorted.sort_by(|a, b| a.abs().total_cmp(&b.abs()));
        let chunks: Vec<&[f32]> = sorted.chunks(7).collect();
        let streamed = hist_of(64, &chunks);
        assert!(streamed.merges() >= 3, "merges {}", streamed.merges());
        assert_eq!(streamed.counts(), one.counts());
        assert_eq!(streamed.half_range(), one.half_range());
        assert_eq!(streamed.total(), 1000);
    }

    #[test]
    fn huge_growth_collapses_next_to_center() {
        let h = hist_of(8, &[&[-1e-30, 1e-30], &[1e30]]);
        assert_eq!(h.counts(), &[0, 0, 0, 1, 1, 0, 0, 1]);
    }

    #[test]
    fn merge_of_two_histograms_equals_one() {
        let a: Vec<f32> = (0..300).map(|i| i as f32 * 0.01 - 1.0).collect();
        let b: Vec<f32> = (0..300).map(|i| i as f32 * 3.0 - 400.0).collect();
        let mut ha = hist_of(128, &[&a]);
        let hb = hist_of(128, &[&b]);
        ha.merge(&hb).unwrap();
        let both = hist_of(128, &[&a, &b]);
        assert_eq!(ha.counts(), both.counts());
        assert!(ha.merge(&Histogram::new(64).unwrap()).is_err());
    }
}

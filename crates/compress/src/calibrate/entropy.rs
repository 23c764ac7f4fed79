//! KL-divergence (entropy) calibration: TensorRT's algorithm as in ONNX Runtime's
//! `get_entropy_threshold` and MXNet's `_get_optimal_threshold`.
//!
//! For each candidate slice of the histogram, the reference distribution `P` is the slice with the
//! counts outside it added to its end bins (clipping), and `Q` is the slice quantized to `levels`
//! bins (each level's count spread evenly over the bins of its group that are non-empty in `P`).
//! Both are smoothed (zeros → 1e-4, taken off the non-zeros) and normalized; the candidate with the
//! smallest `KL(P || Q)` wins, ties going to the narrowest.
//!
//! Differences from ORT 1.2x's Python (which follows MXNet): the slice's bins are split evenly
//! among the levels (group sizes differ by at most one, as NVIDIA's pytorch-quantization does with
//! `linspace`); ORT gives every remainder bin to the last level, so a 255-bin slice ends in a
//! 128-bin level, which makes some thresholds spuriously cheap. `Q` is kept in f64 (ORT stores it
//! in an int64 array, truncating `count / norm`) and is zero where `P` is (as in MXNet). Slices are
//! `[-i, i)` bins (ORT's are `[-i, i + 1)`).
use super::clamp_to_observed;
use super::histogram::{fold_abs, Histogram};
use super::QScheme;

const SMOOTH_EPS: f64 = 1e-4;

/// Smooths a count vector in place: zeros become `SMOOTH_EPS`, and the same total is taken off the
/// non-zero entries. `false` when the vector is all zeros or an entry would not stay positive.
fn smooth(v: &mut [f64]) -> bool {
    let zeros = v.iter().filter(|&&x| x == 0.0).count();
    let nonzeros = v.len() - zeros;
    if nonzeros == 0 {
        return false;
    }
    let take = SMOOTH_EPS * zeros as f64 / nonzeros as f64;
    for x in v.iter_mut() {
        *x = if *x == 0.0 { SMOOTH_EPS } else { *x - take };
    }
    v.iter().all(|&x| x > 0.0)
}

/// `KL(P || Q)` of normalized copies of two positive vectors.
fn kl(p: &[f64], q: &[f64]) -> f64 {
    let (sp, sq) = (p.iter().sum::<f64>(), q.iter().sum::<f64>());
    p.iter()
        .zip(q)
        .map(|(&a, &b)| {
            let (a, b) = (a / sp, b / sq);
            a * (a / b).ln()
        })
        .sum()
}

/// Bins `[start, end)` of level `k` when `n >= levels` bins are split evenly (sizes differ by at
/// most one): bin `j` belongs to level `floor(j * levels / n)`.
fn level_bins(k: usize, n: usize, levels: usize) -> (usize, usize) {
    let at = |k: usize| ((k as u64 * n as u64).div_ceil(levels as u64)) as usize;
    (at(k), at(k + 1))
}

/// KL divergence of quantizing `slice` (with `left_out` / `right_out` clipped counts) to `levels`
/// bins; `f64::INFINITY` when undefined.
fn kl_of_slice(slice: &[u64], left_out: u64, right_out: u64, levels: usize) -> f64 {
    let n = slice.len();
    let levels = levels.clamp(1, n.max(1));
    if n == 0 {
        return f64::INFINITY;
    }
    let mut p: Vec<f64> = slice.iter().map(|&c| c as f64).collect();
    p[0] += left_out as f64;
    p[n - 1] += right_out as f64;
    let mut q = vec![0.0f64; n];
    for k in 0..levels {
        let (start, end) = level_bins(k, n, levels);
        let count: u64 = slice[start..end].iter().sum();
        let nonzero = p[start..end].iter().filter(|&&x| x != 0.0).count();
        if nonzero > 0 {
            let share = count as f64 / nonzero as f64;
            for j in start..end {
                if p[j] != 0.0 {
                    q[j] = share;
                }
            }
        }
    }
    if !smooth(&mut p) || !smooth(&mut q) {
        return f64::INFINITY;
    }
    kl(&p, &q)
}

/// Index of the first minimum (ties → earliest), `None` when empty.
fn argmin(values: impl Iterator<Item = (usize, f64)>) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for (i, v) in values {
        if best.is_none_or(|(_, b)| v < b) {
            best = Some((i, v));
        }
    }
    best.map(|(i, _)| i)
}

/// Best prefix length `i` of a one-sided histogram `h` (bins outward from 0): candidates
/// `i = min(levels, len) ..= len`, counts beyond `i` clipped into bin `i - 1`.
fn best_prefix(h: &[u64], levels: usize) -> usize {
    let total: u64 = h.iter().sum();
    let mut inside = 0u64;
    let first = levels.min(h.len()).max(1);
    inside += h[..first - 1].iter().sum::<u64>();
    let kls = (first..=h.len()).map(|i| {
        inside += h[i - 1];
        (i, kl_of_slice(&h[..i], 0, total - inside, levels))
    });
    argmin(kls).unwrap_or(h.len())
}

/// Best half-width `i` of centered slices `[z - i, z + i)` of a signed histogram (`z = n / 2`):
/// candidates `i = ceil(levels / 2) ..= z`.
fn best_centered(counts: &[u64], levels: usize) -> usize {
    let z = counts.len() / 2;
    let mut prefix = vec![0u64; counts.len() + 1];
    for (i, &c) in counts.iter().enumerate() {
        prefix[i + 1] = prefix[i] + c;
    }
    let total = prefix[counts.len()];
    let first = levels.div_ceil(2).clamp(1, z);
    let kls = (first..=z).map(|i| {
        let (s, e) = (z - i, z + i);
        let kl = kl_of_slice(&counts[s..e], prefix[s], total - prefix[e], levels);
        (i, kl)
    });
    argmin(kls).unwrap_or(z)
}

/// Entropy-calibrated range for `scheme`, clamped to the observed `min_max` (not all zero).
///
/// `zeros` values exactly ±0 are taken out of the histogram first: every grid represents 0
/// exactly, but merging their bin with its neighbour in `Q` would charge the spike of a ReLU
/// output a large spurious divergence and push the threshold down to where no merging happens.
///
/// * symmetric schemes: TensorRT's form — the `|x|` histogram, `ceil(levels / 2)` quantized bins
///   (128 for int8's 255 levels), range `(-t, t)`;
/// * asymmetric, data of one sign: the same on that side alone with all `levels` (256) bins;
/// * asymmetric, mixed signs: ORT's form — centered slices of the signed histogram, `levels` bins.
pub(crate) fn range(
    hist: &Histogram,
    min_max: (f32, f32),
    zeros: u64,
    scheme: QScheme,
) -> (f32, f32) {
    let (min, max) = min_max;
    let w = hist.bin_width();
    let z = hist.bins() / 2;
    let mut counts = hist.counts().to_vec();
    counts[z] -= zeros.min(counts[z]); // every ±0 sits in bin z
    let levels = scheme.levels() as usize;
    if scheme.symmetric() {
        let t = best_prefix(&fold_abs(&counts), levels.div_ceil(2)) as f64 * w;
        clamp_to_observed(-t, t, min_max)
    } else if min >= 0.0 {
        let t = best_prefix(&counts[z..], levels) as f64 * w;
        clamp_to_observed(0.0, t, min_max)
    } else if max <= 0.0 {
        // Bins outward from 0 on the negative side.
        let h: Vec<u64> = counts[..z].iter().rev().copied().collect();
        let t = best_prefix(&h, levels) as f64 * w;
        clamp_to_observed(-t, 0.0, min_max)
    } else {
        let t = best_centered(&counts, levels) as f64 * w;
        clamp_to_observed(-t, t, min_max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smoothing_keeps_mass_and_positivity() {
        let mut v = vec![0.0, 2.0, 0.0, 6.0];
        assert!(smooth(&mut v));
        assert!((v.iter().sum::<f64>() - 8.0).abs() < 1e-12);
        assert!(v.iter().all(|&x| x > 0.0));
        assert!(!smooth(&mut [0.0, 0.0]));
    }

    #[test]
    fn unclipped_slice_at_full_resolution_has_zero_divergence() {
        // levels == bins: Q equals P exactly.
        let slice = [3, 0, 5, 1, 9, 2, 0, 4];
        assert!(kl_of_slice(&slice, 0, 0, 8).abs() < 1e-12);
        // Clipping mass into the end bins makes P differ from Q.
        assert!(kl_of_slice(&slice, 0, 10, 8) > 0.01);
    }

    #[test]
    fn levels_split_bins_evenly() {
        let groups: Vec<_> = (0..4).map(|k| level_bins(k, 10, 4)).collect();
        assert_eq!(groups, vec![(0, 3), (3, 5), (5, 8), (8, 10)]);
        let groups: Vec<_> = (0..3).map(|k| level_bins(k, 3, 3)).collect();
        assert_eq!(groups, vec![(0, 1), (1, 2), (2, 3)]);
        // 255 bins on 128 levels: groups of 1 or 2 bins, never one huge last group.
        assert!((0..128).all(|k| {
            let (s, e) = level_bins(k, 255, 128);
            (1..=2).contains(&(e - s))
        }));
        assert_eq!(level_bins(127, 255, 128).1, 255);
    }

    #[test]
    fn prefix_search_clips_a_lone_outlier() {
        // 256 bins of mass near 0 and a single far outlier: clipping it is cheaper in KL than
        // spending the levels on the empty stretch.
        let mut h = vec![0u64; 1024];
        for (i, c) in h.iter_mut().enumerate().take(200) {
            *c = 1000 - 4 * i as u64;
        }
        h[1000] = 1;
        let i = best_prefix(&h, 128);
        assert!((128..1000).contains(&i), "threshold bin {i}");
    }
}

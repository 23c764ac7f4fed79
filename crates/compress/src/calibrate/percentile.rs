//! Percentile clipping over the histogram (ONNX Runtime's `compute_percentile`, interpolated).
use super::clamp_to_observed;
use super::histogram::Histogram;

/// The value below which `rank` of the counts lie, interpolating linearly inside the bin where the
/// cumulative count reaches `rank` (values are taken as spread uniformly over their bin).
/// `counts[i]` covers `[origin + i * width, origin + (i + 1) * width)`.
pub(crate) fn quantile(counts: &[u64], origin: f64, width: f64, rank: f64) -> f64 {
    let mut below = 0.0f64;
    for (i, &c) in counts.iter().enumerate() {
        let c = c as f64;
        if c > 0.0 && below + c >= rank {
            let frac = ((rank - below) / c).clamp(0.0, 1.0);
            return origin + (i as f64 + frac) * width;
        }
        below += c;
    }
    origin + counts.len() as f64 * width
}

/// Range keeping `p` percent of the values (`p` in `[0, 100]`, checked by the caller).
///
/// Symmetric: `t` = the `p`-th percentile of `|x|` (on the folded histogram), range `(-t, t)`.
/// Asymmetric: the `(100 - p) / 2` and `100 - (100 - p) / 2` percentiles of `x`.
/// Either is then clamped to the observed `[min, max]`. ORT returns the left edge of the bin where
/// the cumulative fraction crosses the target; interpolating instead differs by less than a bin.
pub(crate) fn range(hist: &Histogram, min_max: (f32, f32), p: f64, symmetric: bool) -> (f32, f32) {
    let total = hist.total() as f64;
    let w = hist.bin_width();
    if symmetric {
        let t = quantile(&hist.folded_abs(), 0.0, w, p / 100.0 * total);
        clamp_to_observed(-t, t, min_max)
    } else {
        let cut = (100.0 - p) / 200.0;
        let origin = -hist.half_range();
        let lo = quantile(hist.counts(), origin, w, cut * total);
        let hi = quantile(hist.counts(), origin, w, (1.0 - cut) * total);
        clamp_to_observed(lo, hi, min_max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_interpolates_within_the_crossing_bin() {
        let counts = [0, 4, 0, 4];
        assert_eq!(quantile(&counts, 0.0, 1.0, 0.0), 1.0);
        assert_eq!(quantile(&counts, 0.0, 1.0, 2.0), 1.5);
        assert_eq!(quantile(&counts, 0.0, 1.0, 4.0), 2.0);
        assert_eq!(quantile(&counts, 0.0, 1.0, 6.0), 3.5);
        assert_eq!(quantile(&counts, 0.0, 1.0, 8.0), 4.0);
        assert_eq!(quantile(&counts, -2.0, 0.5, 8.0), 0.0);
    }
}

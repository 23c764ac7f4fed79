//! Serializable per-tensor calibration reports.
use serde::Serialize;

use super::histogram::Histogram;
use super::percentile::quantile;
use super::qparams::{qparams_from_range, QParams};
use super::{CalibError, Method, Observer, QScheme, ValueStats};

/// A compact description of a histogram (not its counts).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct HistogramSummary {
    pub bins: usize,
    /// The histogram covers `[-half_range, half_range)`.
    pub half_range: f64,
    pub bin_width: f64,
    /// Bins holding at least one value.
    pub occupied_bins: usize,
    /// Times the range widened (bins merged) while observing.
    pub merges: u32,
    /// Percentiles of `|x|` (interpolated within bins).
    pub abs_p50: f64,
    pub abs_p99: f64,
    pub abs_p99_99: f64,
}

impl HistogramSummary {
    pub fn of(hist: &Histogram) -> HistogramSummary {
        let folded = hist.folded_abs();
        let total = hist.total() as f64;
        let w = hist.bin_width();
        let q = |p: f64| quantile(&folded, 0.0, w, p * total);
        HistogramSummary {
            bins: hist.bins(),
            half_range: hist.half_range(),
            bin_width: w,
            occupied_bins: hist.counts().iter().filter(|&&c| c > 0).count(),
            merges: hist.merges(),
            abs_p50: q(0.5),
            abs_p99: q(0.99),
            abs_p99_99: q(0.9999),
        }
    }
}

/// What calibration decided for one tensor, and what it saw.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TensorCalibReport {
    pub tensor: String,
    pub method: Method,
    pub scheme: QScheme,
    /// The chosen clipping range (see [`Observer::range`]).
    pub range: (f32, f32),
    pub qparams: QParams,
    /// Counts (NaN and ±inf included), min and max.
    pub stats: ValueStats,
    pub histogram: Option<HistogramSummary>,
}

/// Calibrates `tensor` with `method` for `scheme` and reports the result.
pub fn report<O: Observer + ?Sized>(
    tensor: &str,
    observer: &O,
    method: Method,
    scheme: QScheme,
) -> Result<TensorCalibReport, CalibError> {
    let range = observer.range(method, scheme)?;
    Ok(TensorCalibReport {
        tensor: tensor.to_string(),
        method,
        scheme,
        range,
        qparams: qparams_from_range(range, scheme)?,
        stats: observer.stats(),
        histogram: observer.histogram_summary(),
    })
}

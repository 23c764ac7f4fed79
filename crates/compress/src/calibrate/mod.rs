//! Streaming, bounded-memory calibration of activation ranges, and quantization parameters.
//!
//! An [`Observer`] sees a tensor's values batch after batch ([`Observer::observe`]) and keeps only
//! summaries: exact [`ValueStats`] (counts, min, max, NaN/inf counts) and, for
//! [`HistogramObserver`], a fixed-size [`Histogram`] whose range grows by exact bin merges — never
//! the activations themselves. [`Observer::range`] then turns the summary into a clipping range for
//! a [`Method`] and a target grid [`QScheme`]:
//!
//! * [`Method::MinMax`] — the observed `(min, max)`.
//! * [`Method::Percentile`] — keep `p` % of the values: on `|x|` for symmetric schemes, cutting
//!   `(100 - p) / 2` % from each tail otherwise (ONNX Runtime's `compute_percentile`).
//! * [`Method::Entropy`] — the threshold minimizing the KL divergence between the clipped
//!   reference distribution and its quantization to the scheme's levels (TensorRT / ORT
//!   `get_entropy_threshold`).
//! * [`Method::Mse`] — the range minimizing the expected squared quantization error, rounding and
//!   clipping included, of the histogram's values on the actual grid.
//!
//! Range convention (ORT's): a range is clipped to the observed `[min, max]`, so
//! `min <= lo <= hi <= max`; it does not yet include 0 nor is it symmetrized —
//! [`qparams_from_range`] does both when deriving scale and zero point. [`select_auto`] picks the
//! method whose range minimizes a caller-supplied error (e.g. a layer's output SQNR), and
//! [`weight_scales`] gives per-tensor / per-channel symmetric weight scales.

mod auto;
mod entropy;
mod error;
mod histogram;
mod mse;
mod observer;
mod percentile;
mod qparams;
mod report;
mod round;
mod scheme;
mod stats;
mod weights;

use serde::Serialize;

pub use auto::{select_auto, AutoChoice, AutoError, Candidate};
pub use error::CalibError;
pub use histogram::{Histogram, DEFAULT_BINS, MAX_BINS};
pub use observer::{HistogramObserver, MinMaxObserver, Observer};
pub use qparams::{dequantize_value, qparams_from_range, quantize_value, QParams, MIN_SCALE};
pub use report::{report, HistogramSummary, TensorCalibReport};
pub use round::round_half_to_even;
pub use scheme::QScheme;
pub use stats::ValueStats;
pub use weights::weight_scales;

/// How a clipping range is chosen from what an observer saw.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub enum Method {
    MinMax,
    /// Percent of values kept, in `[0, 100]` (e.g. 99.99).
    Percentile(f64),
    Entropy,
    Mse,
}

impl Method {
    /// The candidates [`select_auto`] tries by default.
    pub const DEFAULT_CANDIDATES: [Method; 4] = [
        Method::MinMax,
        Method::Percentile(99.99),
        Method::Entropy,
        Method::Mse,
    ];

    pub fn name(&self) -> &'static str {
        match self {
            Method::MinMax => "minmax",
            Method::Percentile(_) => "percentile",
            Method::Entropy => "entropy",
            Method::Mse => "mse",
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Method::Percentile(p) => write!(f, "percentile({p})"),
            m => f.write_str(m.name()),
        }
    }
}

/// Clamps both ends into the observed `[min, max]` (order is preserved, so `lo <= hi` stays true).
fn clamp_to_observed(lo: f64, hi: f64, (min, max): (f32, f32)) -> (f32, f32) {
    let (min, max) = (min as f64, max as f64);
    // f64 → f32 rounding is monotone and min/max are f32 values, so the bounds survive the cast.
    (lo.clamp(min, max) as f32, hi.clamp(min, max) as f32)
}

//! Observers: what calibration keeps of a tensor while batches stream through.
use super::histogram::{Histogram, DEFAULT_BINS};
use super::report::HistogramSummary;
use super::{entropy, mse, percentile, CalibError, Method, QScheme, ValueStats};

/// Watches one tensor's values across calibration batches, in bounded memory.
pub trait Observer {
    /// Folds in one batch. NaN and ±inf are counted in [`Observer::stats`] and otherwise ignored.
    fn observe(&mut self, values: &[f32]);

    /// Exact counts, min and max of everything observed.
    fn stats(&self) -> ValueStats;

    /// The clipping range `(lo, hi)` chosen by `method` for quantizing to `scheme`, with
    /// `min <= lo <= hi <= max` of the finite values seen (see the module docs for the
    /// convention). All-zero data gives `(0, 0)`.
    ///
    /// Errors: [`CalibError::NoData`] before any finite value, [`CalibError::Percentile`] for a
    /// percentile outside `[0, 100]`, [`CalibError::Unsupported`] for a histogram method on an
    /// observer without a histogram.
    fn range(&self, method: Method, scheme: QScheme) -> Result<(f32, f32), CalibError>;

    /// A summary of the histogram, if the observer keeps one.
    fn histogram_summary(&self) -> Option<HistogramSummary> {
        None
    }
}

/// Keeps only [`ValueStats`]: supports [`Method::MinMax`] alone, in O(1) memory.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MinMaxObserver {
    stats: ValueStats,
}

impl MinMaxObserver {
    pub fn new() -> MinMaxObserver {
        MinMaxObserver::default()
    }
}

impl Observer for MinMaxObserver {
    fn observe(&mut self, values: &[f32]) {
        self.stats.update(values);
    }

    fn stats(&self) -> ValueStats {
        self.stats
    }

    fn range(&self, method: Method, _scheme: QScheme) -> Result<(f32, f32), CalibError> {
        let min_max = self.stats.min_max()?;
        match method {
            Method::MinMax => Ok(min_max),
            other => Err(CalibError::Unsupported(other.name())),
        }
    }
}

/// [`ValueStats`] plus a [`Histogram`] of a fixed bin count: supports every [`Method`].
///
/// The histogram depends only on the multiset of values observed, so splitting the data into
/// batches differently, or merging observers built on disjoint batches ([`HistogramObserver::merge`]),
/// gives identical ranges.
#[derive(Clone, Debug, PartialEq)]
pub struct HistogramObserver {
    stats: ValueStats,
    hist: Histogram,
}

impl Default for HistogramObserver {
    fn default() -> HistogramObserver {
        HistogramObserver::new(DEFAULT_BINS).expect("DEFAULT_BINS is valid")
    }
}

impl HistogramObserver {
    /// `bins` must be even and within `2..=MAX_BINS`; more bins means finer ranges (and slower
    /// entropy / MSE searches). [`DEFAULT_BINS`] is 2048.
    pub fn new(bins: usize) -> Result<HistogramObserver, CalibError> {
        Ok(HistogramObserver {
            stats: ValueStats::default(),
            hist: Histogram::new(bins)?,
        })
    }

    pub fn histogram(&self) -> &Histogram {
        &self.hist
    }

    /// Adds what `other` observed (same bin count), as if its batches had been observed here.
    pub fn merge(&mut self, other: &HistogramObserver) -> Result<(), CalibError> {
        self.hist.merge(&other.hist)?;
        self.stats.merge(&other.stats);
        Ok(())
    }
}

impl Observer for HistogramObserver {
    fn observe(&mut self, values: &[f32]) {
        let amax = self.stats.update(values);
        self.hist.cover(amax);
        self.hist.add_finite(values);
    }

    fn stats(&self) -> ValueStats {
        self.stats
    }

    fn range(&self, method: Method, scheme: QScheme) -> Result<(f32, f32), CalibError> {
        let min_max = self.stats.min_max()?;
        if let Method::Percentile(p) = method {
            if !(0.0..=100.0).contains(&p) {
                return Err(CalibError::Percentile(p));
            }
        }
        if min_max == (0.0, 0.0) {
            return Ok(min_max);
        }
        Ok(match method {
            Method::MinMax => min_max,
            Method::Percentile(p) => percentile::range(&self.hist, min_max, p, scheme.symmetric()),
            Method::Entropy => entropy::range(&self.hist, min_max, self.stats.zeros, scheme),
            Method::Mse => mse::range(&self.hist, min_max, self.stats.zeros, scheme),
        })
    }

    fn histogram_summary(&self) -> Option<HistogramSummary> {
        Some(HistogramSummary::of(&self.hist))
    }
}

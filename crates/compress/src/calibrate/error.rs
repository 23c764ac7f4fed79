use mw_tensor::DType;

use super::histogram::MAX_BINS;

/// Why a calibration or quantization-parameter request was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CalibError {
    #[error("bit width {0} is outside the supported 2..=16")]
    Bits(u8),
    #[error("histogram bin count {0} must be even and within 2..={MAX_BINS}")]
    Bins(usize),
    #[error("no finite values were observed")]
    NoData,
    #[error("percentile {0} is outside [0, 100]")]
    Percentile(f64),
    #[error("range ({lo}, {hi}) must be finite with lo <= hi")]
    Range { lo: f32, hi: f32 },
    #[error("method {0} needs a histogram; this observer keeps only min and max")]
    Unsupported(&'static str),
    #[error("axis {axis} is out of range for a rank-{rank} tensor")]
    Axis { axis: usize, rank: usize },
    #[error("weights must be f32, found {0}")]
    DType(DType),
    #[error("weights hold {0} NaN or infinite values")]
    NonFiniteWeights(usize),
    #[error("no candidate methods were given")]
    NoCandidates,
}

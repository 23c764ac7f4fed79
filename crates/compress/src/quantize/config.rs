//! What the quantizer is asked to do.
use crate::calibrate::{Method, QScheme, DEFAULT_BINS};
use mw_ir::Limits;
use serde::Serialize;

/// How activation clipping ranges are chosen.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum RangeChoice {
    /// One method for every activation tensor.
    Method(Method),
    /// Per tensor, the candidate whose range fake-quantizes the held-back calibration examples
    /// with the lowest squared error (see the module docs).
    Auto(Vec<Method>),
}

impl RangeChoice {
    /// `auto` over MinMax, Percentile(`percentile`), Entropy and Mse.
    pub fn auto(percentile: f64) -> RangeChoice {
        RangeChoice::Auto(vec![
            Method::MinMax,
            Method::Percentile(percentile),
            Method::Entropy,
            Method::Mse,
        ])
    }

    /// `minmax`, `percentile(99.99)`, `entropy`, `mse` or `auto`.
    pub fn label(&self) -> String {
        match self {
            RangeChoice::Method(m) => m.to_string(),
            RangeChoice::Auto(_) => "auto".into(),
        }
    }
}

/// The integer type of activations (weights are always int8 symmetric).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ActivationType {
    /// int8 over `[-128, 127]`, asymmetric (free zero point).
    Int8,
    /// uint8 over `[0, 255]`, asymmetric.
    UInt8,
}

impl ActivationType {
    pub fn scheme(self) -> QScheme {
        match self {
            ActivationType::Int8 => QScheme::INT8_ASYMMETRIC,
            ActivationType::UInt8 => QScheme::UINT8_ASYMMETRIC,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ActivationType::Int8 => "int8",
            ActivationType::UInt8 => "uint8",
        }
    }
}

/// What to do with a layer whose int32 accumulator cannot be proven free of overflow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum OverflowPolicy {
    /// Leave the layer in float; the report gives the bound.
    KeepFloat,
    /// Fail with [`super::QuantizeError::Overflow`].
    Refuse,
}

/// Configuration of [`super::quantize`]. `Default` is W8A8: per-channel int8 weights, int8
/// asymmetric activations calibrated by MinMax, every supported layer quantized.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantizeConfig {
    pub ranges: RangeChoice,
    pub activations: ActivationType,
    /// Per-output-channel weight scales (`false`: one scale per weight tensor).
    pub per_channel: bool,
    /// Node names whose layers stay in float. Unknown names are an error.
    pub keep_float: Vec<String>,
    /// Keep the first weighted layer (Conv, MatMul or Gemm) in float.
    pub keep_first: bool,
    /// Keep the last weighted layer in float.
    pub keep_last: bool,
    pub overflow: OverflowPolicy,
    /// Every `holdout_every`-th calibration example (along axis 0) is held back to score `auto`
    /// candidates; 0 holds none back. Final ranges always use every example.
    pub holdout_every: usize,
    /// Histogram bins per observed tensor.
    pub bins: usize,
    /// Run the measurement passes (per-layer SQNR, sensitivity) for the report.
    pub measure: bool,
    pub limits: Limits,
}

impl Default for QuantizeConfig {
    fn default() -> Self {
        QuantizeConfig {
            ranges: RangeChoice::Method(Method::MinMax),
            activations: ActivationType::Int8,
            per_channel: true,
            keep_float: Vec::new(),
            keep_first: false,
            keep_last: false,
            overflow: OverflowPolicy::KeepFloat,
            holdout_every: 4,
            bins: DEFAULT_BINS,
            measure: true,
            limits: Limits::default(),
        }
    }
}

use crate::calibrate::CalibError;
use mw_exec::ExecError;
use mw_ir::IrError;

/// Why quantization was refused.
#[derive(Debug, thiserror::Error)]
pub enum QuantizeError {
    #[error(transparent)]
    Ir(#[from] IrError),
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error("calibrating `{tensor}`: {source}")]
    Calib {
        tensor: String,
        #[source]
        source: CalibError,
    },
    #[error("the calibration data yielded no examples")]
    NoCalibrationData,
    #[error("calibration batch {index}: {reason}")]
    Batch { index: usize, reason: String },
    #[error("the model must have exactly one float32 input to calibrate, it has {0}")]
    Inputs(String),
    #[error("--keep-float names `{0}`, which is not a node of the model")]
    UnknownNode(String),
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("layer `{layer}` cannot be quantized without risking int32 overflow: {reason}")]
    Overflow { layer: String, reason: String },
    #[error(transparent)]
    Rounding(#[from] crate::rounding::RoundingError),
    #[error("opset {opset} is too old: {reason}")]
    Opset { opset: i64, reason: &'static str },
}

impl QuantizeError {
    pub(crate) fn calib(tensor: &str, source: CalibError) -> QuantizeError {
        QuantizeError::Calib {
            tensor: tensor.to_string(),
            source,
        }
    }
}

//! The one error type of the rounding algorithms.
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Error)]
pub enum RoundingError {
    /// Buffer lengths or dimensions disagree.
    #[error("shape: {0}")]
    Shape(String),
    /// A weight, scale or activation is NaN or infinite (or a scale is not positive).
    #[error("{0} holds a non-finite or invalid value")]
    NonFinite(&'static str),
    /// The integer grid asked for is not supported.
    #[error("unsupported grid: {0}")]
    Grid(String),
    /// A reduction length whose K×K Hessian would exceed the memory bound.
    #[error("reduction length {k} exceeds the Hessian bound {max}")]
    TooLarge { k: usize, max: usize },
    /// The damped Hessian (or its inverse) is not positive definite, even after raising the
    /// dampening.
    #[error("Hessian is not positive definite (pivot {pivot})")]
    NotPositiveDefinite { pivot: usize },
    /// A graph-level failure, naming the layer.
    #[error("layer `{layer}`: {reason}")]
    Layer { layer: String, reason: String },
    /// The float graph failed to run while collecting statistics.
    #[error("float run: {0}")]
    Run(String),
    /// A graph rewrite failed.
    #[error("graph: {0}")]
    Ir(String),
}

impl From<mw_ir::IrError> for RoundingError {
    fn from(e: mw_ir::IrError) -> RoundingError {
        RoundingError::Ir(e.to_string())
    }
}

use mw_ir::{IrError, OpError};

/// An import or export failure. Every variant names the file it concerns (`file`: the path as
/// given, or `<memory>` for [`crate::load_bytes`]) and, where one is involved, the node, value or
/// tensor.
#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    #[error("{file}: {action}: {source}")]
    Io {
        file: String,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: not a valid ONNX protobuf (truncated or corrupt): {reason}")]
    Decode { file: String, reason: String },
    #[error("{file}: {reason}")]
    Model { file: String, reason: String },
    #[error(
        "{file}: default-domain opset {opset} is not supported (milliwatt reads opsets \
         {min}..={max})"
    )]
    Opset {
        file: String,
        opset: i64,
        min: i64,
        max: i64,
    },
    #[error(
        "{file}: node `{node}` ({op_type}) is in domain `{domain}`; only the default ONNX domain \
         is supported"
    )]
    Domain {
        file: String,
        node: String,
        op_type: String,
        domain: String,
    },
    #[error("{file}: attribute `{attr}` of node `{node}`: {reason}")]
    Attribute {
        file: String,
        node: String,
        attr: String,
        reason: String,
    },
    #[error(
        "{file}: node `{node}` reads `{input}`, which no graph input, initializer or node defines"
    )]
    MissingInput {
        file: String,
        node: String,
        input: String,
    },
    #[error("{file}: value `{value}`: {reason}")]
    Value {
        file: String,
        value: String,
        reason: String,
    },
    #[error(
        "{file}: tensor `{tensor}` has element type {dtype}, which milliwatt does not support"
    )]
    TensorDType {
        file: String,
        tensor: String,
        dtype: String,
    },
    #[error("{file}: tensor `{tensor}`: {reason}")]
    Tensor {
        file: String,
        tensor: String,
        reason: String,
    },
    #[error("{file}: tensor `{tensor}`: {source}")]
    TensorCap {
        file: String,
        tensor: String,
        #[source]
        source: OpError,
    },
    #[error("{file}: tensor `{tensor}`: external data `{location}`: {reason}")]
    ExternalData {
        file: String,
        tensor: String,
        location: String,
        reason: String,
    },
    #[error("{file}: {source}")]
    Ir {
        file: String,
        #[source]
        source: Box<IrError>,
    },
    #[error("{file}: cannot export: {reason}")]
    Export { file: String, reason: String },
}

impl OnnxError {
    /// The file the error concerns, as it is named in the message.
    pub fn file(&self) -> &str {
        match self {
            OnnxError::Io { file, .. }
            | OnnxError::Decode { file, .. }
            | OnnxError::Model { file, .. }
            | OnnxError::Opset { file, .. }
            | OnnxError::Domain { file, .. }
            | OnnxError::Attribute { file, .. }
            | OnnxError::MissingInput { file, .. }
            | OnnxError::Value { file, .. }
            | OnnxError::TensorDType { file, .. }
            | OnnxError::Tensor { file, .. }
            | OnnxError::TensorCap { file, .. }
            | OnnxError::ExternalData { file, .. }
            | OnnxError::Ir { file, .. }
            | OnnxError::Export { file, .. } => file,
        }
    }
}

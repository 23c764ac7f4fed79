use mw_tensor::{DType, TensorError};

/// An error raised by one op, without graph context. [`IrError::Node`] adds the node.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum OpError {
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("invalid attribute `{name}`: {reason}")]
    Attribute { name: String, reason: String },
    #[error("missing required input #{0}")]
    MissingInput(usize),
    #[error("input #{index} has dtype {actual}, expected {expected}")]
    InputDType {
        index: usize,
        expected: String,
        actual: DType,
    },
    #[error("shapes do not agree: {0}")]
    Shape(String),
    #[error("input #{0} must be a constant known before running")]
    NotConstant(usize),
    #[error("tensor of {bytes} bytes exceeds the memory cap of {cap} bytes")]
    MemoryCap { bytes: u128, cap: u64 },
    #[error(transparent)]
    Tensor(#[from] TensorError),
}

/// An error with graph context: which node or value it concerns.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum IrError {
    #[error("node `{node}` ({op_type}): {source}")]
    Node {
        node: String,
        op_type: String,
        #[source]
        source: OpError,
    },
    #[error("op `{op_type}` (opset {opset}) of node `{node}` is not supported by milliwatt")]
    UnsupportedOp {
        node: String,
        op_type: String,
        domain: String,
        opset: i64,
    },
    #[error("value `{0}`: {1}")]
    Value(String, String),
    #[error("graph: {0}")]
    Graph(String),
}

impl IrError {
    pub fn node(node: &str, op_type: &str, source: OpError) -> IrError {
        IrError::Node {
            node: node.to_string(),
            op_type: op_type.to_string(),
            source,
        }
    }
}

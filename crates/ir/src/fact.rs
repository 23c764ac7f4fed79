use mw_tensor::{DType, Tensor};
use std::sync::Arc;

/// A declared dimension: fixed, or named and bound only when the graph runs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Dim {
    Fixed(usize),
    Symbol(String),
}

/// What is known about a value once the symbolic dimensions are bound: its element type, its
/// concrete shape and, when it is computable before running, its contents.
#[derive(Clone, Debug, PartialEq)]
pub struct Fact {
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub konst: Option<Arc<Tensor>>,
}

impl Fact {
    pub fn new(dtype: DType, shape: Vec<usize>) -> Fact {
        Fact {
            dtype,
            shape,
            konst: None,
        }
    }

    pub fn of(t: &Tensor) -> Fact {
        Fact {
            dtype: t.dtype(),
            shape: t.shape().to_vec(),
            konst: Some(Arc::new(t.clone())),
        }
    }

    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn rank(&self) -> usize {
        self.shape.len()
    }
}

/// Resource limits applied to untrusted models and inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The largest tensor (in bytes) a model may declare or an op may produce.
    pub max_tensor_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_tensor_bytes: 1 << 30,
        }
    }
}

impl Limits {
    /// Checks that `shape` of `dtype` fits the cap, computing in u128 so hostile sizes cannot wrap.
    pub fn check(&self, dtype: DType, shape: &[usize]) -> Result<(), crate::OpError> {
        let bytes = shape.iter().fold(dtype.size_of() as u128, |acc, &d| {
            acc.saturating_mul(d as u128)
        });
        if bytes > self.max_tensor_bytes as u128 {
            return Err(crate::OpError::MemoryCap {
                bytes,
                cap: self.max_tensor_bytes,
            });
        }
        Ok(())
    }
}

//! Dense tensors with a runtime element type.
//!
//! A [`Tensor`] owns its elements in row-major (C) order together with its shape. The element type
//! is a runtime [`DType`]; typed access goes through [`Tensor::as_slice`] / [`Tensor::from_vec`]
//! with the [`Element`] trait. Nothing here knows about graphs, ONNX or quantization schemes.

mod dtype;
mod tensor;

pub use dtype::{DType, Element};
pub use tensor::{Data, Tensor, TensorError};

/// Number of elements of a shape; `None` when the product overflows `usize`.
pub fn checked_numel(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

/// Row-major strides (in elements) of a shape.
pub fn strides_of(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![1usize; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        strides[i] = strides[i + 1] * shape[i + 1];
    }
    strides
}

//! Kernels of the `shape` op family: data movement, generic over the element type.
//!
//! Everything here sees flat row-major slices and shapes. Two primitives carry most ops:
//! [`copy_strided`] (Transpose, Slice, Split) and [`gather_axes`] (Pad, nearest Resize); each has
//! a scalar twin in [`reference`] that computes every address from scratch. [`resize`] holds the
//! coordinate transforms and interpolation weights of Resize.

mod concat;
mod error;
mod gather;
mod pad;
pub mod reference;
pub mod resize;
mod strided;

pub use concat::concat;
pub use error::ShapeKernelError;
pub use gather::{gather, gather_axes};
pub use pad::{pad, pad_map, PadMode};
pub use strided::{copy_strided, transpose};

/// Row-major strides (in elements) of `shape`.
pub(crate) fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1usize; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1].saturating_mul(shape[i + 1]);
    }
    s
}

/// Element count of `shape`, or an error when it overflows `usize`.
pub(crate) fn numel(shape: &[usize]) -> Result<usize, ShapeKernelError> {
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or(ShapeKernelError::Overflow)
}

/// Checks that `x` holds exactly the elements of `shape`.
pub(crate) fn check_len(len: usize, shape: &[usize]) -> Result<(), ShapeKernelError> {
    let n = numel(shape)?;
    if n != len {
        return Err(ShapeKernelError::Length {
            expected: n,
            actual: len,
        });
    }
    Ok(())
}

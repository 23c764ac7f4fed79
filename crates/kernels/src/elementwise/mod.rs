//! Kernels of the `elementwise` op family: broadcasting binary arithmetic, activations,
//! softmax, casts, linear quantization and mean reduction.
//!
//! Every kernel takes slices and shapes and returns a fresh `Vec`; none panics on inconsistent
//! arguments (a slice whose length disagrees with its shape is an [`ElementwiseError`]).
//! Broadcasting follows numpy's multidirectional rules ([`broadcast_shapes`]); the binary kernel
//! [`binary`] has fast paths (same shape, scalar operand, coalesced strides) and a scalar
//! [`reference::binary`] twin that the tests hold it to, bit for bit.

mod activation;
mod arith;
mod broadcast;
mod cast;
mod numeric;
mod quantize;
mod reduce;
mod softmax;

pub use activation::{
    clip, hard_sigmoid, hard_swish, leaky_relu, prelu, prelu_scalar, relu, sigmoid, tanh,
};
pub use arith::{add, div, mul, sub};
pub use broadcast::{binary, broadcast_shapes, broadcast_strides, broadcasts_to};
pub use cast::{cast, CastTo};
pub use numeric::{Float, Numeric};
pub use quantize::{
    dequantize_linear, quantize_linear, quantize_value, round_half_to_even, QuantGranularity,
    QuantInt, QuantLayout,
};
pub use reduce::{reduce_mean, reduced_shape};
pub use softmax::{log_softmax, softmax, SoftmaxLayout};

/// The scalar reference twins of the optimized kernels above.
pub mod reference {
    pub use super::broadcast::reference::binary;
}

/// Why an elementwise kernel refused its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ElementwiseError {
    /// The two shapes do not broadcast.
    Broadcast { a: Vec<usize>, b: Vec<usize> },
    /// A slice's length disagrees with its shape.
    Length { shape: Vec<usize>, actual: usize },
    /// A shape's element count overflows `usize`.
    Overflow(Vec<usize>),
    /// The output (of this many bytes) could not be allocated.
    Alloc(u128),
    /// An integer division had a zero divisor.
    DivisionByZero,
    /// A layout (softmax, quantization, reduction) does not fit its arguments.
    Layout(String),
}

impl std::fmt::Display for ElementwiseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Broadcast { a, b } => write!(f, "shapes {a:?} and {b:?} do not broadcast"),
            Self::Length { shape, actual } => {
                write!(
                    f,
                    "a slice of {actual} elements was given for shape {shape:?}"
                )
            }
            Self::Overflow(s) => write!(f, "shape {s:?} overflows the addressable element count"),
            Self::Alloc(bytes) => write!(f, "cannot allocate {bytes} bytes for the output"),
            Self::DivisionByZero => f.write_str("integer division by zero"),
            Self::Layout(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for ElementwiseError {}

/// Number of elements of `shape`, or [`ElementwiseError::Overflow`].
pub(crate) fn numel(shape: &[usize]) -> Result<usize, ElementwiseError> {
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| ElementwiseError::Overflow(shape.to_vec()))
}

/// Checks that `len` elements fill `shape` exactly.
pub(crate) fn check_len(shape: &[usize], len: usize) -> Result<(), ElementwiseError> {
    if numel(shape)? != len {
        return Err(ElementwiseError::Length {
            shape: shape.to_vec(),
            actual: len,
        });
    }
    Ok(())
}

/// An empty vector with room for `n` elements; allocation failure is an error, not an abort.
pub(crate) fn with_capacity<T>(n: usize) -> Result<Vec<T>, ElementwiseError> {
    let mut v = Vec::new();
    v.try_reserve_exact(n)
        .map_err(|_| ElementwiseError::Alloc(n as u128 * std::mem::size_of::<T>() as u128))?;
    Ok(v)
}

/// Why a shape kernel refused its arguments. Ops validate first; these guard the kernel contract.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeKernelError {
    #[error("slice holds {actual} elements, shape needs {expected}")]
    Length { expected: usize, actual: usize },
    #[error("element count overflows the address space")]
    Overflow,
    #[error("address {0} falls outside the input")]
    OutOfBounds(i128),
    #[error("index {index} out of range for an axis of length {len}")]
    Index { index: usize, len: usize },
    #[error("{0}")]
    Invalid(String),
}

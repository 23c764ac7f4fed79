//! Small helpers shared by the nn ops: dtype checks, kernel errors, parameter counts.
use crate::op::required;
use crate::{Fact, OpError};
use mw_kernels::nn::NnError;
use mw_tensor::{DType, Element, Tensor};

/// A kernel's geometry or buffer complaint, as an op error.
pub(crate) fn kernel_error(e: NnError) -> OpError {
    OpError::Shape(e.0)
}

/// Refuses input `index` unless its dtype is one of `allowed`.
pub(crate) fn check_dtype(dtype: DType, index: usize, allowed: &[DType]) -> Result<(), OpError> {
    if allowed.contains(&dtype) {
        return Ok(());
    }
    let names: Vec<&str> = allowed.iter().map(|d| d.name()).collect();
    Err(OpError::InputDType {
        index,
        expected: names.join(" or "),
        actual: dtype,
    })
}

/// The elements of required input `index` as `T`, or a typed dtype error.
pub(crate) fn typed_input<'a, T: Element>(
    inputs: &[Option<&'a Tensor>],
    index: usize,
) -> Result<&'a [T], OpError> {
    let t = required(inputs, index)?;
    t.as_slice::<T>().map_err(|_| OpError::InputDType {
        index,
        expected: T::DTYPE.name().into(),
        actual: t.dtype(),
    })
}

/// The optional input `index` as `T` elements.
pub(crate) fn optional_input<'a, T: Element>(
    inputs: &[Option<&'a Tensor>],
    index: usize,
) -> Result<Option<&'a [T]>, OpError> {
    match inputs.get(index).copied().flatten() {
        None => Ok(None),
        Some(_) => typed_input(inputs, index).map(Some),
    }
}

/// `(elements, bytes)` of the inputs among `indices` whose contents are constant.
pub(crate) fn constant_params(inputs: &[Option<&Fact>], indices: &[usize]) -> (u64, u64) {
    indices
        .iter()
        .filter_map(|&i| inputs.get(i).copied().flatten())
        .filter_map(|f| f.konst.as_deref())
        .fold((0, 0), |(n, b), t| {
            (n + t.len() as u64, b + t.byte_len() as u64)
        })
}

/// Elements of the first output (0 when there is none); for cost counts.
pub(crate) fn first_numel(outputs: &[Fact]) -> u64 {
    outputs.first().map_or(0, |f| f.numel() as u64)
}

/// Product of `shape[from..]` (0 when `shape` is shorter); for cost counts.
pub(crate) fn tail_product(shape: &[usize], from: usize) -> u64 {
    shape
        .get(from..)
        .map_or(0, |s| s.iter().product::<usize>() as u64)
}

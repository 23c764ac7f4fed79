//! Kernels of the `nn` op family: convolution, transposed convolution, matrix products, pooling
//! and batch normalization, on row-major `N, C, spatial...` (ONNX) layouts.
//!
//! The fast kernels ([`conv`], [`gemm`], [`max_pool`], [`average_pool`]) each have a scalar twin
//! in [`reference`](mod@reference) that is obviously correct and never optimized; property tests pit each pair
//! against each other. [`conv_transpose`], [`batch_norm`] and the global pools have a single
//! plain implementation. Everything is single-threaded and deterministic on a given machine (the
//! `gemm` crate picks AVX2 or AVX-512 kernels at run time, so another CPU may round differently).
//!
//! Every kernel checks its slices against the geometry it is given and returns [`NnError`]
//! instead of panicking; scratch buffers are bounded by the inputs and outputs or by a fixed cap
//! (beyond which [`conv`] falls back to its reference).

mod conv;
mod conv_transpose;
mod gemm;
mod geometry;
mod norm;
mod pool;
pub mod reference;

pub use conv::conv;
pub use conv_transpose::{conv_transpose, ConvTransposeGeometry};
pub use gemm::{gemm, Mat};
pub use geometry::{conv_output_len, numel, ConvGeometry, PoolGeometry};
pub use norm::{batch_norm, BatchNormParams};
pub use pool::{average_pool, global_average_pool, global_max_pool, max_pool, PoolElement};

use std::fmt;

/// A geometry or buffer-size mismatch found by a kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NnError(pub String);

impl fmt::Display for NnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NnError {}

pub(crate) fn err<T>(msg: impl Into<String>) -> Result<T, NnError> {
    Err(NnError(msg.into()))
}

/// Checks that a buffer named `what` holds exactly `expected` elements.
pub(crate) fn check_len(what: &str, actual: usize, expected: usize) -> Result<(), NnError> {
    if actual != expected {
        return err(format!(
            "{what} holds {actual} elements, expected {expected}"
        ));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod testutil;

//! Integer-only kernels on 16-bit activations (A16) that have no weights: elementwise Add and
//! softmax.
//!
//! Same contract as [`crate::int8`] (real `r = scale · (q − zero_point)`, integer-only at run time,
//! floats only when deriving parameters offline, errors as [`crate::int8::Int8Error`], sizes
//! checked before use), with elements typed by [`crate::lowbit::ActElem`] (inputs `i8`, `u8`,
//! `i16`) and [`crate::lowbit::OutElem`] (outputs `i8`, `u8`, `i16`). The weighted A16 kernels
//! (GEMM, convolution) are in [`crate::lowbit`].

pub mod add;
pub mod softmax;

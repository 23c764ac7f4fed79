//! Numeric kernels. Architecture invariant: kernels see slices, shapes and parameters — never a
//! graph, a node or an ONNX type. Every optimized kernel has a scalar `reference` twin that is
//! obviously correct and never optimized; tests pit the two against each other.

pub mod elementwise;
pub mod int16;
pub mod int8;
pub mod lowbit;
pub mod nn;
pub mod shape;

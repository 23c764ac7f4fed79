//! Conv, ConvTranspose, Gemm, MatMul, pooling, BatchNormalization.
use crate::registry::Constructor;

pub static REGISTRY: &[(&str, Constructor)] = &[];

//! Elementwise arithmetic, activations, Softmax, Cast, QuantizeLinear/DequantizeLinear, reductions.
use crate::registry::Constructor;

mod relu;

pub static REGISTRY: &[(&str, Constructor)] = &[("Relu", relu::build_relu)];

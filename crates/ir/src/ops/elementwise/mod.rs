//! Elementwise arithmetic, activations, Softmax, Cast, QuantizeLinear/DequantizeLinear, reductions.
use crate::registry::Constructor;

mod activation;
mod binary;
mod cast;
mod clip;
pub(crate) mod common;
mod dequantize_linear;
#[cfg(test)]
mod ort_oracle;
mod prelu;
mod quant_params;
mod quantize_linear;
mod reduce_mean;
mod relu;
mod softmax;

pub use activation::{Activation, ActivationKind};
pub use binary::{Binary, BinaryKind};
pub use cast::{cast_tensor, Cast};
pub use clip::Clip;
pub use dequantize_linear::DequantizeLinear;
pub use prelu::PRelu;
pub use quant_params::QuantAxis;
pub use quantize_linear::QuantizeLinear;
pub use reduce_mean::{AxesFrom, ReduceMean};
pub use relu::Relu;
pub use softmax::Softmax;

pub static REGISTRY: &[(&str, Constructor)] = &[
    ("Add", binary::build_add),
    ("Cast", cast::build_cast),
    ("Clip", clip::build_clip),
    (
        "DequantizeLinear",
        dequantize_linear::build_dequantize_linear,
    ),
    ("Div", binary::build_div),
    ("HardSigmoid", activation::build_hard_sigmoid),
    ("HardSwish", activation::build_hard_swish),
    ("LeakyRelu", activation::build_leaky_relu),
    ("LogSoftmax", softmax::build_log_softmax),
    ("Mul", binary::build_mul),
    ("PRelu", prelu::build_prelu),
    ("QuantizeLinear", quantize_linear::build_quantize_linear),
    ("ReduceMean", reduce_mean::build_reduce_mean),
    ("Relu", relu::build_relu),
    ("Sigmoid", activation::build_sigmoid),
    ("Softmax", softmax::build_softmax),
    ("Sub", binary::build_sub),
    ("Tanh", activation::build_tanh),
];

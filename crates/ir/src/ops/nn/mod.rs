//! Conv, ConvTranspose, Gemm, MatMul, pooling, BatchNormalization.
use crate::registry::Constructor;

mod average_pool;
mod batch_norm;
mod conv;
mod conv_transpose;
mod gemm;
mod global_pool;
mod matmul;
mod max_pool;
mod spatial;
mod util;

pub use average_pool::AveragePool;
pub use batch_norm::BatchNormalization;
pub use conv::Conv;
pub use conv_transpose::ConvTranspose;
pub use gemm::Gemm;
pub use global_pool::{GlobalPool, Reduce};
pub use matmul::MatMul;
pub use max_pool::MaxPool;
pub use spatial::{AutoPad, Window};

pub static REGISTRY: &[(&str, Constructor)] = &[
    ("AveragePool", average_pool::build_average_pool),
    ("BatchNormalization", batch_norm::build_batch_norm),
    ("Conv", conv::build_conv),
    ("ConvTranspose", conv_transpose::build_conv_transpose),
    ("Gemm", gemm::build_gemm),
    ("GlobalAveragePool", global_pool::build_global_average_pool),
    ("GlobalMaxPool", global_pool::build_global_max_pool),
    ("MatMul", matmul::build_matmul),
    ("MaxPool", max_pool::build_max_pool),
];

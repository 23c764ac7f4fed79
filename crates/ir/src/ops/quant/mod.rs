//! Integer ops: 8-bit tensors in, 8-bit tensors out, integer-only evaluation through
//! `mw_kernels::int8` (floats only when deriving fixed-point multipliers on first use).
//! Convolution, matrix product and average pooling also take 16-bit activations and 4-bit
//! (INT4, ternary, binary) weights, kept packed and run by `mw_kernels::lowbit` (`lowbit.rs`).
//!
//! * ONNX ops: `QLinearConv` (1-D/2-D, groups and depthwise, per-channel weight scales, int32
//!   bias) and `QLinearMatMul`.
//! * Internal ops for what ONNX lacks, named `Mw…` (never written to disk by QDQ export):
//!   `MwQLinearConv` (QLinearConv + fused clamp), `MwQGemm` (MatMul + int32 bias + clamp),
//!   `MwQGroupedGemm` (group-wise weight scales, `grouped.rs`), `MwQAvgPool`, `MwQGlobalAvgPool`, `MwQAdd`, `MwQSoftmax` and `MwQRequantize` (new scale /
//!   zero point / 8-bit type, with a clamp: a lone ReLU or Clip between quantized tensors).
//!
//! The fused clamp is given as attributes `qmin` / `qmax` in stored output values (a ReLU after a
//! layer whose output zero point is the type's minimum needs none: saturation already clamps).
//! Every op's inputs follow QLinearConv's convention: each tensor is followed by its scale and zero
//! point, and the output's scale and zero point come last before any bias.
use crate::registry::Constructor;

mod add;
mod avg_pool;
pub(crate) mod common;
mod grouped;
pub(crate) mod lowbit;
mod qlinear_conv;
mod qlinear_matmul;
mod requantize;
mod softmax;

pub use add::QAdd;
pub use avg_pool::QAvgPool;
pub use common::Clamp;
pub use grouped::{Layout as GroupedLayout, QGroupedGemm};
pub use qlinear_conv::QLinearConv;
pub use qlinear_matmul::QLinearMatMul;
pub use requantize::QRequantize;
pub use softmax::QSoftmax;

pub static REGISTRY: &[(&str, Constructor)] = &[
    ("MwQAdd", add::build_mw_qadd),
    ("MwQAvgPool", avg_pool::build_mw_qavg_pool),
    ("MwQGemm", qlinear_matmul::build_mw_qgemm),
    ("MwQGroupedGemm", grouped::build_mw_qgrouped_gemm),
    ("MwQGlobalAvgPool", avg_pool::build_mw_qglobal_avg_pool),
    ("MwQLinearConv", qlinear_conv::build_mw_qlinear_conv),
    ("MwQRequantize", requantize::build_mw_qrequantize),
    ("MwQSoftmax", softmax::build_mw_qsoftmax),
    ("QLinearConv", qlinear_conv::build_qlinear_conv),
    ("QLinearMatMul", qlinear_matmul::build_qlinear_matmul),
];

/// Whether `op_type` is one of this family's integer ops.
pub fn is_integer_op(op_type: &str) -> bool {
    REGISTRY.iter().any(|(name, _)| *name == op_type)
}

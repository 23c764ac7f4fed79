//! One file per op (or tight family). Each file holds the op struct, its constructor from
//! attributes, shape inference, evaluation (calling `mw-kernels`), cost and its tests.
//!
//! The ops are grouped in four families, each with its own registry slice:
//! `nn` (Conv, Gemm, MatMul, pooling, normalization), `elementwise` (arithmetic, activations,
//! Softmax, Cast, quantize/dequantize, reductions), `shape` (data movement and shape ops) and
//! `quant` (integer-only 8-bit ops: QLinearConv, QLinearMatMul and the internal `Mw…` ops).
use crate::registry::Constructor;
use std::sync::OnceLock;

pub mod elementwise;
pub mod nn;
pub mod quant;
pub mod shape;

/// All families' registries merged and sorted by op type. Adding an op = one file + one line in
/// its family's `REGISTRY`.
pub fn registry() -> &'static [(&'static str, Constructor)] {
    static ALL: OnceLock<Vec<(&'static str, Constructor)>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut v: Vec<_> = nn::REGISTRY
            .iter()
            .chain(elementwise::REGISTRY)
            .chain(shape::REGISTRY)
            .chain(quant::REGISTRY)
            .copied()
            .collect();
        v.sort_by_key(|(name, _)| *name);
        v
    })
}

//! Compression passes for milliwatt: calibrate, quantize, prune, cluster, huffman, distill.
//!
//! Each pass takes a model and returns `(model, report)`: the transformed model and a
//! `serde::Serialize` report of what the pass did and what it cost. Passes change graphs only
//! through `mw_ir::rewrite`; the numeric pieces they share (activation-range calibration,
//! quantization parameters, rounding) live here as plain functions on slices and tensors.
//!
//! Present so far: [`calibrate`] — streaming, bounded-memory activation-range calibration and
//! quantization-parameter derivation, the groundwork of INT8 post-training quantization.

pub mod calibrate;

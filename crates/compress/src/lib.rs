//! Compression passes for milliwatt: calibrate, quantize, prune, cluster, huffman, distill.
//!
//! Each pass takes a model and returns `(model, report)`: the transformed model and a
//! `serde::Serialize` report of what the pass did and what it cost. Passes change graphs only
//! through `mw_ir::rewrite`; the numeric pieces they share (activation-range calibration,
//! quantization parameters, rounding) live here as plain functions on slices and tensors.
//!
//! Present so far: [`calibrate`] — streaming, bounded-memory activation-range calibration and
//! quantization-parameter derivation; [`quantize`] — INT8 post-training quantization of a float
//! graph into a standard ONNX QDQ graph, with a per-layer report.

pub mod calibrate;
pub mod mixed;
pub mod quantize;
pub mod rounding;

//! ONNX import and export for milliwatt: maps an ONNX `ModelProto` to and from an
//! [`mw_ir::Graph`]. This crate only translates; it does no arithmetic on tensors.
//!
//! # Import
//!
//! * [`load`]`(path, limits)` reads a `.onnx` file; [`load_bytes`]`(bytes, base_dir, limits)`
//!   decodes one held in memory.
//! * Graph inputs keep their declared dtype and shape (`Dim::Fixed` / `Dim::Symbol`; an unnamed
//!   dynamic dimension is `Dim::Symbol("")`); initializers become constant values; `value_info`
//!   declares intermediate values. An input that names an initializer is that initializer.
//! * Nodes are built with [`mw_ir::build_op`] from their attributes and a [`mw_ir::BuildCtx`]
//!   (opset, number of listed inputs, number of outputs up to the last non-empty name). Empty
//!   input names are omitted optional inputs (`None`); an empty output name before a used one gets
//!   the name `<node>:omitted_output_<k>`. Nodes without a name are named `<op_type>_<index>`.
//!   Nodes are put in topological order.
//! * Accepted: default-domain opsets [`MIN_OPSET`]..=[`MAX_OPSET`]; tensors of f32, f64, i8, u8,
//!   i16, u16, i32, u32, i64, u64 and bool; attributes INT, FLOAT, STRING, TENSOR, INTS, FLOATS,
//!   STRINGS. Everything else (older opsets, other domains, unsupported ops, f16/bf16/float8/int4/
//!   string/complex tensors, graph and sparse attributes, sparse initializers, non-tensor values)
//!   is refused with an [`OnnxError`] naming the file and the node, value or tensor.
//! * Untrusted sizes are checked before allocating: every tensor's declared size against
//!   [`mw_ir::Limits::max_tensor_bytes`] (in u128), `raw_data` and typed fields against the
//!   declared shape, files against protobuf's 2 GiB limit.
//! * External data (`data_location = EXTERNAL`, keys `location`, `offset`, `length`) is read only
//!   from files inside the model's folder: absolute paths, `..` and symlinks resolving outside it
//!   are refused, and offset and length must fit the file and the tensor.
//! * Import does not run shape inference: callers that need a checked graph run
//!   [`mw_ir::infer::infer_facts`] (or build an `mw_exec::Plan`) themselves.
//!
//! # Export
//!
//! * [`to_bytes`]`(graph)` serializes; [`save`]`(graph, path)` writes atomically (a temporary file
//!   in the same folder, synced, then renamed; on error no new file remains).
//! * The model takes `ir_version` and opsets from `graph.meta` ([`DEFAULT_IR_VERSION`] and
//!   [`DEFAULT_OPSET`] when unknown). Nodes are written from `op.op_type()` and `op.attrs()`;
//!   initializers are the live ones ([`mw_ir::Graph::initializers`]) plus constant-backed graph
//!   inputs, as little-endian `raw_data`; inputs, outputs and intermediate values carry their
//!   declared dtype and shape (an output without a declared dtype gets the inferred one).
//! * Import → export → import yields an equal graph: same values (names, dtypes, shapes,
//!   constants), node op types and attributes.
//!
//! # QOperator export
//!
//! [`save_qoperator`] lowers a QDQ graph to integer ops and writes it with standard ONNX ops only
//! (QLinearConv, QLinearMatMul, QuantizeLinear / DequantizeLinear, Clip, Reshape, the float ops ONNX
//! has no integer form of); [`to_qoperator`] is the IR rewrite behind it. Importing such a file
//! needs nothing special: QLinearConv and QLinearMatMul are IR ops with integer evaluation.
//!
//! # Test data
//!
//! [`read_tensor_pb`] reads one serialized `TensorProto` (the ONNX conformance tests'
//! `input_N.pb` / `output_N.pb`) under the same checks.

mod attrs;
mod error;
mod export;
mod import;
pub mod proto;
pub mod qoperator;
mod tensor;

pub use error::OnnxError;
pub use export::{save, to_bytes, DEFAULT_IR_VERSION, DEFAULT_OPSET};
pub use import::{load, load_bytes, MAX_OPSET, MIN_OPSET};
pub use qoperator::{save_qoperator, to_qoperator};

use mw_ir::Limits;
use mw_tensor::Tensor;
use prost::Message;
use std::path::Path;

/// Reads a file holding one serialized `TensorProto`. External data is read from the file's
/// folder only. Errors name the file and the tensor (its name, or the file name when unnamed).
pub fn read_tensor_pb(path: &Path, limits: &Limits) -> Result<Tensor, OnnxError> {
    let file = path.display().to_string();
    let bytes = import::read_file(path, &file)?;
    let t = proto::TensorProto::decode(bytes.as_slice()).map_err(|e| OnnxError::Decode {
        file: file.clone(),
        reason: e.to_string(),
    })?;
    let name = match t.name.as_deref() {
        Some(n) if !n.is_empty() => n.to_string(),
        _ => path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    let base = path.parent().filter(|p| !p.as_os_str().is_empty());
    let src = tensor::Source {
        file: &file,
        base_dir: Some(base.unwrap_or(Path::new("."))),
        limits,
    };
    tensor::tensor_from_proto(&t, &name, &src)
}

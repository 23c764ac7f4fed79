//! The intermediate representation: a graph of typed values and ops.
//!
//! * [`Graph`] holds values (name, declared dtype/shape, optional constant) and nodes in
//!   topological order. Node ids and value ids index its arenas.
//! * [`Op`] is one operator: it builds from ONNX-style [`Attrs`], infers output [`Fact`]s, evaluates
//!   itself (the float reference semantics, by calling `mw-kernels`), reports its [`Cost`] and hands
//!   its attributes back for export. One op (or one tight family) per file in `ops/`.
//! * [`rewrite::Patch`] is the only way a pass changes a graph.
//!
//! Architecture invariant: this crate knows nothing of protobuf; `mw-onnx` maps ONNX to and from it.

pub mod attrs;
pub mod error;
pub mod fact;
pub mod graph;
pub mod infer;
pub mod op;
pub mod ops;
pub mod passes;
pub mod registry;
pub mod rewrite;

pub use attrs::{Attr, Attrs};
pub use error::{IrError, OpError};
pub use fact::{Dim, Fact, Limits};
pub use graph::{Graph, ModelMeta, Node, NodeId, Value, ValueId};
pub use mw_tensor::{DType, Tensor};
pub use op::{BuildCtx, Cost, Op};
pub use registry::{build_op, is_supported, supported_ops};

//! The ONNX protobuf messages (generated; see the header of `onnx.rs`).
#![allow(clippy::all, missing_docs, rustdoc::all)]

#[rustfmt::skip]
mod onnx;

pub use self::onnx::*;

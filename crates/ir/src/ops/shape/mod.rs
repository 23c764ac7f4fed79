//! Data movement and shape ops: Reshape, Transpose, Concat, Slice, Gather, Pad, Resize, ...
use crate::registry::Constructor;

pub static REGISTRY: &[(&str, Constructor)] = &[];

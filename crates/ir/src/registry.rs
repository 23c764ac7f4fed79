//! The table of ops milliwatt understands: ONNX op type → constructor.
use crate::{Attrs, BuildCtx, Op, OpError};

pub type Constructor = fn(&Attrs, &BuildCtx) -> Result<Box<dyn Op>, OpError>;

/// Every supported default-domain op type with its constructor, sorted by name.
pub fn supported_ops() -> &'static [(&'static str, Constructor)] {
    crate::ops::registry()
}

pub fn is_supported(op_type: &str) -> bool {
    supported_ops().iter().any(|(name, _)| *name == op_type)
}

/// Builds an op; `Ok(None)` when the op type is not in the table.
pub fn build_op(
    op_type: &str,
    attrs: &Attrs,
    ctx: &BuildCtx,
) -> Result<Option<Box<dyn Op>>, OpError> {
    match supported_ops().iter().find(|(name, _)| *name == op_type) {
        Some((_, ctor)) => ctor(attrs, ctx).map(Some),
        None => Ok(None),
    }
}

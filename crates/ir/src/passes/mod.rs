//! Graph passes. Each is a set of rewrite rules applied through [`crate::rewrite`] and returns a
//! [`PassReport`] of what it changed and what it looked at but left alone, with the reason.
mod fold_batchnorm;
mod fold_constants;
mod integer_only;
mod lower_qdq;
mod remove_identity;

pub use fold_batchnorm::fold_batchnorm;
pub use fold_constants::fold_constants;
pub use integer_only::{integer_only, FloatOp, IntegerOnlyReport};
pub use lower_qdq::lower_qdq;
pub use remove_identity::remove_identity;

use crate::{Graph, IrError};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct PassReport {
    pub pass: &'static str,
    /// Nodes rewritten or removed.
    pub changed: Vec<String>,
    /// Nodes the pass could have changed but did not, with the reason.
    pub untouched: Vec<(String, String)>,
}

/// The canonical clean-up run after import: constants folded, Identity/Dropout removed,
/// BatchNormalization folded into the preceding Conv or Gemm.
pub fn simplify(graph: &mut Graph) -> Result<Vec<PassReport>, IrError> {
    Ok(vec![
        remove_identity(graph)?,
        fold_constants(graph)?,
        fold_batchnorm(graph)?,
    ])
}

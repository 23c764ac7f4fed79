//! Nodes whose inputs are all constant are evaluated once and replaced by their results.
use super::PassReport;
use crate::rewrite::{rewrite_to_fixpoint, Patch};
use crate::{Graph, IrError, NodeId, Value};
use mw_tensor::Tensor;
use std::cell::RefCell;

/// Results larger than this many elements stay as computations (they would bloat the model).
pub const MAX_FOLDED_ELEMENTS: usize = 1 << 20;

pub fn fold_constants(graph: &mut Graph) -> Result<PassReport, IrError> {
    let report = RefCell::new(PassReport {
        pass: "fold-constants",
        ..Default::default()
    });
    let rule = |g: &Graph, id: NodeId| -> Result<Option<Patch>, IrError> {
        let node = g.node(id);
        let inputs: Option<Vec<Option<&Tensor>>> = node
            .inputs
            .iter()
            .map(|v| match v {
                None => Some(None),
                Some(v) => g.value(*v).konst.as_deref().map(Some),
            })
            .collect();
        let Some(inputs) = inputs else {
            return Ok(None);
        };
        let outputs = node
            .op
            .eval(&inputs)
            .map_err(|e| IrError::node(&node.name, node.op.op_type(), e))?;
        if outputs.iter().any(|t| t.len() > MAX_FOLDED_ELEMENTS) {
            let mut r = report.borrow_mut();
            if !r.untouched.iter().any(|(n, _)| *n == node.name) {
                r.untouched
                    .push((node.name.clone(), "result too large to store".into()));
            }
            return Ok(None);
        }
        let mut patch = Patch::new(g);
        patch.remove_nodes.push(id);
        for (&out, t) in node.outputs.iter().zip(outputs) {
            let name = g.value(out).name.clone();
            let folded = patch.add_value(Value::constant(format!("{name}__folded"), t));
            patch.redirect(out, folded);
        }
        report.borrow_mut().changed.push(node.name.clone());
        Ok(Some(patch))
    };
    rewrite_to_fixpoint(graph, &[&rule])?;
    let mut r = report.into_inner();
    let changed = r.changed.clone();
    r.untouched.retain(|(n, _)| !changed.contains(n));
    Ok(r)
}

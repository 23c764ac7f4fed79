//! Identity and inference-mode Dropout forward their input unchanged: readers are redirected to
//! the input and the node disappears.
use super::PassReport;
use crate::rewrite::{rewrite_to_fixpoint, Patch};
use crate::{Graph, IrError, NodeId};
use std::cell::RefCell;

pub fn remove_identity(graph: &mut Graph) -> Result<PassReport, IrError> {
    let report = RefCell::new(PassReport {
        pass: "remove-identity",
        ..Default::default()
    });
    let rule = |g: &Graph, id: NodeId| -> Result<Option<Patch>, IrError> {
        let node = g.node(id);
        if !matches!(node.op.op_type(), "Identity" | "Dropout") {
            return Ok(None);
        }
        let (Some(Some(input)), Some(&output)) = (node.inputs.first(), node.outputs.first()) else {
            return Ok(None);
        };
        let mask_used = node.outputs.len() > 1
            && (g.outputs.contains(&node.outputs[1])
                || g.consumers().contains_key(&node.outputs[1]));
        // A graph input feeding a graph output directly would need renaming the model's interface.
        let interface = g.inputs.contains(input) && g.outputs.contains(&output);
        if mask_used || interface || dropout_training(g, id) {
            let key = node.name.clone();
            let mut r = report.borrow_mut();
            if !r.untouched.iter().any(|(n, _)| *n == key) {
                let why = if mask_used {
                    "its mask output is used"
                } else if interface {
                    "it connects a graph input straight to a graph output"
                } else {
                    "training_mode may be true"
                };
                r.untouched.push((key, why.into()));
            }
            return Ok(None);
        }
        let mut patch = Patch::new(g);
        patch.remove_nodes.push(id);
        patch.redirect(output, *input);
        report.borrow_mut().changed.push(node.name.clone());
        Ok(Some(patch))
    };
    rewrite_to_fixpoint(graph, &[&rule])?;
    Ok(report.into_inner())
}

/// Dropout's third input is `training_mode`; anything but a constant false is left alone.
fn dropout_training(g: &Graph, id: NodeId) -> bool {
    let node = g.node(id);
    if node.op.op_type() != "Dropout" {
        return false;
    }
    match node.inputs.get(2).copied().flatten() {
        None => false,
        Some(v) => match &g.value(v).konst {
            Some(t) => t.to_f64_vec().iter().any(|&x| x != 0.0),
            None => true,
        },
    }
}

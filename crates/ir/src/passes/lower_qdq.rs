//! `lower_qdq`: a QDQ graph (QuantizeLinear / DequantizeLinear around float ops, as
//! `milliwatt quantize` writes and ONNX tools export) becomes an integer graph.
//!
//! Each QuantizeLinear whose input is computed by a recognized pattern (the table in `lower_qdq/patterns.rs`) is
//! replaced, together with the pattern's float nodes, by one integer op from
//! [`crate::ops::quant`] (or an 8-bit data-movement op) whose output is the QuantizeLinear's own
//! output value — same id, same name — so per-layer comparisons match values by name.
//! DequantizeLinear nodes left without readers disappear. A QuantizeLinear of a graph input (the
//! model's entry) stays, as does the DequantizeLinear of a float model output.
//!
//! Every pattern that fails is listed in the report's `untouched` with the float node's name and
//! the reason; the graph is otherwise unchanged there (it still runs, in float).
//! All changes go through [`crate::rewrite`].
mod build;
mod matcher;
mod patterns;

use super::PassReport;
use crate::infer::{infer_facts, Bindings};
use crate::rewrite::{rewrite_to_fixpoint, Patch};
use crate::{Graph, IrError, Limits, NodeId};
use matcher::Matcher;
use std::cell::RefCell;
use std::collections::HashSet;

/// Lowers `graph`'s QDQ patterns to integer ops; returns the new graph and what was (not)
/// lowered. Fails only when the graph itself does not infer.
pub fn lower_qdq(graph: &Graph) -> Result<(Graph, PassReport), IrError> {
    let mut g = graph.clone();
    let facts = infer_facts(&g, &Bindings::default(), &Limits::default())?;
    let report = RefCell::new(PassReport {
        pass: "lower-qdq",
        ..Default::default()
    });
    let rule = |g: &Graph, id: NodeId| -> Result<Option<Patch>, IrError> {
        if g.node(id).op.op_type() != "QuantizeLinear" {
            return Ok(None);
        }
        match patterns::lower(&Matcher::new(g, &facts), id) {
            Ok(Some(lowered)) => {
                report.borrow_mut().changed.push(lowered.name);
                Ok(Some(lowered.patch))
            }
            Ok(None) => Ok(None),
            Err((name, why)) => {
                let mut r = report.borrow_mut();
                if !r.untouched.iter().any(|(n, _)| *n == name) {
                    r.untouched.push((name, why));
                }
                Ok(None)
            }
        }
    };
    rewrite_to_fixpoint(&mut g, &[&rule])?;
    let mut report = report.into_inner();
    let live: HashSet<&str> = g.nodes.iter().map(|n| n.name.as_str()).collect();
    report.untouched.retain(|(n, _)| live.contains(n.as_str()));
    Ok((g, report))
}

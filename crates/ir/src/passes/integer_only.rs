//! The integer-only lint: which ops of a (lowered) quantized graph still compute in float.
//!
//! The quantized region starts at the model's entry — quantized (8- or 16-bit integer) graph inputs
//! and the outputs of QuantizeLinear nodes that quantize float values not derived from quantized
//! ones — and ends at the exit DequantizeLinear nodes, those after which the graph never quantizes
//! again. A node belongs to the region when it reads a value derived from the entry and either
//! writes quantized values or has a QuantizeLinear downstream. In the region, a node computes in float when it is a
//! QuantizeLinear or DequantizeLinear, or when any of its non-constant inputs or outputs is a
//! float tensor. Each is listed with the reason: the lowering report's, when it tried and failed
//! to lower the node, else what the node does.
use super::PassReport;
use crate::infer::{infer_facts, Bindings, Facts};
use crate::{Graph, IrError, Limits, Node, ValueId};
use mw_tensor::DType;
use std::collections::HashMap;

/// One op of the region that computes in float.
#[derive(Clone, Debug, PartialEq)]
pub struct FloatOp {
    pub node: String,
    pub op_type: String,
    pub reason: String,
}

/// What [`integer_only`] found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IntegerOnlyReport {
    /// Whether the graph has an entry at all (an 8-bit input or an entry QuantizeLinear).
    pub quantized: bool,
    /// Entry QuantizeLinear nodes.
    pub entries: Vec<String>,
    /// Exit DequantizeLinear nodes.
    pub exits: Vec<String>,
    /// Nodes in the region.
    pub region_nodes: usize,
    /// Region nodes computing in integers only.
    pub integer_nodes: usize,
    /// Region nodes computing in float, in graph order.
    pub float_ops: Vec<FloatOp>,
}

impl IntegerOnlyReport {
    /// Whether no float arithmetic runs between entry and exit.
    pub fn is_integer_only(&self) -> bool {
        self.quantized && self.float_ops.is_empty()
    }
}

fn is_float(facts: &Facts, v: ValueId) -> bool {
    facts[v.0].as_ref().is_some_and(|f| f.dtype.is_float())
}

/// An 8- or 16-bit quantized activation.
fn is_quantized(facts: &Facts, v: ValueId) -> bool {
    facts[v.0]
        .as_ref()
        .is_some_and(|f| matches!(f.dtype, DType::I8 | DType::U8 | DType::I16))
}

fn is_const(graph: &Graph, facts: &Facts, v: ValueId) -> bool {
    graph.value(v).konst.is_some() || facts[v.0].as_ref().is_some_and(|f| f.konst.is_some())
}

/// Lints `graph` (normally the output of [`super::lower_qdq`]); `lowering` supplies the reasons
/// for patterns that failed to lower.
pub fn integer_only(
    graph: &Graph,
    lowering: Option<&PassReport>,
) -> Result<IntegerOnlyReport, IrError> {
    let facts = infer_facts(graph, &Bindings::default(), &Limits::default())?;
    let runtime = |v: &ValueId| !is_const(graph, &facts, *v);
    // Forward: values derived from the entry.
    let mut derived = vec![false; graph.values.len()];
    for &i in &graph.inputs {
        derived[i.0] = runtime(&i) && is_quantized(&facts, i);
    }
    let mut report = IntegerOnlyReport::default();
    let mut entry = vec![false; graph.nodes.len()];
    for (k, n) in graph.nodes.iter().enumerate() {
        let reads_derived = n.inputs.iter().flatten().any(|v| derived[v.0]);
        if n.op.op_type() == "QuantizeLinear" && !reads_derived {
            entry[k] = true;
            report.entries.push(n.name.clone());
        }
        if reads_derived || entry[k] {
            n.outputs.iter().for_each(|o| derived[o.0] = true);
        }
    }
    report.quantized = !report.entries.is_empty() || graph.inputs.iter().any(|i| derived[i.0]);
    // Backward: nodes with a QuantizeLinear downstream.
    let consumers = graph.consumers();
    let mut leads_to_q = vec![false; graph.nodes.len()];
    for k in (0..graph.nodes.len()).rev() {
        let n = &graph.nodes[k];
        leads_to_q[k] = n.op.op_type() == "QuantizeLinear"
            || n.outputs.iter().any(|o| {
                consumers
                    .get(o)
                    .is_some_and(|cs| cs.iter().any(|c| leads_to_q[c.0]))
            });
    }
    let reasons: HashMap<&str, &str> = lowering
        .map(|r| {
            r.untouched
                .iter()
                .map(|(n, w)| (n.as_str(), w.as_str()))
                .collect()
        })
        .unwrap_or_default();
    for (k, n) in graph.nodes.iter().enumerate() {
        let reads_derived = n.inputs.iter().flatten().any(|v| derived[v.0]);
        let writes_quantized = n.outputs.iter().any(|o| is_quantized(&facts, *o));
        if entry[k] || !reads_derived || !(writes_quantized || leads_to_q[k]) {
            if n.op.op_type() == "DequantizeLinear" && reads_derived {
                report.exits.push(n.name.clone());
            }
            continue;
        }
        report.region_nodes += 1;
        let conversion = matches!(n.op.op_type(), "QuantizeLinear" | "DequantizeLinear");
        let float_io = n
            .inputs
            .iter()
            .flatten()
            .filter(|v| runtime(v))
            .chain(&n.outputs)
            .any(|v| is_float(&facts, *v));
        if !(conversion || float_io) {
            report.integer_nodes += 1;
            continue;
        }
        let reason = reasons
            .get(n.name.as_str())
            .map(|r| r.to_string())
            .unwrap_or_else(|| default_reason(graph, n, &consumers));
        report.float_ops.push(FloatOp {
            node: n.name.clone(),
            op_type: n.op.op_type().to_string(),
            reason,
        });
    }
    Ok(report)
}

/// What a float node of the region does, when the lowering gave no reason.
fn default_reason(
    graph: &Graph,
    n: &Node,
    consumers: &HashMap<ValueId, Vec<crate::NodeId>>,
) -> String {
    let readers = |v: ValueId| -> String {
        let names: Vec<String> = consumers
            .get(&v)
            .map(|cs| {
                cs.iter()
                    .map(|c| {
                        let r = graph.node(*c);
                        format!("`{}` ({})", r.name, r.op.op_type())
                    })
                    .collect()
            })
            .unwrap_or_default();
        names.join(", ")
    };
    match (n.op.op_type(), n.outputs.first()) {
        ("DequantizeLinear", Some(&o)) => {
            format!("dequantizes to float for {} (not lowered)", readers(o))
        }
        ("QuantizeLinear", _) => {
            "quantizes a float result: the pattern before it was not lowered".into()
        }
        (op, _) => format!("{op} computes in float: no QDQ pattern around it was lowered"),
    }
}

//! `milliwatt inspect`: what a model is made of, layer by layer.
use crate::output::table;
use anyhow::{Context, Result};
use mw_ir::infer::{infer_facts, Bindings};
use mw_ir::passes::{integer_only, lower_qdq};
use mw_ir::{Fact, Graph, IrError, Limits};
use serde::Serialize;
use std::path::Path;

#[derive(Debug, Serialize)]
pub struct Layer {
    pub name: String,
    pub op: String,
    pub input_shapes: Vec<Vec<usize>>,
    pub output_shapes: Vec<Vec<usize>>,
    pub params: u64,
    pub macs: u64,
    pub weight_bytes: u64,
}

#[derive(Debug, Default, Serialize, PartialEq)]
pub struct Totals {
    pub nodes: usize,
    pub params: u64,
    pub macs: u64,
    pub weight_bytes: u64,
}

#[derive(Debug, Serialize)]
pub struct InspectReport {
    pub model: String,
    /// Symbolic dimensions (the batch) are bound to 1.
    pub batch: usize,
    pub layers: Vec<Layer>,
    pub totals: Totals,
}

pub fn inspect_file(path: &Path, limits: &Limits) -> Result<InspectReport> {
    let graph =
        mw_onnx::load(path, limits).with_context(|| format!("loading `{}`", path.display()))?;
    let mut report = inspect(&graph, limits)?;
    report.model = path.display().to_string();
    Ok(report)
}

/// Per-layer costs at batch 1, from each op's own [`mw_ir::Cost`].
pub fn inspect(graph: &Graph, limits: &Limits) -> Result<InspectReport, IrError> {
    let facts = infer_facts(graph, &Bindings::batch(1), limits)?;
    let mut layers = Vec::with_capacity(graph.nodes.len());
    let mut totals = Totals::default();
    for node in &graph.nodes {
        let ins: Vec<Option<&Fact>> = node
            .inputs
            .iter()
            .map(|v| v.and_then(|v| facts[v.0].as_ref()))
            .collect();
        let outs: Vec<Fact> = node
            .outputs
            .iter()
            .filter_map(|v| facts[v.0].clone())
            .collect();
        let cost = node.op.cost(&ins, &outs);
        totals.nodes += 1;
        totals.params += cost.params;
        totals.macs += cost.macs;
        totals.weight_bytes += cost.weight_bytes;
        layers.push(Layer {
            name: node.name.clone(),
            op: node.op.op_type().to_string(),
            input_shapes: ins.iter().flatten().map(|f| f.shape.clone()).collect(),
            output_shapes: outs.iter().map(|f| f.shape.clone()).collect(),
            params: cost.params,
            macs: cost.macs,
            weight_bytes: cost.weight_bytes,
        });
    }
    Ok(InspectReport {
        model: String::new(),
        batch: 1,
        layers,
        totals,
    })
}

fn shapes(v: &[Vec<usize>]) -> String {
    v.iter()
        .map(|s| format!("{s:?}"))
        .collect::<Vec<_>>()
        .join(" ")
}

impl InspectReport {
    pub fn table(&self) -> String {
        let mut rows = vec![[
            "layer",
            "op",
            "inputs",
            "outputs",
            "params",
            "MACs",
            "weight bytes",
        ]
        .map(String::from)
        .to_vec()];
        for l in &self.layers {
            rows.push(vec![
                l.name.clone(),
                l.op.clone(),
                shapes(&l.input_shapes),
                shapes(&l.output_shapes),
                l.params.to_string(),
                l.macs.to_string(),
                l.weight_bytes.to_string(),
            ]);
        }
        let t = &self.totals;
        rows.push(vec![
            format!("total ({} nodes)", t.nodes),
            String::new(),
            String::new(),
            String::new(),
            t.params.to_string(),
            t.macs.to_string(),
            t.weight_bytes.to_string(),
        ]);
        format!(
            "{}\n{}{:.3} M MACs, {:.1} k parameters, {} weight bytes (batch {})\n",
            self.model,
            table(&rows),
            t.macs as f64 / 1e6,
            t.params as f64 / 1e3,
            t.weight_bytes,
            self.batch
        )
    }
}

/// One op the integer engine would run in float.
#[derive(Debug, Serialize, PartialEq)]
pub struct FloatOp {
    pub node: String,
    pub op: String,
    pub reason: String,
}

/// `inspect --integer-only`: the model lowered to integer ops and linted.
#[derive(Debug, Serialize)]
pub struct IntegerOnlyReport {
    pub model: String,
    /// True when the model is quantized and no op between entry and exit computes in float.
    pub integer_only: bool,
    /// Whether the model has a quantized region at all.
    pub quantized: bool,
    /// The QuantizeLinear nodes where the quantized region starts (an 8-bit input has none).
    pub entries: Vec<String>,
    /// The DequantizeLinear nodes where it ends (an 8-bit output has none).
    pub exits: Vec<String>,
    /// Nodes in the region, and how many of them compute in integers only.
    pub region_nodes: usize,
    pub integer_nodes: usize,
    /// Float layers the lowering replaced by integer ops.
    pub lowered: Vec<String>,
    /// Ops left in float, with the reason.
    pub float_ops: Vec<FloatOp>,
}

pub fn integer_only_file(path: &Path, limits: &Limits) -> Result<IntegerOnlyReport> {
    let graph =
        mw_onnx::load(path, limits).with_context(|| format!("loading `{}`", path.display()))?;
    let mut report = integer_only_graph(&graph)?;
    report.model = path.display().to_string();
    Ok(report)
}

/// Lowers `graph` with `mw_ir::passes::lower_qdq` and lints the result.
pub fn integer_only_graph(graph: &Graph) -> Result<IntegerOnlyReport> {
    let (lowered, pass) = lower_qdq(graph).context("lowering the QDQ graph")?;
    let lint = integer_only(&lowered, Some(&pass)).context("linting the lowered graph")?;
    Ok(IntegerOnlyReport {
        model: String::new(),
        integer_only: lint.is_integer_only(),
        quantized: lint.quantized,
        entries: lint.entries,
        exits: lint.exits,
        region_nodes: lint.region_nodes,
        integer_nodes: lint.integer_nodes,
        lowered: pass.changed,
        float_ops: lint
            .float_ops
            .into_iter()
            .map(|f| FloatOp {
                node: f.node,
                op: f.op_type,
                reason: f.reason,
            })
            .collect(),
    })
}

impl IntegerOnlyReport {
    pub fn text(&self) -> String {
        if !self.quantized {
            return format!(
                "{}: not a quantized model (no QuantizeLinear and no 8-bit input): nothing runs \
                 in integers\n",
                self.model
            );
        }
        let head = format!(
            "{}: {} nodes between the input quantization and the output dequantization, {} \
             integer-only ({} layers lowered)\n",
            self.model,
            self.region_nodes,
            self.integer_nodes,
            self.lowered.len()
        );
        if self.float_ops.is_empty() {
            return format!("{head}integer-only: zero float ops\n");
        }
        let mut rows = vec![["node", "op", "why it runs in float"]
            .map(String::from)
            .to_vec()];
        for f in &self.float_ops {
            rows.push(vec![f.node.clone(), f.op.clone(), f.reason.clone()]);
        }
        format!(
            "{head}{} float ops:\n{}",
            self.float_ops.len(),
            table(&rows)
        )
    }
}

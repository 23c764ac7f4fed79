//! Execution of an IR graph.
//!
//! [`Plan`] validates a graph once (fact inference under the input shapes' bindings) and then
//! runs it any number of times. Each node's op evaluates its own reference semantics; values are
//! freed after their last use.
use mw_ir::infer::{infer_facts, Bindings};
use mw_ir::{Graph, IrError, Limits, OpError, ValueId};
use mw_tensor::Tensor;
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ExecError {
    #[error(transparent)]
    Ir(#[from] IrError),
    #[error("input `{name}`: {reason}")]
    Input { name: String, reason: String },
}

/// A graph ready to run: constants resolved, last uses known.
pub struct Plan {
    graph: Graph,
    limits: Limits,
    /// For each node, the value ids whose last reader it is.
    frees: Vec<Vec<usize>>,
}

impl Plan {
    /// Checks the graph (all facts infer with batch size 1) and prepares it.
    pub fn new(graph: Graph, limits: Limits) -> Result<Plan, ExecError> {
        infer_facts(&graph, &Bindings::default(), &limits)?;
        let mut last_use: HashMap<usize, usize> = HashMap::new();
        for (i, n) in graph.nodes.iter().enumerate() {
            for v in n.inputs.iter().flatten() {
                last_use.insert(v.0, i);
            }
        }
        let outputs: Vec<usize> = graph.outputs.iter().map(|v| v.0).collect();
        let mut frees = vec![Vec::new(); graph.nodes.len()];
        for (v, i) in last_use {
            if !outputs.contains(&v) && graph.values[v].konst.is_none() {
                frees[i].push(v);
            }
        }
        Ok(Plan {
            graph,
            limits,
            frees,
        })
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Runs the graph on `inputs` given in the order of the graph's inputs (initializer-backed
    /// inputs excluded). Returns the outputs in graph order.
    pub fn run(&self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, ExecError> {
        self.run_observed(inputs, &mut |_, _| {})
    }

    /// Like [`Plan::run`], and calls `observe(value, tensor)` for every graph input and every node
    /// output as soon as it is computed (calibration and per-layer comparisons read values here).
    pub fn run_observed(
        &self,
        inputs: Vec<Tensor>,
        observe: &mut dyn FnMut(ValueId, &Tensor),
    ) -> Result<Vec<Tensor>, ExecError> {
        let g = &self.graph;
        let mut slots: Vec<Option<Arc<Tensor>>> =
            g.values.iter().map(|v| v.konst.clone()).collect();
        let runtime_inputs: Vec<_> = g
            .inputs
            .iter()
            .filter(|id| g.value(**id).konst.is_none())
            .collect();
        if runtime_inputs.len() != inputs.len() {
            return Err(ExecError::Input {
                name: "<model>".into(),
                reason: format!(
                    "expects {} inputs, got {}",
                    runtime_inputs.len(),
                    inputs.len()
                ),
            });
        }
        for (&&id, t) in runtime_inputs.iter().zip(inputs) {
            self.check_input(id, &t)?;
            observe(id, &t);
            slots[id.0] = Some(Arc::new(t));
        }
        for (i, node) in g.nodes.iter().enumerate() {
            let ins: Vec<Option<&Tensor>> = node
                .inputs
                .iter()
                .map(|v| v.and_then(|v| slots[v.0].as_deref()))
                .collect();
            let err = |e: OpError| ExecError::Ir(IrError::node(&node.name, node.op.op_type(), e));
            let outs = node.op.eval(&ins).map_err(err)?;
            if outs.len() < node.outputs.len() {
                return Err(err(OpError::Shape("op returned too few outputs".into())));
            }
            for t in &outs {
                self.limits.check(t.dtype(), t.shape()).map_err(err)?;
            }
            for (&o, t) in node.outputs.iter().zip(outs) {
                observe(o, &t);
                slots[o.0] = Some(Arc::new(t));
            }
            for &v in &self.frees[i] {
                slots[v] = None;
            }
        }
        g.outputs
            .iter()
            .map(|o| {
                let t = slots[o.0].take().ok_or_else(|| ExecError::Input {
                    name: g.value(*o).name.clone(),
                    reason: "output was never computed".into(),
                })?;
                Ok(Arc::try_unwrap(t).unwrap_or_else(|a| (*a).clone()))
            })
            .collect()
    }

    fn check_input(&self, id: ValueId, t: &Tensor) -> Result<(), ExecError> {
        let v = self.graph.value(id);
        let bad = |reason: String| ExecError::Input {
            name: v.name.clone(),
            reason,
        };
        if let Some(dt) = v.dtype {
            if dt != t.dtype() {
                return Err(bad(format!(
                    "dtype {} given, model declares {dt}",
                    t.dtype()
                )));
            }
        }
        if let Some(shape) = &v.shape {
            let ok = shape.len() == t.rank()
                && shape.iter().zip(t.shape()).all(|(d, &n)| match d {
                    mw_ir::Dim::Fixed(f) => *f == n,
                    mw_ir::Dim::Symbol(_) => true,
                });
            if !ok {
                return Err(bad(format!(
                    "shape {:?} given, model declares {shape:?}",
                    t.shape()
                )));
            }
        }
        Ok(())
    }
}

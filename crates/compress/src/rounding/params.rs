//! Replacing constant node inputs (weights, biases) through one `mw_ir::rewrite` patch: each
//! touched node is rebuilt with the same op and outputs and the new constants as inputs.
use super::layers::Layer;
use super::RoundingError;
use mw_ir::rewrite::{apply, Patch};
use mw_ir::{build_op, BuildCtx, Graph, Node, NodeId, Value};
use mw_tensor::Tensor;
use std::collections::{BTreeMap, HashSet};

/// Input `input` of node `node` becomes the constant `tensor`.
#[derive(Clone, Debug)]
pub struct InputChange {
    pub node: NodeId,
    pub input: usize,
    pub tensor: Tensor,
}

impl Layer {
    /// The change that sets this layer's weight to the `[rows, cols]` matrix `m`.
    pub fn set_weight(&self, graph: &Graph, m: &[f32]) -> Result<InputChange, RoundingError> {
        Ok(InputChange {
            node: self.node,
            input: 1,
            tensor: self.weight_from_matrix(graph, m)?,
        })
    }

    /// The change that sets this layer's bias (adding one to a Conv or Gemm without).
    pub fn set_bias(&self, bias: &[f32]) -> Result<InputChange, RoundingError> {
        let slot = self.bias.ok_or_else(|| {
            self.err("no place for a bias (MatMul without a following Add)".into())
        })?;
        if bias.len() != self.rows {
            return Err(self.err(format!("{} bias values for {} rows", bias.len(), self.rows)));
        }
        Ok(InputChange {
            node: slot.node,
            input: slot.input,
            tensor: Tensor::from_vec(vec![self.rows], bias.to_vec())
                .map_err(|e| self.err(e.to_string()))?,
        })
    }
}

/// A copy of `graph` with the changes applied; new constants are named
/// `<node>__<tag><input>` (made unique). Node names, op attributes and outputs are unchanged.
pub fn replace_inputs(
    graph: &Graph,
    changes: Vec<InputChange>,
    tag: &str,
) -> Result<Graph, RoundingError> {
    let mut by_node: BTreeMap<NodeId, Vec<InputChange>> = BTreeMap::new();
    for c in changes {
        if c.node.0 >= graph.nodes.len() {
            return Err(RoundingError::Shape(format!("no node {}", c.node.0)));
        }
        by_node.entry(c.node).or_default().push(c);
    }
    let mut names: HashSet<String> = graph.values.iter().map(|v| v.name.clone()).collect();
    let mut patch = Patch::new(graph);
    for (id, list) in by_node {
        let old = graph.node(id);
        let mut inputs = old.inputs.clone();
        for c in list {
            let mut name = format!("{}__{tag}{}", old.name, c.input);
            let mut n = 1;
            while names.contains(&name) {
                name = format!("{}__{tag}{}_{n}", old.name, c.input);
                n += 1;
            }
            names.insert(name.clone());
            let v = patch.add_value(Value::constant(name, c.tensor));
            if inputs.len() <= c.input {
                inputs.resize(c.input + 1, None);
            }
            inputs[c.input] = Some(v);
        }
        let ctx = BuildCtx {
            opset: graph.meta.opset,
            n_inputs: inputs.len(),
            n_outputs: old.outputs.len(),
        };
        let op = build_op(old.op.op_type(), &old.op.attrs(), &ctx)
            .map_err(|e| RoundingError::Layer {
                layer: old.name.clone(),
                reason: e.to_string(),
            })?
            .ok_or_else(|| RoundingError::Layer {
                layer: old.name.clone(),
                reason: "op no longer registered".into(),
            })?;
        patch.new_nodes.push(Node {
            name: old.name.clone(),
            op,
            inputs,
            outputs: old.outputs.clone(),
        });
        patch.remove_nodes.push(id);
    }
    let mut g = graph.clone();
    apply(&mut g, patch)?;
    Ok(g)
}

use crate::{Dim, Op};
use mw_tensor::{DType, Tensor};
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ValueId(pub usize);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub usize);

/// A named value: a graph input, an initializer (`konst`), or a node output.
#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    pub name: String,
    /// Declared element type, when the model states it (always for inputs and initializers).
    pub dtype: Option<DType>,
    /// Declared shape, when the model states it.
    pub shape: Option<Vec<Dim>>,
    /// Initializer contents.
    pub konst: Option<Arc<Tensor>>,
}

impl Value {
    pub fn named(name: impl Into<String>) -> Value {
        Value {
            name: name.into(),
            dtype: None,
            shape: None,
            konst: None,
        }
    }

    pub fn constant(name: impl Into<String>, t: Tensor) -> Value {
        Value {
            name: name.into(),
            dtype: Some(t.dtype()),
            shape: Some(t.shape().iter().map(|&d| Dim::Fixed(d)).collect()),
            konst: Some(Arc::new(t)),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Node {
    pub name: String,
    pub op: Box<dyn Op>,
    /// `None` is an omitted optional input.
    pub inputs: Vec<Option<ValueId>>,
    pub outputs: Vec<ValueId>,
}

/// Model-level facts carried through import and export unchanged.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelMeta {
    pub ir_version: i64,
    /// Default-domain opset.
    pub opset: i64,
    /// Other (domain, version) imports, kept for export.
    pub other_opsets: Vec<(String, i64)>,
    pub producer_name: String,
    pub producer_version: String,
    pub graph_name: String,
    pub doc_string: String,
    pub metadata: Vec<(String, String)>,
}

/// A dataflow graph. Invariant: `nodes` is in topological order; every node input refers to a
/// graph input, an initializer or an output of an earlier node.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    pub meta: ModelMeta,
    pub values: Vec<Value>,
    pub nodes: Vec<Node>,
    pub inputs: Vec<ValueId>,
    pub outputs: Vec<ValueId>,
}

impl Graph {
    pub fn value(&self, id: ValueId) -> &Value {
        &self.values[id.0]
    }

    pub fn value_mut(&mut self, id: ValueId) -> &mut Value {
        &mut self.values[id.0]
    }

    pub fn add_value(&mut self, v: Value) -> ValueId {
        self.values.push(v);
        ValueId(self.values.len() - 1)
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.0]
    }

    /// Looks a value up by name (linear; build [`Graph::names`] for repeated look-ups).
    pub fn find_value(&self, name: &str) -> Option<ValueId> {
        self.values.iter().position(|v| v.name == name).map(ValueId)
    }

    pub fn names(&self) -> HashMap<&str, ValueId> {
        self.values
            .iter()
            .enumerate()
            .map(|(i, v)| (v.name.as_str(), ValueId(i)))
            .collect()
    }

    /// The node producing each value, if any.
    pub fn producers(&self) -> HashMap<ValueId, NodeId> {
        let mut m = HashMap::new();
        for (i, n) in self.nodes.iter().enumerate() {
            for &o in &n.outputs {
                m.insert(o, NodeId(i));
            }
        }
        m
    }

    /// The nodes reading each value, in node order.
    pub fn consumers(&self) -> HashMap<ValueId, Vec<NodeId>> {
        let mut m: HashMap<ValueId, Vec<NodeId>> = HashMap::new();
        for (i, n) in self.nodes.iter().enumerate() {
            for v in n.inputs.iter().flatten() {
                m.entry(*v).or_default().push(NodeId(i));
            }
        }
        m
    }

    /// Ids of values used by nodes or as graph inputs/outputs (initializers nobody reads excluded).
    pub fn live_values(&self) -> Vec<ValueId> {
        let mut live = vec![false; self.values.len()];
        for id in self.inputs.iter().chain(&self.outputs) {
            live[id.0] = true;
        }
        for n in &self.nodes {
            for v in n.inputs.iter().flatten().chain(&n.outputs) {
                live[v.0] = true;
            }
        }
        (0..self.values.len())
            .filter(|&i| live[i])
            .map(ValueId)
            .collect()
    }

    /// The initializers that nodes read, in value order.
    pub fn initializers(&self) -> Vec<ValueId> {
        self.live_values()
            .into_iter()
            .filter(|id| self.values[id.0].konst.is_some() && !self.inputs.contains(id))
            .collect()
    }
}

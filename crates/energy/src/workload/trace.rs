//! Graph helpers: which values are constant, which nodes are free (folded or pure views), and
//! tracing a value back through free nodes to what is stored.
use crate::precision::Precision;
use mw_ir::infer::Facts;
use mw_ir::{Graph, Node, ValueId};
use mw_tensor::Tensor;

/// Ops that only change how data is viewed, or (`DequantizeLinear`) are folded into consumers.
const VIEW_OPS: &[&str] = &[
    "Reshape",
    "Flatten",
    "Squeeze",
    "Unsqueeze",
    "Identity",
    "Dropout",
    "DequantizeLinear",
];

/// Ops fused into the layer whose output they read (single consumer): activations, batch
/// normalization, requantization.
const FUSIBLE_OPS: &[&str] = &[
    "Relu",
    "Clip",
    "LeakyRelu",
    "Sigmoid",
    "Tanh",
    "HardSigmoid",
    "HardSwish",
    "BatchNormalization",
    "QuantizeLinear",
];

pub(super) struct GraphInfo<'g> {
    pub graph: &'g Graph,
    pub facts: &'g Facts,
    /// Per value: known before running (initializer, or computed from constants only).
    pub constant: Vec<bool>,
    /// Per value: index of the producing node.
    pub producer: Vec<Option<usize>>,
    /// Per value: number of reading nodes (graph outputs count as one more).
    pub readers: Vec<usize>,
}

impl<'g> GraphInfo<'g> {
    pub fn new(graph: &'g Graph, facts: &'g Facts) -> GraphInfo<'g> {
        let n = graph.values.len();
        let mut constant: Vec<bool> = graph.values.iter().map(|v| v.konst.is_some()).collect();
        for &i in &graph.inputs {
            if graph.values[i.0].konst.is_none() {
                constant[i.0] = false;
            }
        }
        let mut producer = vec![None; n];
        let mut readers = vec![0usize; n];
        for (ni, node) in graph.nodes.iter().enumerate() {
            let all_const = node.inputs.iter().flatten().all(|v| constant[v.0]);
            for &o in &node.outputs {
                producer[o.0] = Some(ni);
                constant[o.0] = all_const;
            }
            for v in node.inputs.iter().flatten() {
                readers[v.0] += 1;
            }
        }
        for o in &graph.outputs {
            readers[o.0] += 1;
        }
        GraphInfo {
            graph,
            facts,
            constant,
            producer,
            readers,
        }
    }

    pub fn is_const(&self, v: ValueId) -> bool {
        self.constant[v.0]
    }

    /// Free nodes cost nothing at run time: constant folding or views.
    pub fn is_free(&self, node: &Node) -> bool {
        let all_const = node.outputs.iter().all(|o| self.constant[o.0]);
        all_const || VIEW_OPS.contains(&node.op.op_type())
    }

    /// Whether `node` may fuse into the layer producing its input.
    pub fn is_fusible(&self, node: &Node) -> bool {
        let op = node.op.op_type();
        if FUSIBLE_OPS.contains(&op) {
            return true;
        }
        // A bias: Add with exactly one non-constant operand.
        op == "Add"
            && node
                .inputs
                .iter()
                .flatten()
                .filter(|v| !self.is_const(**v))
                .count()
                == 1
    }

    /// The node's non-constant inputs.
    pub fn activation_inputs(&self, node: &Node) -> Vec<ValueId> {
        node.inputs
            .iter()
            .flatten()
            .copied()
            .filter(|v| !self.is_const(*v))
            .collect()
    }

    pub fn numel(&self, v: ValueId) -> u64 {
        self.facts[v.0].as_ref().map_or(0, |f| f.numel() as u64)
    }

    pub fn shape(&self, v: ValueId) -> &[usize] {
        self.facts[v.0].as_ref().map_or(&[], |f| f.shape.as_slice())
    }

    /// Precision of a value as it is held in memory: through views and `DequantizeLinear`, the
    /// type of what is stored (an int8 tensor behind a DQ is int8).
    pub fn stored_precision(&self, v: ValueId) -> Precision {
        let mut v = v;
        loop {
            let dtype = self.facts[v.0].as_ref().map(|f| f.dtype);
            match self.producer[v.0].map(|i| &self.graph.nodes[i]) {
                Some(node) if VIEW_OPS.contains(&node.op.op_type()) => {
                    match node.inputs.first().copied().flatten() {
                        Some(src) => v = src,
                        None => return dtype.map_or(Precision::Fp(32), Precision::of_dtype),
                    }
                }
                _ => return dtype.map_or(Precision::Fp(32), Precision::of_dtype),
            }
        }
    }

    /// The stored constant behind a constant value: follows input 0 of free nodes back to an
    /// initializer. Returns it with the `DequantizeLinear` met on the way (if any).
    pub fn stored_constant(&self, v: ValueId) -> Option<(ValueId, Option<&'g Node>)> {
        let mut v = v;
        let mut dq = None;
        for _ in 0..self.graph.nodes.len() + 1 {
            if self.graph.values[v.0].konst.is_some() {
                return Some((v, dq));
            }
            let node = &self.graph.nodes[self.producer[v.0]?];
            if node.op.op_type() == "DequantizeLinear" && dq.is_none() {
                dq = Some(node);
            }
            v = node.inputs.first().copied().flatten()?;
        }
        None
    }

    /// Initializers reachable backwards from `v` through constant nodes (all their inputs).
    pub fn initializers_behind(&self, v: ValueId, out: &mut Vec<ValueId>) {
        let mut stack = vec![v];
        let mut steps = 0;
        while let Some(v) = stack.pop() {
            steps += 1;
            if steps > 4 * self.graph.values.len() + 4 {
                return;
            }
            if self.graph.values[v.0].konst.is_some() {
                if !out.contains(&v) {
                    out.push(v);
                }
                continue;
            }
            if let Some(p) = self.producer[v.0] {
                stack.extend(self.graph.nodes[p].inputs.iter().flatten().copied());
            }
        }
    }
}

/// Elements of `q` equal to the zero point (`zp` scalar, or one per index along `axis`).
pub(super) fn count_zeros(q: &Tensor, zp: Option<&Tensor>, axis: usize) -> u64 {
    let values = q.to_f64_vec();
    let zps = zp.map(Tensor::to_f64_vec).unwrap_or_default();
    match zps.len() {
        0 => values.iter().filter(|x| **x == 0.0).count() as u64,
        1 => values.iter().filter(|x| **x == zps[0]).count() as u64,
        n => {
            let shape = q.shape();
            if axis >= shape.len() || shape[axis] != n {
                return values.iter().filter(|x| **x == 0.0).count() as u64;
            }
            let inner: usize = shape[axis + 1..].iter().product();
            values
                .iter()
                .enumerate()
                .filter(|(i, x)| **x == zps[(i / inner.max(1)) % n])
                .count() as u64
        }
    }
}

//! The weighted layers of a float graph seen as `[rows, cols]` weight matrices: Conv (any
//! group; row = output channel, cols = `Cin/g · kh · kw`, each row reads the input channels of its
//! group), Gemm (`alpha = beta = 1`, no `transA`) and MatMul with a constant rank-2 weight
//! (`[K, N]` transposed to `[N, K]`). Each layer also knows where its bias lives: Conv/Gemm input
//! 2, or for MatMul the constant operand of the single Add that follows it.
use super::RoundingError;
use mw_ir::ops::nn::Conv;
use mw_ir::{Attr, Graph, NodeId, ValueId};
use mw_tensor::Tensor;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum LayerKind {
    Conv,
    /// Gemm with `transB = 1` (weight stored `[N, K]`) or `transB = 0` (`[K, N]`).
    Gemm {
        trans_b: bool,
    },
    MatMul,
}

/// Where a layer's bias is (or may be added): input `input` of node `node`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BiasSlot {
    pub node: NodeId,
    pub input: usize,
    /// The constant there now; `None` when the layer has no bias yet (Conv and Gemm only).
    pub value: Option<ValueId>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Layer {
    pub node: NodeId,
    pub name: String,
    pub kind: LayerKind,
    /// The layer's data input (node input 0).
    pub input: ValueId,
    pub weight: ValueId,
    /// Output channels.
    pub rows: usize,
    /// Reduction length of one row.
    pub cols: usize,
    /// Weights per input channel in a row: the Conv kernel's taps `Πk` (1 otherwise), so a row
    /// holds `cols / taps` input channels.
    pub taps: usize,
    /// Conv groups (1 otherwise); rows `[g·rows/groups, (g+1)·rows/groups)` read group `g`.
    pub groups: usize,
    pub bias: Option<BiasSlot>,
}

/// The graph's weighted layers in node order, and the candidates left out with the reason.
pub fn find_layers(graph: &Graph) -> (Vec<Layer>, Vec<(String, String)>) {
    let mut layers = Vec::new();
    let mut skipped = Vec::new();
    for i in 0..graph.nodes.len() {
        let node = graph.node(NodeId(i));
        if !matches!(node.op.op_type(), "Conv" | "Gemm" | "MatMul") {
            continue;
        }
        match layer(graph, NodeId(i)) {
            Ok(l) => layers.push(l),
            Err(why) => skipped.push((node.name.clone(), why)),
        }
    }
    (layers, skipped)
}

fn konst(graph: &Graph, v: Option<ValueId>) -> Option<&Tensor> {
    graph.value(v?).konst.as_deref()
}

fn layer(graph: &Graph, id: NodeId) -> Result<Layer, String> {
    let node = graph.node(id);
    let input = node
        .inputs
        .first()
        .copied()
        .flatten()
        .ok_or("no data input")?;
    let weight = node
        .inputs
        .get(1)
        .copied()
        .flatten()
        .ok_or("no weight input")?;
    let w = konst(graph, Some(weight)).ok_or("its weight is not a constant")?;
    if w.as_slice::<f32>().is_err() {
        return Err(format!("its weight is {:?}, not f32", w.dtype()));
    }
    let shape = w.shape();
    let attrs = node.op.attrs();
    let int = |k: &str, d: i64| match attrs.get(k) {
        Some(Attr::Int(v)) => *v,
        _ => d,
    };
    let float = |k: &str| match attrs.get(k) {
        Some(Attr::Float(v)) => *v,
        _ => 1.0,
    };
    let slot = |i: usize| -> Result<BiasSlot, String> {
        let value = node.inputs.get(i).copied().flatten();
        if value.is_some() && konst(graph, value).is_none() {
            return Err("its bias is not a constant".into());
        }
        Ok(BiasSlot {
            node: id,
            input: i,
            value,
        })
    };
    let taps = if node.op.op_type() == "Conv" {
        shape.iter().skip(2).product()
    } else {
        1
    };
    let (kind, rows, cols, groups, bias) = match node.op.op_type() {
        "Conv" => {
            let conv = node
                .op
                .as_any()
                .downcast_ref::<Conv>()
                .ok_or("Conv op of an unknown type")?;
            let groups = usize::try_from(conv.group).map_err(|_| "bad group")?;
            if shape.len() < 3 || shape[0] % groups.max(1) != 0 {
                return Err(format!("weight {shape:?} with group {groups}"));
            }
            let cols = shape[1..].iter().product();
            (LayerKind::Conv, shape[0], cols, groups, Some(slot(2)?))
        }
        "Gemm" => {
            if int("transA", 0) != 0 || float("alpha") != 1.0 || float("beta") != 1.0 {
                return Err("Gemm with transA or alpha, beta ≠ 1".into());
            }
            let trans_b = int("transB", 0) != 0;
            let [a, b] = shape else {
                return Err(format!("Gemm weight {shape:?} is not a matrix"));
            };
            let (rows, cols) = if trans_b { (*a, *b) } else { (*b, *a) };
            (LayerKind::Gemm { trans_b }, rows, cols, 1, Some(slot(2)?))
        }
        _ => {
            let [k, n] = shape else {
                return Err(format!("MatMul weight {shape:?} is not a matrix"));
            };
            (LayerKind::MatMul, *n, *k, 1, matmul_bias(graph, id, *n))
        }
    };
    if let Some(BiasSlot { value: Some(v), .. }) = bias {
        let b = konst(graph, Some(v)).ok_or("bias is not constant")?;
        if b.as_slice::<f32>().map(|s| s.len()).ok() != Some(rows) {
            return Err(format!("bias {:?} for {rows} outputs", b.shape()));
        }
    }
    Ok(Layer {
        node: id,
        name: node.name.clone(),
        kind,
        input,
        weight,
        rows,
        cols,
        taps,
        groups,
        bias,
    })
}

/// The constant `[n]` operand of the only Add reading a MatMul's output.
fn matmul_bias(graph: &Graph, id: NodeId, n: usize) -> Option<BiasSlot> {
    let out = *graph.node(id).outputs.first()?;
    if graph.outputs.contains(&out) {
        return None;
    }
    let consumers = graph.consumers();
    let [add] = consumers.get(&out)?.as_slice() else {
        return None;
    };
    let node = graph.node(*add);
    if node.op.op_type() != "Add" {
        return None;
    }
    let (i, other) = node
        .inputs
        .iter()
        .enumerate()
        .find(|(_, v)| **v != Some(out))?;
    let t = konst(graph, *other)?;
    (t.shape() == [n] && t.as_slice::<f32>().is_ok()).then_some(BiasSlot {
        node: *add,
        input: i,
        value: *other,
    })
}

impl Layer {
    /// Rows per group.
    pub fn rows_per_group(&self) -> usize {
        self.rows / self.groups.max(1)
    }

    /// The weight as a row-major `[rows, cols]` matrix.
    pub fn matrix(&self, graph: &Graph) -> Result<Vec<f32>, RoundingError> {
        let w = self.weight_tensor(graph)?;
        let data = w.as_slice::<f32>().map_err(|e| self.err(e.to_string()))?;
        Ok(if self.stored_transposed() {
            transpose(data, self.cols, self.rows)
        } else {
            data.to_vec()
        })
    }

    /// A `[rows, cols]` matrix back in the weight's stored shape.
    pub fn weight_from_matrix(&self, graph: &Graph, m: &[f32]) -> Result<Tensor, RoundingError> {
        if m.len() != self.rows * self.cols {
            return Err(self.err(format!(
                "{} values for {}×{}",
                m.len(),
                self.rows,
                self.cols
            )));
        }
        let shape = self.weight_tensor(graph)?.shape().to_vec();
        let data = if self.stored_transposed() {
            transpose(m, self.rows, self.cols)
        } else {
            m.to_vec()
        };
        Tensor::from_vec(shape, data).map_err(|e| self.err(e.to_string()))
    }

    /// The bias per output row (zeros when the layer has none).
    pub fn bias_values(&self, graph: &Graph) -> Result<Vec<f32>, RoundingError> {
        match self.bias.and_then(|b| b.value) {
            None => Ok(vec![0.0; self.rows]),
            Some(v) => konst(graph, Some(v))
                .ok_or_else(|| self.err("bias is not constant".into()))?
                .as_slice::<f32>()
                .map(|s| s.to_vec())
                .map_err(|e| self.err(e.to_string())),
        }
    }

    fn weight_tensor<'g>(&self, graph: &'g Graph) -> Result<&'g Tensor, RoundingError> {
        konst(graph, Some(self.weight)).ok_or_else(|| self.err("weight is not constant".into()))
    }

    fn stored_transposed(&self) -> bool {
        matches!(
            self.kind,
            LayerKind::MatMul | LayerKind::Gemm { trans_b: false }
        )
    }

    pub(crate) fn err(&self, reason: String) -> RoundingError {
        RoundingError::Layer {
            layer: self.name.clone(),
            reason,
        }
    }
}

/// `[r, c]` row-major → `[c, r]`.
fn transpose(m: &[f32], r: usize, c: usize) -> Vec<f32> {
    let mut t = vec![0f32; m.len()];
    for i in 0..r {
        for j in 0..c {
            t[j * r + i] = m[i * c + j];
        }
    }
    t
}

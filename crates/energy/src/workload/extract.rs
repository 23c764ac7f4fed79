//! Derivation of a [`ModelWorkload`] from a graph: layers are anchor nodes with the activations,
//! bias adds, batch norms and requantizations that follow them fused in; views and
//! `DequantizeLinear` are free; constant subgraphs are folded.
use super::trace::{count_zeros, GraphInfo};
use super::{ActivationInput, GemmShape, LayerWorkload, ModelWorkload, WeightTensor};
use crate::precision::Precision;
use crate::EnergyError;
use mw_ir::infer::{infer_facts, Bindings};
use mw_ir::{Fact, Graph, Limits, Node, ValueId};
use std::collections::{HashMap, HashSet};

impl ModelWorkload {
    /// The workload of `graph` at batch size 1 (symbolic dimensions bound to 1).
    pub fn from_graph(graph: &Graph) -> Result<ModelWorkload, EnergyError> {
        let facts = infer_facts(graph, &Bindings::default(), &Limits::default())?;
        let info = GraphInfo::new(graph, &facts);
        let mut b = Builder {
            info: &info,
            layers: Vec::new(),
            origin: HashMap::new(),
            charged: HashSet::new(),
        };
        for node in &graph.nodes {
            b.visit(node);
        }
        let layers = b.layers;
        let peak_activation_bits = peak_activation_bits(&layers);
        Ok(ModelWorkload {
            layers,
            peak_activation_bits,
        })
    }
}

struct Builder<'a, 'g> {
    info: &'a GraphInfo<'g>,
    layers: Vec<LayerWorkload>,
    /// Activation value → producing layer (`None`: a graph input).
    origin: HashMap<ValueId, Option<usize>>,
    /// Initializers already charged to a layer.
    charged: HashSet<ValueId>,
}

impl Builder<'_, '_> {
    fn visit(&mut self, node: &Node) {
        let info = self.info;
        let acts = info.activation_inputs(node);
        if info.is_free(node) {
            let from = acts
                .first()
                .and_then(|a| self.origin.get(a).copied().flatten());
            for &o in &node.outputs {
                self.origin.insert(o, from);
            }
            return;
        }
        if info.is_fusible(node) && acts.len() == 1 {
            if let Some(l) = self.fusion_target(acts[0]) {
                self.fuse(l, node);
                return;
            }
        }
        self.anchor(node, &acts);
    }

    /// The layer `a` is the current output of, if `node` reading it may fuse there.
    fn fusion_target(&self, a: ValueId) -> Option<usize> {
        let l = self.origin.get(&a).copied().flatten()?;
        let layer = &self.layers[l];
        let is_tail = self.info.graph.values[a.0].name == layer.output_name;
        (is_tail && self.info.readers[a.0] == 1).then_some(l)
    }

    fn input_facts<'f>(&'f self, node: &Node) -> (Vec<Option<&'f Fact>>, Vec<Fact>) {
        let ins = node
            .inputs
            .iter()
            .map(|v| v.and_then(|v| self.info.facts[v.0].as_ref()))
            .collect();
        let outs = node
            .outputs
            .iter()
            .filter_map(|o| self.info.facts[o.0].clone())
            .collect();
        (ins, outs)
    }

    fn anchor(&mut self, node: &Node, acts: &[ValueId]) {
        let info = self.info;
        let op_type = node.op.op_type();
        let (ins, outs) = self.input_facts(node);
        let cost = if outs.len() == node.outputs.len() && !outs.is_empty() {
            node.op.cost(&ins, &outs)
        } else {
            mw_ir::Cost::default()
        };
        let inputs: Vec<ActivationInput> = acts
            .iter()
            .map(|&a| ActivationInput {
                name: info.graph.values[a.0].name.clone(),
                from: self.origin.get(&a).copied().flatten(),
                elements: info.numel(a),
                precision: info.stored_precision(a),
            })
            .collect();
        let activation_precision = inputs
            .iter()
            .map(|i| i.precision)
            .reduce(Precision::join)
            .unwrap_or(Precision::Fp(32));
        let out = node.outputs[0];
        let weight_input = self.weight_input(node);
        let macs = match cost.macs {
            0 => fallback_macs(op_type, info, acts.first().copied(), weight_input, out),
            m => m,
        };
        let mut weights = None;
        let mut param_bits = 0;
        if macs > 0 {
            if let Some(w) = weight_input {
                weights = self.weight_tensor(w);
            }
        }
        for v in node.inputs.iter().flatten().filter(|v| info.is_const(**v)) {
            param_bits += self.charge(*v, weights.as_ref().map(|w| w.name.as_str()));
        }
        let gemm = (macs > 0).then(|| {
            let x = acts.first().map_or(&[][..], |a| info.shape(*a));
            let w = weight_input.map(|w| info.shape(w));
            gemm_shape(op_type, macs, x, w, info.shape(out))
        });
        let lowered = op_type.starts_with("QLinear") || op_type.starts_with("MwQ");
        let output_elements = info.numel(out);
        let index = self.layers.len();
        self.layers.push(LayerWorkload {
            name: node.name.clone(),
            op_type: op_type.to_string(),
            fused: Vec::new(),
            macs,
            gemm,
            weights,
            param_bits,
            elementwise_ops: cost.elementwise,
            requant_ops: if lowered { output_elements } else { 0 },
            inputs,
            activation_precision,
            output_name: info.graph.values[out.0].name.clone(),
            output_elements,
            output_precision: info.stored_precision(out),
        });
        for &o in &node.outputs {
            self.origin.insert(o, Some(index));
        }
    }

    fn fuse(&mut self, l: usize, node: &Node) {
        let info = self.info;
        let (ins, outs) = self.input_facts(node);
        let cost = if outs.is_empty() {
            mw_ir::Cost::default()
        } else {
            node.op.cost(&ins, &outs)
        };
        let mut params = 0;
        for v in node.inputs.iter().flatten().filter(|v| info.is_const(**v)) {
            params += self.charge(*v, None);
        }
        let out = node.outputs[0];
        let layer = &mut self.layers[l];
        let integer = !layer.required_precision().is_float();
        let op = node.op.op_type();
        match op {
            "QuantizeLinear" if integer => layer.requant_ops += info.numel(out),
            // Clamping and folded batch norms are part of an integer requantization.
            "Relu" | "Clip" | "BatchNormalization" if integer => {}
            _ => layer.elementwise_ops += cost.elementwise,
        }
        layer.param_bits += params;
        layer.fused.push(op.to_string());
        layer.output_name = info.graph.values[out.0].name.clone();
        layer.output_elements = info.numel(out);
        layer.output_precision = info.stored_precision(out);
        for &o in &node.outputs {
            self.origin.insert(o, Some(l));
        }
    }

    /// The constant input holding a MAC layer's weights: the one of largest rank (>= 2), then
    /// most elements.
    fn weight_input(&self, node: &Node) -> Option<ValueId> {
        node.inputs
            .iter()
            .flatten()
            .copied()
            .filter(|v| self.info.is_const(*v) && self.info.shape(*v).len() >= 2)
            .max_by_key(|v| (self.info.shape(*v).len(), self.info.numel(*v)))
    }

    fn weight_tensor(&mut self, w: ValueId) -> Option<WeightTensor> {
        let info = self.info;
        let (init, dq) = info.stored_constant(w)?;
        let value = &info.graph.values[init.0];
        let t = value.konst.as_deref()?;
        let (zp, axis) = match dq {
            Some(dq) => {
                let zp = dq.inputs.get(2).copied().flatten().and_then(|z| {
                    let (zi, _) = info.stored_constant(z)?;
                    info.graph.values[zi.0].konst.as_deref()
                });
                let axis = dq.op.attrs().int_or("axis", 1).unwrap_or(1);
                let axis = if axis < 0 {
                    axis + t.rank() as i64
                } else {
                    axis
                };
                (zp, axis.max(0) as usize)
            }
            None => (None, 0),
        };
        let precision = weight_precision(t);
        let elements = t.len() as u64;
        self.charged.insert(init);
        Some(WeightTensor {
            name: value.name.clone(),
            elements,
            precision,
            stored_bits: elements * precision.bits() as u64,
            zeros: count_zeros(t, zp, axis),
        })
    }

    /// Bits of the initializers behind `v` not yet charged to any layer (the weight itself is
    /// charged by [`Self::weight_tensor`]).
    fn charge(&mut self, v: ValueId, weight: Option<&str>) -> u64 {
        let mut inits = Vec::new();
        self.info.initializers_behind(v, &mut inits);
        let mut bits = 0;
        for i in inits {
            let value = &self.info.graph.values[i.0];
            if Some(value.name.as_str()) == weight || !self.charged.insert(i) {
                continue;
            }
            if let Some(t) = value.konst.as_deref() {
                bits += t.len() as u64 * element_bits(t.dtype()) as u64;
            }
        }
        bits
    }
}

/// Bits of one stored element: 4 for INT4/UINT4 (packed two per byte), else its precision.
fn element_bits(dtype: mw_tensor::DType) -> u32 {
    match dtype {
        mw_tensor::DType::I4 | mw_tensor::DType::U4 => 4,
        d => Precision::of_dtype(d).bits(),
    }
}

/// The precision of stored weight values: their element type's (INT4: 4 bits), narrowed for
/// signed codes of fewer levels — `{-1, +1}` (binary: 1 bit) and `{-1, 0, 1}` (ternary: 2
/// bits), the exact values binary and 2-bit weights are exported as inside INT4/INT8 tensors.
fn weight_precision(t: &mw_tensor::Tensor) -> Precision {
    use mw_tensor::DType;
    let dtype = t.dtype();
    if !matches!(dtype, DType::I4 | DType::I8) {
        return match dtype {
            DType::U4 => Precision::Int(4),
            d => Precision::of_dtype(d),
        };
    }
    let values = t.to_i64_vec().unwrap_or_default();
    let bits = if !values.is_empty() && values.iter().all(|&x| x == -1 || x == 1) {
        1
    } else if values.iter().all(|&x| (-1..=1).contains(&x)) {
        2
    } else {
        element_bits(dtype)
    };
    Precision::Int(bits)
}

/// MACs of integer ops whose `Op::cost` reports none, from standard ONNX layouts.
fn fallback_macs(
    op_type: &str,
    info: &GraphInfo,
    x: Option<ValueId>,
    w: Option<ValueId>,
    out: ValueId,
) -> u64 {
    let out_n = info.numel(out);
    match (op_type, w) {
        ("QLinearConv" | "ConvInteger", Some(w)) => {
            out_n * info.shape(w).iter().skip(1).product::<usize>() as u64
        }
        ("QLinearMatMul" | "MatMulInteger", _) => {
            out_n * x.and_then(|x| info.shape(x).last().copied()).unwrap_or(0) as u64
        }
        _ => 0,
    }
}

/// The grouped-GEMM view of a MAC layer; falls back to one product of `out` positions by a
/// reduction of `macs / out` when the shapes do not decompose exactly.
fn gemm_shape(
    op_type: &str,
    macs: u64,
    x: &[usize],
    w: Option<&[usize]>,
    out: &[usize],
) -> GemmShape {
    let out_n: u64 = out.iter().product::<usize>() as u64;
    let exact = |g: GemmShape| (g.macs() == macs).then_some(g);
    let conv = w.filter(|w| w.len() >= 3 && x.len() >= 2 && op_type != "ConvTranspose");
    let shaped = match conv {
        Some(w) => {
            let (m, per_group_in) = (w[0] as u64, w[1] as u64);
            let groups = (x[1] as u64).checked_div(per_group_in).unwrap_or(0);
            (groups > 0 && m % groups == 0 && m > 0).then(|| GemmShape {
                groups,
                positions: out_n / m,
                reduction: w[1..].iter().product::<usize>() as u64,
                channels: m / groups,
            })
        }
        None => out
            .last()
            .filter(|n| **n > 0 && out_n > 0)
            .map(|&n| GemmShape {
                groups: 1,
                positions: out_n / n as u64,
                reduction: macs / out_n,
                channels: n as u64,
            }),
    };
    shaped.and_then(exact).unwrap_or(GemmShape {
        groups: 1,
        positions: out_n.max(1),
        reduction: macs.div_ceil(out_n.max(1)),
        channels: 1,
    })
}

/// Peak of activations alive at once: a layer's output lives from its layer to its last reader
/// (to the end when nothing reads it); graph inputs from the start to their last reader.
pub(super) fn peak_activation_bits(layers: &[LayerWorkload]) -> u64 {
    let n = layers.len();
    // (first, last, bits) per tensor.
    let mut tensors: Vec<(usize, usize, u64)> = Vec::new();
    let mut last_reader = vec![None::<usize>; n];
    let mut graph_inputs: HashMap<&str, (usize, u64)> = HashMap::new();
    for (i, l) in layers.iter().enumerate() {
        for input in &l.inputs {
            match input.from {
                Some(p) if p < n => last_reader[p] = Some(i),
                Some(_) => {}
                None => {
                    let e = graph_inputs.entry(&input.name).or_insert((i, input.bits()));
                    e.0 = i;
                }
            }
        }
    }
    for (i, l) in layers.iter().enumerate() {
        tensors.push((
            i,
            last_reader[i].unwrap_or(n.saturating_sub(1)),
            l.output_bits(),
        ));
    }
    for (last, bits) in graph_inputs.into_values() {
        tensors.push((0, last, bits));
    }
    (0..n)
        .map(|i| {
            tensors
                .iter()
                .filter(|(f, l, _)| *f <= i && i <= *l)
                .map(|t| t.2)
                .sum::<u64>()
        })
        .max()
        .unwrap_or(0)
}

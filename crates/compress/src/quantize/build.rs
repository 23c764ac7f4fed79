//! Builds the QDQ graph with one [`mw_ir::rewrite::Patch`].
//!
//! Layout (QUANT_DESIGN.md): every activation tensor read or produced by a quantized layer gets
//! one `QuantizeLinear → DequantizeLinear` pair right after its producer; quantized layers read
//! the dequantized value, weights through `DequantizeLinear(<W>_q int8, scale, zp 0, axis)` and
//! biases through `DequantizeLinear(<B>_q int32, s_x·s_w, zp 0, axis 0)`. A float layer reads the
//! dequantized value when its producer is quantized (the value exists only in int8) and the float
//! value otherwise.
//!
//! Names, for a float tensor `t`: `t_q` (QuantizeLinear output), `t_dq` (DequantizeLinear output),
//! `t_scale`, `t_zp`; nodes `t_QuantizeLinear`, `t_DequantizeLinear`. A graph output keeps its name
//! on the final DequantizeLinear output; the float value feeding its QuantizeLinear becomes
//! `t_float`. Weights: `W_q`, `W_scale`, `W_zp`, `W_dq`; biases likewise. A name already taken
//! gets a `_2`, `_3`... suffix.
use super::layers::{layer_of_node, Layer};
use super::params::{LayerWeights, QTensor};
use super::weights::{Granularity, QWeights};
use super::QuantizeError;
use crate::calibrate::QParams;
use mw_ir::rewrite::{apply, Patch};
use mw_ir::{build_op, Attr, Attrs, BuildCtx, DType, Graph, IrError, Node, Value, ValueId};
use mw_tensor::Tensor;
use std::collections::{HashMap, HashSet};

/// What the builder needs: the float graph, its layers and the parameters.
pub(crate) struct Parts<'a> {
    pub graph: &'a Graph,
    pub layers: &'a [Layer],
    pub tensors: &'a [Option<QTensor>],
    pub weights: &'a [Option<LayerWeights>],
    /// What cross-layer equalization did to the float graph, when it ran.
    pub equalization: Option<&'a crate::rounding::EqualizeReport>,
}

/// The QDQ graph, and for each float value with a Q/DQ pair the ids of its `_q` and dequantized
/// values in the new graph (value ids of the float graph are unchanged).
pub(crate) struct Built {
    pub graph: Graph,
    pub quantized: HashMap<ValueId, (ValueId, ValueId)>,
}

struct Builder<'a> {
    g: &'a Graph,
    patch: Patch,
    names: HashSet<String>,
    opset: i64,
}

impl Builder<'_> {
    fn fresh(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut k = 2;
        while self.names.contains(&name) {
            name = format!("{base}_{k}");
            k += 1;
        }
        self.names.insert(name.clone());
        name
    }

    fn constant(&mut self, name: &str, t: Tensor) -> ValueId {
        let name = self.fresh(name);
        self.patch.add_value(Value::constant(name, t))
    }

    fn value(&mut self, name: &str) -> ValueId {
        let name = self.fresh(name);
        self.patch.add_value(Value::named(name))
    }

    fn node(
        &mut self,
        name: &str,
        op_type: &str,
        attrs: Attrs,
        inputs: Vec<ValueId>,
        output: ValueId,
    ) -> Result<(), QuantizeError> {
        let ctx = BuildCtx {
            opset: self.opset,
            n_inputs: inputs.len(),
            n_outputs: 1,
        };
        let op = build_op(op_type, &attrs, &ctx)
            .map_err(|e| IrError::node(name, op_type, e))?
            .ok_or_else(|| IrError::Graph(format!("{op_type} is not registered")))?;
        let name = self.fresh(name);
        self.patch.new_nodes.push(Node {
            name,
            op,
            inputs: inputs.into_iter().map(Some).collect(),
            outputs: vec![output],
        });
        Ok(())
    }

    /// Scale and zero-point constants for per-tensor parameters.
    fn qparams(&mut self, base: &str, qp: &QParams) -> Result<(ValueId, ValueId), QuantizeError> {
        let scale = self.constant(&format!("{base}_scale"), Tensor::scalar(qp.scale));
        let zp = match (qp.scheme.signed(), qp.scheme.bits()) {
            (true, 16) => Tensor::scalar(qp.zero_point as i16),
            (true, _) => Tensor::scalar(qp.zero_point as i8),
            (false, _) => Tensor::scalar(qp.zero_point as u8),
        };
        let zp = self.constant(&format!("{base}_zp"), zp);
        Ok((scale, zp))
    }

    /// `src → Q → DQ`; returns `(q, dq)`.
    fn activation(
        &mut self,
        base: &str,
        src: ValueId,
        qt: &QTensor,
        dq_value: ValueId,
    ) -> Result<ValueId, QuantizeError> {
        let (scale, zp) = self.qparams(base, &qt.qparams)?;
        let q = self.value(&format!("{base}_q"));
        self.node(
            &format!("{base}_QuantizeLinear"),
            "QuantizeLinear",
            Attrs::new(),
            vec![src, scale, zp],
            q,
        )?;
        self.node(
            &format!("{base}_DequantizeLinear"),
            "DequantizeLinear",
            Attrs::new(),
            vec![q, scale, zp],
            dq_value,
        )?;
        Ok(q)
    }

    /// `DequantizeLinear(q, scales, zeros, axis)` of a constant (per tensor or per `axis`);
    /// returns the dequantized value.
    fn dequantized_constant(
        &mut self,
        base: &str,
        q: Tensor,
        scales: &[f32],
        axis: usize,
        zero: Tensor,
    ) -> Result<ValueId, QuantizeError> {
        let (scale, attrs) = if scales.len() == 1 {
            (Tensor::scalar(scales[0]), Attrs::new())
        } else {
            let t = Tensor::from_vec(vec![scales.len()], scales.to_vec())
                .map_err(mw_ir::OpError::from)
                .map_err(|e| IrError::node(base, "DequantizeLinear", e))?;
            (t, Attrs::new().with("axis", Attr::Int(axis as i64)))
        };
        self.dequantize(base, q, scale, zero, attrs)
    }

    /// `DequantizeLinear(q, scale, zero, attrs)` of constants; returns the dequantized value.
    fn dequantize(
        &mut self,
        base: &str,
        q: Tensor,
        scale: Tensor,
        zero: Tensor,
        attrs: Attrs,
    ) -> Result<ValueId, QuantizeError> {
        let qv = self.constant(&format!("{base}_q"), q);
        let sv = self.constant(&format!("{base}_scale"), scale);
        let zv = self.constant(&format!("{base}_zp"), zero);
        let out = self.value(&format!("{base}_dq"));
        self.node(
            &format!("{base}_DequantizeLinear"),
            "DequantizeLinear",
            attrs,
            vec![qv, sv, zv],
            out,
        )?;
        Ok(out)
    }

    /// The weights' DequantizeLinear: per tensor, per output channel, or blocked along the
    /// input channels (`axis` = the input-channel axis, `block_size` = the group size).
    fn weights(
        &mut self,
        base: &str,
        w: &QWeights,
        out_axis: usize,
    ) -> Result<ValueId, QuantizeError> {
        let bad = |e: mw_tensor::TensorError| {
            IrError::node(base, "DequantizeLinear", mw_ir::OpError::from(e))
        };
        let zero = |shape: Vec<usize>| {
            let n = shape.iter().product();
            Tensor::narrow(w.q.dtype(), shape, mw_tensor::Data::I8(vec![0; n]))
        };
        match &w.granularity {
            Granularity::Grouped {
                in_axis,
                group_size,
                shape,
            } => {
                let scale = Tensor::from_vec(shape.clone(), w.scales.clone()).map_err(bad)?;
                let attrs = Attrs::new()
                    .with("axis", Attr::Int(*in_axis as i64))
                    .with("block_size", Attr::Int(*group_size as i64));
                let z = zero(shape.clone()).map_err(bad)?;
                self.dequantize(base, w.q.clone(), scale, z, attrs)
            }
            _ => {
                let n = w.scales.len();
                let z = zero(if n == 1 { vec![] } else { vec![n] }).map_err(bad)?;
                self.dequantized_constant(base, w.q.clone(), &w.scales, out_axis, z)
            }
        }
    }
}

fn zeros<T: mw_tensor::Element>(n: usize) -> Tensor {
    if n == 1 {
        Tensor::scalar(T::default())
    } else {
        Tensor::from_vec(vec![n], vec![T::default(); n]).expect("shape matches")
    }
}

/// The QDQ graph with exactly the layers flagged in `selected` quantized (others float).
pub(crate) fn build(parts: &Parts, selected: &[bool]) -> Result<Built, QuantizeError> {
    let g = parts.graph;
    let mut b = Builder {
        g,
        patch: Patch::new(g),
        names: g
            .values
            .iter()
            .map(|v| v.name.clone())
            .chain(g.nodes.iter().map(|n| n.name.clone()))
            .collect(),
        opset: g.meta.opset,
    };
    let of = layer_of_node(parts.layers, g.nodes.len());
    let producers = g.producers();
    let sel = |i: usize| selected.get(i).copied().unwrap_or(false);
    // Values that exist only in int8: outputs of quantized layers.
    let native = |v: ValueId| {
        producers
            .get(&v)
            .is_some_and(|p| sel(of[p.0]) && parts.layers[of[p.0]].output() == v)
    };
    let mut need: Vec<ValueId> = Vec::new();
    for (i, l) in parts.layers.iter().enumerate().filter(|(i, _)| sel(*i)) {
        for &v in l.inputs.iter().chain(std::iter::once(&l.outputs[0])) {
            if !need.contains(&v) {
                need.push(v);
            }
        }
        let _ = i;
    }
    let mut quantized = HashMap::new();
    let mut renamed: HashMap<ValueId, ValueId> = HashMap::new();
    for &v in &need {
        let qt = parts.tensors[v.0].as_ref().ok_or_else(|| {
            IrError::Value(
                b.g.value(v).name.clone(),
                "has no quantization parameters".into(),
            )
        })?;
        let fv = g.value(v).clone();
        let is_output = g.outputs.contains(&v) && native(v);
        let (src, dq) = if is_output {
            let src = b.value(&format!("{}_float", fv.name));
            renamed.insert(v, src);
            let dq = b.value(&format!("{}_dq", fv.name));
            let dqv = &mut b.patch.new_values[dq.0 - g.values.len()];
            dqv.dtype = Some(DType::F32);
            dqv.shape = fv.shape.clone();
            b.patch.redirect(v, dq);
            (src, dq)
        } else {
            (v, b.value(&format!("{}_dq", fv.name)))
        };
        let q = b.activation(&fv.name, src, qt, dq)?;
        quantized.insert(v, (q, dq));
    }
    let mut weight_dq: HashMap<ValueId, ValueId> = HashMap::new();
    let mut bias_dq: HashMap<usize, ValueId> = HashMap::new();
    for (i, l) in parts.layers.iter().enumerate().filter(|(i, _)| sel(*i)) {
        let (Some(wu), Some(lw)) = (l.weight, parts.weights[i].as_ref()) else {
            continue;
        };
        if let std::collections::hash_map::Entry::Vacant(e) = weight_dq.entry(wu.value) {
            let name = g.value(wu.value).name.clone();
            let dq = b.weights(&name, &lw.w, wu.axis)?;
            e.insert(dq);
        }
        if let (Some(bv), Some(qb)) = (l.bias, lw.bias.as_ref()) {
            let name = g.value(bv).name.clone();
            let n = qb.scales.len();
            let dq = b.dequantized_constant(&name, qb.q.clone(), &qb.scales, 0, zeros::<i32>(n))?;
            bias_dq.insert(i, dq);
        }
    }
    for (id, node) in g.nodes.iter().enumerate() {
        let li = of[id];
        let layer = &parts.layers[li];
        let inputs: Vec<Option<ValueId>> = node
            .inputs
            .iter()
            .map(|u| {
                let u = (*u)?;
                let dq = quantized.get(&u).map(|p| p.1);
                Some(if sel(li) {
                    if Some(u) == layer.weight.map(|w| w.value) {
                        weight_dq.get(&u).copied().unwrap_or(u)
                    } else if Some(u) == layer.bias {
                        bias_dq.get(&li).copied().unwrap_or(u)
                    } else if layer.inputs.contains(&u) {
                        dq.unwrap_or(u)
                    } else {
                        u
                    }
                } else if native(u) {
                    dq.unwrap_or(u)
                } else {
                    u
                })
            })
            .collect();
        let outputs: Vec<ValueId> = node
            .outputs
            .iter()
            .map(|o| renamed.get(o).copied().unwrap_or(*o))
            .collect();
        if inputs != node.inputs || outputs != node.outputs {
            b.patch.remove_nodes.push(mw_ir::NodeId(id));
            b.patch.new_nodes.push(Node {
                name: node.name.clone(),
                op: node.op.clone(),
                inputs,
                outputs,
            });
        }
    }
    let mut graph = g.clone();
    apply(&mut graph, b.patch)?;
    if needs_opset_21(parts, selected) {
        graph.meta.opset = graph.meta.opset.max(21);
    }
    Ok(Built { graph, quantized })
}

/// Whether the selected layers use what only opset 21 has: int4 weights, blocked scales or int16
/// activations.
pub(crate) fn needs_opset_21(parts: &Parts, selected: &[bool]) -> bool {
    let weights = parts
        .weights
        .iter()
        .zip(selected)
        .filter(|(_, s)| **s)
        .filter_map(|(w, _)| w.as_ref())
        .any(|lw| {
            lw.w.q.dtype() != DType::I8 || matches!(lw.w.granularity, Granularity::Grouped { .. })
        });
    let int16 = parts
        .tensors
        .iter()
        .flatten()
        .any(|t| t.qparams.scheme.bits() > 8);
    weights || int16
}

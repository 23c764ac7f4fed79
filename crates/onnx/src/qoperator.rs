//! QOperator export: an integer graph (the output of `mw_ir::passes::lower_qdq`) rewritten into
//! standard ONNX ops only — QLinearConv, QLinearMatMul, QuantizeLinear, DequantizeLinear, Clip,
//! Reshape, the float ops where ONNX has no integer one — no `com.microsoft` op and no `Mw…` op.
//!
//! | integer op                  | standard ops                                                     |
//! |-----------------------------|------------------------------------------------------------------|
//! | QLinearConv, QLinearMatMul  | themselves                                                       |
//! | MwQLinearConv (clamp)       | QLinearConv → Clip (on 8-bit values)                             |
//! | MwQGemm with bias           | Reshape `[-1, K, 1, 1]` → 1×1 QLinearConv (weights `[N, K, 1, 1]`, int32 bias) → Reshape → [Clip] |
//! | MwQGemm without bias        | QLinearMatMul → Clip                                             |
//! | MwQAvgPool, MwQGlobalAvgPool| depthwise QLinearConv with unit int8 weights and weight scale `1/count` (every window of the same count: no padding, or `count_include_pad`) → [Clip]; otherwise DequantizeLinear → AveragePool → QuantizeLinear |
//! | MwQSoftmax                  | DequantizeLinear → Softmax → QuantizeLinear                      |
//! | MwQAdd                      | DequantizeLinear ×2 → Add → QuantizeLinear → [Clip]              |
//! | MwQRequantize               | DequantizeLinear → QuantizeLinear → [Clip]                       |
//!
//! Each integer op's output value (name and id) is kept. The report lists the ops exported through
//! float (`untouched`, with the reason). All changes go through `mw_ir::rewrite`.
use crate::{save, OnnxError};
use mw_ir::infer::{infer_facts, Bindings, Facts};
use mw_ir::passes::{lower_qdq, PassReport};
use mw_ir::rewrite::{rewrite_to_fixpoint, Patch};
use mw_ir::{
    build_op, Attr, Attrs, BuildCtx, Graph, IrError, Limits, Node, NodeId, Value, ValueId,
};
use mw_tensor::{DType, Tensor};
use std::cell::RefCell;
use std::path::Path;

/// Lowers `graph`'s QDQ patterns (a no-op on an integer graph), rewrites it into standard ops and
/// writes it with [`crate::save`]. Returns what the rewrite exported through float.
pub fn save_qoperator(graph: &Graph, path: &Path) -> Result<PassReport, OnnxError> {
    let ir = |e: IrError| OnnxError::Ir {
        file: path.display().to_string(),
        source: Box::new(e),
    };
    let (lowered, _) = lower_qdq(graph).map_err(ir)?;
    let (q, report) = to_qoperator(&lowered).map_err(ir)?;
    save(&q, path)?;
    Ok(report)
}

/// Rewrites every `Mw…` op of `graph` into standard ONNX ops (see the module doc).
pub fn to_qoperator(graph: &Graph) -> Result<(Graph, PassReport), IrError> {
    let facts = infer_facts(graph, &Bindings::default(), &Limits::default())?;
    let mut g = graph.clone();
    let report = RefCell::new(PassReport {
        pass: "qoperator",
        ..Default::default()
    });
    let rule = |g: &Graph, id: NodeId| -> Result<Option<Patch>, IrError> {
        let node = g.node(id);
        if !node.op.op_type().starts_with("Mw") {
            return Ok(None);
        }
        let mut e = Emit::new(g, &facts);
        e.patch.remove_nodes.push(id);
        let float = e.convert(node)?;
        let mut r = report.borrow_mut();
        r.changed.push(node.name.clone());
        if let Some(why) = float {
            r.untouched.push((node.name.clone(), why));
        }
        Ok(Some(e.patch))
    };
    rewrite_to_fixpoint(&mut g, &[&rule])?;
    if let Some(n) = g.nodes.iter().find(|n| n.op.op_type().starts_with("Mw")) {
        return Err(IrError::node(
            &n.name,
            n.op.op_type(),
            mw_ir::OpError::Unsupported("no standard form".into()),
        ));
    }
    Ok((g, report.into_inner()))
}

/// The replacement of one node, built into a patch.
struct Emit<'g> {
    g: &'g Graph,
    facts: &'g Facts,
    patch: Patch,
    names: Vec<String>,
}

fn err(node: &Node, reason: impl Into<String>) -> IrError {
    IrError::node(
        &node.name,
        node.op.op_type(),
        mw_ir::OpError::Unsupported(reason.into()),
    )
}

/// Input `i` of `n`.
fn inp(n: &Node, i: usize) -> Result<ValueId, IrError> {
    n.inputs
        .get(i)
        .copied()
        .flatten()
        .ok_or_else(|| err(n, format!("input #{i} is missing")))
}

/// The stored-value clamp of a `Mw` op.
fn clamp_of(attrs: &Attrs) -> (Option<i64>, Option<i64>) {
    let get = |k: &str| match attrs.get(k) {
        Some(Attr::Int(v)) => Some(*v),
        _ => None,
    };
    (get("qmin"), get("qmax"))
}

/// `attrs` without the clamp (and, with `pool`, without the pooling-only attributes).
fn without(attrs: &Attrs, keys: &[&str]) -> Attrs {
    let mut a = attrs.clone();
    for k in keys {
        a.0.remove(*k);
    }
    a
}

impl<'g> Emit<'g> {
    fn new(g: &'g Graph, facts: &'g Facts) -> Self {
        Emit {
            g,
            facts,
            patch: Patch::new(g),
            names: Vec::new(),
        }
    }

    fn unique(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut k = 1;
        while self.g.find_value(&name).is_some() || self.names.contains(&name) {
            name = format!("{base}_{k}");
            k += 1;
        }
        self.names.push(name.clone());
        name
    }

    fn konst(&mut self, name: &str, t: Tensor) -> ValueId {
        let name = self.unique(name);
        self.patch.add_value(Value::constant(name, t))
    }

    fn value(&mut self, name: &str) -> ValueId {
        let name = self.unique(name);
        self.patch.add_value(Value::named(name))
    }

    fn node(
        &mut self,
        name: &str,
        op_type: &str,
        attrs: &Attrs,
        inputs: Vec<Option<ValueId>>,
        output: ValueId,
    ) -> Result<(), IrError> {
        let ctx = BuildCtx {
            opset: self.g.meta.opset,
            n_inputs: inputs.len(),
            n_outputs: 1,
        };
        let op = build_op(op_type, attrs, &ctx)
            .map_err(|e| IrError::node(name, op_type, e))?
            .ok_or_else(|| IrError::Graph(format!("{op_type} is not registered")))?;
        self.patch.new_nodes.push(Node {
            name: name.to_string(),
            op,
            inputs,
            outputs: vec![output],
        });
        Ok(())
    }

    fn shape(&self, n: &Node, v: ValueId) -> Result<Vec<usize>, IrError> {
        self.facts
            .get(v.0)
            .and_then(Option::as_ref)
            .map(|f| f.shape.clone())
            .ok_or_else(|| err(n, format!("`{}` has no known shape", self.g.value(v).name)))
    }

    fn dtype(&self, n: &Node, v: ValueId) -> Result<DType, IrError> {
        self.facts
            .get(v.0)
            .and_then(Option::as_ref)
            .map(|f| f.dtype)
            .ok_or_else(|| err(n, format!("`{}` has no known type", self.g.value(v).name)))
    }

    fn konst_of(&self, n: &Node, v: ValueId) -> Result<&'g Tensor, IrError> {
        self.g
            .value(v)
            .konst
            .as_deref()
            .or_else(|| self.facts.get(v.0)?.as_ref()?.konst.as_deref())
            .ok_or_else(|| err(n, format!("`{}` is not constant", self.g.value(v).name)))
    }

    /// The value the main op should write: `out` itself, or a new one clamped into `out` by an
    /// 8-bit Clip when the node has a clamp.
    fn clamped_output(&mut self, n: &Node, out: ValueId) -> Result<ValueId, IrError> {
        let (lo, hi) = clamp_of(&n.op.attrs());
        if lo.is_none() && hi.is_none() {
            return Ok(out);
        }
        let dtype = self.dtype(n, out)?;
        let bound = |v: i64| -> Tensor {
            match dtype {
                DType::U8 => Tensor::scalar(v.clamp(0, 255) as u8),
                _ => Tensor::scalar(v.clamp(-128, 127) as i8),
            }
        };
        let (tmin, tmax) = if dtype == DType::U8 {
            (0, 255)
        } else {
            (-128, 127)
        };
        let lo = self.konst(&format!("{}_clip_min", n.name), bound(lo.unwrap_or(tmin)));
        let hi = self.konst(&format!("{}_clip_max", n.name), bound(hi.unwrap_or(tmax)));
        let tmp = self.value(&format!("{}_unclipped", n.name));
        self.node(
            &format!("{}_clip", n.name),
            "Clip",
            &Attrs::new(),
            vec![Some(tmp), Some(lo), Some(hi)],
            out,
        )?;
        Ok(tmp)
    }

    /// Converts `n`; returns why it went through float, if it did.
    fn convert(&mut self, n: &Node) -> Result<Option<String>, IrError> {
        let out = *n.outputs.first().ok_or_else(|| err(n, "no output"))?;
        match n.op.op_type() {
            "MwQLinearConv" => {
                let dst = self.clamped_output(n, out)?;
                let attrs = without(&n.op.attrs(), &["qmin", "qmax"]);
                self.node(&n.name, "QLinearConv", &attrs, n.inputs.clone(), dst)?;
                Ok(None)
            }
            "MwQGemm" if n.inputs.get(8).copied().flatten().is_some() => {
                self.gemm_as_conv(n, out)?;
                Ok(None)
            }
            "MwQGemm" => {
                let dst = self.clamped_output(n, out)?;
                let mut ins = n.inputs.clone();
                ins.truncate(8);
                self.node(&n.name, "QLinearMatMul", &Attrs::new(), ins, dst)?;
                Ok(None)
            }
            "MwQAvgPool" | "MwQGlobalAvgPool" => self.avg_pool(n, out),
            "MwQSoftmax" => {
                let axis = n.op.attrs().get("axis").cloned().unwrap_or(Attr::Int(-1));
                let attrs = Attrs::new().with("axis", axis);
                self.through_float(n, out, "Softmax", &attrs, &[0], false)?;
                Ok(Some(
                    "Softmax: DequantizeLinear → Softmax → QuantizeLinear".into(),
                ))
            }
            "MwQAdd" => {
                self.through_float(n, out, "Add", &Attrs::new(), &[0, 3], true)?;
                Ok(Some(
                    "Add: DequantizeLinear → Add → QuantizeLinear (ONNX has no integer Add)".into(),
                ))
            }
            "MwQRequantize" => {
                self.through_float(n, out, "Identity", &Attrs::new(), &[0], true)?;
                Ok(Some(
                    "requantization: DequantizeLinear → QuantizeLinear".into(),
                ))
            }
            other => Err(err(n, format!("{other} has no standard ONNX form"))),
        }
    }

    /// DequantizeLinear of each 8-bit input at `at` (followed by its scale and zero point), then
    /// `op`, then QuantizeLinear with the node's last two parameter inputs, then [Clip].
    fn through_float(
        &mut self,
        n: &Node,
        out: ValueId,
        op: &str,
        attrs: &Attrs,
        at: &[usize],
        clamp: bool,
    ) -> Result<(), IrError> {
        let mut floats = Vec::with_capacity(at.len());
        for &i in at {
            let f = self.value(&format!("{}_in{i}_dequantized", n.name));
            let ins = vec![
                Some(inp(n, i)?),
                Some(inp(n, i + 1)?),
                n.inputs.get(i + 2).copied().flatten(),
            ];
            self.node(
                &format!("{}_in{i}_dequantize", n.name),
                "DequantizeLinear",
                &Attrs::new(),
                ins,
                f,
            )?;
            floats.push(Some(f));
        }
        let y = if op == "Identity" {
            floats[0].ok_or_else(|| err(n, "no input"))?
        } else {
            let y = self.value(&format!("{}_float", n.name));
            self.node(&format!("{}_float_op", n.name), op, attrs, floats, y)?;
            y
        };
        let k = at.last().copied().unwrap_or(0) + 3;
        let dst = if clamp {
            self.clamped_output(n, out)?
        } else {
            out
        };
        let ins = vec![
            Some(y),
            Some(inp(n, k)?),
            n.inputs.get(k + 1).copied().flatten(),
        ];
        self.node(
            &format!("{}_quantize", n.name),
            "QuantizeLinear",
            &Attrs::new(),
            ins,
            dst,
        )
    }

    /// MwQGemm with bias as Reshape → 1×1 QLinearConv → Reshape (→ Clip).
    fn gemm_as_conv(&mut self, n: &Node, out: ValueId) -> Result<(), IrError> {
        let a = inp(n, 0)?;
        let w = self.konst_of(n, inp(n, 3)?)?;
        let [k, cols] = *w.shape() else {
            return Err(err(n, format!("weights of shape {:?}", w.shape())));
        };
        let v = w.to_i64_vec().map_err(|e| err(n, e.to_string()))?;
        let mut t = vec![0i64; v.len()];
        for i in 0..k {
            for j in 0..cols {
                t[j * k + i] = v[i * cols + j];
            }
        }
        let w4 = Tensor::from_vec(vec![cols, k, 1, 1], t)
            .map_err(|e| err(n, e.to_string()))?
            .cast(w.dtype());
        let w4 = self.konst(&format!("{}_weights_nk11", n.name), w4);
        let a_shape = self.shape(n, a)?;
        let out_shape = self.shape(n, out)?;
        let shape4 = self.konst(
            &format!("{}_to_nchw", n.name),
            Tensor::from_vec(vec![4], vec![-1i64, k as i64, 1, 1])
                .map_err(|e| err(n, e.to_string()))?,
        );
        let mut back: Vec<i64> = out_shape.iter().map(|&d| d as i64).collect();
        if a_shape.len() >= 2 {
            back[0] = -1;
        }
        let back_t = Tensor::from_vec(vec![back.len()], back).map_err(|e| err(n, e.to_string()))?;
        let back = self.konst(&format!("{}_to_matrix", n.name), back_t);
        let a4 = self.value(&format!("{}_nchw", n.name));
        self.node(
            &format!("{}_reshape_in", n.name),
            "Reshape",
            &Attrs::new(),
            vec![Some(a), Some(shape4)],
            a4,
        )?;
        let y4 = self.value(&format!("{}_conv", n.name));
        let mut ins = n.inputs.clone();
        ins[0] = Some(a4);
        ins[3] = Some(w4);
        self.node(
            &n.name,
            "QLinearConv",
            &Attrs::new().with("group", Attr::Int(1)),
            ins,
            y4,
        )?;
        let dst = self.clamped_output(n, out)?;
        self.node(
            &format!("{}_reshape_out", n.name),
            "Reshape",
            &Attrs::new(),
            vec![Some(y4), Some(back)],
            dst,
        )
    }

    /// An average pool as a depthwise QLinearConv with unit weights when every window has the
    /// same count; otherwise through float.
    fn avg_pool(&mut self, n: &Node, out: ValueId) -> Result<Option<String>, IrError> {
        let x = inp(n, 0)?;
        let shape = self.shape(n, x)?;
        if shape.len() < 3 {
            return Err(err(n, format!("input of shape {shape:?}")));
        }
        let attrs = n.op.attrs();
        let global = n.op.op_type() == "MwQGlobalAvgPool";
        let kernel: Vec<i64> = match attrs.get("kernel_shape") {
            Some(Attr::Ints(k)) if !global => k.clone(),
            _ => shape[2..].iter().map(|&d| d as i64).collect(),
        };
        let include_pad = matches!(attrs.get("count_include_pad"), Some(Attr::Int(1)));
        let no_pads = match attrs.get("pads") {
            Some(Attr::Ints(p)) => p.iter().all(|&v| v == 0),
            _ => true,
        };
        let auto = matches!(attrs.get("auto_pad"), Some(Attr::String(s)) if s.starts_with("SAME"));
        if !(include_pad || (no_pads && !auto)) {
            let float_attrs = without(&attrs, &["qmin", "qmax"]);
            let op = if global {
                "GlobalAveragePool"
            } else {
                "AveragePool"
            };
            self.through_float(n, out, op, &float_attrs, &[0], true)?;
            return Ok(Some(
                "average pool with padding excluded from the count: DequantizeLinear → \
                 AveragePool → QuantizeLinear"
                    .into(),
            ));
        }
        let c = shape[1];
        let count: i64 = kernel.iter().product();
        let mut w_shape = vec![c, 1];
        w_shape.extend(kernel.iter().map(|&k| k as usize));
        let ones = vec![1i8; w_shape.iter().product()];
        let w = Tensor::from_vec(w_shape, ones).map_err(|e| err(n, e.to_string()))?;
        let w = self.konst(&format!("{}_unit_weights", n.name), w);
        let ws = self.konst(
            &format!("{}_weight_scale", n.name),
            Tensor::scalar(1.0f32 / count as f32),
        );
        let wz = self.konst(
            &format!("{}_weight_zero_point", n.name),
            Tensor::scalar(0i8),
        );
        let mut conv_attrs = without(&attrs, &["qmin", "qmax", "count_include_pad", "ceil_mode"]);
        conv_attrs.set("kernel_shape", Attr::Ints(kernel));
        conv_attrs.set("group", Attr::Int(c as i64));
        let ins = vec![
            Some(x),
            Some(inp(n, 1)?),
            n.inputs.get(2).copied().flatten(),
            Some(w),
            Some(ws),
            Some(wz),
            Some(inp(n, 3)?),
            n.inputs.get(4).copied().flatten(),
        ];
        let dst = self.clamped_output(n, out)?;
        self.node(&n.name, "QLinearConv", &conv_attrs, ins, dst)?;
        Ok(None)
    }
}

//! The QDQ patterns, each read backwards from one QuantizeLinear `Q` whose output becomes the
//! integer op's output (same value, same name):
//!
//! | pattern (→ `[Relu|Clip] → Q`)                        | integer op                         |
//! |------------------------------------------------------|------------------------------------|
//! | `Conv(DQ(x), DQ(W), [DQ(b)])`                        | QLinearConv / MwQLinearConv        |
//! | `MatMul(DQ(a), DQ(W))` [`→ Add(·, DQ(b))`]           | QLinearMatMul / MwQGemm            |
//! | `Gemm(DQ(a), DQ(W), [DQ(b)])` (α = β = 1, no transA) | QLinearMatMul / MwQGemm            |
//! | `AveragePool / GlobalAveragePool(DQ(x))`             | MwQAvgPool / MwQGlobalAvgPool      |
//! | `Add(DQ(a), DQ(b))` (any mix of i8/u8/i16)           | MwQAdd                             |
//! | `Softmax(DQ(x))` (no activation)                     | MwQSoftmax                         |
//! | `Concat(DQ(x1), DQ(x2), …)`                          | Concat (+ MwQRequantize per input) |
//! | `MaxPool / Reshape / Flatten / Transpose / Squeeze / Unsqueeze / Identity / Slice(DQ(x))` | the same op on 8-bit (+ MwQRequantize when parameters differ) |
//! | `DQ(x)` (a re-quantization)                          | MwQRequantize                      |
//!
//! DQ(x) is a per-tensor 8-bit or 16-bit activation; DQ(W) constant 8-bit or 4-bit weights
//! (4-bit kept as they are: the integer ops pack them) per tensor or per output channel, or
//! group-wise (a blocked DQ) for MatMul, Gemm and pointwise Conv, which become `MwQGroupedGemm`
//! (`patterns/grouped.rs`); a bias is a DequantizeLinear of an int32 constant (used as is when its scale is
//! `s_x · s_w`, rescaled otherwise) or a float constant (quantized here). The intermediate float
//! values must have no other reader. A fused activation becomes the `qmin`/`qmax` clamp unless the
//! output type's range implies it.
//!
//! 16-bit activations (A16) lower everywhere 8-bit ones do. Add, Concat, re-quantizations and
//! the data-movement ops take any mix of `i8`, `u8` and `i16` inputs and output: MwQAdd rescales
//! each input itself (`mw_kernels::int16::add` whenever a 16-bit tensor or two input types are
//! involved); Concat re-quantizes each input whose type or parameters differ from the output's
//! (MwQRequantize, any of the three types to any) and concatenates values of one type. What the
//! matcher does not accept as an activation (another dtype, per-channel activation parameters)
//! stays in float with the reason.
mod grouped;

use super::build::Builder;
use super::matcher::{clamp_of, input, Matcher, QTensor, QWeights, Why};
use crate::ops::elementwise::Softmax;
use crate::ops::quant::Clamp;
use crate::rewrite::Patch;
use crate::{Attr, Node, NodeId, ValueId};
use mw_tensor::{DType, Tensor};

/// Ops that move or select 8-bit values without arithmetic.
const MOVEMENT: &[&str] = &[
    "Flatten",
    "Identity",
    "MaxPool",
    "Reshape",
    "Slice",
    "Squeeze",
    "Transpose",
    "Unsqueeze",
];

/// A pattern replaced: the float op's node name and the patch.
pub(crate) struct Lowered {
    pub name: String,
    pub patch: Patch,
}

/// A pattern that did not match: the float op's node name and why.
pub(crate) type Miss = (String, Why);

fn miss(n: &Node) -> impl Fn(Why) -> Miss + '_ {
    move |why| (n.name.clone(), why)
}

/// Lowers the pattern ending at QuantizeLinear `q_id`; `Ok(None)` when `Q` quantizes a graph
/// input (the model's entry) or a value no node computes.
pub(crate) fn lower(m: &Matcher, q_id: NodeId) -> Result<Option<Lowered>, Miss> {
    let q = m.g.node(q_id);
    let x = input(q, 0).map_err(miss(q))?;
    let Some((first_id, first)) = m.producer(x) else {
        return Ok(None);
    };
    let (act, core_in) = m.activation(x).map_err(miss(first))?;
    let (core_id, core) = match act {
        None => (first_id, first),
        Some(_) => m
            .producer(core_in)
            .ok_or_else(|| miss(first)("its input is a float graph input".into()))?,
    };
    let out = m.quantized_output(q).map_err(miss(core))?;
    let mut b = Builder::new(m);
    b.patch.remove_nodes.push(q_id);
    if let Some((act_id, _)) = act {
        b.patch.remove_nodes.push(act_id);
    }
    if core.op.op_type() != "DequantizeLinear" {
        m.only_reader(core_in).map_err(miss(core))?;
        b.patch.remove_nodes.push(core_id);
    }
    let bounds = act.map(|(_, bounds)| bounds);
    // A re-quantization keeps its DequantizeLinear (other nodes may read it): name it after Q.
    let name = if core.op.op_type() == "DequantizeLinear" {
        q.name.clone()
    } else {
        core.name.clone()
    };
    let p = Pattern {
        m,
        core,
        name: name.clone(),
        out: &out,
        clamp: clamp_of(bounds, &out),
    };
    match core.op.op_type() {
        "Conv" => p.conv(&mut b),
        "MatMul" => p.matmul(&mut b, core, None),
        "Gemm" => p.gemm(&mut b),
        "Add" => p.add(&mut b),
        "AveragePool" => p.avg_pool(&mut b, "MwQAvgPool"),
        "GlobalAveragePool" => p.avg_pool(&mut b, "MwQGlobalAvgPool"),
        "Softmax" if bounds.is_none() => p.softmax(&mut b),
        "Softmax" => Err("an activation follows the Softmax".into()),
        "Concat" => p.concat(&mut b),
        "DequantizeLinear" => p.requantize(&mut b, core_in),
        t if MOVEMENT.contains(&t) => p.movement(&mut b),
        other => Err(format!("no integer lowering for {other}")),
    }
    .map_err(miss(core))?;
    Ok(Some(Lowered {
        name,
        patch: b.patch,
    }))
}

/// One pattern being lowered: its float op, the output `Q` and the fused clamp.
struct Pattern<'p, 'a> {
    m: &'p Matcher<'a>,
    core: &'a Node,
    /// The name of the integer node.
    name: String,
    out: &'p QTensor,
    clamp: Clamp,
}

/// `ONNX op` or its `Mw` fused form, depending on whether a clamp or bias is needed.
fn pick<'s>(plain: bool, onnx: &'s str, fused: &'s str) -> &'s str {
    if plain {
        onnx
    } else {
        fused
    }
}

impl<'p, 'a> Pattern<'p, 'a> {
    fn name(&self) -> &str {
        &self.name
    }

    /// `[value, scale, zero point]` of a quantized tensor (a zero created when absent).
    fn triple(&self, b: &mut Builder, t: &QTensor, hint: &str) -> [Option<ValueId>; 3] {
        let zp = b.zero_point(t.zero_point, t.dtype, hint);
        [Some(t.value), Some(t.scale), Some(zp)]
    }

    /// `[scale, zero point]` of the output.
    fn out_pair(&self, b: &mut Builder) -> [Option<ValueId>; 2] {
        let zp = b.zero_point(self.out.zero_point, self.out.dtype, self.name());
        [Some(self.out.scale), Some(zp)]
    }

    fn weights_triple(
        &self,
        b: &mut Builder,
        w: &QWeights,
        value: ValueId,
    ) -> [Option<ValueId>; 3] {
        let zp = b.zero_point(
            w.zero_point,
            w.tensor.dtype(),
            &format!("{}_w", self.name()),
        );
        [Some(value), Some(w.scale), Some(zp)]
    }

    fn conv(&self, b: &mut Builder) -> Result<(), Why> {
        if grouped::block_size(self.m, input(self.core, 1)?).is_some() {
            return self.grouped_conv(b);
        }
        let x = self.m.dequantized(input(self.core, 0)?)?;
        let w = self.m.weights(input(self.core, 1)?, 0)?;
        let m_out = *w.tensor.shape().first().ok_or("scalar weights")?;
        let bias = self.bias(b, self.core.inputs.get(2).copied().flatten(), &x, &w, m_out)?;
        let mut inputs: Vec<Option<ValueId>> = self.triple(b, &x, self.name()).to_vec();
        inputs.extend(self.weights_triple(b, &w, w.value));
        inputs.extend(self.out_pair(b));
        inputs.extend(bias.map(Some));
        let op = pick(self.clamp.is_none(), "QLinearConv", "MwQLinearConv");
        let attrs = self.clamp.write(self.core.op.attrs());
        b.node(self.name(), op, &attrs, inputs, self.out.value)
    }

    /// `mm = MatMul(DQ(a), DQ(W))` with optional bias value.
    fn matmul(&self, b: &mut Builder, mm: &Node, bias: Option<ValueId>) -> Result<(), Why> {
        if grouped::block_size(self.m, input(mm, 1)?).is_some() {
            return self.grouped_matmul(b, mm, false, bias);
        }
        let a = self.m.dequantized(input(mm, 0)?)?;
        let w = self.m.weights(input(mm, 1)?, 1)?;
        self.qgemm(b, &a, &w, w.value, bias)
    }

    /// The integer matrix product of `a` and weights `w` stored `[K, N]` in `w_value`.
    fn qgemm(
        &self,
        b: &mut Builder,
        a: &QTensor,
        w: &QWeights,
        w_value: ValueId,
        bias: Option<ValueId>,
    ) -> Result<(), Why> {
        let n = match w.tensor.shape() {
            [_, n] => *n,
            s => return Err(format!("weights of shape {s:?} are not a matrix")),
        };
        let bias = self.bias(b, bias, a, w, n)?;
        let mut inputs: Vec<Option<ValueId>> = self.triple(b, a, self.name()).to_vec();
        inputs.extend(self.weights_triple(b, w, w_value));
        inputs.extend(self.out_pair(b));
        inputs.extend(bias.map(Some));
        let plain = bias.is_none() && self.clamp.is_none();
        let op = pick(plain, "QLinearMatMul", "MwQGemm");
        b.node(
            self.name(),
            op,
            &self.clamp.write(Default::default()),
            inputs,
            self.out.value,
        )
    }

    fn gemm(&self, b: &mut Builder) -> Result<(), Why> {
        let attrs = self.core.op.attrs();
        let int = |k: &str| matches!(attrs.get(k), Some(Attr::Int(1)));
        let unit = |k: &str| !matches!(attrs.get(k), Some(Attr::Float(v)) if *v != 1.0);
        if int("transA") || !unit("alpha") || !unit("beta") {
            return Err("Gemm with transA, alpha ≠ 1 or beta ≠ 1".into());
        }
        let trans_b = int("transB");
        if grouped::block_size(self.m, input(self.core, 1)?).is_some() {
            let bias = self.core.inputs.get(2).copied().flatten();
            return self.grouped_matmul(b, self.core, trans_b, bias);
        }
        let a = self.m.dequantized(input(self.core, 0)?)?;
        let w = self
            .m
            .weights(input(self.core, 1)?, usize::from(!trans_b))?;
        let (w_value, w) = if trans_b {
            let t = transpose_2d(&w.tensor)?;
            let id = b.constant(&format!("{}_weights_kn", self.name()), t.clone());
            (id, QWeights { tensor: t, ..w })
        } else {
            (w.value, w)
        };
        self.qgemm(
            b,
            &a,
            &w,
            w_value,
            self.core.inputs.get(2).copied().flatten(),
        )
    }

    /// `Add(MatMul(…), bias)` (either order) or `Add(DQ(a), DQ(b))`.
    fn add(&self, b: &mut Builder) -> Result<(), Why> {
        let (i0, i1) = (input(self.core, 0)?, input(self.core, 1)?);
        let matmul_of = |v: ValueId| {
            self.m
                .producer(v)
                .filter(|(_, n)| n.op.op_type() == "MatMul")
        };
        let found = match (matmul_of(i0), matmul_of(i1)) {
            (Some(mm), _) => Some((mm, i0, i1)),
            (None, Some(mm)) => Some((mm, i1, i0)),
            _ => None,
        };
        if let Some(((mm_id, mm), mm_out, bias)) = found {
            if self.is_bias(bias) || self.m.konst(bias).is_some() {
                self.m.only_reader(mm_out)?;
                b.patch.remove_nodes.push(mm_id);
                return self.matmul(b, mm, Some(bias));
            }
        }
        let qa = self.m.dequantized(i0)?;
        let qb = self.m.dequantized(i1)?;
        let mut inputs: Vec<Option<ValueId>> =
            self.triple(b, &qa, &format!("{}_a", self.name())).to_vec();
        inputs.extend(self.triple(b, &qb, &format!("{}_b", self.name())));
        inputs.extend(self.out_pair(b));
        b.node(
            self.name(),
            "MwQAdd",
            &self.clamp.write(Default::default()),
            inputs,
            self.out.value,
        )
    }

    /// Whether `v` is a DequantizeLinear of an int32 constant (a bias).
    fn is_bias(&self, v: ValueId) -> bool {
        self.m
            .producer(v)
            .filter(|(_, n)| n.op.op_type() == "DequantizeLinear")
            .and_then(|(_, n)| n.inputs.first().copied().flatten())
            .and_then(|x| self.m.konst(x))
            .is_some_and(|t| t.dtype() == DType::I32)
    }

    fn avg_pool(&self, b: &mut Builder, op: &str) -> Result<(), Why> {
        let attrs = self.core.op.attrs();
        if matches!(attrs.get("ceil_mode"), Some(Attr::Int(1))) {
            return Err("ceil_mode = 1 has no integer kernel".into());
        }
        let x = self.m.dequantized(input(self.core, 0)?)?;
        let mut inputs: Vec<Option<ValueId>> = self.triple(b, &x, self.name()).to_vec();
        inputs.extend(self.out_pair(b));
        b.node(
            self.name(),
            op,
            &self.clamp.write(attrs),
            inputs,
            self.out.value,
        )
    }

    fn softmax(&self, b: &mut Builder) -> Result<(), Why> {
        let sm = self
            .core
            .op
            .as_any()
            .downcast_ref::<Softmax>()
            .ok_or("not the IR's Softmax")?;
        let x = self.m.dequantized(input(self.core, 0)?)?;
        let shape = &self.m.fact(x.value).ok_or("unknown input shape")?.shape;
        let axis = crate::op::normalize_axis(sm.axis, shape.len()).map_err(|e| e.to_string())?;
        if !sm.flatten && shape[axis + 1..].iter().any(|&d| d != 1) {
            return Err(format!(
                "Softmax over axis {axis} of {shape:?} is not over the trailing dimensions"
            ));
        }
        let mut inputs: Vec<Option<ValueId>> = self.triple(b, &x, self.name()).to_vec();
        inputs.extend(self.out_pair(b));
        let attrs = crate::Attrs::new().with("axis", Attr::Int(axis as i64));
        b.node(self.name(), "MwQSoftmax", &attrs, inputs, self.out.value)
    }

    /// `x` brought to the output's parameters and clamp, written to `dst`.
    fn requant_into(
        &self,
        b: &mut Builder,
        x: &QTensor,
        dst: ValueId,
        tag: &str,
    ) -> Result<(), Why> {
        let mut inputs: Vec<Option<ValueId>> = self.triple(b, x, tag).to_vec();
        inputs.extend(self.out_pair(b));
        let name = format!("{}{tag}", self.name());
        b.node(
            &name,
            "MwQRequantize",
            &self.clamp.write(Default::default()),
            inputs,
            dst,
        )
    }

    fn requantize(&self, b: &mut Builder, dq_out: ValueId) -> Result<(), Why> {
        let x = self.m.dequantized(dq_out)?;
        self.requant_into(b, &x, self.out.value, "")
    }

    fn concat(&self, b: &mut Builder) -> Result<(), Why> {
        let mut inputs = Vec::with_capacity(self.core.inputs.len());
        for (i, v) in self.core.inputs.iter().enumerate() {
            let v = v.ok_or("an omitted input")?;
            let x = self.m.dequantized(v)?;
            if x.same_params(self.out) && self.clamp.is_none() {
                inputs.push(Some(x.value));
            } else {
                let tmp = b.value(&format!("{}_in{i}_requantized", self.name()));
                self.requant_into(b, &x, tmp, &format!("_in{i}_requantize"))?;
                inputs.push(Some(tmp));
            }
        }
        let attrs = self.core.op.attrs();
        b.node(self.name(), "Concat", &attrs, inputs, self.out.value)
    }

    fn movement(&self, b: &mut Builder) -> Result<(), Why> {
        if self.core.outputs.len() != 1 {
            return Err("it has more than one output".into());
        }
        let x = self.m.dequantized(input(self.core, 0)?)?;
        for v in self.core.inputs.iter().skip(1).flatten() {
            let float = self.m.fact(*v).is_none_or(|f| f.dtype.is_float());
            if float && self.m.konst(*v).is_none() {
                return Err(format!(
                    "input `{}` is a float activation",
                    self.m.g.value(*v).name
                ));
            }
        }
        let mut inputs = self.core.inputs.clone();
        inputs[0] = Some(x.value);
        let op = self.core.op.op_type();
        let attrs = self.core.op.attrs();
        if x.same_params(self.out) && self.clamp.is_none() {
            return b.node(self.name(), op, &attrs, inputs, self.out.value);
        }
        let tmp = b.value(&format!("{}_int8", self.name()));
        b.node(self.name(), op, &attrs, inputs, tmp)?;
        let stored = QTensor { value: tmp, ..x };
        self.requant_into(b, &stored, self.out.value, "_requantize")
    }

    /// The int32 bias `[n]` of scale `s_x · s_w[c]` for bias input `v`.
    fn bias(
        &self,
        b: &mut Builder,
        v: Option<ValueId>,
        x: &QTensor,
        w: &QWeights,
        n: usize,
    ) -> Result<Option<ValueId>, Why> {
        let Some(v) = v else { return Ok(None) };
        let expect: Vec<f64> = (0..n)
            .map(|c| {
                f64::from(x.scale_v) * f64::from(w.scales[if w.scales.len() == 1 { 0 } else { c }])
            })
            .collect();
        let real: Vec<f64> = if let Some((_, dq)) = self
            .m
            .producer(v)
            .filter(|(_, d)| d.op.op_type() == "DequantizeLinear")
        {
            let bq_id = input(dq, 0)?;
            let bq = self.m.konst(bq_id).ok_or("the bias is not constant")?;
            let bv = bq.as_slice::<i32>().map_err(|_| "the bias is not int32")?;
            let sb = self
                .m
                .konst(input(dq, 1)?)
                .and_then(|t| t.as_slice::<f32>().ok())
                .ok_or("the bias scale is not a constant f32")?;
            let zp_zero = dq.inputs.get(2).copied().flatten().is_none_or(|z| {
                self.m
                    .konst(z)
                    .and_then(|t| t.to_i64_vec().ok())
                    .is_some_and(|v| v.iter().all(|&x| x == 0))
            });
            if bv.len() != n || (sb.len() != 1 && sb.len() != n) || !zp_zero {
                return Err("the bias is not [C] int32 with zero point 0".into());
            }
            let s = |c: usize| f64::from(sb[if sb.len() == 1 { 0 } else { c }]);
            let exact = (0..n).all(|c| (s(c) - expect[c]).abs() <= 1e-5 * expect[c]);
            if exact && bq.shape() == [n] {
                return Ok(Some(bq_id));
            }
            (0..n).map(|c| f64::from(bv[c]) * s(c)).collect()
        } else {
            let t = self
                .m
                .konst(v)
                .ok_or("the bias is neither dequantized nor constant")?;
            let f = t.as_slice::<f32>().map_err(|_| "the bias is not f32")?;
            if f.len() != n {
                return Err(format!("a bias of {} values for {n} channels", f.len()));
            }
            f.iter().map(|&x| f64::from(x)).collect()
        };
        let q: Vec<i32> = real
            .iter()
            .zip(&expect)
            .map(|(r, e)| {
                (r / e)
                    .round_ties_even()
                    .clamp(i32::MIN.into(), i32::MAX.into()) as i32
            })
            .collect();
        let t = Tensor::from_vec(vec![n], q).map_err(|e| e.to_string())?;
        Ok(Some(b.constant(&format!("{}_bias_q", self.name()), t)))
    }
}

/// A `[r, c]` tensor transposed to `[c, r]`.
fn transpose_2d(t: &Tensor) -> Result<Tensor, Why> {
    let [r, c] = *t.shape() else {
        return Err(format!("weights of shape {:?} are not a matrix", t.shape()));
    };
    let v = t.to_i64_vec().map_err(|e| e.to_string())?;
    let mut out = vec![0i64; v.len()];
    for i in 0..r {
        for j in 0..c {
            out[j * r + i] = v[i * c + j];
        }
    }
    let t64 = Tensor::from_vec(vec![c, r], out).map_err(|e| e.to_string())?;
    Ok(t64.cast(t.dtype()))
}

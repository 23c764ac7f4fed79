//! Reading the QDQ pieces around a QuantizeLinear: dequantized activations, weights and biases,
//! the output's parameters and a fused activation. Every failure is a reason in words.
use crate::infer::Facts;
use crate::op::normalize_axis;
use crate::ops::quant::Clamp;
use crate::{Attr, Fact, Graph, Node, NodeId, ValueId};
use mw_kernels::elementwise::quantize_value;
use mw_tensor::{DType, Tensor};
use std::collections::HashMap;

/// Why a pattern did not match.
pub(crate) type Why = String;

/// The graph around one QuantizeLinear, with the facts of the original graph (value ids are
/// stable under rewriting, so these facts stay valid for every value they cover).
pub(crate) struct Matcher<'a> {
    pub g: &'a Graph,
    facts: &'a Facts,
    producers: HashMap<ValueId, NodeId>,
    consumers: HashMap<ValueId, Vec<NodeId>>,
}

/// A per-tensor quantized 8- or 16-bit tensor read through a DequantizeLinear (or written by a
/// QuantizeLinear): its stored value, scale and zero point.
#[derive(Clone, Debug)]
pub(crate) struct QTensor {
    pub value: ValueId,
    pub scale: ValueId,
    pub zero_point: Option<ValueId>,
    pub scale_v: f32,
    pub zero_point_v: i32,
    pub dtype: DType,
}

impl QTensor {
    /// Same scale, zero point and type.
    pub fn same_params(&self, other: &QTensor) -> bool {
        self.scale_v.to_bits() == other.scale_v.to_bits()
            && self.zero_point_v == other.zero_point_v
            && self.dtype == other.dtype
    }
}

/// Constant 8-bit weights read through a DequantizeLinear: per tensor or per `axis`.
#[derive(Clone, Debug)]
pub(crate) struct QWeights {
    pub value: ValueId,
    pub tensor: Tensor,
    pub scale: ValueId,
    pub zero_point: Option<ValueId>,
    pub scales: Vec<f32>,
}

/// Real bounds of a fused activation (`None`: unbounded on that side).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Bounds {
    pub lo: Option<f32>,
    pub hi: Option<f32>,
}

impl<'a> Matcher<'a> {
    pub fn new(g: &'a Graph, facts: &'a Facts) -> Matcher<'a> {
        Matcher {
            g,
            facts,
            producers: g.producers(),
            consumers: g.consumers(),
        }
    }

    pub fn fact(&self, v: ValueId) -> Option<&'a Fact> {
        self.facts.get(v.0).and_then(Option::as_ref)
    }

    /// The contents of `v` when known before running.
    pub fn konst(&self, v: ValueId) -> Option<&'a Tensor> {
        self.g
            .values
            .get(v.0)
            .and_then(|val| val.konst.as_deref())
            .or_else(|| self.fact(v).and_then(|f| f.konst.as_deref()))
    }

    pub fn producer(&self, v: ValueId) -> Option<(NodeId, &'a Node)> {
        self.producers.get(&v).map(|&id| (id, self.g.node(id)))
    }

    /// Checks that `v` is read by one node only and is no graph output, so that the nodes
    /// computing it can go.
    pub fn only_reader(&self, v: ValueId) -> Result<(), Why> {
        let n = self.consumers.get(&v).map_or(0, Vec::len);
        if n > 1 || self.g.outputs.contains(&v) {
            return Err(format!(
                "its float output `{}` has other readers",
                self.g.value(v).name
            ));
        }
        Ok(())
    }

    fn name(&self, v: ValueId) -> &str {
        &self.g.value(v).name
    }

    /// A one-element f32 constant.
    fn scalar_f32(&self, v: ValueId) -> Result<f32, Why> {
        let t = self
            .konst(v)
            .ok_or_else(|| format!("scale `{}` is not constant", self.name(v)))?;
        match t.as_slice::<f32>() {
            Ok([s]) if s.is_finite() && *s > 0.0 => Ok(*s),
            _ => Err(format!(
                "scale `{}` is not one finite positive f32 (per-tensor)",
                self.name(v)
            )),
        }
    }

    /// A one-element integer constant of `dtype`.
    fn scalar_zp(&self, v: Option<ValueId>, dtype: DType) -> Result<i32, Why> {
        let Some(v) = v else { return Ok(0) };
        let t = self
            .konst(v)
            .ok_or_else(|| format!("zero point `{}` is not constant", self.name(v)))?;
        if t.dtype() != dtype || t.len() != 1 || t.rank() > 1 {
            return Err(format!(
                "zero point `{}` is not one {dtype} value",
                self.name(v)
            ));
        }
        Ok(t.to_i64_vec().map_err(|e| e.to_string())?[0] as i32)
    }

    /// The stored dtype of a DequantizeLinear / QuantizeLinear node's integer side.
    fn dtype_of(&self, v: ValueId) -> Result<DType, Why> {
        self.fact(v)
            .map(|f| f.dtype)
            .or(self.g.value(v).dtype)
            .ok_or_else(|| format!("the type of `{}` is unknown", self.name(v)))
    }

    /// `v` as a dequantized 8- or 16-bit per-tensor activation: `v = DequantizeLinear(x_q, s, zp)`.
    pub fn dequantized(&self, v: ValueId) -> Result<QTensor, Why> {
        let (_, dq) = self
            .producer(v)
            .filter(|(_, n)| n.op.op_type() == "DequantizeLinear")
            .ok_or_else(|| format!("input `{}` is not dequantized", self.name(v)))?;
        let x = input(dq, 0)?;
        let dtype = self.dtype_of(x)?;
        if !matches!(dtype, DType::I8 | DType::U8 | DType::I16) {
            return Err(format!("`{}` is {dtype}, not 8- or 16-bit", self.name(x)));
        }
        let scale = input(dq, 1)?;
        let zero_point = dq.inputs.get(2).copied().flatten();
        Ok(QTensor {
            value: x,
            scale,
            zero_point,
            scale_v: self.scalar_f32(scale)?,
            zero_point_v: self.scalar_zp(zero_point, dtype)?,
            dtype,
        })
    }

    /// The output side of QuantizeLinear `q`: per tensor, 8- or 16-bit.
    pub fn quantized_output(&self, q: &Node) -> Result<QTensor, Why> {
        let out = *q.outputs.first().ok_or("QuantizeLinear without output")?;
        let dtype = self.dtype_of(out)?;
        if !matches!(dtype, DType::I8 | DType::U8 | DType::I16) {
            return Err(format!("it quantizes to {dtype}, not 8- or 16-bit"));
        }
        let scale = input(q, 1)?;
        let zero_point = q.inputs.get(2).copied().flatten();
        Ok(QTensor {
            value: out,
            scale,
            zero_point,
            scale_v: self.scalar_f32(scale)?,
            zero_point_v: self.scalar_zp(zero_point, dtype)?,
            dtype,
        })
    }

    /// `v` as constant 8-bit or 4-bit weights dequantized per tensor or per `axis` of `rank`
    /// (4-bit values stay 4-bit: the integer ops pack them; group-wise scales are read by `patterns::grouped`).
    pub fn weights(&self, v: ValueId, axis: usize) -> Result<QWeights, Why> {
        let (_, dq) = self
            .producer(v)
            .filter(|(_, n)| n.op.op_type() == "DequantizeLinear")
            .ok_or_else(|| format!("weights `{}` are not dequantized", self.name(v)))?;
        let x = input(dq, 0)?;
        let tensor = self
            .konst(x)
            .ok_or_else(|| format!("weights `{}` are not constant", self.name(x)))?
            .clone();
        if !matches!(
            tensor.dtype(),
            DType::I8 | DType::U8 | DType::I4 | DType::U4
        ) {
            return Err(format!(
                "weights `{}` are {}, not 8-bit or 4-bit",
                self.name(x),
                tensor.dtype()
            ));
        }
        if let Some(Attr::Int(bs)) = dq.op.attrs().get("block_size") {
            if *bs > 0 {
                return Err(format!(
                    "weights `{}` are quantized group-wise (block_size {bs}): only MatMul, \
                     Gemm and one-group Conv lower them (to MwQGroupedGemm)",
                    self.name(x)
                ));
            }
        }
        let scale = input(dq, 1)?;
        let scales = self
            .konst(scale)
            .and_then(|t| t.as_slice::<f32>().ok())
            .ok_or_else(|| format!("weight scale `{}` is not a constant f32", self.name(scale)))?
            .to_vec();
        if scales.len() != 1 {
            let dq_axis = match dq.op.attrs().get("axis") {
                Some(Attr::Int(a)) => *a,
                _ => 1,
            };
            let a = normalize_axis(dq_axis, tensor.rank()).map_err(|e| e.to_string())?;
            if a != axis || tensor.shape().get(axis) != Some(&scales.len()) {
                return Err(format!(
                    "weights `{}` are quantized along axis {a}, not per output channel \
                     (axis {axis})",
                    self.name(x)
                ));
            }
        }
        if let Some(bad) = scales.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(format!("weight scale {bad} is not finite and positive"));
        }
        Ok(QWeights {
            value: x,
            tensor,
            scale,
            zero_point: dq.inputs.get(2).copied().flatten(),
            scales,
        })
    }

    /// The fused activation producing `v`, if any: `(bounds, its input)`; otherwise `v` itself.
    pub fn activation(&self, v: ValueId) -> Result<(Option<(NodeId, Bounds)>, ValueId), Why> {
        let Some((id, n)) = self.producer(v) else {
            return Ok((None, v));
        };
        let bounds = match n.op.op_type() {
            "Relu" => Bounds {
                lo: Some(0.0),
                hi: None,
            },
            "Clip" => self.clip_bounds(n)?,
            _ => return Ok((None, v)),
        };
        self.only_reader(v)?;
        Ok((Some((id, bounds)), input(n, 0)?))
    }

    fn clip_bounds(&self, n: &Node) -> Result<Bounds, Why> {
        let attrs = n.op.attrs();
        if let (Some(Attr::Float(lo)), Some(Attr::Float(hi))) = (attrs.get("min"), attrs.get("max"))
        {
            return Ok(Bounds {
                lo: Some(*lo),
                hi: Some(*hi),
            });
        }
        let bound = |i: usize| -> Result<Option<f32>, Why> {
            match n.inputs.get(i).copied().flatten() {
                None => Ok(None),
                Some(v) => match self.konst(v).map(|t| t.as_slice::<f32>()) {
                    Some(Ok([b])) => Ok(Some(*b)),
                    _ => Err(format!(
                        "Clip bound `{}` is not a constant f32",
                        self.name(v)
                    )),
                },
            }
        };
        Ok(Bounds {
            lo: bound(1)?,
            hi: bound(2)?,
        })
    }
}

/// Required input `i` of `n`.
pub(crate) fn input(n: &Node, i: usize) -> Result<ValueId, Why> {
    n.inputs
        .get(i)
        .copied()
        .flatten()
        .ok_or_else(|| format!("`{}` lacks input #{i}", n.name))
}

/// The stored-value clamp equal to applying `bounds` before quantizing to `out`: each bound
/// quantized as QuantizeLinear would; bounds the output type's range already implies are dropped.
pub(crate) fn clamp_of(bounds: Option<Bounds>, out: &QTensor) -> Clamp {
    let Some(b) = bounds else {
        return Clamp::default();
    };
    type Quant = fn(f32, f32, i32) -> i64;
    let (min, max, quant): (i64, i64, Quant) = match out.dtype {
        DType::U8 => (0, 255, |x, s, z| quantize_value::<u8>(x, s, z as u8).into()),
        DType::I16 => (-32768, 32767, |x, s, z| {
            quantize_value::<i16>(x, s, z as i16).into()
        }),
        _ => (-128, 127, |x, s, z| {
            quantize_value::<i8>(x, s, z as i8).into()
        }),
    };
    let q = |x: f32| quant(x, out.scale_v, out.zero_point_v);
    Clamp {
        qmin: b.lo.map(q).filter(|&v| v > min),
        qmax: b.hi.map(q).filter(|&v| v < max),
    }
}

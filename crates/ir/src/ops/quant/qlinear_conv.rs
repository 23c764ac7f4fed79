//! QLinearConv (ONNX) and MwQLinearConv (the same with a fused clamp): 1-D or 2-D convolution of
//! 8-bit activations with 8-bit weights, int32 bias, integer-only evaluation.
//!
//! Inputs: `x` (i8/u8 `[N, C, H, W]` or `[N, C, L]`), `x_scale` (f32, one value), `x_zero_point`
//! (x's type, one value), `w` (i8/u8 `[M, C/group, kh, kw]`), `w_scale` (f32, 1 or M values),
//! `w_zero_point` (w's type, 1 or M values), `y_scale`, `y_zero_point` (the output type, i8 or u8),
//! optional `B` (i32 `[M]`, scale `x_scale · w_scale`, zero point 0). Attributes as Conv
//! (`auto_pad`, `kernel_shape`, `strides`, `dilations`, `pads`, `group`); MwQLinearConv adds `qmin`
//! / `qmax`, a clamp of the stored output (a fused ReLU/ReLU6/Clip).
//!
//! `y = clamp(y_zp + M_c · (B[c] + Σ (w − w_zp)(x − x_zp)), qmin, qmax)` with
//! `M_c = x_scale · w_scale[c] / y_scale` formed in f32 and applied by
//! `mw_kernels::int8::requant::soft_float` (integers only, bit-exact with ONNX Runtime's f32
//! requantization). The weights minus their zero point must fit i8 (symmetric weights always
//! do); the multipliers are derived on first use and cached.
use super::common::{
    check_per_channel, check_q8, check_scalar, constant_params, dispatch_q8_pair, int8_error,
    scale_of, scales_of, zero_point_of, zero_points_of, Cache, Clamp,
};
use super::lowbit::{self, dispatch_act_pair};
use crate::op::{optional, required};
use crate::ops::nn::Window;
use crate::{op_boilerplate, Attr, Attrs, BuildCtx, Cost, Fact, Op, OpError};
use mw_kernels::int8::conv::{Conv2dParams, ConvPlan};
use mw_kernels::int8::requant::{soft_float_scale, Multipliers, OutputStage};
use mw_kernels::int8::{QInput, QuantElem};
use mw_kernels::lowbit::conv::LowBitConvPlan;
use mw_kernels::lowbit::{ActElem, OutElem};
use mw_tensor::{DType, Element, Tensor};

#[derive(Clone, Debug, PartialEq)]
pub struct QLinearConv {
    pub window: Window,
    pub group: i64,
    /// The fused clamp (MwQLinearConv only).
    pub clamp: Clamp,
    /// Whether this is MwQLinearConv (clamp attributes allowed) rather than the ONNX op.
    pub fused: bool,
    cache: Cache<Prepared>,
    lowbit: Cache<LowBitPrepared>,
}

/// Parameters of the low-bit path (16-bit activations or packed weights), derived on first use.
#[derive(Debug)]
struct LowBitPrepared {
    plan: LowBitConvPlan,
    stage: OutputStage,
    bias: Option<Vec<i32>>,
    x_zero_point: i32,
}

/// Parameters derived on first use.
#[derive(Debug)]
struct Prepared {
    plan: ConvPlan,
    stage: OutputStage,
    bias: Option<Vec<i32>>,
    x_zero_point: i32,
}

fn build(attrs: &Attrs, fused: bool) -> Result<Box<dyn Op>, OpError> {
    let group = attrs.int_or("group", 1)?;
    if group < 1 {
        return Err(OpError::Attribute {
            name: "group".into(),
            reason: format!("{group} is not positive"),
        });
    }
    Ok(Box::new(QLinearConv {
        window: Window::from_attrs(attrs)?,
        group,
        clamp: if fused {
            Clamp::from_attrs(attrs)?
        } else {
            Clamp::default()
        },
        fused,
        cache: Cache::default(),
        lowbit: Cache::default(),
    }))
}

pub fn build_qlinear_conv(attrs: &Attrs, _ctx: &BuildCtx) -> Result<Box<dyn Op>, OpError> {
    build(attrs, false)
}

pub fn build_mw_qlinear_conv(attrs: &Attrs, _ctx: &BuildCtx) -> Result<Box<dyn Op>, OpError> {
    build(attrs, true)
}

impl QLinearConv {
    /// A convolution with `window` and `group`, fused with `clamp` when it states a bound.
    pub fn new(window: Window, group: i64, clamp: Clamp) -> QLinearConv {
        QLinearConv {
            window,
            group,
            fused: !clamp.is_none(),
            clamp,
            cache: Cache::default(),
            lowbit: Cache::default(),
        }
    }

    /// The kernel geometry for `x` and `w` shapes, and the output shape.
    pub fn geometry(
        &self,
        x: &[usize],
        w: &[usize],
    ) -> Result<(Conv2dParams, Vec<usize>), OpError> {
        conv_geometry(&self.window, self.group as usize, x, w)
    }

    fn prepare<U: QuantElem + Element>(
        &self,
        params: Conv2dParams,
        inputs: &[Option<&Tensor>],
    ) -> Result<Prepared, OpError> {
        let x = required(inputs, 0)?;
        let x_scale = scale_of(required(inputs, 1)?, 1)?;
        let x_zero_point = zero_point_of(optional(inputs, 2), 2, x.dtype())?;
        let w = required(inputs, 3)?;
        let m = params.out_channels;
        let w_scale = scales_of(required(inputs, 4)?, 4)?;
        let w_zp = match optional(inputs, 5) {
            Some(z) => zero_points_of(z, 5)?,
            None => vec![0],
        };
        let y_scale = scale_of(required(inputs, 6)?, 6)?;
        let y_zp = zero_point_of(optional(inputs, 7), 7, U::DTYPE)?;
        let wq = weights_i8(w, &w_zp, m)?;
        let stage = output_stage::<U>(x_scale, &w_scale, y_scale, y_zp, &self.clamp, m)?;
        let bias = bias_of(inputs)?;
        Ok(Prepared {
            plan: ConvPlan::new(params, &wq).map_err(int8_error)?,
            stage,
            bias,
            x_zero_point,
        })
    }

    fn run<T: QuantElem + Element, U: QuantElem + Element>(
        &self,
        inputs: &[Option<&Tensor>],
    ) -> Result<Tensor, OpError> {
        let x = required(inputs, 0)?;
        let w = required(inputs, 3)?;
        let (params, out_shape) = self.geometry(x.shape(), w.shape())?;
        let shape = shape_key(x.shape());
        let key = cache_key(&shape, inputs);
        let p = self.cache.get(&key, || self.prepare::<U>(params, inputs))?;
        let mut y = Tensor::zeros(U::DTYPE, out_shape)?;
        let xq = QInput {
            data: x.as_slice::<T>()?,
            zero_point: p.x_zero_point,
        };
        p.plan
            .run(xq, p.bias.as_deref(), &p.stage, y.as_slice_mut::<U>()?)
            .map_err(int8_error)?;
        Ok(y)
    }
}

impl QLinearConv {
    fn prepare_lowbit(
        &self,
        params: Conv2dParams,
        y_dtype: DType,
        inputs: &[Option<&Tensor>],
    ) -> Result<LowBitPrepared, OpError> {
        let x = required(inputs, 0)?;
        let x_scale = scale_of(required(inputs, 1)?, 1)?;
        let x_zero_point = zero_point_of(optional(inputs, 2), 2, x.dtype())?;
        let w = required(inputs, 3)?;
        let m = params.out_channels;
        let w_scale = scales_of(required(inputs, 4)?, 4)?;
        let w_zp = match optional(inputs, 5) {
            Some(z) => zero_points_of(z, 5)?,
            None => vec![0],
        };
        let y_scale = scale_of(required(inputs, 6)?, 6)?;
        let y_zp = zero_point_of(optional(inputs, 7), 7, y_dtype)?;
        let wq = weights_i8(w, &w_zp, m)?;
        let packed = lowbit::pack(&wq, m, wq.len() / m.max(1))?;
        let stage =
            lowbit::output_stage(y_dtype, x_scale, &w_scale, y_scale, y_zp, &self.clamp, m)?;
        let bias = bias_of(inputs)?;
        lowbit::check_overflow(&packed, x.dtype(), x_zero_point, bias.as_deref())?;
        Ok(LowBitPrepared {
            plan: LowBitConvPlan::new(params, packed).map_err(lowbit::lowbit_error)?,
            stage,
            bias,
            x_zero_point,
        })
    }

    fn run_lowbit<A: ActElem + Element, U: OutElem + Element>(
        &self,
        inputs: &[Option<&Tensor>],
    ) -> Result<Tensor, OpError> {
        let x = required(inputs, 0)?;
        let w = required(inputs, 3)?;
        let (params, out_shape) = self.geometry(x.shape(), w.shape())?;
        let shape = shape_key(x.shape());
        let key = cache_key(&shape, inputs);
        let p = self
            .lowbit
            .get(&key, || self.prepare_lowbit(params, U::DTYPE, inputs))?;
        let mut y = Tensor::zeros(U::DTYPE, out_shape)?;
        let data = x.as_slice::<A>()?;
        let out = y.as_slice_mut::<U>()?;
        let (bias, zero_point) = (p.bias.as_deref(), p.x_zero_point);
        if lowbit::needs_widening::<A>(p.plan.weights()) {
            let wide = lowbit::widen(data);
            let xq = QInput {
                data: &wide[..],
                zero_point,
            };
            p.plan.run(xq, bias, &p.stage, out)
        } else {
            p.plan.run(QInput { data, zero_point }, bias, &p.stage, out)
        }
        .map_err(lowbit::lowbit_error)?;
        Ok(y)
    }
}

/// The kernel geometry of a convolution with `window` and `group` for `x` and `w` shapes (rank 3
/// or 4), and the output shape.
pub(crate) fn conv_geometry(
    window: &Window,
    group: usize,
    x: &[usize],
    w: &[usize],
) -> Result<(Conv2dParams, Vec<usize>), OpError> {
    if !(3..=4).contains(&x.len()) || w.len() != x.len() {
        return Err(OpError::Shape(format!(
            "a convolution needs X of rank 3 or 4 and W of the same rank, got {x:?} and {w:?}"
        )));
    }
    let (c, m) = (x[1], w[0]);
    if w[1].checked_mul(group) != Some(c) || !m.is_multiple_of(group) {
        return Err(OpError::Shape(format!(
            "X {x:?} and W {w:?} disagree with group {group}"
        )));
    }
    let rank = x.len() - 2;
    let kernel = window.kernel(rank, Some(&w[2..]))?;
    let r = window.resolve(&x[2..], kernel)?;
    let two = |v: &[usize], pad: usize| -> [usize; 2] {
        if rank == 1 {
            [pad, v[0]]
        } else {
            [v[0], v[1]]
        }
    };
    let [pt, pl] = two(&r.pads_begin, 0);
    let [pb, pr] = two(&r.pads_end, 0);
    let p = Conv2dParams {
        batch: x[0],
        in_channels: c,
        in_hw: two(&x[2..], 1),
        out_channels: m,
        kernel: two(&r.kernel, 1),
        stride: two(&r.strides, 1),
        dilation: two(&r.dilations, 1),
        pads: [pt, pl, pb, pr],
        groups: group,
    };
    let d = p.dims().map_err(int8_error)?;
    let out = if rank == 1 {
        vec![x[0], m, d.out_hw[1]]
    } else {
        vec![x[0], m, d.out_hw[0], d.out_hw[1]]
    };
    Ok((p, out))
}

/// The optional int32 bias (input 8), copied for a prepared plan.
fn bias_of(inputs: &[Option<&Tensor>]) -> Result<Option<Vec<i32>>, OpError> {
    Ok(optional(inputs, 8)
        .map(|b| b.as_slice::<i32>().map(<[i32]>::to_vec))
        .transpose()?)
}

/// What derived parameters depend on: the input shape and every parameter input (1..=8).
fn cache_key<'a>(shape: &'a Tensor, inputs: &[Option<&'a Tensor>]) -> Vec<Option<&'a Tensor>> {
    let mut key = vec![Some(shape)];
    key.extend((1..9).map(|i| optional(inputs, i)));
    key
}

/// The input shape as a tensor, for cache keys of parameters that depend on it.
pub(crate) fn shape_key(shape: &[usize]) -> Tensor {
    let v: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
    Tensor::from_vec(vec![v.len()], v).expect("1-D shape tensor")
}

/// Weights minus their per-channel zero points as i8 (`w` holds `m` equal channel blocks).
pub(crate) fn weights_i8(w: &Tensor, zps: &[i32], m: usize) -> Result<Vec<i8>, OpError> {
    let v = w.to_i64_vec()?;
    if m == 0 || v.len() % m != 0 || (zps.len() != 1 && zps.len() != m) {
        return Err(OpError::Shape(format!(
            "{} weights and {} zero points for {m} channels",
            v.len(),
            zps.len()
        )));
    }
    let per = v.len() / m;
    v.iter()
        .enumerate()
        .map(|(i, &q)| {
            let zp = if zps.len() == 1 { zps[0] } else { zps[i / per] };
            i8::try_from(q - i64::from(zp)).map_err(|_| {
                OpError::Unsupported(format!(
                    "weight {q} minus zero point {zp} does not fit i8 (the int8 kernels need \
                     symmetric weights)"
                ))
            })
        })
        .collect()
}

/// The output stage `x_scale · w_scale[c] / y_scale` for `m` channels, clamped: the multiplier is
/// formed in f32 in that order and applied with integers exactly as ONNX Runtime applies it in f32
/// (`mw_kernels::int8::requant::soft_float`).
pub(crate) fn output_stage<U: QuantElem>(
    x_scale: f32,
    w_scale: &[f32],
    y_scale: f32,
    y_zero_point: i32,
    clamp: &Clamp,
    m: usize,
) -> Result<OutputStage, OpError> {
    if w_scale.len() != 1 && w_scale.len() != m {
        return Err(OpError::Shape(format!(
            "{} weight scales for {m} output channels",
            w_scale.len()
        )));
    }
    let multipliers = w_scale
        .iter()
        .map(|&ws| soft_float_scale(x_scale * ws / y_scale).map_err(int8_error))
        .collect::<Result<Vec<_>, _>>()?;
    let (qmin, qmax) = clamp.range::<U>()?;
    OutputStage::new::<U>(
        Multipliers::SoftFloat(multipliers),
        y_zero_point,
        qmin,
        qmax,
    )
    .map_err(int8_error)
}

/// The output dtype: `y_zero_point`'s, else the input's.
pub(crate) fn output_dtype(y_zp: Option<&Fact>, x: DType) -> DType {
    y_zp.map_or(x, |f| f.dtype)
}

impl Op for QLinearConv {
    fn op_type(&self) -> &'static str {
        if self.fused {
            "MwQLinearConv"
        } else {
            "QLinearConv"
        }
    }
    fn attrs(&self) -> Attrs {
        let a = self
            .window
            .to_attrs(Attrs::new().with("group", Attr::Int(self.group)));
        self.clamp.write(a)
    }
    fn infer(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>, OpError> {
        let x = required(inputs, 0)?;
        let w = required(inputs, 3)?;
        lowbit::check_act(x.dtype, 0)?;
        lowbit::check_weights(w.dtype, 3)?;
        check_scalar(required(inputs, 1)?, 1, DType::F32)?;
        if let Some(z) = optional(inputs, 2) {
            check_scalar(z, 2, x.dtype)?;
        }
        let m = w.shape.first().copied().unwrap_or(0);
        check_per_channel(required(inputs, 4)?, 4, DType::F32, m)?;
        if let Some(z) = optional(inputs, 5) {
            check_per_channel(z, 5, w.dtype, m)?;
        }
        check_scalar(required(inputs, 6)?, 6, DType::F32)?;
        let y_zp = optional(inputs, 7);
        if let Some(z) = y_zp {
            lowbit::check_act(z.dtype, 7)?;
            check_scalar(z, 7, z.dtype)?;
        }
        if let Some(b) = optional(inputs, 8) {
            super::common::check_dtype(b.dtype, 8, DType::I32)?;
            if b.shape != [m] {
                return Err(OpError::Shape(format!(
                    "bias {:?} for {m} output channels",
                    b.shape
                )));
            }
        }
        let (_, out) = self.geometry(&x.shape, &w.shape)?;
        Ok(vec![Fact::new(output_dtype(y_zp, x.dtype), out)])
    }
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, OpError> {
        let x = required(inputs, 0)?;
        let y_dtype = optional(inputs, 7).map_or(x.dtype(), Tensor::dtype);
        let w_dtype = required(inputs, 3)?.dtype();
        if lowbit::uses_lowbit(x.dtype(), w_dtype, y_dtype) {
            let y = dispatch_act_pair!(x.dtype(), y_dtype, A, U => self.run_lowbit::<A, U>(inputs)?,
                _ => return Err(OpError::InputDType {
                    index: 7, expected: lowbit::ACT.into(), actual: y_dtype }));
            return Ok(vec![y]);
        }
        check_q8(x.dtype(), 0)?;
        let y = dispatch_q8_pair!(x.dtype(), y_dtype, T, U => self.run::<T, U>(inputs)?,
            _ => return Err(super::common::bad_q8(7, y_dtype)));
        Ok(vec![y])
    }
    fn cost(&self, inputs: &[Option<&Fact>], outputs: &[Fact]) -> Cost {
        let (params, weight_bytes) = constant_params(inputs, &[3, 8]);
        let per_output = required(inputs, 3)
            .map(|w| w.shape[1..].iter().product::<usize>())
            .unwrap_or(0);
        Cost {
            macs: (outputs[0].numel() * per_output) as u64,
            elementwise: outputs[0].numel() as u64,
            params,
            weight_bytes,
        }
    }
    op_boilerplate!();
}

#[cfg(test)]
mod tests {
    use super::super::common::testutil::{s, t, z};
    use super::*;
    use crate::ops::elementwise::common::testutil::{build, round_trips};

    fn run(op: &dyn Op, inputs: &[Option<Tensor>]) -> Result<Tensor, OpError> {
        crate::ops::elementwise::common::testutil::run_const(op, inputs)
    }

    /// A mixed-precision boundary: 8-bit input, int8 weights outside the INT4 range, 16-bit output
    /// (the input is widened to `i16` for the low-bit kernels).
    #[test]
    fn eight_bit_input_with_int8_weights_and_i16_output() {
        let op = build("QLinearConv", &Attrs::new(), 13, 9);
        // x = [1, 2, 1, 2]: channel planes [100, −50] and [7, 1]; zero point 0.
        let x = t(&[1, 2, 1, 2], vec![100i8, -50, 7, 1]);
        let w = t(&[2, 2, 1, 1], vec![100i8, -9, -1, 3]);
        let inputs = [
            Some(x),
            Some(s(1.0)),
            Some(z(0i8)),
            Some(w),
            Some(s(1.0)),
            Some(z(0i8)),
            Some(s(1.0)),
            Some(z(0i16)),
            Some(t(&[2], vec![5i32, 0])),
        ];
        let y = run(op.as_ref(), &inputs).unwrap();
        // c0 = 5 + 100·[100, −50] − 9·[7, 1] = [9942, −5004]; c1 = −[100, −50] + 3·[7, 1] = [−79, 53].
        assert_eq!(y.as_slice::<i16>().unwrap(), &[9942, -5004, -79, 53]);
    }

    #[test]
    fn one_by_one_conv_with_bias_and_per_channel_scales() {
        let op = build("QLinearConv", &Attrs::new(), 13, 9);
        // x = [1, 2, 1, 2]: channel planes [1, 3] and [−2, 5] (zero point 1 subtracted below).
        let x = t(&[1, 2, 1, 2], vec![2i8, 4, -1, 6]);
        let w = t(&[2, 2, 1, 1], vec![1i8, 2, -3, 1]);
        let b = t(&[2], vec![10i32, -4]);
        let inputs = [
            Some(x),
            Some(s(0.5)),
            Some(z(1i8)),
            Some(w),
            Some(t(&[2], vec![0.25f32, 0.5])),
            Some(t(&[2], vec![0i8, 0])),
            Some(s(0.125)),
            Some(z(-3i8)),
            Some(b),
        ];
        let y = run(op.as_ref(), &inputs).unwrap();
        // acc c0 = 10 + 1·[1,3] + 2·[−2,5] = [7, 23]; M0 = 0.5·0.25/0.125 = 1 → [4, 20]
        // acc c1 = −4 − 3·[1,3] + 1·[−2,5] = [−9, −8]; M1 = 2 → [−21, −19]
        assert_eq!(y.as_slice::<i8>().unwrap(), &[4, 20, -21, -19]);
        assert_eq!(y.shape(), &[1, 2, 1, 2]);
        round_trips(op.as_ref(), 13, 9);
    }

    #[test]
    fn fused_clamp_and_uint8_output() {
        let a = Clamp {
            qmin: Some(130),
            qmax: Some(140),
        }
        .write(Attrs::new());
        let op = build("MwQLinearConv", &a, 13, 8);
        assert_eq!(op.op_type(), "MwQLinearConv");
        let x = t(&[1, 1, 3], vec![0u8, 10, 200]);
        let inputs = [
            Some(x),
            Some(s(1.0)),
            Some(z(10u8)),
            Some(t(&[1, 1, 1], vec![1i8])),
            Some(s(1.0)),
            Some(z(0i8)),
            Some(s(1.0)),
            Some(z(128u8)),
        ];
        let y = run(op.as_ref(), &inputs).unwrap();
        // 128 + [−10, 0, 190] clamped to [130, 140].
        assert_eq!(y.as_slice::<u8>().unwrap(), &[130, 130, 140]);
        round_trips(op.as_ref(), 13, 8);
    }

    #[test]
    fn depthwise_with_padding_reads_the_zero_point() {
        let mut a = Attrs::new();
        a.set("group", Attr::Int(2))
            .set("pads", Attr::Ints(vec![1, 1, 1, 1]));
        let op = build("QLinearConv", &a, 13, 8);
        let x = t(&[1, 2, 1, 1], vec![5u8, 7]);
        let w = t(&[2, 1, 3, 3], [vec![1i8; 9], vec![2i8; 9]].concat());
        let inputs = [
            Some(x),
            Some(s(1.0)),
            Some(z(3u8)),
            Some(w),
            Some(s(1.0)),
            Some(z(0i8)),
            Some(s(1.0)),
            Some(z(0u8)),
        ];
        let y = run(op.as_ref(), &inputs).unwrap();
        assert_eq!(y.as_slice::<u8>().unwrap(), &[2, 8]);
    }

    #[test]
    fn asymmetric_uint8_weights_shift_into_int8() {
        let op = build("QLinearConv", &Attrs::new(), 13, 8);
        let mk = |w_zp: u8| {
            [
                Some(t(&[1, 1, 1, 1], vec![4i8])),
                Some(s(1.0)),
                Some(z(0i8)),
                Some(t(&[1, 1, 1, 1], vec![130u8])),
                Some(s(1.0)),
                Some(z(w_zp)),
                Some(s(1.0)),
                Some(z(0i8)),
            ]
        };
        let y = run(op.as_ref(), &mk(128)).unwrap();
        assert_eq!(y.as_slice::<i8>().unwrap(), &[8]);
        assert!(matches!(
            run(op.as_ref(), &mk(0)),
            Err(OpError::Unsupported(_))
        ));
    }

    #[test]
    fn bad_inputs_are_typed_errors() {
        let op = build("QLinearConv", &Attrs::new(), 13, 8);
        let x = Fact::new(DType::F32, vec![1, 1, 2, 2]);
        let w = Fact::new(DType::I8, vec![1, 1, 1, 1]);
        let sc = Fact::of(&s(1.0));
        let zp = Fact::of(&z(0i8));
        let ins = [
            Some(&x),
            Some(&sc),
            Some(&zp),
            Some(&w),
            Some(&sc),
            Some(&zp),
            Some(&sc),
            Some(&zp),
        ];
        assert!(matches!(
            op.infer(&ins),
            Err(OpError::InputDType { index: 0, .. })
        ));
        let xi = Fact::new(DType::I8, vec![1, 2, 2, 2]);
        let ins2 = [
            Some(&xi),
            Some(&sc),
            Some(&zp),
            Some(&w),
            Some(&sc),
            Some(&zp),
            Some(&sc),
            Some(&zp),
        ];
        assert!(matches!(op.infer(&ins2), Err(OpError::Shape(_))));
    }

    #[test]
    fn cost_counts_int8_weights_and_int32_bias() {
        let op = build("QLinearConv", &Attrs::new(), 13, 9);
        let x = Fact::new(DType::I8, vec![1, 4, 5, 5]);
        let w = Fact::of(&t(&[8, 4, 3, 3], vec![0i8; 288]));
        let b = Fact::of(&t(&[8], vec![0i32; 8]));
        let sc = Fact::of(&s(1.0));
        let zp = Fact::of(&z(0i8));
        let ins = [
            Some(&x),
            Some(&sc),
            Some(&zp),
            Some(&w),
            Some(&sc),
            Some(&zp),
            Some(&sc),
            Some(&zp),
            Some(&b),
        ];
        let out = op.infer(&ins).unwrap();
        assert_eq!(out[0].shape, vec![1, 8, 3, 3]);
        let c = op.cost(&ins, &out);
        assert_eq!(c.macs, 8 * 9 * 36);
        assert_eq!((c.params, c.weight_bytes), (296, 288 + 32));
    }
}

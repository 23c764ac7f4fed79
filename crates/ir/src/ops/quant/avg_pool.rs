//! MwQAvgPool and MwQGlobalAvgPool: 8-bit average pooling, integer-only.
//!
//! Inputs: `x` (i8/u8 `[N, C, H, W]` or `[N, C, L]`), `x_scale`, `x_zero_point`, `y_scale`,
//! `y_zero_point` (one value each; the output type is `y_zero_point`'s). MwQAvgPool takes
//! AveragePool's `kernel_shape`, `strides`, `pads`, `auto_pad`, `dilations` and
//! `count_include_pad` (`ceil_mode` must be 0); both take the `qmin` / `qmax` clamp.
//!
//! `y = clamp(y_zp + avg, qmin, qmax)` where, over the window's in-bounds taps,
//! `s = Σ (x − x_zp)` and
//! * equal scales: `avg = rdiv(s, count)`, rounded to nearest, ties away from zero
//!   (`mw_kernels::int8::pool`);
//! * different scales, and every window counts the same taps (no padding, or
//!   `count_include_pad`): `avg = s · x_scale / (y_scale · count)` rounded once — the depthwise
//!   convolution with unit weights, computed as window sums through one output stage
//!   (`mw_kernels::int8::pool::avg_pool_staged`, multiplier of `common::multiplier`);
//! * otherwise: the pool kernel's fixed-point multiplier per count (TFLite's double rounding).
//!
//! `i16` inputs or outputs (A16) take the second form through `mw_kernels::lowbit` (unit weights
//! packed as binary `+1`), whatever the scales; windows counting different taps are refused.
use super::common::{
    bad_q8, check_q8, check_scalar, dispatch_q8_pair, int8_error, multiplier, scale_of,
    zero_point_of, Cache, Clamp,
};
use super::lowbit::{self, dispatch_act_pair};
use super::qlinear_conv::{output_dtype, shape_key};
use crate::op::{optional, required};
use crate::ops::nn::Window;
use crate::{op_boilerplate, Attr, Attrs, BuildCtx, Cost, Fact, Op, OpError};
use mw_kernels::int8::pool::{
    avg_pool, avg_pool_staged, global_avg_pool, AvgPoolQuant, Pool2dParams,
};
use mw_kernels::int8::requant::{Activation, Multipliers, OutputStage};
use mw_kernels::int8::{QInput, QuantElem};
use mw_kernels::lowbit::conv::LowBitConvPlan;
use mw_kernels::lowbit::{ActElem, LowBitFormat, OutElem, PackedWeights};
use mw_tensor::{DType, Element, Tensor};

/// Largest window a quantized average may cover (one multiplier per possible count).
const MAX_TAPS: usize = 1 << 20;

#[derive(Clone, Debug, PartialEq)]
pub struct QAvgPool {
    /// `None` for the global pool.
    pub window: Option<Window>,
    pub count_include_pad: bool,
    pub clamp: Clamp,
    cache: Cache<Prepared>,
    wide: Cache<WidePrepared>,
}

/// The 16-bit path: a depthwise convolution with unit weights (packed binary `+1`) and one
/// multiplier `x_scale / (y_scale · count)` (every window must count the same taps).
#[derive(Debug)]
struct WidePrepared {
    plan: LowBitConvPlan,
    stage: OutputStage,
    x_zero_point: i32,
}

/// How the average is computed (see the module doc).
#[derive(Debug)]
enum Prepared {
    Pool(AvgPoolQuant),
    Staged {
        stage: OutputStage,
        x_zero_point: i32,
    },
}

pub fn build_mw_qavg_pool(attrs: &Attrs, _ctx: &BuildCtx) -> Result<Box<dyn Op>, OpError> {
    let window = Window::from_attrs(attrs)?;
    if window.kernel_shape.is_none() {
        return Err(OpError::Attribute {
            name: "kernel_shape".into(),
            reason: "required".into(),
        });
    }
    if attrs.int_or("ceil_mode", 0)? != 0 {
        return Err(OpError::Unsupported("MwQAvgPool with ceil_mode = 1".into()));
    }
    Ok(Box::new(QAvgPool::new(
        Some(window),
        attrs.int_or("count_include_pad", 0)? != 0,
        Clamp::from_attrs(attrs)?,
    )))
}

pub fn build_mw_qglobal_avg_pool(attrs: &Attrs, _ctx: &BuildCtx) -> Result<Box<dyn Op>, OpError> {
    Ok(Box::new(QAvgPool::new(
        None,
        false,
        Clamp::from_attrs(attrs)?,
    )))
}

impl QAvgPool {
    pub fn new(window: Option<Window>, count_include_pad: bool, clamp: Clamp) -> QAvgPool {
        QAvgPool {
            window,
            count_include_pad,
            clamp,
            cache: Cache::default(),
            wide: Cache::default(),
        }
    }

    /// The 2-D pooling geometry of `x` and the output shape.
    pub fn geometry(&self, x: &[usize]) -> Result<(Pool2dParams, Vec<usize>), OpError> {
        if !(3..=4).contains(&x.len()) {
            return Err(OpError::Shape(format!(
                "integer average pooling needs rank 3 or 4, got {x:?}"
            )));
        }
        let rank = x.len() - 2;
        let hw = |v: &[usize], fill: usize| -> [usize; 2] {
            if rank == 1 {
                [fill, v[0]]
            } else {
                [v[0], v[1]]
            }
        };
        let in_hw = hw(&x[2..], 1);
        let p = match &self.window {
            None => Pool2dParams::global(x[0], x[1], in_hw),
            Some(w) => {
                let kernel = w.kernel(rank, None)?;
                let r = w.resolve(&x[2..], kernel)?;
                let [pt, pl] = hw(&r.pads_begin, 0);
                let [pb, pr] = hw(&r.pads_end, 0);
                Pool2dParams {
                    batch: x[0],
                    channels: x[1],
                    in_hw,
                    kernel: hw(&r.kernel, 1),
                    stride: hw(&r.strides, 1),
                    dilation: hw(&r.dilations, 1),
                    pads: [pt, pl, pb, pr],
                }
            }
        };
        let [oh, ow] = p.out_hw().map_err(int8_error)?;
        let out = if rank == 1 {
            vec![x[0], x[1], ow]
        } else {
            vec![x[0], x[1], oh, ow]
        };
        Ok((p, out))
    }

    fn prepare<T: QuantElem + Element, U: QuantElem + Element>(
        &self,
        p: &Pool2dParams,
        taps: usize,
        inputs: &[Option<&Tensor>],
    ) -> Result<Prepared, OpError> {
        let x_scale = scale_of(required(inputs, 1)?, 1)?;
        let x_zero_point = zero_point_of(optional(inputs, 2), 2, T::DTYPE)?;
        let y_scale = scale_of(required(inputs, 3)?, 3)?;
        let y_zero_point = zero_point_of(optional(inputs, 4), 4, U::DTYPE)?;
        let fixed_count = self.count_include_pad || p.pads == [0; 4];
        if x_scale != y_scale && fixed_count {
            let m = multiplier(f64::from(x_scale) / (f64::from(y_scale) * taps as f64))?;
            let (qmin, qmax) = self.clamp.range::<U>()?;
            let stage =
                OutputStage::new::<U>(Multipliers::FixedPoint(vec![m]), y_zero_point, qmin, qmax)
                    .map_err(int8_error)?;
            return Ok(Prepared::Staged {
                stage,
                x_zero_point,
            });
        }
        AvgPoolQuant::new::<T, U>(
            x_scale,
            x_zero_point,
            y_scale,
            y_zero_point,
            taps,
            self.count_include_pad,
            Activation::None,
        )
        .map(Prepared::Pool)
        .map_err(int8_error)
    }

    fn run<T: QuantElem + Element, U: QuantElem + Element>(
        &self,
        inputs: &[Option<&Tensor>],
    ) -> Result<Tensor, OpError> {
        let x = required(inputs, 0)?;
        let (p, out_shape) = self.geometry(x.shape())?;
        let taps = p.kernel[0].saturating_mul(p.kernel[1]);
        if taps > MAX_TAPS {
            return Err(OpError::Unsupported(format!("a window of {taps} taps")));
        }
        let shape = shape_key(x.shape());
        let mut key: Vec<Option<&Tensor>> = vec![Some(&shape)];
        key.extend((1..5).map(|i| optional(inputs, i)));
        let prepared = self
            .cache
            .get(&key, || self.prepare::<T, U>(&p, taps, inputs))?;
        let mut y = Tensor::zeros(U::DTYPE, out_shape)?;
        let xs = x.as_slice::<T>()?;
        let out = y.as_slice_mut::<U>()?;
        match (&*prepared, &self.window) {
            (
                Prepared::Staged {
                    stage,
                    x_zero_point,
                },
                _,
            ) => {
                let xq = QInput {
                    data: xs,
                    zero_point: *x_zero_point,
                };
                avg_pool_staged(&p, xq, stage, out)
            }
            (Prepared::Pool(q), None) => global_avg_pool(p.batch, p.channels, p.in_hw, xs, q, out),
            (Prepared::Pool(q), Some(_)) => avg_pool(&p, xs, q, out),
        }
        .map_err(int8_error)?;
        self.clamp.apply(out)?;
        Ok(y)
    }
}

impl QAvgPool {
    fn prepare_wide(
        &self,
        p: &Pool2dParams,
        taps: usize,
        x_dtype: DType,
        y_dtype: DType,
        inputs: &[Option<&Tensor>],
    ) -> Result<WidePrepared, OpError> {
        let x_scale = scale_of(required(inputs, 1)?, 1)?;
        let x_zero_point = zero_point_of(optional(inputs, 2), 2, x_dtype)?;
        let y_scale = scale_of(required(inputs, 3)?, 3)?;
        let y_zero_point = zero_point_of(optional(inputs, 4), 4, y_dtype)?;
        if !(self.count_include_pad || p.pads == [0; 4]) {
            return Err(OpError::Unsupported(
                "16-bit average pooling with padding not counted (count_include_pad = 0)".into(),
            ));
        }
        let m = multiplier(f64::from(x_scale) / (f64::from(y_scale) * taps as f64))?;
        let stage = lowbit::stage_with(
            y_dtype,
            Multipliers::FixedPoint(vec![m]),
            y_zero_point,
            &self.clamp,
        )?;
        let geometry = p.as_depthwise_conv();
        let ones = vec![1i8; p.channels.saturating_mul(taps)];
        let w = PackedWeights::pack(LowBitFormat::Binary, p.channels, taps, &ones)
            .map_err(lowbit::lowbit_error)?;
        lowbit::check_overflow(&w, x_dtype, x_zero_point, None)?;
        Ok(WidePrepared {
            plan: LowBitConvPlan::new(geometry, w).map_err(lowbit::lowbit_error)?,
            stage,
            x_zero_point,
        })
    }

    fn run_wide<A: ActElem + Element, U: OutElem + Element>(
        &self,
        inputs: &[Option<&Tensor>],
    ) -> Result<Tensor, OpError> {
        let x = required(inputs, 0)?;
        let (p, out_shape) = self.geometry(x.shape())?;
        let taps = p.kernel[0].saturating_mul(p.kernel[1]);
        if taps > MAX_TAPS {
            return Err(OpError::Unsupported(format!("a window of {taps} taps")));
        }
        let shape = shape_key(x.shape());
        let mut key: Vec<Option<&Tensor>> = vec![Some(&shape)];
        key.extend((1..5).map(|i| optional(inputs, i)));
        let w = self.wide.get(&key, || {
            self.prepare_wide(&p, taps, x.dtype(), U::DTYPE, inputs)
        })?;
        let mut y = Tensor::zeros(U::DTYPE, out_shape)?;
        let xq = QInput {
            data: x.as_slice::<A>()?,
            zero_point: w.x_zero_point,
        };
        w.plan
            .run(xq, None, &w.stage, y.as_slice_mut::<U>()?)
            .map_err(lowbit::lowbit_error)?;
        Ok(y)
    }
}

impl Op for QAvgPool {
    fn op_type(&self) -> &'static str {
        if self.window.is_some() {
            "MwQAvgPool"
        } else {
            "MwQGlobalAvgPool"
        }
    }
    fn attrs(&self) -> Attrs {
        let mut a = match &self.window {
            Some(w) => w.to_attrs(Attrs::new()),
            None => Attrs::new(),
        };
        if self.count_include_pad {
            a.set("count_include_pad", Attr::Int(1));
        }
        self.clamp.write(a)
    }
    fn infer(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>, OpError> {
        let x = required(inputs, 0)?;
        lowbit::check_act(x.dtype, 0)?;
        check_scalar(required(inputs, 1)?, 1, DType::F32)?;
        if let Some(z) = optional(inputs, 2) {
            check_scalar(z, 2, x.dtype)?;
        }
        check_scalar(required(inputs, 3)?, 3, DType::F32)?;
        let y_zp = optional(inputs, 4);
        if let Some(z) = y_zp {
            lowbit::check_act(z.dtype, 4)?;
        }
        let (_, out) = self.geometry(&x.shape)?;
        Ok(vec![Fact::new(output_dtype(y_zp, x.dtype), out)])
    }
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, OpError> {
        let x = required(inputs, 0)?;
        let y_dtype = optional(inputs, 4).map_or(x.dtype(), Tensor::dtype);
        if x.dtype() == DType::I16 || y_dtype == DType::I16 {
            let y = dispatch_act_pair!(x.dtype(), y_dtype, A, U => self.run_wide::<A, U>(inputs)?,
                _ => return Err(OpError::InputDType {
                    index: 4, expected: lowbit::ACT.into(), actual: y_dtype }));
            return Ok(vec![y]);
        }
        check_q8(x.dtype(), 0)?;
        let y = dispatch_q8_pair!(x.dtype(), y_dtype, T, U => self.run::<T, U>(inputs)?,
            _ => return Err(bad_q8(4, y_dtype)));
        Ok(vec![y])
    }
    fn cost(&self, inputs: &[Option<&Fact>], outputs: &[Fact]) -> Cost {
        Cost {
            elementwise: required(inputs, 0).map_or(0, |x| x.numel() as u64)
                + 2 * outputs[0].numel() as u64,
            ..Cost::default()
        }
    }
    op_boilerplate!();
}

#[cfg(test)]
mod tests {
    use super::super::common::testutil::{s, t, z};
    use super::*;
    use crate::ops::elementwise::common::testutil::{build, round_trips, run};

    #[test]
    fn same_scale_average_rounds_ties_away_from_zero() {
        let mut a = Attrs::new();
        a.set("kernel_shape", Attr::Ints(vec![1, 2]))
            .set("strides", Attr::Ints(vec![1, 2]));
        let op = build("MwQAvgPool", &a, 13, 5);
        let inputs = [
            t(&[1, 1, 1, 6], vec![-128i8, -127, -126, -123, 0, 1]),
            s(0.5),
            z(-128i8),
            s(0.5),
            z(-128i8),
        ];
        let y = run(op.as_ref(), &inputs.map(Some)).unwrap();
        // sums over the zero point: 1, 7, 257 → averages 0.5 → 1, 3.5 → 4, 128.5 → 129.
        assert_eq!(y.as_slice::<i8>().unwrap(), &[-127, -124, 1]);
        round_trips(op.as_ref(), 13, 5);
    }

    #[test]
    fn global_average_rescales_and_clamps() {
        let a = Clamp {
            qmin: None,
            qmax: Some(3),
        }
        .write(Attrs::new());
        let op = build("MwQGlobalAvgPool", &a, 13, 5);
        let inputs = [
            t(&[1, 2, 2, 2], vec![0u8, 2, 4, 6, 10, 20, 30, 40]),
            s(1.0),
            z(0u8),
            s(2.0),
            z(0u8),
        ];
        let y = run(op.as_ref(), &inputs.map(Some)).unwrap();
        assert_eq!(y.shape(), &[1, 2, 1, 1]);
        // means 3 and 25 in real units → 1.5 → 2 and 12.5 → 13 (clamped to 3).
        assert_eq!(y.as_slice::<u8>().unwrap(), &[2, 3]);
        round_trips(op.as_ref(), 13, 5);
    }

    #[test]
    fn ceil_mode_and_bad_dtypes_are_refused() {
        let mut a = Attrs::new();
        a.set("kernel_shape", Attr::Ints(vec![2, 2]))
            .set("ceil_mode", Attr::Int(1));
        let ctx = BuildCtx {
            opset: 13,
            n_inputs: 5,
            n_outputs: 1,
        };
        assert!(matches!(
            build_mw_qavg_pool(&a, &ctx),
            Err(OpError::Unsupported(_))
        ));
        let op = build("MwQGlobalAvgPool", &Attrs::new(), 13, 5);
        let x = Fact::new(DType::F32, vec![1, 1, 2, 2]);
        let sc = Fact::of(&s(1.0));
        assert!(matches!(
            op.infer(&[Some(&x), Some(&sc), None, Some(&sc), None]),
            Err(OpError::InputDType { index: 0, .. })
        ));
    }
}

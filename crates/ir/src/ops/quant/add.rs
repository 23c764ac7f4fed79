//! MwQAdd: elementwise sum of two quantized tensors with their own scales (numpy broadcasting),
//! integer-only (TFLite's scheme).
//!
//! Inputs: `a`, `a_scale`, `a_zero_point`, `b`, `b_scale`, `b_zero_point`, `y_scale`,
//! `y_zero_point` (`a`, `b` and the output each `i8`, `u8` or `i16`; each zero point of its
//! tensor's type; the output type is `y_zero_point`'s, else `a`'s). Attributes `qmin` / `qmax`
//! clamp the stored output (a fused ReLU).
//!
//! `a` and `b` of one 8-bit type into an 8-bit output run `mw_kernels::int8::add` (2^20
//! pre-shift); every other mix (a 16-bit tensor, or `i8` with `u8`) runs
//! `mw_kernels::int16::add` (2^15 pre-shift, its headroom proven there).
use super::common::{
    bad_q8, check_dtype, check_scalar, dispatch_q8_pair, int8_error, scale_of, zero_point_of,
    Cache, Clamp,
};
use super::lowbit::{check_act, dispatch_act, dispatch_act_pair, ACT};
use super::qlinear_conv::output_dtype;
use crate::op::{optional, required};
use crate::{op_boilerplate, Attrs, BuildCtx, Cost, Fact, Op, OpError};
use mw_kernels::elementwise::{binary, broadcast_shapes};
use mw_kernels::int16::add as wide;
use mw_kernels::int8::add::{add, AddParams};
use mw_kernels::int8::requant::Activation;
use mw_kernels::int8::{Int8Error, QParams, QuantElem};
use mw_kernels::lowbit::{ActElem, OutElem};
use mw_tensor::{DType, Element, Tensor};
use std::any::Any;

#[derive(Clone, Debug, PartialEq)]
pub struct QAdd {
    pub clamp: Clamp,
    /// `AddParams<T, U>` for the types of the first evaluation.
    cache: Cache<Box<dyn AnyParams>>,
}

/// Type-erased [`AddParams`].
trait AnyParams: std::fmt::Debug + Send + Sync {
    fn as_any(&self) -> &dyn Any;
}

impl<T: QuantElem, U: QuantElem> AnyParams for AddParams<T, U> {
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl<A: ActElem, B: ActElem, U: OutElem> AnyParams for wide::AddParams<A, B, U> {
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The cached parameters as `P`.
fn downcast<P: 'static>(p: &dyn AnyParams) -> Result<&P, OpError> {
    p.as_any()
        .downcast_ref::<P>()
        .ok_or_else(|| OpError::Unsupported("input types changed between runs".into()))
}

/// Whether `a + b → y` is the all-8-bit case of `mw_kernels::int8::add`.
fn is_q8(a: DType, b: DType, y: DType) -> bool {
    let q8 = |d: DType| matches!(d, DType::I8 | DType::U8);
    a == b && q8(a) && q8(y)
}

pub fn build_mw_qadd(attrs: &Attrs, _ctx: &BuildCtx) -> Result<Box<dyn Op>, OpError> {
    Ok(Box::new(QAdd::new(Clamp::from_attrs(attrs)?)))
}

fn broadcast_error(a: &[usize], b: &[usize]) -> OpError {
    OpError::Shape(format!("{a:?} and {b:?} do not broadcast"))
}

impl QAdd {
    pub fn new(clamp: Clamp) -> QAdd {
        QAdd {
            clamp,
            cache: Cache::default(),
        }
    }

    /// The clamp attributes as bounds within `U`'s range (`None` without a clamp).
    fn clamp_range<U: OutElem>(&self) -> Option<(i32, i32)> {
        if self.clamp.is_none() {
            return None;
        }
        let bound =
            |v: Option<i64>, d: i32| v.map_or(d, |v| v.clamp(U::MIN.into(), U::MAX.into()) as i32);
        Some((
            bound(self.clamp.qmin, U::MIN),
            bound(self.clamp.qmax, U::MAX),
        ))
    }

    /// Any mix of `i8` / `u8` / `i16` inputs and output (`mw_kernels::int16::add`).
    fn run_wide<A, B, U>(&self, inputs: &[Option<&Tensor>]) -> Result<Tensor, OpError>
    where
        A: ActElem + Element,
        B: ActElem + Element,
        U: OutElem + Element,
    {
        self.run_kernel(
            inputs,
            |a, b, y| wide::AddParams::<A, B, U>::new(a, b, y, self.clamp_range::<U>()),
            wide::add,
        )
    }

    /// Both inputs of one 8-bit type into an 8-bit output (`mw_kernels::int8::add`).
    fn run<T: QuantElem + Element, U: QuantElem + Element>(
        &self,
        inputs: &[Option<&Tensor>],
    ) -> Result<Tensor, OpError> {
        let (a, b) = (required(inputs, 0)?, required(inputs, 3)?);
        check_dtype(b.dtype(), 3, a.dtype())?;
        let mut y = self.run_kernel(
            inputs,
            |a, b, y| AddParams::<T, U>::new(a, b, y, Activation::None),
            add,
        )?;
        self.clamp.apply(y.as_slice_mut::<U>()?)?;
        Ok(y)
    }

    /// `kernel` on inputs `a: X` and `b: Y` with numpy broadcasting, into a `U` tensor, with the
    /// parameters `P` derived by `new(a, b, y)` from the `QParams` inputs on first use (cached).
    fn run_kernel<X, Y, U, P>(
        &self,
        inputs: &[Option<&Tensor>],
        new: impl FnOnce(QParams, QParams, QParams) -> Result<P, Int8Error>,
        kernel: impl Fn(&P, &[X], &[Y], &mut [U]) -> Result<(), Int8Error>,
    ) -> Result<Tensor, OpError>
    where
        X: Element,
        Y: Element,
        U: Element,
        P: AnyParams + 'static,
    {
        let (a, b) = (required(inputs, 0)?, required(inputs, 3)?);
        let key = [1, 2, 4, 5, 6, 7].map(|i| optional(inputs, i));
        let p = self.cache.get(&key, || {
            let q = |s: usize, z: usize, dt: DType| -> Result<QParams, OpError> {
                Ok(QParams {
                    scale: scale_of(required(inputs, s)?, s)?,
                    zero_point: zero_point_of(optional(inputs, z), z, dt)?,
                })
            };
            let p = new(q(1, 2, X::DTYPE)?, q(4, 5, Y::DTYPE)?, q(6, 7, U::DTYPE)?)
                .map_err(int8_error)?;
            Ok(Box::new(p) as Box<dyn AnyParams>)
        })?;
        let p = downcast::<P>(p.as_ref().as_ref())?;
        let (av, bv) = (a.as_slice::<X>()?, b.as_slice::<Y>()?);
        let shape = broadcast_shapes(a.shape(), b.shape())
            .map_err(|_| broadcast_error(a.shape(), b.shape()))?;
        let n: usize = shape.iter().product();
        let mut y = Tensor::zeros(U::DTYPE, shape)?;
        let out = y.as_slice_mut::<U>()?;
        let direct = |len: usize| len == n || len == 1;
        if direct(av.len()) && direct(bv.len()) {
            kernel(p, av, bv, out).map_err(int8_error)?;
        } else {
            let (_, pairs) = binary(av, a.shape(), bv, b.shape(), |x, y| (x, y))
                .map_err(|_| broadcast_error(a.shape(), b.shape()))?;
            let (ea, eb): (Vec<X>, Vec<Y>) = pairs.into_iter().unzip();
            kernel(p, &ea, &eb, out).map_err(int8_error)?;
        }
        Ok(y)
    }
}

impl Op for QAdd {
    fn op_type(&self) -> &'static str {
        "MwQAdd"
    }
    fn attrs(&self) -> Attrs {
        self.clamp.write(Attrs::new())
    }
    fn infer(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>, OpError> {
        let (a, b) = (required(inputs, 0)?, required(inputs, 3)?);
        check_act(a.dtype, 0)?;
        check_act(b.dtype, 3)?;
        for (s, z, dt) in [(1, 2, a.dtype), (4, 5, b.dtype)] {
            check_scalar(required(inputs, s)?, s, DType::F32)?;
            if let Some(f) = optional(inputs, z) {
                check_scalar(f, z, dt)?;
            }
        }
        check_scalar(required(inputs, 6)?, 6, DType::F32)?;
        let y_zp = optional(inputs, 7);
        if let Some(z) = y_zp {
            check_act(z.dtype, 7)?;
        }
        let shape = broadcast_shapes(&a.shape, &b.shape)
            .map_err(|_| broadcast_error(&a.shape, &b.shape))?;
        Ok(vec![Fact::new(output_dtype(y_zp, a.dtype), shape)])
    }
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, OpError> {
        let (a, b) = (required(inputs, 0)?, required(inputs, 3)?);
        let y_dtype = optional(inputs, 7).map_or(a.dtype(), Tensor::dtype);
        if is_q8(a.dtype(), b.dtype(), y_dtype) {
            let y = dispatch_q8_pair!(a.dtype(), y_dtype, T, U => self.run::<T, U>(inputs)?,
                _ => return Err(bad_q8(7, y_dtype)));
            return Ok(vec![y]);
        }
        let bad = |index: usize, actual: DType| OpError::InputDType {
            index,
            expected: ACT.into(),
            actual,
        };
        let y = dispatch_act!(a.dtype(), A => {
            dispatch_act_pair!(b.dtype(), y_dtype, B, U => self.run_wide::<A, B, U>(inputs)?,
                _ => return Err(if check_act(b.dtype(), 3).is_err() {
                    bad(3, b.dtype())
                } else {
                    bad(7, y_dtype)
                }))
        }, _ => return Err(bad(0, a.dtype())));
        Ok(vec![y])
    }
    fn cost(&self, _inputs: &[Option<&Fact>], outputs: &[Fact]) -> Cost {
        Cost {
            elementwise: 3 * outputs[0].numel() as u64,
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
    fn adds_with_two_scales_and_broadcasts() {
        let op = build("MwQAdd", &Attrs::new(), 13, 8);
        let inputs = [
            t(&[2, 2], vec![10i8, 20, -10, 0]),
            s(0.5),
            z(0i8),
            t(&[2], vec![4i8, -4]),
            s(0.25),
            z(0i8),
            s(1.0),
            z(1i8),
        ];
        let y = run(op.as_ref(), &inputs.map(Some)).unwrap();
        // reals [5, 10, −5, 0] + [1, −1] = [6, 9, −4, −1] → +1.
        assert_eq!(y.as_slice::<i8>().unwrap(), &[7, 10, -3, 0]);
        round_trips(op.as_ref(), 13, 8);
    }

    #[test]
    fn fused_relu_clamps_at_the_zero_point() {
        let a = Clamp {
            qmin: Some(3),
            qmax: None,
        }
        .write(Attrs::new());
        let op = build("MwQAdd", &a, 13, 8);
        let inputs = [
            t(&[3], vec![0u8, 10, 20]),
            s(1.0),
            z(10u8),
            t(&[1], vec![10u8]),
            s(1.0),
            z(10u8),
            s(1.0),
            z(3u8),
        ];
        let y = run(op.as_ref(), &inputs.map(Some)).unwrap();
        assert_eq!(y.as_slice::<u8>().unwrap(), &[3, 3, 13]);
    }

    #[test]
    fn sixteen_bit_and_mixed_types_add_with_broadcasting() {
        let op = build("MwQAdd", &Attrs::new(), 13, 8);
        let inputs = [
            t(&[2, 2], vec![1000i16, -2000, 30000, 0]),
            s(0.01),
            z(0i16),
            t(&[2], vec![100i8, -100]),
            s(0.1),
            z(0i8),
            s(0.01),
            z(-5i16),
        ];
        let y = run(op.as_ref(), &inputs.map(Some)).unwrap();
        // reals [10, −20, 300, 0] + [10, −10] = [20, −30, 310, −10] → /0.01 − 5, saturated.
        assert_eq!(y.as_slice::<i16>().unwrap(), &[1995, -3005, 30995, -1005]);
        round_trips(op.as_ref(), 13, 8);
        // u8 + i8 (no longer one 8-bit type) into u8 with a clamp.
        let a = Clamp {
            qmin: Some(10),
            qmax: None,
        }
        .write(Attrs::new());
        let op = build("MwQAdd", &a, 13, 8);
        let inputs = [
            t(&[3], vec![0u8, 10, 20]),
            s(1.0),
            z(10u8),
            t(&[1], vec![3i8]),
            s(1.0),
            z(0i8),
            s(1.0),
            z(10u8),
        ];
        let y = run(op.as_ref(), &inputs.map(Some)).unwrap();
        assert_eq!(y.as_slice::<u8>().unwrap(), &[10, 13, 23]);
    }

    #[test]
    fn non_integer_inputs_are_refused() {
        let op = build("MwQAdd", &Attrs::new(), 13, 8);
        let inputs = [
            t(&[1], vec![0i16]),
            s(1.0),
            z(0i16),
            t(&[1], vec![0i32]),
            s(1.0),
            z(0i32),
            s(1.0),
            z(0i16),
        ];
        assert!(matches!(
            run(op.as_ref(), &inputs.map(Some)),
            Err(OpError::InputDType { index: 3, .. })
        ));
    }
}

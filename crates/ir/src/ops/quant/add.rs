//! MwQAdd: elementwise sum of two 8-bit tensors with their own scales (numpy broadcasting),
//! integer-only (TFLite's scheme, `mw_kernels::int8::add`).
//!
//! Inputs: `a`, `a_scale`, `a_zero_point`, `b`, `b_scale`, `b_zero_point`, `y_scale`,
//! `y_zero_point` (`a` and `b` of one 8-bit type; the output type is `y_zero_point`'s).
//! Attributes `qmin` / `qmax` clamp the stored output (a fused ReLU).
use super::common::{
    bad_q8, check_dtype, check_q8, check_scalar, dispatch_q8_pair, int8_error, scale_of,
    zero_point_of, Cache, Clamp,
};
use super::qlinear_conv::output_dtype;
use crate::op::{optional, required};
use crate::{op_boilerplate, Attrs, BuildCtx, Cost, Fact, Op, OpError};
use mw_kernels::elementwise::{binary, broadcast_shapes};
use mw_kernels::int8::add::{add, AddParams};
use mw_kernels::int8::requant::Activation;
use mw_kernels::int8::{QParams, QuantElem};
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

    fn run<T: QuantElem + Element, U: QuantElem + Element>(
        &self,
        inputs: &[Option<&Tensor>],
    ) -> Result<Tensor, OpError> {
        let (a, b) = (required(inputs, 0)?, required(inputs, 3)?);
        check_dtype(b.dtype(), 3, a.dtype())?;
        let key = [1, 2, 4, 5, 6, 7].map(|i| optional(inputs, i));
        let p = self.cache.get(&key, || {
            let q = |s: usize, z: usize, dt: DType| -> Result<QParams, OpError> {
                Ok(QParams {
                    scale: scale_of(required(inputs, s)?, s)?,
                    zero_point: zero_point_of(optional(inputs, z), z, dt)?,
                })
            };
            let p = AddParams::<T, U>::new(
                q(1, 2, T::DTYPE)?,
                q(4, 5, T::DTYPE)?,
                q(6, 7, U::DTYPE)?,
                Activation::None,
            )
            .map_err(int8_error)?;
            Ok(Box::new(p) as Box<dyn AnyParams>)
        })?;
        let p = p
            .as_any()
            .downcast_ref::<AddParams<T, U>>()
            .ok_or_else(|| OpError::Unsupported("input types changed between runs".into()))?;
        let (av, bv) = (a.as_slice::<T>()?, b.as_slice::<T>()?);
        let shape = broadcast_shapes(a.shape(), b.shape())
            .map_err(|_| broadcast_error(a.shape(), b.shape()))?;
        let n: usize = shape.iter().product();
        let mut y = Tensor::zeros(U::DTYPE, shape)?;
        let out = y.as_slice_mut::<U>()?;
        let direct = |len: usize| len == n || len == 1;
        if direct(av.len()) && direct(bv.len()) {
            add(p, av, bv, out).map_err(int8_error)?;
        } else {
            let (_, pairs) = binary(av, a.shape(), bv, b.shape(), |x, y| (x, y))
                .map_err(|_| broadcast_error(a.shape(), b.shape()))?;
            let (ea, eb): (Vec<T>, Vec<T>) = pairs.into_iter().unzip();
            add(p, &ea, &eb, out).map_err(int8_error)?;
        }
        self.clamp.apply(out)?;
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
        check_q8(a.dtype, 0)?;
        check_dtype(b.dtype, 3, a.dtype)?;
        for (s, z, dt) in [(1, 2, a.dtype), (4, 5, a.dtype)] {
            check_scalar(required(inputs, s)?, s, DType::F32)?;
            if let Some(f) = optional(inputs, z) {
                check_scalar(f, z, dt)?;
            }
        }
        check_scalar(required(inputs, 6)?, 6, DType::F32)?;
        let y_zp = optional(inputs, 7);
        if let Some(z) = y_zp {
            check_q8(z.dtype, 7)?;
        }
        let shape = broadcast_shapes(&a.shape, &b.shape)
            .map_err(|_| broadcast_error(&a.shape, &b.shape))?;
        Ok(vec![Fact::new(output_dtype(y_zp, a.dtype), shape)])
    }
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, OpError> {
        let a = required(inputs, 0)?;
        check_q8(a.dtype(), 0)?;
        let y_dtype = optional(inputs, 7).map_or(a.dtype(), Tensor::dtype);
        let y = dispatch_q8_pair!(a.dtype(), y_dtype, T, U => self.run::<T, U>(inputs)?,
            _ => return Err(bad_q8(7, y_dtype)));
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
    fn mixed_input_types_are_refused() {
        let op = build("MwQAdd", &Attrs::new(), 13, 8);
        let inputs = [
            t(&[1], vec![0u8]),
            s(1.0),
            z(0u8),
            t(&[1], vec![0i8]),
            s(1.0),
            z(0i8),
            s(1.0),
            z(0u8),
        ];
        assert!(matches!(
            run(op.as_ref(), &inputs.map(Some)),
            Err(OpError::InputDType { index: 3, .. })
        ));
    }
}

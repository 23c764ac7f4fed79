//! MwQSoftmax: softmax of quantized logits into quantized probabilities, integer-only at run time:
//! 8-bit to 8-bit by one lookup table (`mw_kernels::int8::softmax`); with an `i16` input or output
//! (A16) by two-digit exponential tables (`mw_kernels::int16::softmax`, within `1/2 + β` output
//! steps of the float softmax, `β ≈ 0.0016` for 12 classes at scale 2^-16).
//!
//! Inputs: `x` (i8/u8/i16), `x_scale`, `x_zero_point`, `y_scale`, `y_zero_point` (one value each;
//! the output type, i8/u8/i16, is `y_zero_point`'s). Attribute `axis` (default −1): each row over the dimensions
//! from `axis` on is normalized (the flatten semantics of Softmax before opset 13, which equals the
//! opset-13 semantics when `axis` is the last non-unit dimension). The result is within 1 of the
//! exactly rounded quantized softmax; the usual output is scale 1/256 with zero point −128 (i8).
use super::common::{
    bad_q8, check_q8, check_scalar, dispatch_q8_pair, int8_error, scale_of, zero_point_of, Cache,
};
use super::lowbit::{self, dispatch_act_pair};
use super::qlinear_conv::output_dtype;
use crate::op::{normalize_axis, optional, required};
use crate::{op_boilerplate, Attr, Attrs, BuildCtx, Cost, Fact, Op, OpError};
use mw_kernels::int16::softmax as wide;
use mw_kernels::int8::softmax::{softmax, SoftmaxParams};
use mw_kernels::int8::{QParams, QuantElem};
use mw_kernels::lowbit::{ActElem, OutElem};
use mw_tensor::{DType, Element, Tensor};
use std::any::Any;
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq)]
pub struct QSoftmax {
    pub axis: i64,
    cache: Cache<Box<dyn AnyParams>>,
}

/// Type-erased [`SoftmaxParams`].
trait AnyParams: std::fmt::Debug + Send + Sync {
    fn as_any(&self) -> &dyn Any;
}

impl<T: QuantElem, U: QuantElem> AnyParams for SoftmaxParams<T, U> {
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl<T: ActElem, U: OutElem> AnyParams for wide::SoftmaxParams<T, U> {
    fn as_any(&self) -> &dyn Any {
        self
    }
}

pub fn build_mw_qsoftmax(attrs: &Attrs, _ctx: &BuildCtx) -> Result<Box<dyn Op>, OpError> {
    Ok(Box::new(QSoftmax::new(attrs.int_or("axis", -1)?)))
}

impl QSoftmax {
    pub fn new(axis: i64) -> QSoftmax {
        QSoftmax {
            axis,
            cache: Cache::default(),
        }
    }

    /// `(rows, row length)` of `shape`.
    fn rows(&self, shape: &[usize]) -> Result<(usize, usize), OpError> {
        let axis = normalize_axis(self.axis, shape.len().max(1))?;
        let axis = axis.min(shape.len());
        Ok((
            shape[..axis].iter().product(),
            shape[axis..].iter().product(),
        ))
    }

    /// The cached kernel parameters `P`, built by `new(x_scale, output parameters)`.
    fn params<P: AnyParams + 'static>(
        &self,
        inputs: &[Option<&Tensor>],
        y_dtype: DType,
        new: impl FnOnce(f32, QParams) -> Result<P, OpError>,
    ) -> Result<Arc<Box<dyn AnyParams>>, OpError> {
        let key = [1, 3, 4].map(|i| optional(inputs, i));
        self.cache.get(&key, || {
            let out = QParams {
                scale: scale_of(required(inputs, 3)?, 3)?,
                zero_point: zero_point_of(optional(inputs, 4), 4, y_dtype)?,
            };
            let p = new(scale_of(required(inputs, 1)?, 1)?, out)?;
            Ok(Box::new(p) as Box<dyn AnyParams>)
        })
    }

    fn run<T: QuantElem + Element, U: QuantElem + Element>(
        &self,
        inputs: &[Option<&Tensor>],
    ) -> Result<Tensor, OpError> {
        let x = required(inputs, 0)?;
        let (rows, len) = self.rows(x.shape())?;
        let p = self.params(inputs, U::DTYPE, |s, out| {
            SoftmaxParams::<T, U>::new(s, out).map_err(int8_error)
        })?;
        let p = downcast::<SoftmaxParams<T, U>>(p.as_ref().as_ref())?;
        let mut y = Tensor::zeros(U::DTYPE, x.shape().to_vec())?;
        softmax(p, rows, len, x.as_slice::<T>()?, y.as_slice_mut::<U>()?).map_err(int8_error)?;
        Ok(y)
    }

    /// An `i16` input or output: `mw_kernels::int16::softmax`.
    fn run_wide<T: ActElem + Element, U: OutElem + Element>(
        &self,
        inputs: &[Option<&Tensor>],
    ) -> Result<Tensor, OpError> {
        let x = required(inputs, 0)?;
        let (rows, len) = self.rows(x.shape())?;
        let p = self.params(inputs, U::DTYPE, |s, out| {
            wide::SoftmaxParams::<T, U>::new(s, out).map_err(int8_error)
        })?;
        let p = downcast::<wide::SoftmaxParams<T, U>>(p.as_ref().as_ref())?;
        let mut y = Tensor::zeros(U::DTYPE, x.shape().to_vec())?;
        wide::softmax(p, rows, len, x.as_slice::<T>()?, y.as_slice_mut::<U>()?)
            .map_err(int8_error)?;
        Ok(y)
    }
}

/// The cached parameters as `P`.
fn downcast<P: 'static>(p: &dyn AnyParams) -> Result<&P, OpError> {
    p.as_any()
        .downcast_ref::<P>()
        .ok_or_else(|| OpError::Unsupported("input types changed between runs".into()))
}

impl Op for QSoftmax {
    fn op_type(&self) -> &'static str {
        "MwQSoftmax"
    }
    fn attrs(&self) -> Attrs {
        Attrs::new().with("axis", Attr::Int(self.axis))
    }
    fn infer(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>, OpError> {
        let x = required(inputs, 0)?;
        lowbit::check_act(x.dtype, 0)?;
        self.rows(&x.shape)?;
        check_scalar(required(inputs, 1)?, 1, DType::F32)?;
        if let Some(z) = optional(inputs, 2) {
            check_scalar(z, 2, x.dtype)?;
        }
        check_scalar(required(inputs, 3)?, 3, DType::F32)?;
        let y_zp = optional(inputs, 4);
        if let Some(z) = y_zp {
            lowbit::check_act(z.dtype, 4)?;
        }
        Ok(vec![Fact::new(
            output_dtype(y_zp, x.dtype),
            x.shape.clone(),
        )])
    }
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, OpError> {
        let x = required(inputs, 0)?;
        let y_dtype = optional(inputs, 4).map_or(x.dtype(), Tensor::dtype);
        if x.dtype() == DType::I16 || y_dtype == DType::I16 {
            let y = dispatch_act_pair!(x.dtype(), y_dtype, T, U => self.run_wide::<T, U>(inputs)?,
                _ => return Err(OpError::InputDType {
                    index: 4, expected: lowbit::ACT.into(), actual: y_dtype }));
            return Ok(vec![y]);
        }
        check_q8(x.dtype(), 0)?;
        let y = dispatch_q8_pair!(x.dtype(), y_dtype, T, U => self.run::<T, U>(inputs)?,
            _ => return Err(bad_q8(4, y_dtype)));
        Ok(vec![y])
    }
    fn cost(&self, _inputs: &[Option<&Fact>], outputs: &[Fact]) -> Cost {
        Cost {
            elementwise: 4 * outputs[0].numel() as u64,
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
    fn rows_sum_to_about_one_and_the_max_wins() {
        let op = build("MwQSoftmax", &Attrs::new(), 13, 5);
        let inputs = [
            t(&[2, 3], vec![0i8, 0, 0, 10, 20, 30]),
            s(0.1),
            z(0i8),
            s(1.0 / 256.0),
            z(-128i8),
        ];
        let y = run(op.as_ref(), &inputs.map(Some)).unwrap();
        let v = y.as_slice::<i8>().unwrap();
        // a uniform row: 1/3 → 85.33 → −43.
        assert_eq!(&v[..3], &[-43, -43, -43]);
        // exp(−2), exp(−1), 1 over their sum: 0.090, 0.245, 0.665 → 23, 63, 170.
        assert_eq!(&v[3..], &[-105, -65, 42]);
        round_trips(op.as_ref(), 13, 5);
    }

    #[test]
    fn axis_selects_the_row_length() {
        let op = build(
            "MwQSoftmax",
            &Attrs::new().with("axis", Attr::Int(0)),
            13,
            5,
        );
        let inputs = [
            t(&[2], vec![5u8, 5]),
            s(1.0),
            z(0u8),
            s(1.0 / 256.0),
            z(0u8),
        ];
        let y = run(op.as_ref(), &inputs.clone().map(Some)).unwrap();
        assert_eq!(y.as_slice::<u8>().unwrap(), &[128, 128]);
        let bad = build(
            "MwQSoftmax",
            &Attrs::new().with("axis", Attr::Int(3)),
            13,
            5,
        );
        assert!(run(bad.as_ref(), &inputs.map(Some)).is_err());
    }

    #[test]
    fn sixteen_bit_logits_and_probabilities() {
        let op = build("MwQSoftmax", &Attrs::new(), 13, 5);
        let i16_in = |y_zp: Tensor, y_scale: f32| {
            [
                t(&[2, 4], vec![8324i16, 8324, 8324, 8324, 0, 0, 0, 1155]),
                s(6.0e-4),
                z(8324i16),
                s(y_scale),
                y_zp,
            ]
        };
        let y = run(op.as_ref(), &i16_in(z(-32768i16), 1.0 / 65536.0).map(Some)).unwrap();
        // A uniform row: 1/4 each. Then exp(−6e-4 · 1155) = 0.50007 against 1: the small ones
        // 0.200012 → 13107.97 steps, the largest 0.399965 → 26212.09 steps.
        assert_eq!(
            y.as_slice::<i16>().unwrap(),
            &[-16384, -16384, -16384, -16384, -19660, -19660, -19660, -6556]
        );
        let y8 = run(op.as_ref(), &i16_in(z(-128i8), 1.0 / 256.0).map(Some)).unwrap();
        assert_eq!(
            y8.as_slice::<i8>().unwrap(),
            &[-64, -64, -64, -64, -77, -77, -77, -26]
        );
        let f = op
            .infer(&[
                Some(&Fact::new(DType::I16, vec![2, 4])),
                Some(&Fact::new(DType::F32, vec![])),
                None,
                Some(&Fact::new(DType::F32, vec![])),
                Some(&Fact::new(DType::U8, vec![])),
            ])
            .unwrap();
        assert_eq!(f[0].dtype, DType::U8);
        let bad = [t(&[2], vec![1i32, 2]), s(0.1), s(1.0 / 256.0)].map(Some);
        assert!(run(op.as_ref(), &bad).is_err());
    }
}

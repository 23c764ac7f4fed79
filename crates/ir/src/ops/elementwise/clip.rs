//! Clip: `min(max(x, lo), hi)` for every numeric dtype.
//!
//! From opset 11 the bounds are optional one-element inputs of `x`'s dtype (Relu6 is Clip with
//! bounds 0 and 6); before, they were float attributes `min`/`max` (kept here so older models load).
//! With `lo > hi` every element becomes `hi`, as in ONNX Runtime.
use super::common::{bad_dtype, cost, dispatch_numeric, NUMERIC};
use crate::op::{optional, required};
use crate::{op_boilerplate, Attr, Attrs, BuildCtx, Fact, Op, OpError};
use mw_kernels::elementwise as k;
use mw_tensor::{DType, Element, Tensor};

#[derive(Clone, Debug, PartialEq)]
pub struct Clip {
    /// The attribute bounds of opsets < 11 (`None` from opset 11, where bounds are inputs).
    pub legacy_bounds: Option<(f32, f32)>,
}

pub fn build_clip(attrs: &Attrs, ctx: &BuildCtx) -> Result<Box<dyn Op>, OpError> {
    let legacy_bounds = if ctx.opset < 11 {
        Some((
            attrs.float_or("min", f32::MIN)?,
            attrs.float_or("max", f32::MAX)?,
        ))
    } else {
        None
    };
    Ok(Box::new(Clip { legacy_bounds }))
}

/// The one-element bound at input `index`, if given.
fn bound<T: Element>(inputs: &[Option<&Tensor>], index: usize) -> Result<Option<T>, OpError> {
    match optional(inputs, index) {
        None => Ok(None),
        Some(t) if t.len() == 1 => Ok(Some(t.as_slice::<T>()?[0])),
        Some(t) => Err(OpError::Shape(format!(
            "Clip bound #{index} must hold one element, has shape {:?}",
            t.shape()
        ))),
    }
}

impl Clip {
    fn apply<T: k::Numeric + Element>(
        &self,
        x: &Tensor,
        inputs: &[Option<&Tensor>],
    ) -> Result<Tensor, OpError> {
        let (lo, hi) = (bound::<T>(inputs, 1)?, bound::<T>(inputs, 2)?);
        let y = k::clip(x.as_slice::<T>()?, lo, hi);
        Ok(Tensor::from_vec(x.shape().to_vec(), y)?)
    }

    fn apply_legacy<T: k::Float + Element>(
        &self,
        x: &Tensor,
        lo: f32,
        hi: f32,
    ) -> Result<Tensor, OpError> {
        let y = k::clip(
            x.as_slice::<T>()?,
            Some(T::from_f32(lo)),
            Some(T::from_f32(hi)),
        );
        Ok(Tensor::from_vec(x.shape().to_vec(), y)?)
    }
}

impl Op for Clip {
    fn op_type(&self) -> &'static str {
        "Clip"
    }
    fn attrs(&self) -> Attrs {
        match self.legacy_bounds {
            Some((lo, hi)) => Attrs::new()
                .with("min", Attr::Float(lo))
                .with("max", Attr::Float(hi)),
            None => Attrs::new(),
        }
    }
    fn infer(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>, OpError> {
        let x = required(inputs, 0)?;
        if x.dtype == DType::Bool {
            return Err(bad_dtype(0, NUMERIC, x.dtype));
        }
        for i in [1, 2] {
            if let Some(b) = optional(inputs, i) {
                if b.dtype != x.dtype {
                    return Err(bad_dtype(i, x.dtype.name(), b.dtype));
                }
                if b.numel() != 1 {
                    return Err(OpError::Shape(format!(
                        "Clip bound #{i} must hold one element, has shape {:?}",
                        b.shape
                    )));
                }
            }
        }
        Ok(vec![Fact::new(x.dtype, x.shape.clone())])
    }
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, OpError> {
        let x = required(inputs, 0)?;
        let out = match self.legacy_bounds {
            Some((lo, hi)) => match x.dtype() {
                DType::F32 => self.apply_legacy::<f32>(x, lo, hi)?,
                DType::F64 => self.apply_legacy::<f64>(x, lo, hi)?,
                other => return Err(bad_dtype(0, "f32 or f64", other)),
            },
            None => dispatch_numeric!(x.dtype(), T => self.apply::<T>(x, inputs)?, _ => {
                return Err(bad_dtype(0, NUMERIC, x.dtype()))
            }),
        };
        Ok(vec![out])
    }
    fn cost(&self, inputs: &[Option<&Fact>], outputs: &[Fact]) -> crate::Cost {
        cost(inputs, outputs, 2, &[])
    }
    op_boilerplate!();
}

#[cfg(test)]
mod tests {
    use super::super::common::testutil::{build, round_trips, run, t};
    use super::*;

    fn clip(inputs: &[Option<Tensor>]) -> Result<Tensor, OpError> {
        run(
            build("Clip", &Attrs::new(), 13, inputs.len()).as_ref(),
            inputs,
        )
    }

    #[test]
    fn relu6_and_one_sided_bounds() {
        let x = t(&[4], vec![-1.0f32, 3.0, 6.5, 10.0]);
        let y = clip(&[x.clone(), t(&[], vec![0.0f32]), t(&[], vec![6.0f32])]).unwrap();
        assert_eq!(y.as_slice::<f32>().unwrap(), &[0.0, 3.0, 6.0, 6.0]);
        let y = clip(&[x.clone(), None, t(&[1], vec![5.0f32])]).unwrap();
        assert_eq!(y.as_slice::<f32>().unwrap(), &[-1.0, 3.0, 5.0, 5.0]);
        let y = clip(&[x]).unwrap();
        assert_eq!(y.as_slice::<f32>().unwrap(), &[-1.0, 3.0, 6.5, 10.0]);
    }

    #[test]
    fn integer_bounds_and_inverted_bounds() {
        let y = clip(&[t(&[3], vec![-128i8, 0, 127]), t(&[], vec![-5i8])]).unwrap();
        assert_eq!(y.as_slice::<i8>().unwrap(), &[-5, 0, 127]);
        let x = t(&[2], vec![-1.0f32, 9.0]);
        let y = clip(&[x, t(&[], vec![2.0f32]), t(&[], vec![1.0f32])]).unwrap();
        assert_eq!(y.as_slice::<f32>().unwrap(), &[1.0, 1.0]);
    }

    #[test]
    fn bad_bounds_are_refused() {
        let x = t(&[2], vec![1.0f32, 2.0]);
        let err = clip(&[x.clone(), t(&[], vec![0i32])]).unwrap_err();
        assert!(matches!(err, OpError::InputDType { index: 1, .. }));
        let err = clip(&[x, t(&[2], vec![0.0f32, 1.0])]).unwrap_err();
        assert!(matches!(err, OpError::Shape(_)));
    }

    #[test]
    fn legacy_attribute_bounds() {
        let attrs = Attrs::new()
            .with("min", Attr::Float(0.0))
            .with("max", Attr::Float(6.0));
        let op = build("Clip", &attrs, 6, 1);
        let y = run(op.as_ref(), &[t(&[3], vec![-1.0f32, 3.0, 7.0])]).unwrap();
        assert_eq!(y.as_slice::<f32>().unwrap(), &[0.0, 3.0, 6.0]);
        round_trips(op.as_ref(), 6, 1);
        round_trips(build("Clip", &Attrs::new(), 13, 3).as_ref(), 13, 3);
    }
}

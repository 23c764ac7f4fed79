//! Softmax and LogSoftmax.
//!
//! Opset ≥ 13: normalized along `axis` alone (default -1). Opsets < 13: the input is flattened
//! to 2-D at `axis` (default 1) and normalized over each row, i.e. over all dimensions from
//! `axis` on. The op remembers which semantics it was built with.
use super::common::{bad_dtype, cost, dispatch_float, kernel_error, FLOAT};
use crate::op::{normalize_axis, required};
use crate::{op_boilerplate, Attr, Attrs, BuildCtx, Fact, Op, OpError};
use mw_kernels::elementwise::{self as k, SoftmaxLayout};
use mw_tensor::{Element, Tensor};

#[derive(Clone, Debug, PartialEq)]
pub struct Softmax {
    /// LogSoftmax rather than Softmax.
    pub log: bool,
    /// The axis as given (possibly negative).
    pub axis: i64,
    /// Flatten-to-2-D semantics (opsets < 13).
    pub flatten: bool,
}

fn build(attrs: &Attrs, ctx: &BuildCtx, log: bool) -> Result<Box<dyn Op>, OpError> {
    let flatten = ctx.opset < 13;
    let axis = attrs.int_or("axis", if flatten { 1 } else { -1 })?;
    Ok(Box::new(Softmax { log, axis, flatten }))
}

pub fn build_softmax(attrs: &Attrs, ctx: &BuildCtx) -> Result<Box<dyn Op>, OpError> {
    build(attrs, ctx, false)
}

pub fn build_log_softmax(attrs: &Attrs, ctx: &BuildCtx) -> Result<Box<dyn Op>, OpError> {
    build(attrs, ctx, true)
}

impl Softmax {
    fn layout(&self, shape: &[usize]) -> Result<SoftmaxLayout, OpError> {
        let axis = normalize_axis(self.axis, shape.len())?;
        Ok(SoftmaxLayout::of(shape, axis, self.flatten))
    }

    fn apply<T: k::Float + Element>(&self, x: &Tensor) -> Result<Tensor, OpError> {
        let layout = self.layout(x.shape())?;
        let v = x.as_slice::<T>()?;
        let y = if self.log {
            k::log_softmax(v, layout)
        } else {
            k::softmax(v, layout)
        }
        .map_err(kernel_error)?;
        Ok(Tensor::from_vec(x.shape().to_vec(), y)?)
    }
}

impl Op for Softmax {
    fn op_type(&self) -> &'static str {
        if self.log {
            "LogSoftmax"
        } else {
            "Softmax"
        }
    }
    fn attrs(&self) -> Attrs {
        Attrs::new().with("axis", Attr::Int(self.axis))
    }
    fn infer(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>, OpError> {
        let x = required(inputs, 0)?;
        if !x.dtype.is_float() {
            return Err(bad_dtype(0, FLOAT, x.dtype));
        }
        self.layout(&x.shape)?;
        Ok(vec![Fact::new(x.dtype, x.shape.clone())])
    }
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, OpError> {
        let x = required(inputs, 0)?;
        let out = dispatch_float!(x.dtype(), T => self.apply::<T>(x)?, _ => {
            return Err(bad_dtype(0, FLOAT, x.dtype()))
        });
        Ok(vec![out])
    }
    /// Max, subtract, exp, sum and normalize: about five operations per element.
    fn cost(&self, inputs: &[Option<&Fact>], outputs: &[Fact]) -> crate::Cost {
        cost(inputs, outputs, 5, &[])
    }
    op_boilerplate!();
}

#[cfg(test)]
mod tests {
    use super::super::common::testutil::{build, round_trips, run, t};
    use super::*;

    fn close(a: &[f32], b: &[f32]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-6)
    }

    fn x222() -> Option<Tensor> {
        t(&[2, 2, 2], (0..8).map(|i| i as f32).collect())
    }

    #[test]
    fn opset13_normalizes_one_axis() {
        let attrs = Attrs::new().with("axis", Attr::Int(1));
        let op = build("Softmax", &attrs, 13, 1);
        let y = run(op.as_ref(), &[x222()])
            .unwrap()
            .into_vec::<f32>()
            .unwrap();
        let (lo, hi) = (0.119_202_92, 0.880_797_1); // softmax([0, 2])
        assert!(close(&y, &[lo, lo, hi, hi, lo, lo, hi, hi]));
    }

    #[test]
    fn opset11_flattens_from_the_axis() {
        // As ONNX Runtime computes it with opset 11 and axis 1.
        let attrs = Attrs::new().with("axis", Attr::Int(1));
        let op = build("Softmax", &attrs, 11, 1);
        let y = run(op.as_ref(), &[x222()])
            .unwrap()
            .into_vec::<f32>()
            .unwrap();
        let row = [0.032_058_6, 0.087_144_32, 0.236_882_84, 0.643_914_3];
        assert!(close(&y[..4], &row) && close(&y[4..], &row));
    }

    #[test]
    fn default_axes_differ_by_opset() {
        let x = t(&[2, 3], vec![1.0f32, 2.0, 3.0, 1.0, 2.0, 3.0]);
        let y13 = run(
            build("Softmax", &Attrs::new(), 13, 1).as_ref(),
            std::slice::from_ref(&x),
        )
        .unwrap();
        let y11 = run(build("Softmax", &Attrs::new(), 11, 1).as_ref(), &[x]).unwrap();
        assert_eq!(y13, y11); // rank 2: the last axis either way
        let y = y13.into_vec::<f32>().unwrap();
        assert!(close(&y[..3], &[0.090_030_57, 0.244_728_48, 0.665_240_94]));
    }

    #[test]
    fn log_softmax_and_round_trip() {
        let op = build("LogSoftmax", &Attrs::new(), 13, 1);
        let y = run(op.as_ref(), &[t(&[3], vec![1.0f32, 2.0, 3.0])]).unwrap();
        let y = y.into_vec::<f32>().unwrap();
        assert!(close(&y, &[-2.407_606, -1.407_606, -0.407_606]));
        round_trips(op.as_ref(), 13, 1);
        round_trips(build("Softmax", &Attrs::new(), 11, 1).as_ref(), 11, 1);
    }

    #[test]
    fn bad_axis_and_dtype_are_refused() {
        let attrs = Attrs::new().with("axis", Attr::Int(3));
        let op = build("Softmax", &attrs, 13, 1);
        assert!(matches!(
            run(op.as_ref(), &[x222()]),
            Err(OpError::Attribute { .. })
        ));
        let op = build("Softmax", &Attrs::new(), 13, 1);
        assert!(matches!(
            run(op.as_ref(), &[t(&[2], vec![1i32, 2])]),
            Err(OpError::InputDType { .. })
        ));
    }
}

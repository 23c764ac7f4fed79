//! The float activations: Sigmoid, Tanh, HardSigmoid, HardSwish and LeakyRelu.
//!
//! One op struct whose [`ActivationKind`] carries the attributes; each maps f32 or f64 elements
//! through its `mw-kernels` function and keeps the shape.
use super::common::{bad_dtype, cost, dispatch_float, FLOAT};
use crate::op::required;
use crate::{op_boilerplate, Attr, Attrs, BuildCtx, Fact, Op, OpError};
use mw_kernels::elementwise as k;
use mw_tensor::{Element, Tensor};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ActivationKind {
    Sigmoid,
    Tanh,
    /// `max(0, min(1, alpha * x + beta))`, defaults 0.2 and 0.5.
    HardSigmoid {
        alpha: f32,
        beta: f32,
    },
    /// `x * HardSigmoid(x)` with alpha 1/6 and beta 0.5.
    HardSwish,
    /// `x` for `x >= 0`, else `alpha * x`; default alpha 0.01.
    LeakyRelu {
        alpha: f32,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Activation {
    pub kind: ActivationKind,
}

fn boxed(kind: ActivationKind) -> Result<Box<dyn Op>, OpError> {
    Ok(Box::new(Activation { kind }))
}

pub fn build_sigmoid(_attrs: &Attrs, _ctx: &BuildCtx) -> Result<Box<dyn Op>, OpError> {
    boxed(ActivationKind::Sigmoid)
}

pub fn build_tanh(_attrs: &Attrs, _ctx: &BuildCtx) -> Result<Box<dyn Op>, OpError> {
    boxed(ActivationKind::Tanh)
}

pub fn build_hard_sigmoid(attrs: &Attrs, _ctx: &BuildCtx) -> Result<Box<dyn Op>, OpError> {
    boxed(ActivationKind::HardSigmoid {
        alpha: attrs.float_or("alpha", 0.2)?,
        beta: attrs.float_or("beta", 0.5)?,
    })
}

pub fn build_hard_swish(_attrs: &Attrs, _ctx: &BuildCtx) -> Result<Box<dyn Op>, OpError> {
    boxed(ActivationKind::HardSwish)
}

pub fn build_leaky_relu(attrs: &Attrs, _ctx: &BuildCtx) -> Result<Box<dyn Op>, OpError> {
    boxed(ActivationKind::LeakyRelu {
        alpha: attrs.float_or("alpha", 0.01)?,
    })
}

impl Activation {
    fn apply<T: k::Float + Element>(&self, x: &Tensor) -> Result<Tensor, OpError> {
        let v = x.as_slice::<T>()?;
        let y = match self.kind {
            ActivationKind::Sigmoid => k::sigmoid(v),
            ActivationKind::Tanh => k::tanh(v),
            ActivationKind::HardSigmoid { alpha, beta } => {
                k::hard_sigmoid(v, T::from_f32(alpha), T::from_f32(beta))
            }
            ActivationKind::HardSwish => k::hard_swish(v),
            ActivationKind::LeakyRelu { alpha } => k::leaky_relu(v, T::from_f32(alpha)),
        };
        Ok(Tensor::from_vec(x.shape().to_vec(), y)?)
    }
}

impl Op for Activation {
    fn op_type(&self) -> &'static str {
        match self.kind {
            ActivationKind::Sigmoid => "Sigmoid",
            ActivationKind::Tanh => "Tanh",
            ActivationKind::HardSigmoid { .. } => "HardSigmoid",
            ActivationKind::HardSwish => "HardSwish",
            ActivationKind::LeakyRelu { .. } => "LeakyRelu",
        }
    }
    fn attrs(&self) -> Attrs {
        match self.kind {
            ActivationKind::HardSigmoid { alpha, beta } => Attrs::new()
                .with("alpha", Attr::Float(alpha))
                .with("beta", Attr::Float(beta)),
            ActivationKind::LeakyRelu { alpha } => Attrs::new().with("alpha", Attr::Float(alpha)),
            _ => Attrs::new(),
        }
    }
    fn infer(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>, OpError> {
        let x = required(inputs, 0)?;
        if !x.dtype.is_float() {
            return Err(bad_dtype(0, FLOAT, x.dtype));
        }
        Ok(vec![Fact::new(x.dtype, x.shape.clone())])
    }
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, OpError> {
        let x = required(inputs, 0)?;
        let out = dispatch_float!(x.dtype(), T => self.apply::<T>(x)?, _ => {
            return Err(bad_dtype(0, FLOAT, x.dtype()))
        });
        Ok(vec![out])
    }
    fn cost(&self, inputs: &[Option<&Fact>], outputs: &[Fact]) -> crate::Cost {
        let factor = match self.kind {
            ActivationKind::LeakyRelu { .. } => 2,
            ActivationKind::HardSigmoid { .. } => 3,
            ActivationKind::HardSwish => 4,
            ActivationKind::Sigmoid | ActivationKind::Tanh => 4,
        };
        cost(inputs, outputs, factor, &[])
    }
    op_boilerplate!();
}

#[cfg(test)]
mod tests {
    use super::super::common::testutil::{build, round_trips, run, t};
    use super::*;
    use mw_tensor::DType;

    fn apply(op: &str, attrs: &Attrs, x: Vec<f32>) -> Vec<f32> {
        let n = x.len();
        let y = run(build(op, attrs, 22, 1).as_ref(), &[t(&[n], x)]).unwrap();
        y.into_vec::<f32>().unwrap()
    }

    fn close(a: &[f32], b: &[f32]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-6)
    }

    #[test]
    fn sigmoid_and_tanh() {
        let y = apply("Sigmoid", &Attrs::new(), vec![-1.0, 0.0, 1.0]);
        assert!(close(&y, &[0.268_941_43, 0.5, 0.731_058_6]));
        let y = apply("Tanh", &Attrs::new(), vec![-1.0, 0.0, 1.0]);
        assert!(close(&y, &[-0.761_594_2, 0.0, 0.761_594_2]));
    }

    #[test]
    fn hard_sigmoid_defaults_and_attributes() {
        let y = apply("HardSigmoid", &Attrs::new(), vec![-3.0, 0.0, 1.0, 3.0]);
        assert!(close(&y, &[0.0, 0.5, 0.7, 1.0]));
        let attrs = Attrs::new()
            .with("alpha", Attr::Float(0.5))
            .with("beta", Attr::Float(0.6));
        let y = apply("HardSigmoid", &attrs, vec![-1.0, 0.0, 1.0]);
        assert!(close(&y, &[0.1, 0.6, 1.0]));
    }

    #[test]
    fn hard_swish_and_leaky_relu() {
        let y = apply("HardSwish", &Attrs::new(), vec![-4.0, -1.0, 0.0, 2.0, 4.0]);
        assert!(close(&y, &[0.0, -1.0 / 3.0, 0.0, 5.0 / 3.0, 4.0]));
        let y = apply("LeakyRelu", &Attrs::new(), vec![-100.0, 2.0]);
        assert!(close(&y, &[-1.0, 2.0]));
        let attrs = Attrs::new().with("alpha", Attr::Float(0.1));
        let y = apply("LeakyRelu", &attrs, vec![-1.0, 0.0]);
        assert!(close(&y, &[-0.1, 0.0]));
    }

    #[test]
    fn f64_is_supported_and_integers_are_refused() {
        let op = build("Sigmoid", &Attrs::new(), 13, 1);
        let y = run(op.as_ref(), &[t(&[1], vec![0.0f64])]).unwrap();
        assert_eq!(y.as_slice::<f64>().unwrap(), &[0.5]);
        assert!(matches!(
            run(op.as_ref(), &[t(&[1], vec![1i32])]),
            Err(OpError::InputDType { index: 0, .. })
        ));
    }

    #[test]
    fn attributes_round_trip_and_cost() {
        let attrs = Attrs::new()
            .with("alpha", Attr::Float(0.3))
            .with("beta", Attr::Float(0.1));
        for (op, a) in [
            ("Sigmoid", Attrs::new()),
            ("Tanh", Attrs::new()),
            ("HardSigmoid", attrs.clone()),
            ("HardSwish", Attrs::new()),
            ("LeakyRelu", Attrs::new().with("alpha", Attr::Float(0.2))),
        ] {
            let built = build(op, &a, 22, 1);
            assert_eq!(built.op_type(), op);
            round_trips(built.as_ref(), 22, 1);
        }
        let op = build("HardSigmoid", &attrs, 22, 1);
        let x = Fact::new(DType::F32, vec![10]);
        let out = op.infer(&[Some(&x)]).unwrap();
        assert_eq!(op.cost(&[Some(&x)], &out).elementwise, 30);
    }
}

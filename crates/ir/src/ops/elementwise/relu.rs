//! Relu (a template for ops: struct, constructor, infer, eval, cost, tests in one file).
use crate::op::required;
use crate::{op_boilerplate, Attrs, BuildCtx, Fact, Op, OpError};
use mw_tensor::{DType, Tensor};

#[derive(Clone, Debug, PartialEq)]
pub struct Relu;

pub fn build_relu(_attrs: &Attrs, _ctx: &BuildCtx) -> Result<Box<dyn Op>, OpError> {
    Ok(Box::new(Relu))
}

impl Op for Relu {
    fn op_type(&self) -> &'static str {
        "Relu"
    }
    fn attrs(&self) -> Attrs {
        Attrs::new()
    }
    fn infer(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>, OpError> {
        let x = required(inputs, 0)?;
        Ok(vec![Fact::new(x.dtype, x.shape.clone())])
    }
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, OpError> {
        let x = required(inputs, 0)?;
        let out = match x.dtype() {
            DType::F32 => {
                let v: Vec<f32> = x.as_slice::<f32>()?.iter().map(|&a| a.max(0.0)).collect();
                Tensor::from_vec(x.shape().to_vec(), v)?
            }
            other => {
                return Err(OpError::InputDType {
                    index: 0,
                    expected: "f32".into(),
                    actual: other,
                })
            }
        };
        Ok(vec![out])
    }
    fn cost(&self, _inputs: &[Option<&Fact>], outputs: &[Fact]) -> crate::Cost {
        crate::Cost {
            elementwise: outputs[0].numel() as u64,
            ..Default::default()
        }
    }
    op_boilerplate!();
}

//! Relu (a template for ops: struct, constructor, infer, eval, cost, tests in one file).
//!
//! `max(x, 0)` for f32, f64 and the signed integers of ONNX Relu-14; NaN stays NaN.
use super::common::{bad_dtype, cost};
use crate::op::required;
use crate::{op_boilerplate, Attrs, BuildCtx, Fact, Op, OpError};
use mw_kernels::elementwise as k;
use mw_tensor::{DType, Tensor};

#[derive(Clone, Debug, PartialEq)]
pub struct Relu;

pub fn build_relu(_attrs: &Attrs, _ctx: &BuildCtx) -> Result<Box<dyn Op>, OpError> {
    Ok(Box::new(Relu))
}

const TYPES: &str = "f32, f64, i8, i16, i32 or i64";

fn check_dtype(dtype: DType) -> Result<(), OpError> {
    match dtype {
        DType::F32 | DType::F64 | DType::I8 | DType::I16 | DType::I32 | DType::I64 => Ok(()),
        other => Err(bad_dtype(0, TYPES, other)),
    }
}

fn relu<T: k::Numeric + mw_tensor::Element>(x: &Tensor) -> Result<Tensor, OpError> {
    Ok(Tensor::from_vec(
        x.shape().to_vec(),
        k::relu(x.as_slice::<T>()?),
    )?)
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
        check_dtype(x.dtype)?;
        Ok(vec![Fact::new(x.dtype, x.shape.clone())])
    }
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, OpError> {
        let x = required(inputs, 0)?;
        let out = match x.dtype() {
            DType::F32 => relu::<f32>(x)?,
            DType::F64 => relu::<f64>(x)?,
            DType::I8 => relu::<i8>(x)?,
            DType::I16 => relu::<i16>(x)?,
            DType::I32 => relu::<i32>(x)?,
            DType::I64 => relu::<i64>(x)?,
            other => return Err(bad_dtype(0, TYPES, other)),
        };
        Ok(vec![out])
    }
    fn cost(&self, inputs: &[Option<&Fact>], outputs: &[Fact]) -> crate::Cost {
        cost(inputs, outputs, 1, &[])
    }
    op_boilerplate!();
}

#[cfg(test)]
mod tests {
    use super::super::common::testutil::{build, round_trips, run, t};
    use super::*;

    #[test]
    fn zeroes_negatives() {
        let op = build("Relu", &Attrs::new(), 14, 1);
        let y = run(op.as_ref(), &[t(&[2, 2], vec![-1.0f32, 0.5, 0.0, -0.0])]).unwrap();
        assert_eq!(y.as_slice::<f32>().unwrap(), &[0.0, 0.5, 0.0, -0.0]);
        let y = run(op.as_ref(), &[t(&[3], vec![-7i64, 0, 9])]).unwrap();
        assert_eq!(y.as_slice::<i64>().unwrap(), &[0, 0, 9]);
        round_trips(op.as_ref(), 14, 1);
    }

    #[test]
    fn refuses_unsigned_and_bool() {
        let op = build("Relu", &Attrs::new(), 14, 1);
        assert!(matches!(
            run(op.as_ref(), &[t(&[1], vec![1u8])]),
            Err(OpError::InputDType { index: 0, .. })
        ));
        assert!(run(op.as_ref(), &[t(&[1], vec![true])]).is_err());
    }

    #[test]
    fn cost_is_one_op_per_element() {
        let op = build("Relu", &Attrs::new(), 14, 1);
        let x = Fact::new(DType::F32, vec![2, 5]);
        let out = op.infer(&[Some(&x)]).unwrap();
        assert_eq!(op.cost(&[Some(&x)], &out).elementwise, 10);
    }
}

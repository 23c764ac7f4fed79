//! Add, Sub, Mul, Div: numpy-broadcasting arithmetic on two tensors of one numeric dtype.
//!
//! Integer semantics are ONNX Runtime's: wrapping Add/Sub/Mul, Div truncating toward zero, and a
//! zero integer divisor refused with a typed error.
use super::common::{bad_dtype, cost, dispatch_numeric, kernel_error, NUMERIC};
use crate::op::required;
use crate::{op_boilerplate, Attrs, BuildCtx, Fact, Op, OpError};
use mw_kernels::elementwise as k;
use mw_tensor::{DType, Tensor};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryKind {
    Add,
    Sub,
    Mul,
    Div,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Binary {
    pub kind: BinaryKind,
}

pub fn build_add(_attrs: &Attrs, _ctx: &BuildCtx) -> Result<Box<dyn Op>, OpError> {
    Ok(Box::new(Binary {
        kind: BinaryKind::Add,
    }))
}

pub fn build_sub(_attrs: &Attrs, _ctx: &BuildCtx) -> Result<Box<dyn Op>, OpError> {
    Ok(Box::new(Binary {
        kind: BinaryKind::Sub,
    }))
}

pub fn build_mul(_attrs: &Attrs, _ctx: &BuildCtx) -> Result<Box<dyn Op>, OpError> {
    Ok(Box::new(Binary {
        kind: BinaryKind::Mul,
    }))
}

pub fn build_div(_attrs: &Attrs, _ctx: &BuildCtx) -> Result<Box<dyn Op>, OpError> {
    Ok(Box::new(Binary {
        kind: BinaryKind::Div,
    }))
}

/// The output dtype: both inputs share one numeric dtype.
fn common_dtype(a: DType, b: DType) -> Result<DType, OpError> {
    if a == DType::Bool {
        return Err(bad_dtype(0, NUMERIC, a));
    }
    if b != a {
        return Err(bad_dtype(1, a.name(), b));
    }
    Ok(a)
}

impl Binary {
    fn apply<T: k::Numeric + mw_tensor::Element>(
        &self,
        a: &Tensor,
        b: &Tensor,
    ) -> Result<Tensor, OpError> {
        let (xa, xb) = (a.as_slice::<T>()?, b.as_slice::<T>()?);
        let (sa, sb) = (a.shape(), b.shape());
        let (shape, v) = match self.kind {
            BinaryKind::Add => k::add(xa, sa, xb, sb),
            BinaryKind::Sub => k::sub(xa, sa, xb, sb),
            BinaryKind::Mul => k::mul(xa, sa, xb, sb),
            BinaryKind::Div => k::div(xa, sa, xb, sb),
        }
        .map_err(kernel_error)?;
        Ok(Tensor::from_vec(shape, v)?)
    }
}

impl Op for Binary {
    fn op_type(&self) -> &'static str {
        match self.kind {
            BinaryKind::Add => "Add",
            BinaryKind::Sub => "Sub",
            BinaryKind::Mul => "Mul",
            BinaryKind::Div => "Div",
        }
    }
    fn attrs(&self) -> Attrs {
        Attrs::new()
    }
    fn infer(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>, OpError> {
        let (a, b) = (required(inputs, 0)?, required(inputs, 1)?);
        let dtype = common_dtype(a.dtype, b.dtype)?;
        let shape = k::broadcast_shapes(&a.shape, &b.shape).map_err(kernel_error)?;
        Ok(vec![Fact::new(dtype, shape)])
    }
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, OpError> {
        let (a, b) = (required(inputs, 0)?, required(inputs, 1)?);
        let dtype = common_dtype(a.dtype(), b.dtype())?;
        let out = dispatch_numeric!(dtype, T => self.apply::<T>(a, b)?, _ => {
            return Err(bad_dtype(0, NUMERIC, dtype))
        });
        Ok(vec![out])
    }
    fn cost(&self, inputs: &[Option<&Fact>], outputs: &[Fact]) -> crate::Cost {
        cost(inputs, outputs, 1, &[0, 1])
    }
    op_boilerplate!();
}

#[cfg(test)]
mod tests {
    use super::super::common::testutil::{build, round_trips, run, t};
    use super::*;

    fn binary(op: &str, a: Option<Tensor>, b: Option<Tensor>) -> Result<Tensor, OpError> {
        run(build(op, &Attrs::new(), 14, 2).as_ref(), &[a, b])
    }

    #[test]
    fn float_ops_broadcast() {
        let a = t(&[2, 1], vec![1.0f32, 2.0]);
        let b = t(&[3], vec![10.0f32, 20.0, 30.0]);
        let y = binary("Sub", a.clone(), b.clone()).unwrap();
        assert_eq!(y.shape(), &[2, 3]);
        assert_eq!(
            y.as_slice::<f32>().unwrap(),
            &[-9.0, -19.0, -29.0, -8.0, -18.0, -28.0]
        );
        let y = binary("Div", b, t(&[], vec![4.0f32])).unwrap();
        assert_eq!(y.as_slice::<f32>().unwrap(), &[2.5, 5.0, 7.5]);
        let y = binary("Mul", t(&[1], vec![2.0f64]), t(&[2], vec![3.0f64, -1.0])).unwrap();
        assert_eq!(y.as_slice::<f64>().unwrap(), &[6.0, -2.0]);
    }

    #[test]
    fn integer_ops_wrap_and_truncate() {
        let y = binary(
            "Add",
            t(&[2], vec![100i8, -100]),
            t(&[2], vec![100i8, -100]),
        )
        .unwrap();
        assert_eq!(y.as_slice::<i8>().unwrap(), &[-56, 56]);
        let y = binary(
            "Div",
            t(&[4], vec![-3i32, 3, -3, 3]),
            t(&[4], vec![2i32, 2, -2, -2]),
        )
        .unwrap();
        assert_eq!(y.as_slice::<i32>().unwrap(), &[-1, 1, 1, -1]);
        let y = binary("Sub", t(&[1], vec![3u64]), t(&[1], vec![5u64])).unwrap();
        assert_eq!(y.as_slice::<u64>().unwrap(), &[u64::MAX - 1]);
    }

    #[test]
    fn integer_division_by_zero_is_a_typed_error() {
        let err = binary("Div", t(&[2], vec![1u16, 2]), t(&[2], vec![1u16, 0])).unwrap_err();
        assert!(matches!(err, OpError::Unsupported(m) if m.contains("division by zero")));
    }

    #[test]
    fn mismatched_inputs_are_refused() {
        let err = binary("Add", t(&[2], vec![1.0f32, 2.0]), t(&[2], vec![1i32, 2])).unwrap_err();
        assert!(matches!(err, OpError::InputDType { index: 1, .. }));
        let err = binary("Add", t(&[2], vec![1.0f32, 2.0]), t(&[3], vec![1.0f32; 3])).unwrap_err();
        assert!(matches!(err, OpError::Shape(_)));
        let err = binary("Mul", t(&[1], vec![true]), t(&[1], vec![true])).unwrap_err();
        assert!(matches!(err, OpError::InputDType { index: 0, .. }));
        assert_eq!(
            binary("Add", t(&[1], vec![1.0f32]), None).unwrap_err(),
            OpError::MissingInput(1)
        );
    }

    #[test]
    fn cost_counts_outputs_and_constant_operands() {
        let op = build("Add", &Attrs::new(), 14, 2);
        let x = Fact::new(DType::F32, vec![1, 8, 4, 4]);
        let bias = Fact::of(&Tensor::from_vec(vec![8, 1, 1], vec![0.0f32; 8]).unwrap());
        let out = op.infer(&[Some(&x), Some(&bias)]).unwrap();
        let c = op.cost(&[Some(&x), Some(&bias)], &out);
        assert_eq!((c.elementwise, c.params, c.weight_bytes), (128, 8, 32));
    }

    #[test]
    fn attributes_round_trip() {
        for op in ["Add", "Sub", "Mul", "Div"] {
            let built = build(op, &Attrs::new(), 14, 2);
            assert_eq!(built.op_type(), op);
            round_trips(built.as_ref(), 14, 2);
        }
    }
}

//! PRelu: `x` where `x >= 0`, else `slope * x`, with `slope` broadcast unidirectionally to `x`
//! (numpy rules, right-aligned: a per-channel slope of NCHW input has shape `[C, 1, 1]`).
use super::common::{bad_dtype, cost, dispatch_numeric, kernel_error, NUMERIC};
use crate::op::required;
use crate::{op_boilerplate, Attrs, BuildCtx, Fact, Op, OpError};
use mw_kernels::elementwise as k;
use mw_tensor::{DType, Element, Tensor};

#[derive(Clone, Debug, PartialEq)]
pub struct PRelu;

pub fn build_prelu(_attrs: &Attrs, _ctx: &BuildCtx) -> Result<Box<dyn Op>, OpError> {
    Ok(Box::new(PRelu))
}

fn check(x_dtype: DType, slope_dtype: DType) -> Result<(), OpError> {
    if x_dtype == DType::Bool {
        return Err(bad_dtype(0, NUMERIC, x_dtype));
    }
    if slope_dtype != x_dtype {
        return Err(bad_dtype(1, x_dtype.name(), slope_dtype));
    }
    Ok(())
}

fn prelu<T: k::Numeric + Element>(x: &Tensor, slope: &Tensor) -> Result<Tensor, OpError> {
    let y = k::prelu(
        x.as_slice::<T>()?,
        x.shape(),
        slope.as_slice::<T>()?,
        slope.shape(),
    )
    .map_err(kernel_error)?;
    Ok(Tensor::from_vec(x.shape().to_vec(), y)?)
}

impl Op for PRelu {
    fn op_type(&self) -> &'static str {
        "PRelu"
    }
    fn attrs(&self) -> Attrs {
        Attrs::new()
    }
    fn infer(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>, OpError> {
        let (x, slope) = (required(inputs, 0)?, required(inputs, 1)?);
        check(x.dtype, slope.dtype)?;
        if !k::broadcasts_to(&slope.shape, &x.shape) {
            return Err(OpError::Shape(format!(
                "PRelu slope {:?} does not broadcast to input {:?}",
                slope.shape, x.shape
            )));
        }
        Ok(vec![Fact::new(x.dtype, x.shape.clone())])
    }
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, OpError> {
        let (x, slope) = (required(inputs, 0)?, required(inputs, 1)?);
        check(x.dtype(), slope.dtype())?;
        let out = dispatch_numeric!(x.dtype(), T => prelu::<T>(x, slope)?, _ => {
            return Err(bad_dtype(0, NUMERIC, x.dtype()))
        });
        Ok(vec![out])
    }
    fn cost(&self, inputs: &[Option<&Fact>], outputs: &[Fact]) -> crate::Cost {
        cost(inputs, outputs, 2, &[1])
    }
    op_boilerplate!();
}

#[cfg(test)]
mod tests {
    use super::super::common::testutil::{build, round_trips, run, t};
    use super::*;

    #[test]
    fn per_channel_slope() {
        let op = build("PRelu", &Attrs::new(), 16, 2);
        let x = t(&[1, 2, 2], vec![-1.0f32, 2.0, -3.0, -4.0]);
        let y = run(op.as_ref(), &[x, t(&[2, 1], vec![0.5f32, 0.25])]).unwrap();
        assert_eq!(y.as_slice::<f32>().unwrap(), &[-0.5, 2.0, -0.75, -1.0]);
        round_trips(op.as_ref(), 16, 2);
    }

    #[test]
    fn slope_must_broadcast_to_input() {
        let op = build("PRelu", &Attrs::new(), 16, 2);
        let err = run(
            op.as_ref(),
            &[t(&[2], vec![1.0f32; 2]), t(&[2, 2], vec![1.0f32; 4])],
        );
        assert!(matches!(err, Err(OpError::Shape(_))));
        let err = run(
            op.as_ref(),
            &[t(&[2], vec![1.0f32; 2]), t(&[2], vec![1.0f64; 2])],
        );
        assert!(matches!(err, Err(OpError::InputDType { index: 1, .. })));
        // eval alone also refuses (e.g. shapes changed after inference)
        let x = Tensor::from_vec(vec![2], vec![1.0f32; 2]).unwrap();
        let s = Tensor::from_vec(vec![3], vec![1.0f32; 3]).unwrap();
        assert!(op.eval(&[Some(&x), Some(&s)]).is_err());
    }

    #[test]
    fn integer_slope() {
        let op = build("PRelu", &Attrs::new(), 16, 2);
        let y = run(
            op.as_ref(),
            &[t(&[3], vec![-2i32, 0, 5]), t(&[], vec![3i32])],
        )
        .unwrap();
        assert_eq!(y.as_slice::<i32>().unwrap(), &[-6, 0, 5]);
    }

    #[test]
    fn constant_slope_counts_as_parameters() {
        let op = build("PRelu", &Attrs::new(), 16, 2);
        let x = Fact::new(DType::F32, vec![1, 4, 3, 3]);
        let s = Fact::of(&Tensor::from_vec(vec![4, 1, 1], vec![0.1f32; 4]).unwrap());
        let out = op.infer(&[Some(&x), Some(&s)]).unwrap();
        let c = op.cost(&[Some(&x), Some(&s)], &out);
        assert_eq!((c.elementwise, c.params, c.weight_bytes), (72, 4, 16));
    }
}

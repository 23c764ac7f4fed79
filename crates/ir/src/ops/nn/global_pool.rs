//! GlobalAveragePool and GlobalMaxPool: mean / max over all spatial dims,
//! `X [N, C, D...]` → `Y [N, C, 1...]`. f32.
use super::util::{check_dtype, kernel_error, typed_input};
use crate::op::required;
use crate::{op_boilerplate, Attrs, BuildCtx, Cost, Fact, Op, OpError};
use mw_kernels::nn;
use mw_tensor::{DType, Tensor};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduce {
    Mean,
    Max,
}

#[derive(Clone, Debug, PartialEq)]
pub struct GlobalPool {
    pub reduce: Reduce,
}

pub fn build_global_average_pool(_: &Attrs, _: &BuildCtx) -> Result<Box<dyn Op>, OpError> {
    Ok(Box::new(GlobalPool {
        reduce: Reduce::Mean,
    }))
}

pub fn build_global_max_pool(_: &Attrs, _: &BuildCtx) -> Result<Box<dyn Op>, OpError> {
    Ok(Box::new(GlobalPool {
        reduce: Reduce::Max,
    }))
}

fn output_shape(x: &[usize]) -> Result<Vec<usize>, OpError> {
    if x.len() < 3 {
        return Err(OpError::Shape(format!(
            "global pooling needs rank >= 3, got {x:?}"
        )));
    }
    Ok([&x[..2], &vec![1; x.len() - 2][..]].concat())
}

impl Op for GlobalPool {
    fn op_type(&self) -> &'static str {
        match self.reduce {
            Reduce::Mean => "GlobalAveragePool",
            Reduce::Max => "GlobalMaxPool",
        }
    }
    fn attrs(&self) -> Attrs {
        Attrs::new()
    }
    fn infer(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>, OpError> {
        let x = required(inputs, 0)?;
        check_dtype(x.dtype, 0, &[DType::F32])?;
        Ok(vec![Fact::new(DType::F32, output_shape(&x.shape)?)])
    }
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, OpError> {
        let xs = typed_input::<f32>(inputs, 0)?;
        let shape = required(inputs, 0)?.shape();
        let out = output_shape(shape)?;
        let plane = shape[2..].iter().product();
        let mut y = Tensor::zeros(DType::F32, out)?;
        let ys = y.as_slice_mut::<f32>()?;
        match self.reduce {
            Reduce::Mean => nn::global_average_pool(xs, plane, ys),
            Reduce::Max => nn::global_max_pool(xs, plane, ys),
        }
        .map_err(kernel_error)?;
        Ok(vec![y])
    }
    fn cost(&self, inputs: &[Option<&Fact>], _outputs: &[Fact]) -> Cost {
        Cost {
            elementwise: required(inputs, 0).map_or(0, |x| x.numel() as u64),
            ..Default::default()
        }
    }
    op_boilerplate!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_max_over_spatial_dims() {
        let x = Tensor::from_vec(vec![1, 2, 2, 1], vec![1.0f32, 3.0, -4.0, -2.0]).unwrap();
        let mean = GlobalPool {
            reduce: Reduce::Mean,
        };
        let max = GlobalPool {
            reduce: Reduce::Max,
        };
        let y = mean.eval(&[Some(&x)]).unwrap().remove(0);
        assert_eq!(y.shape(), &[1, 2, 1, 1]);
        assert_eq!(y.as_slice::<f32>().unwrap(), &[2.0, -3.0]);
        let y = max.eval(&[Some(&x)]).unwrap().remove(0);
        assert_eq!(y.as_slice::<f32>().unwrap(), &[3.0, -2.0]);
        assert_eq!(max.op_type(), "GlobalMaxPool");
    }

    #[test]
    fn rank_two_is_refused() {
        let x = Fact::new(DType::F32, vec![2, 3]);
        let op = GlobalPool {
            reduce: Reduce::Mean,
        };
        assert!(matches!(op.infer(&[Some(&x)]), Err(OpError::Shape(_))));
    }
}

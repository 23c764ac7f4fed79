//! BatchNormalization in inference mode: `Y = (X − mean) / √(var + ε) · scale + B` per channel
//! of `X [N, C, D...]`. Training mode (`training_mode = 1`, or before opset 14 any of the
//! statistics outputs) is refused as unsupported.
use super::util::{check_dtype, kernel_error, typed_input};
use crate::op::required;
use crate::{op_boilerplate, Attr, Attrs, BuildCtx, Cost, Fact, Op, OpError};
use mw_kernels::nn::{self, BatchNormParams};
use mw_tensor::{DType, Tensor};

#[derive(Clone, Debug, PartialEq)]
pub struct BatchNormalization {
    pub epsilon: f32,
    /// Kept for export only; inference does not use it.
    pub momentum: Option<f32>,
}

pub fn build_batch_norm(attrs: &Attrs, ctx: &BuildCtx) -> Result<Box<dyn Op>, OpError> {
    if attrs.int_or("training_mode", 0)? != 0 {
        return Err(OpError::Unsupported(
            "BatchNormalization with training_mode = 1".into(),
        ));
    }
    if ctx.n_outputs > 1 {
        return Err(OpError::Unsupported(
            "BatchNormalization with running-statistics outputs (training mode)".into(),
        ));
    }
    Ok(Box::new(BatchNormalization {
        epsilon: attrs.float_or("epsilon", 1e-5)?,
        momentum: attrs.float("momentum")?,
    }))
}

fn check_shapes(shapes: [&[usize]; 5]) -> Result<(), OpError> {
    let x = shapes[0];
    if x.len() < 2 {
        return Err(OpError::Shape(format!(
            "BatchNormalization needs rank >= 2, got {x:?}"
        )));
    }
    for (i, s) in shapes.iter().enumerate().skip(1) {
        if *s != [x[1]] {
            return Err(OpError::Shape(format!(
                "input #{i} has shape {s:?}, expected [{}]",
                x[1]
            )));
        }
    }
    Ok(())
}

impl Op for BatchNormalization {
    fn op_type(&self) -> &'static str {
        "BatchNormalization"
    }
    fn attrs(&self) -> Attrs {
        let a = Attrs::new().with("epsilon", Attr::Float(self.epsilon));
        match self.momentum {
            Some(m) => a.with("momentum", Attr::Float(m)),
            None => a,
        }
    }
    fn infer(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>, OpError> {
        let mut shapes: [&[usize]; 5] = [&[]; 5];
        for (i, s) in shapes.iter_mut().enumerate() {
            let f = required(inputs, i)?;
            check_dtype(f.dtype, i, &[DType::F32])?;
            *s = &f.shape;
        }
        check_shapes(shapes)?;
        Ok(vec![Fact::new(DType::F32, shapes[0].to_vec())])
    }
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, OpError> {
        let mut shapes: [&[usize]; 5] = [&[]; 5];
        for (i, s) in shapes.iter_mut().enumerate() {
            *s = required(inputs, i)?.shape();
        }
        check_shapes(shapes)?;
        let x = typed_input::<f32>(inputs, 0)?;
        let p = BatchNormParams {
            scale: typed_input::<f32>(inputs, 1)?,
            bias: typed_input::<f32>(inputs, 2)?,
            mean: typed_input::<f32>(inputs, 3)?,
            var: typed_input::<f32>(inputs, 4)?,
            epsilon: self.epsilon,
        };
        let shape = shapes[0];
        let plane = shape[2..].iter().product();
        let mut y = Tensor::zeros(DType::F32, shape.to_vec())?;
        nn::batch_norm(&p, shape[1], plane, x, y.as_slice_mut::<f32>()?).map_err(kernel_error)?;
        Ok(vec![y])
    }
    fn cost(&self, inputs: &[Option<&Fact>], outputs: &[Fact]) -> Cost {
        let (params, weight_bytes) = super::util::constant_params(inputs, &[1, 2, 3, 4]);
        Cost {
            elementwise: 2 * super::util::first_numel(outputs),
            params,
            weight_bytes,
            macs: 0,
        }
    }
    op_boilerplate!();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(n_outputs: usize) -> BuildCtx {
        BuildCtx {
            opset: 15,
            n_inputs: 5,
            n_outputs,
        }
    }

    #[test]
    fn normalizes_with_epsilon() {
        let mut a = Attrs::new();
        a.set("epsilon", Attr::Float(0.5));
        let op = build_batch_norm(&a, &ctx(1)).unwrap();
        let x = Tensor::from_vec(vec![1, 2, 1], vec![2.0f32, 3.0]).unwrap();
        let v = |a: f32, b: f32| Tensor::from_vec(vec![2], vec![a, b]).unwrap();
        let (scale, bias, mean, var) = (v(1.0, 2.0), v(0.0, 1.0), v(1.0, 1.0), v(3.5, 1.5));
        let y = op
            .eval(&[Some(&x), Some(&scale), Some(&bias), Some(&mean), Some(&var)])
            .unwrap()
            .remove(0);
        // (2 − 1)/√4 · 1 + 0 = 0.5; (3 − 1)/√2 · 2 + 1 = 2√2 + 1.
        let got = y.as_slice::<f32>().unwrap();
        assert!((got[0] - 0.5).abs() < 1e-6);
        assert!((got[1] - (2.0 * 2f32.sqrt() + 1.0)).abs() < 1e-5);
    }

    #[test]
    fn training_mode_is_unsupported() {
        let mut a = Attrs::new();
        a.set("training_mode", Attr::Int(1));
        assert!(matches!(
            build_batch_norm(&a, &ctx(1)),
            Err(OpError::Unsupported(_))
        ));
        assert!(matches!(
            build_batch_norm(&Attrs::new(), &ctx(3)),
            Err(OpError::Unsupported(_))
        ));
    }

    #[test]
    fn mismatched_statistics_are_shape_errors() {
        let op = build_batch_norm(&Attrs::new(), &ctx(1)).unwrap();
        let x = Fact::new(DType::F32, vec![1, 3, 4]);
        let s2 = Fact::new(DType::F32, vec![2]);
        let s3 = Fact::new(DType::F32, vec![3]);
        let facts = [Some(&x), Some(&s3), Some(&s3), Some(&s2), Some(&s3)];
        assert!(matches!(op.infer(&facts), Err(OpError::Shape(_))));
    }
}

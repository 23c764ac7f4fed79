//! Dropout at inference: the output is the input and the optional mask is all true. Training
//! mode (input #2 true) draws random masks and is refused, except with a ratio of 0, where it is
//! the identity too.
use super::Known;
use crate::op::{optional, required};
use crate::{op_boilerplate, Attr, Attrs, BuildCtx, Fact, Op, OpError};
use mw_tensor::{DType, Tensor};

#[derive(Clone, Debug, PartialEq)]
pub struct Dropout {
    /// `ratio` attribute (opset < 12); unused at inference.
    pub ratio: Option<f32>,
    /// `seed` attribute; unused at inference.
    pub seed: Option<i64>,
    /// Outputs the node lists: 2 when it asks for the mask.
    pub n_outputs: usize,
}

pub fn build_dropout(attrs: &Attrs, ctx: &BuildCtx) -> Result<Box<dyn Op>, OpError> {
    Ok(Box::new(Dropout {
        ratio: attrs.float("ratio")?,
        seed: attrs.int("seed")?,
        n_outputs: ctx.n_outputs.clamp(1, 2),
    }))
}

/// The first element of a scalar input, if known.
fn scalar<K: Known>(inputs: &[Option<&K>], i: usize) -> Option<f64> {
    optional(inputs, i)
        .and_then(Known::value)
        .map(|t| t.to_f64_vec().first().copied().unwrap_or(0.0))
}

/// Refuses training mode with a non-zero ratio as soon as both are known.
fn check_mode<K: Known>(inputs: &[Option<&K>]) -> Result<(), OpError> {
    let training = match optional(inputs, 2) {
        None => false,
        Some(_) => match scalar(inputs, 2) {
            Some(t) => t != 0.0,
            None => return Ok(()),
        },
    };
    if !training {
        return Ok(());
    }
    let ratio = match optional(inputs, 1) {
        None => 0.5,
        Some(_) => match scalar(inputs, 1) {
            Some(r) => r,
            None => return Ok(()),
        },
    };
    if ratio != 0.0 {
        return Err(OpError::Unsupported(format!(
            "Dropout in training mode with ratio {ratio} (random masks)"
        )));
    }
    Ok(())
}

impl Op for Dropout {
    fn op_type(&self) -> &'static str {
        "Dropout"
    }
    fn attrs(&self) -> Attrs {
        let mut a = Attrs::new();
        if let Some(r) = self.ratio {
            a.set("ratio", Attr::Float(r));
        }
        if let Some(s) = self.seed {
            a.set("seed", Attr::Int(s));
        }
        a
    }
    fn infer(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>, OpError> {
        check_mode(inputs)?;
        let x = required(inputs, 0)?;
        let mut out = vec![Fact::new(x.dtype, x.shape.clone())];
        if self.n_outputs == 2 {
            out.push(Fact::new(DType::Bool, x.shape.clone()));
        }
        Ok(out)
    }
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, OpError> {
        check_mode(inputs)?;
        let x = required(inputs, 0)?;
        let mut out = vec![x.clone()];
        if self.n_outputs == 2 {
            out.push(Tensor::from_vec(x.shape().to_vec(), vec![true; x.len()])?);
        }
        Ok(out)
    }
    op_boilerplate!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::shape::test_util::*;

    fn dropout(n_outputs: usize) -> Dropout {
        Dropout {
            ratio: None,
            seed: Some(0),
            n_outputs,
        }
    }

    #[test]
    fn inference_is_identity_with_true_mask() {
        let x = t(&[2], vec![1.0f32, -2.0]);
        let out = run(&dropout(2), &[Some(&x), Some(&Tensor::scalar(0.3f32))]);
        assert_eq!(out[0], x);
        assert_eq!(out[1].as_slice::<bool>().unwrap(), &[true, true]);
        let off = Tensor::scalar(false);
        let out = run(&dropout(1), &[Some(&x), None, Some(&off)]);
        assert_eq!(out.len(), 1);
        roundtrip(&dropout(2), &ctx(13, 3, 2));
    }

    #[test]
    fn training_mode_is_refused_unless_ratio_is_zero() {
        let x = t(&[2], vec![1.0f32, -2.0]);
        let on = Tensor::scalar(true);
        let r = Tensor::scalar(0.5f32);
        assert!(matches!(
            dropout(1).eval(&[Some(&x), Some(&r), Some(&on)]),
            Err(OpError::Unsupported(_))
        ));
        assert!(dropout(1).eval(&[Some(&x), None, Some(&on)]).is_err());
        let zero = Tensor::scalar(0.0f32);
        let out = run(&dropout(2), &[Some(&x), Some(&zero), Some(&on)]);
        assert_eq!(out[0], x);
        // Unknown training flag at inference: decided when running.
        let facts = [
            Fact::new(DType::F32, vec![2]),
            Fact::new(DType::Bool, vec![]),
        ];
        assert!(dropout(1)
            .infer(&[Some(&facts[0]), None, Some(&facts[1])])
            .is_ok());
    }
}

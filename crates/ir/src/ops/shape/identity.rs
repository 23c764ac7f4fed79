//! Identity: the input, unchanged.
use crate::op::required;
use crate::{op_boilerplate, Attrs, BuildCtx, Fact, Op, OpError};
use mw_tensor::Tensor;

#[derive(Clone, Debug, PartialEq)]
pub struct Identity;

pub fn build_identity(_attrs: &Attrs, _ctx: &BuildCtx) -> Result<Box<dyn Op>, OpError> {
    Ok(Box::new(Identity))
}

impl Op for Identity {
    fn op_type(&self) -> &'static str {
        "Identity"
    }
    fn attrs(&self) -> Attrs {
        Attrs::new()
    }
    fn infer(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>, OpError> {
        let x = required(inputs, 0)?;
        Ok(vec![Fact {
            konst: x.konst.clone(),
            ..Fact::new(x.dtype, x.shape.clone())
        }])
    }
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, OpError> {
        Ok(vec![required(inputs, 0)?.clone()])
    }
    op_boilerplate!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::shape::test_util::*;

    #[test]
    fn passes_through() {
        let x = t(&[2], vec![1.5f64, -2.0]);
        assert_eq!(run(&Identity, &[Some(&x)])[0], x);
        assert_eq!(Identity.eval(&[None]), Err(OpError::MissingInput(0)));
    }
}

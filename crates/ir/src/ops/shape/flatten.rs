//! Flatten: a 2-D view `[Π dims before axis, Π dims from axis]`.
use crate::op::required;
use crate::{op_boilerplate, Attr, Attrs, BuildCtx, Fact, Op, OpError};
use mw_tensor::Tensor;

#[derive(Clone, Debug, PartialEq)]
pub struct Flatten {
    /// In `[-rank, rank]`.
    pub axis: i64,
}

pub fn build_flatten(attrs: &Attrs, _ctx: &BuildCtx) -> Result<Box<dyn Op>, OpError> {
    Ok(Box::new(Flatten {
        axis: attrs.int_or("axis", 1)?,
    }))
}

impl Flatten {
    fn out_shape(&self, shape: &[usize]) -> Result<Vec<usize>, OpError> {
        let r = shape.len() as i64;
        let a = if self.axis < 0 {
            self.axis + r
        } else {
            self.axis
        };
        if !(0..=r).contains(&a) {
            return Err(super::attr_err(
                "axis",
                format!("{} out of range for rank {r}", self.axis),
            ));
        }
        let (outer, inner) = shape.split_at(a as usize);
        Ok(vec![outer.iter().product(), inner.iter().product()])
    }
}

impl Op for Flatten {
    fn op_type(&self) -> &'static str {
        "Flatten"
    }
    fn attrs(&self) -> Attrs {
        Attrs::new().with("axis", Attr::Int(self.axis))
    }
    fn infer(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>, OpError> {
        let x = required(inputs, 0)?;
        Ok(vec![Fact::new(x.dtype, self.out_shape(&x.shape)?)])
    }
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, OpError> {
        let x = required(inputs, 0)?;
        let shape = self.out_shape(x.shape())?;
        Ok(vec![x.clone().reshaped(shape)?])
    }
    op_boilerplate!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::shape::test_util::*;

    #[test]
    fn axes_split_the_shape() {
        let shape = [2, 3, 4];
        let f = |axis| Flatten { axis }.out_shape(&shape);
        assert_eq!(f(0).unwrap(), [1, 24]);
        assert_eq!(f(1).unwrap(), [2, 12]);
        assert_eq!(f(3).unwrap(), [24, 1]);
        assert_eq!(f(-1).unwrap(), [6, 4]);
        assert_eq!(f(-3).unwrap(), [1, 24]);
        assert!(f(4).is_err());
        assert!(f(-4).is_err());
    }

    #[test]
    fn eval_any_dtype() {
        let x = t(&[2, 2, 1], vec![true, false, true, true]);
        let out = run(&Flatten { axis: 2 }, &[Some(&x)]);
        assert_eq!(out[0].shape(), &[4, 1]);
        assert_eq!(
            out[0].as_slice::<bool>().unwrap(),
            &[true, false, true, true]
        );
        roundtrip(&Flatten { axis: -2 }, &ctx(13, 1, 1));
    }
}

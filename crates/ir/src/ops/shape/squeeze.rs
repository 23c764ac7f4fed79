//! Squeeze and Unsqueeze: remove or insert size-1 axes. Axes come from the `axes` attribute
//! (opset < 13) or the second input (opset ≥ 13).
use super::{attr_err, ints_opt, normalize_axes, Known};
use crate::op::required;
use crate::{op_boilerplate, Attr, Attrs, BuildCtx, Fact, Op, OpError};
use mw_tensor::Tensor;

#[derive(Clone, Debug, PartialEq)]
pub struct Squeeze {
    /// Axes given as an attribute; when `None`, the optional input #1 (or every size-1 axis).
    pub axes: Option<Vec<i64>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Unsqueeze {
    /// Axes given as an attribute; when `None`, the required input #1.
    pub axes: Option<Vec<i64>>,
}

pub fn build_squeeze(attrs: &Attrs, _ctx: &BuildCtx) -> Result<Box<dyn Op>, OpError> {
    Ok(Box::new(Squeeze {
        axes: attrs.ints("axes")?,
    }))
}

pub fn build_unsqueeze(attrs: &Attrs, _ctx: &BuildCtx) -> Result<Box<dyn Op>, OpError> {
    Ok(Box::new(Unsqueeze {
        axes: attrs.ints("axes")?,
    }))
}

fn axes_attrs(axes: &Option<Vec<i64>>) -> Attrs {
    match axes {
        Some(a) => Attrs::new().with("axes", Attr::Ints(a.clone())),
        None => Attrs::new(),
    }
}

impl Squeeze {
    fn out_shape<K: Known>(&self, inputs: &[Option<&K>]) -> Result<Vec<usize>, OpError> {
        let shape = required(inputs, 0)?.dims();
        let axes = match &self.axes {
            Some(a) => Some(a.clone()),
            None => ints_opt(inputs, 1)?,
        };
        let Some(axes) = axes else {
            return Ok(shape.iter().copied().filter(|&d| d != 1).collect());
        };
        let axes = normalize_axes(&axes, shape.len(), "axes")?;
        if let Some(&a) = axes.iter().find(|&&a| shape[a] != 1) {
            return Err(OpError::Shape(format!(
                "cannot squeeze axis {a} of size {} in {shape:?}",
                shape[a]
            )));
        }
        Ok(shape
            .iter()
            .enumerate()
            .filter(|(i, _)| !axes.contains(i))
            .map(|(_, &d)| d)
            .collect())
    }
}

impl Unsqueeze {
    fn out_shape<K: Known>(&self, inputs: &[Option<&K>]) -> Result<Vec<usize>, OpError> {
        let shape = required(inputs, 0)?.dims();
        let axes = match &self.axes {
            Some(a) => a.clone(),
            None => ints_opt(inputs, 1)?
                .ok_or_else(|| attr_err("axes", "neither an attribute nor input #1"))?,
        };
        let rank = shape.len() + axes.len();
        let axes = normalize_axes(&axes, rank, "axes")?;
        let mut rest = shape.iter();
        Ok((0..rank)
            .map(|i| {
                if axes.contains(&i) {
                    1
                } else {
                    rest.next().copied().unwrap_or(1)
                }
            })
            .collect())
    }
}

macro_rules! reshaping_op {
    ($ty:ident, $name:literal) => {
        impl Op for $ty {
            fn op_type(&self) -> &'static str {
                $name
            }
            fn attrs(&self) -> Attrs {
                axes_attrs(&self.axes)
            }
            fn infer(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>, OpError> {
                let shape = self.out_shape(inputs)?;
                Ok(vec![Fact::new(required(inputs, 0)?.dtype, shape)])
            }
            fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, OpError> {
                let shape = self.out_shape(inputs)?;
                Ok(vec![required(inputs, 0)?.clone().reshaped(shape)?])
            }
            op_boilerplate!();
        }
    };
}

reshaping_op!(Squeeze, "Squeeze");
reshaping_op!(Unsqueeze, "Unsqueeze");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::shape::test_util::*;

    fn x() -> Tensor {
        t(&[1, 3, 1, 2], (0..6).map(|v| v as f32).collect())
    }

    #[test]
    fn squeeze_from_input_attribute_or_all() {
        let x = x();
        let by_input = run(&Squeeze { axes: None }, &[Some(&x), Some(&i64s(&[0, -2]))]);
        assert_eq!(by_input[0].shape(), &[3, 2]);
        let by_attr = run(
            &Squeeze {
                axes: Some(vec![2]),
            },
            &[Some(&x)],
        );
        assert_eq!(by_attr[0].shape(), &[1, 3, 2]);
        let all = run(&Squeeze { axes: None }, &[Some(&x)]);
        assert_eq!(all[0].shape(), &[3, 2]);
        assert_eq!(
            all[0].as_slice::<f32>().unwrap(),
            x.as_slice::<f32>().unwrap()
        );
    }

    #[test]
    fn squeeze_refuses_non_unit_and_bad_axes() {
        let x = x();
        let op = Squeeze { axes: None };
        assert!(op.eval(&[Some(&x), Some(&i64s(&[1]))]).is_err());
        assert!(op.eval(&[Some(&x), Some(&i64s(&[4]))]).is_err());
        assert!(op.eval(&[Some(&x), Some(&i64s(&[0, 0]))]).is_err());
    }

    #[test]
    fn unsqueeze_positions_against_output_rank() {
        let x = t(&[3, 4], vec![0i64; 12]);
        let op = Unsqueeze { axes: None };
        let out = run(&op, &[Some(&x), Some(&i64s(&[2, 0]))]);
        assert_eq!(out[0].shape(), &[1, 3, 1, 4]);
        let out = run(&op, &[Some(&x), Some(&i64s(&[-1]))]);
        assert_eq!(out[0].shape(), &[3, 4, 1]);
        let out = run(
            &Unsqueeze {
                axes: Some(vec![1]),
            },
            &[Some(&x)],
        );
        assert_eq!(out[0].shape(), &[3, 1, 4]);
        let scalar = Tensor::scalar(1.0f32);
        assert_eq!(
            run(&op, &[Some(&scalar), Some(&i64s(&[0]))])[0].shape(),
            &[1]
        );
        assert!(op.eval(&[Some(&x), Some(&i64s(&[3]))]).is_err());
        assert!(op.eval(&[Some(&x), Some(&i64s(&[1, 1]))]).is_err());
        assert!(op.eval(&[Some(&x)]).is_err());
    }

    #[test]
    fn attrs_roundtrip() {
        roundtrip(
            &Squeeze {
                axes: Some(vec![0]),
            },
            &ctx(11, 1, 1),
        );
        roundtrip(&Unsqueeze { axes: None }, &ctx(13, 2, 1));
    }
}

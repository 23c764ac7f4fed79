//! Reshape: same elements, new shape; `0` copies the input dimension (unless `allowzero`), one
//! `-1` takes what remains.
use super::{ints, Known};
use crate::op::required;
use crate::{op_boilerplate, Attr, Attrs, BuildCtx, Fact, Op, OpError};
use mw_tensor::Tensor;

#[derive(Clone, Debug, PartialEq)]
pub struct Reshape {
    /// A `0` in the requested shape is a literal zero rather than "copy this dimension".
    pub allowzero: bool,
}

pub fn build_reshape(attrs: &Attrs, _ctx: &BuildCtx) -> Result<Box<dyn Op>, OpError> {
    Ok(Box::new(Reshape {
        allowzero: attrs.int_or("allowzero", 0)? != 0,
    }))
}

/// The shape `requested` resolves to for an input of shape `input`.
pub(crate) fn resolve_shape(
    input: &[usize],
    requested: &[i64],
    allowzero: bool,
) -> Result<Vec<usize>, OpError> {
    let bad =
        |reason: String| OpError::Shape(format!("Reshape {input:?} to {requested:?}: {reason}"));
    let total: u128 = input.iter().map(|&d| d as u128).product();
    let mut out = Vec::with_capacity(requested.len());
    let mut infer_at = None;
    let mut known: u128 = 1;
    for (i, &r) in requested.iter().enumerate() {
        let d = match r {
            -1 if infer_at.is_some() => return Err(bad("more than one -1".into())),
            -1 => {
                infer_at = Some(i);
                1
            }
            0 if allowzero => 0,
            0 => *input
                .get(i)
                .ok_or_else(|| bad(format!("0 at position {i} has no input dimension")))?,
            r if r < 0 => return Err(bad(format!("invalid dimension {r}"))),
            r => usize::try_from(r).map_err(|_| bad(format!("dimension {r} too large")))?,
        };
        known = known.saturating_mul(d as u128);
        out.push(d);
    }
    match infer_at {
        Some(i) => {
            if total.checked_rem(known) != Some(0) {
                return Err(bad(format!("-1 cannot be resolved for {total} elements")));
            }
            out[i] = usize::try_from(total / known).map_err(|_| bad("too large".into()))?;
        }
        None if known != total => {
            return Err(bad(format!("{total} elements cannot fill {known}")));
        }
        None => {}
    }
    Ok(out)
}

impl Reshape {
    fn out_shape<K: Known>(&self, inputs: &[Option<&K>]) -> Result<Vec<usize>, OpError> {
        let x = required(inputs, 0)?;
        resolve_shape(x.dims(), &ints(inputs, 1)?, self.allowzero)
    }
}

impl Op for Reshape {
    fn op_type(&self) -> &'static str {
        "Reshape"
    }
    fn attrs(&self) -> Attrs {
        let a = Attrs::new();
        if self.allowzero {
            a.with("allowzero", Attr::Int(1))
        } else {
            a
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::shape::test_util::*;

    fn reshape(shape: &[usize], to: &[i64], allowzero: bool) -> Result<Vec<usize>, OpError> {
        resolve_shape(shape, to, allowzero)
    }

    #[test]
    fn zero_copies_and_minus_one_infers() {
        assert_eq!(reshape(&[2, 3, 4], &[0, -1], false).unwrap(), [2, 12]);
        assert_eq!(reshape(&[2, 3, 4], &[-1], false).unwrap(), [24]);
        assert_eq!(reshape(&[2, 3, 4], &[4, 0, 2], false).unwrap(), [4, 3, 2]);
        assert_eq!(reshape(&[0, 3], &[3, 0], true).unwrap(), [3, 0]);
    }

    #[test]
    fn inconsistent_shapes_are_refused() {
        assert!(reshape(&[2, 3], &[-1, -1], false).is_err());
        assert!(reshape(&[2, 3], &[4, -1], false).is_err());
        assert!(reshape(&[2, 3], &[5], false).is_err());
        assert!(reshape(&[2, 3], &[0, 0, 0], false).is_err());
        assert!(reshape(&[2, 3], &[-2, 3], false).is_err());
        // allowzero with a zero and -1 cannot resolve.
        assert!(reshape(&[0, 3], &[0, -1], true).is_err());
        // Hostile dimensions never wrap around.
        assert!(reshape(&[4], &[i64::MAX, i64::MAX, 0], true).is_err());
    }

    #[test]
    fn eval_keeps_elements_and_infers_shape() {
        let op = Reshape { allowzero: false };
        let x = t(&[2, 3], (0..6).map(|v| v as f32).collect());
        let out = run(&op, &[Some(&x), Some(&i64s(&[3, -1]))]);
        assert_eq!(out[0].shape(), &[3, 2]);
        assert_eq!(
            out[0].as_slice::<f32>().unwrap(),
            x.as_slice::<f32>().unwrap()
        );
    }

    #[test]
    fn non_constant_shape_is_reported() {
        let op = Reshape { allowzero: false };
        let x = Fact::new(mw_tensor::DType::F32, vec![2, 3]);
        let s = Fact::new(mw_tensor::DType::I64, vec![2]);
        assert_eq!(
            op.infer(&[Some(&x), Some(&s)]),
            Err(OpError::NotConstant(1))
        );
    }

    #[test]
    fn attrs_roundtrip() {
        roundtrip(&Reshape { allowzero: true }, &ctx(14, 2, 1));
        roundtrip(&Reshape { allowzero: false }, &ctx(14, 2, 1));
    }
}

//! Concat: joins inputs of equal rank and dtype along `axis`; other dimensions must agree.
use super::{attr_err, kernel_err, Known};
use crate::op::{normalize_axis, required};
use crate::{op_boilerplate, Attr, Attrs, BuildCtx, Fact, Op, OpError};
use mw_tensor::{dispatch_data, Data, Element, Tensor};

#[derive(Clone, Debug, PartialEq)]
pub struct Concat {
    pub axis: i64,
}

pub fn build_concat(attrs: &Attrs, _ctx: &BuildCtx) -> Result<Box<dyn Op>, OpError> {
    let axis = attrs
        .int("axis")?
        .ok_or_else(|| attr_err("axis", "required"))?;
    Ok(Box::new(Concat { axis }))
}

impl Concat {
    /// Normalized axis and output shape.
    fn plan<K: Known>(&self, inputs: &[Option<&K>]) -> Result<(usize, Vec<usize>), OpError> {
        let first = required(inputs, 0)?;
        let rank = first.dims().len();
        let axis = normalize_axis(self.axis, rank)?;
        let mut shape = first.dims().to_vec();
        shape[axis] = 0;
        for i in 0..inputs.len() {
            let x = required(inputs, i)?;
            if x.dtype() != first.dtype() {
                return Err(OpError::InputDType {
                    index: i,
                    expected: first.dtype().to_string(),
                    actual: x.dtype(),
                });
            }
            let d = x.dims();
            let agrees = d.len() == rank
                && d.iter()
                    .zip(first.dims())
                    .enumerate()
                    .all(|(k, (a, b))| k == axis || a == b);
            if !agrees {
                return Err(OpError::Shape(format!(
                    "Concat on axis {axis}: input #{i} {d:?} does not match {:?}",
                    first.dims()
                )));
            }
            shape[axis] = shape[axis]
                .checked_add(d[axis])
                .ok_or_else(|| OpError::Shape("concatenated axis overflows".into()))?;
        }
        Ok((axis, shape))
    }
}

fn concat_typed<T: Element>(first: &[T], inputs: &[&Tensor], axis: usize) -> Result<Data, OpError> {
    let outer: usize = inputs[0].shape()[..axis].iter().product();
    let mut parts = Vec::with_capacity(inputs.len());
    for (i, t) in inputs.iter().enumerate() {
        let s = if i == 0 { first } else { t.as_slice::<T>()? };
        parts.push((s, t.shape()[axis..].iter().product::<usize>()));
    }
    Ok(T::wrap(
        mw_kernels::shape::concat(&parts, outer).map_err(kernel_err)?,
    ))
}

impl Op for Concat {
    fn op_type(&self) -> &'static str {
        "Concat"
    }
    fn attrs(&self) -> Attrs {
        Attrs::new().with("axis", Attr::Int(self.axis))
    }
    fn infer(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>, OpError> {
        let (_, shape) = self.plan(inputs)?;
        Ok(vec![Fact::new(required(inputs, 0)?.dtype, shape)])
    }
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, OpError> {
        let (axis, shape) = self.plan(inputs)?;
        let all: Vec<&Tensor> = inputs.iter().flatten().copied().collect();
        let data = dispatch_data!(all[0].data(), v => concat_typed(v, &all, axis))?;
        Ok(vec![Tensor::new(shape, data)?])
    }
    op_boilerplate!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::shape::test_util::*;

    #[test]
    fn concat_middle_axis() {
        let a = t(&[2, 1, 2], vec![1u16, 2, 3, 4]);
        let b = t(&[2, 2, 2], vec![5u16, 6, 7, 8, 9, 10, 11, 12]);
        let op = Concat { axis: -2 };
        let out = run(&op, &[Some(&a), Some(&b)]);
        assert_eq!(out[0].shape(), &[2, 3, 2]);
        assert_eq!(
            out[0].as_slice::<u16>().unwrap(),
            &[1, 2, 5, 6, 7, 8, 3, 4, 9, 10, 11, 12]
        );
        roundtrip(&op, &ctx(13, 2, 1));
    }

    #[test]
    fn empty_inputs_and_single_input() {
        let a = t(&[0, 2], Vec::<f32>::new());
        let b = t(&[1, 2], vec![1.0f32, 2.0]);
        let out = run(&Concat { axis: 0 }, &[Some(&a), Some(&b)]);
        assert_eq!(out[0], b);
        assert_eq!(run(&Concat { axis: 1 }, &[Some(&b)])[0], b);
    }

    #[test]
    fn mismatches_are_refused() {
        let a = t(&[2, 2], vec![0f32; 4]);
        let b = t(&[3, 3], vec![0f32; 9]);
        let c = t(&[2, 2], vec![0i32; 4]);
        let op = Concat { axis: 0 };
        assert!(matches!(
            op.eval(&[Some(&a), Some(&b)]),
            Err(OpError::Shape(_))
        ));
        assert!(matches!(
            op.eval(&[Some(&a), Some(&c)]),
            Err(OpError::InputDType { index: 1, .. })
        ));
        assert!(Concat { axis: 2 }.eval(&[Some(&a)]).is_err());
        assert!(build_concat(&Attrs::new(), &ctx(13, 1, 1)).is_err());
    }
}

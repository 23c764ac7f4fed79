//! Gather: picks entries of `data` along `axis` by `indices` (negative indices count from the
//! end; any index outside `[-len, len)` is an error). Output shape:
//! `data[..axis] ++ indices.shape ++ data[axis + 1..]`.
use super::{ints_of, kernel_err, Known};
use crate::op::{normalize_axis, required};
use crate::{op_boilerplate, Attr, Attrs, BuildCtx, Fact, Op, OpError};
use mw_tensor::{dispatch_data, DType, Data, Element, Tensor};

#[derive(Clone, Debug, PartialEq)]
pub struct Gather {
    pub axis: i64,
}

pub fn build_gather(attrs: &Attrs, _ctx: &BuildCtx) -> Result<Box<dyn Op>, OpError> {
    Ok(Box::new(Gather {
        axis: attrs.int_or("axis", 0)?,
    }))
}

impl Gather {
    /// Normalized axis and output shape.
    fn plan<K: Known>(&self, inputs: &[Option<&K>]) -> Result<(usize, Vec<usize>), OpError> {
        let data = required(inputs, 0)?;
        let indices = required(inputs, 1)?;
        if !matches!(indices.dtype(), DType::I32 | DType::I64) {
            return Err(OpError::InputDType {
                index: 1,
                expected: "i32 or i64".into(),
                actual: indices.dtype(),
            });
        }
        let d = data.dims();
        let axis = normalize_axis(self.axis, d.len())?;
        let shape = [&d[..axis], indices.dims(), &d[axis + 1..]].concat();
        Ok((axis, shape))
    }
}

/// Indices as positions along an axis of length `len`.
fn resolve_indices(indices: &Tensor, len: usize) -> Result<Vec<usize>, OpError> {
    ints_of(indices, 1)?
        .into_iter()
        .map(|i| {
            let j = if i < 0 {
                i as i128 + len as i128
            } else {
                i as i128
            };
            if (0..len as i128).contains(&j) {
                Ok(j as usize)
            } else {
                Err(OpError::Shape(format!(
                    "Gather index {i} out of range for an axis of length {len}"
                )))
            }
        })
        .collect()
}

fn gather_typed<T: Element>(
    x: &[T],
    shape: &[usize],
    axis: usize,
    indices: &[usize],
) -> Result<Data, OpError> {
    let outer = shape[..axis].iter().product();
    let inner = shape[axis + 1..].iter().product();
    let out =
        mw_kernels::shape::gather(x, outer, shape[axis], inner, indices).map_err(kernel_err)?;
    Ok(T::wrap(out))
}

impl Op for Gather {
    fn op_type(&self) -> &'static str {
        "Gather"
    }
    fn attrs(&self) -> Attrs {
        Attrs::new().with("axis", Attr::Int(self.axis))
    }
    fn infer(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>, OpError> {
        let (axis, shape) = self.plan(inputs)?;
        let data = required(inputs, 0)?;
        if let Some(k) = required(inputs, 1)?.konst.as_deref() {
            resolve_indices(k, data.shape[axis])?;
        }
        Ok(vec![Fact::new(data.dtype, shape)])
    }
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, OpError> {
        let (axis, shape) = self.plan(inputs)?;
        let x = required(inputs, 0)?;
        let idx = resolve_indices(required(inputs, 1)?, x.shape()[axis])?;
        let data = dispatch_data!(x.data(), v => gather_typed(v, x.shape(), axis, &idx))?;
        Ok(vec![Tensor::new(shape, data)?])
    }
    op_boilerplate!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::shape::test_util::*;

    #[test]
    fn gather_rows_with_negative_indices() {
        let x = t(&[3, 2], vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let idx = t(&[2, 2], vec![0i64, -1, 1, 0]);
        let out = run(&Gather { axis: 0 }, &[Some(&x), Some(&idx)]);
        assert_eq!(out[0].shape(), &[2, 2, 2]);
        assert_eq!(
            out[0].as_slice::<f32>().unwrap(),
            &[1.0, 2.0, 5.0, 6.0, 3.0, 4.0, 1.0, 2.0]
        );
    }

    #[test]
    fn scalar_index_on_last_axis() {
        let x = t(&[2, 3], (0..6).collect::<Vec<i64>>());
        let idx = Tensor::scalar(2i32);
        let out = run(&Gather { axis: -1 }, &[Some(&x), Some(&idx)]);
        assert_eq!(out[0].shape(), &[2]);
        assert_eq!(out[0].as_slice::<i64>().unwrap(), &[2, 5]);
        roundtrip(&Gather { axis: -1 }, &ctx(13, 2, 1));
    }

    #[test]
    fn out_of_range_and_bad_dtypes_are_refused() {
        let x = t(&[3], vec![1u8, 2, 3]);
        for bad in [3i64, -4, i64::MIN] {
            let idx = i64s(&[bad]);
            assert!(matches!(
                Gather { axis: 0 }.eval(&[Some(&x), Some(&idx)]),
                Err(OpError::Shape(_))
            ));
            let facts = [Fact::new(DType::U8, vec![3]), Fact::of(&idx)];
            assert!(Gather { axis: 0 }
                .infer(&[Some(&facts[0]), Some(&facts[1])])
                .is_err());
        }
        let fidx = t(&[1], vec![0f32]);
        assert!(Gather { axis: 0 }.eval(&[Some(&x), Some(&fidx)]).is_err());
        assert!(Gather { axis: 1 }
            .eval(&[Some(&x), Some(&i64s(&[0]))])
            .is_err());
    }
}

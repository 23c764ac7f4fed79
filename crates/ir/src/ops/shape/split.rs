//! Split: cuts the input along `axis` into parts given by the `split` attribute (opset < 13), the
//! `split` input (opset ≥ 13), `num_outputs` (opset ≥ 18, the last part possibly smaller), or
//! else into as many equal parts as the node has outputs.
use super::{attr_err, ints_opt, kernel_err, Known};
use crate::op::{normalize_axis, required};
use crate::{op_boilerplate, Attr, Attrs, BuildCtx, Fact, Op, OpError};
use mw_tensor::{dispatch_data, Data, Element, Tensor};

#[derive(Clone, Debug, PartialEq)]
pub struct Split {
    pub axis: i64,
    /// Part sizes given as an attribute (opset < 13).
    pub split: Option<Vec<i64>>,
    /// `num_outputs` attribute (opset ≥ 18).
    pub num_outputs: Option<i64>,
    /// Outputs the node lists (the part count when nothing else gives it).
    pub n_outputs: usize,
}

pub fn build_split(attrs: &Attrs, ctx: &BuildCtx) -> Result<Box<dyn Op>, OpError> {
    let num_outputs = attrs.int("num_outputs")?;
    if let Some(n) = num_outputs {
        if n < 1 {
            return Err(attr_err("num_outputs", format!("{n} is not positive")));
        }
    }
    Ok(Box::new(Split {
        axis: attrs.int_or("axis", 0)?,
        split: attrs.ints("split")?,
        num_outputs,
        n_outputs: ctx.n_outputs,
    }))
}

impl Split {
    /// Normalized axis and the size of each part.
    fn plan<K: Known>(&self, inputs: &[Option<&K>]) -> Result<(usize, Vec<usize>), OpError> {
        let shape = required(inputs, 0)?.dims();
        let axis = normalize_axis(self.axis, shape.len())?;
        let d = shape[axis];
        let given = match &self.split {
            Some(s) => Some(s.clone()),
            None => ints_opt(inputs, 1)?,
        };
        let sizes = match given {
            Some(s) => {
                let sizes = s
                    .iter()
                    .map(|&v| usize::try_from(v).map_err(|_| attr_err("split", format!("{v} < 0"))))
                    .collect::<Result<Vec<_>, _>>()?;
                let total = sizes.iter().try_fold(0usize, |a, &v| a.checked_add(v));
                if total != Some(d) {
                    return Err(OpError::Shape(format!(
                        "split {s:?} does not sum to the axis length {d}"
                    )));
                }
                sizes
            }
            None => {
                let n = match self.num_outputs {
                    Some(n) => {
                        usize::try_from(n).map_err(|_| attr_err("num_outputs", "too large"))?
                    }
                    None => self.n_outputs,
                };
                if n == 0 {
                    return Err(attr_err("num_outputs", "no outputs to split into"));
                }
                let chunk = d.div_ceil(n);
                (0..n)
                    .map(|i| chunk.min(d.saturating_sub(i * chunk)))
                    .collect()
            }
        };
        if sizes.len() < self.n_outputs {
            return Err(OpError::Shape(format!(
                "{} parts for {} outputs",
                sizes.len(),
                self.n_outputs
            )));
        }
        Ok((axis, sizes))
    }
}

fn split_typed<T: Element>(
    x: &[T],
    shape: &[usize],
    axis: usize,
    sizes: &[usize],
) -> Result<Vec<Data>, OpError> {
    let outer: usize = shape[..axis].iter().product();
    let inner: usize = shape[axis + 1..].iter().product();
    let d = shape[axis];
    let mut start = 0;
    let mut out = Vec::with_capacity(sizes.len());
    for &s in sizes {
        let strides = [(d * inner) as isize, inner as isize, 1];
        let part = mw_kernels::shape::copy_strided(x, &[outer, s, inner], start * inner, &strides)
            .map_err(kernel_err)?;
        out.push(T::wrap(part));
        start += s;
    }
    Ok(out)
}

impl Op for Split {
    fn op_type(&self) -> &'static str {
        "Split"
    }
    fn attrs(&self) -> Attrs {
        let mut a = Attrs::new().with("axis", Attr::Int(self.axis));
        if let Some(s) = &self.split {
            a.set("split", Attr::Ints(s.clone()));
        }
        if let Some(n) = self.num_outputs {
            a.set("num_outputs", Attr::Int(n));
        }
        a
    }
    fn infer(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>, OpError> {
        let x = required(inputs, 0)?;
        let (axis, sizes) = self.plan(inputs)?;
        Ok(sizes
            .iter()
            .map(|&s| {
                let mut shape = x.shape.clone();
                shape[axis] = s;
                Fact::new(x.dtype, shape)
            })
            .collect())
    }
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, OpError> {
        let x = required(inputs, 0)?;
        let (axis, sizes) = self.plan(inputs)?;
        let parts = dispatch_data!(x.data(), v => split_typed(v, x.shape(), axis, &sizes))?;
        parts
            .into_iter()
            .zip(&sizes)
            .map(|(data, &s)| {
                let mut shape = x.shape().to_vec();
                shape[axis] = s;
                Ok(Tensor::new(shape, data)?)
            })
            .collect()
    }
    op_boilerplate!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::shape::test_util::*;

    fn split(axis: i64, n_outputs: usize) -> Split {
        Split {
            axis,
            split: None,
            num_outputs: None,
            n_outputs,
        }
    }

    #[test]
    fn equal_parts_by_output_count() {
        let x = t(&[2, 4], (0..8).collect::<Vec<i32>>());
        let out = run(&split(1, 2), &[Some(&x)]);
        assert_eq!(out[0].as_slice::<i32>().unwrap(), &[0, 1, 4, 5]);
        assert_eq!(out[1].as_slice::<i32>().unwrap(), &[2, 3, 6, 7]);
    }

    #[test]
    fn sizes_from_input_and_attribute() {
        let x = t(&[5], (0..5).collect::<Vec<i64>>());
        let out = run(&split(0, 3), &[Some(&x), Some(&i64s(&[2, 0, 3]))]);
        assert_eq!(out[0].as_slice::<i64>().unwrap(), &[0, 1]);
        assert_eq!(out[1].shape(), &[0]);
        assert_eq!(out[2].as_slice::<i64>().unwrap(), &[2, 3, 4]);
        let op = Split {
            split: Some(vec![4, 1]),
            ..split(-1, 2)
        };
        let out = run(&op, &[Some(&x)]);
        assert_eq!(out[1].as_slice::<i64>().unwrap(), &[4]);
        roundtrip(&op, &ctx(11, 1, 2));
    }

    #[test]
    fn num_outputs_makes_the_last_part_smaller() {
        let x = t(&[7], (0..7).collect::<Vec<u8>>());
        let op = Split {
            num_outputs: Some(3),
            ..split(0, 3)
        };
        let out = run(&op, &[Some(&x)]);
        let shapes: Vec<_> = out.iter().map(|t| t.shape()[0]).collect();
        assert_eq!(shapes, [3, 3, 1]);
        roundtrip(&op, &ctx(18, 1, 3));
    }

    #[test]
    fn bad_sizes_are_refused() {
        let x = t(&[5], vec![0f32; 5]);
        assert!(split(0, 2).eval(&[Some(&x), Some(&i64s(&[2, 2]))]).is_err());
        assert!(split(0, 2)
            .eval(&[Some(&x), Some(&i64s(&[6, -1]))])
            .is_err());
        assert!(split(0, 3).eval(&[Some(&x), Some(&i64s(&[5]))]).is_err());
        assert!(split(1, 1).eval(&[Some(&x)]).is_err());
    }
}

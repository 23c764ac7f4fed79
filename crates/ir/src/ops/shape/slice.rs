//! Slice (opset ≥ 10): per listed axis, elements `start, start + step, ...` before `end`, with
//! negative positions counted from the end and out-of-range positions clamped.
use super::{attr_err, ints, ints_opt, kernel_err, normalize_axes, Known};
use crate::op::required;
use crate::{op_boilerplate, Attrs, BuildCtx, Fact, Op, OpError};
use mw_tensor::{dispatch_data, strides_of, Data, Element, Tensor};

#[derive(Clone, Debug, PartialEq)]
pub struct Slice;

pub fn build_slice(attrs: &Attrs, ctx: &BuildCtx) -> Result<Box<dyn Op>, OpError> {
    if ctx.opset < 10 || attrs.get("starts").is_some() {
        return Err(OpError::Unsupported(format!(
            "Slice with starts/ends attributes (opset {} < 10)",
            ctx.opset
        )));
    }
    Ok(Box::new(Slice))
}

/// One axis of a slice: first position, element count and step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct AxisRange {
    pub start: usize,
    pub len: usize,
    pub step: i64,
}

/// Resolves `start`/`end`/`step` against an axis of length `dim` (ONNX clamping rules). As in
/// ONNX Runtime, an `end` of `i32::MAX` or `i64::MAX` (the spec's recommended "to the end")
/// means through the last element in the direction of the step, also when stepping backward.
pub(crate) fn axis_range(
    dim: usize,
    start: i64,
    end: i64,
    step: i64,
) -> Result<AxisRange, OpError> {
    if step == 0 {
        return Err(attr_err("steps", "a step of 0"));
    }
    let d = dim as i128;
    let norm = |v: i64| if v < 0 { v as i128 + d } else { v as i128 };
    let to_the_end = end == i64::MAX || end == i32::MAX as i64;
    let e = match (to_the_end, step > 0) {
        (true, true) => d,
        (true, false) => -1,
        (false, _) => norm(end),
    };
    let s = norm(start);
    let (s, len) = if step > 0 {
        let (s, e) = (s.clamp(0, d), e.clamp(0, d));
        (s, ceil_div((e - s).max(0), step as i128))
    } else {
        let s = s.min(d - 1).max(0);
        let e = e.min(d - 1).max(-1);
        (s, ceil_div((s - e).max(0), -(step as i128)))
    };
    let len = if dim == 0 { 0 } else { len };
    Ok(AxisRange {
        start: s as usize,
        len: len as usize,
        step,
    })
}

/// `a / b` rounded up, for `a ≥ 0` and `b > 0`.
fn ceil_div(a: i128, b: i128) -> i128 {
    (a + b - 1) / b
}

/// Resolves the slice of every axis of an input of shape `shape`.
fn plan<K: Known>(inputs: &[Option<&K>]) -> Result<Vec<AxisRange>, OpError> {
    let shape = required(inputs, 0)?.dims();
    let rank = shape.len();
    let starts = ints(inputs, 1)?;
    let ends = ints(inputs, 2)?;
    let n = starts.len();
    let axes = ints_opt(inputs, 3)?.unwrap_or_else(|| (0..n as i64).collect());
    let steps = ints_opt(inputs, 4)?.unwrap_or_else(|| vec![1; n]);
    if ends.len() != n || axes.len() != n || steps.len() != n {
        return Err(OpError::Shape(format!(
            "Slice: starts, ends, axes and steps have {n}, {}, {} and {} entries",
            ends.len(),
            axes.len(),
            steps.len()
        )));
    }
    let axes = normalize_axes(&axes, rank, "axes")?;
    let mut ranges: Vec<AxisRange> = shape
        .iter()
        .map(|&d| AxisRange {
            start: 0,
            len: d,
            step: 1,
        })
        .collect();
    for (i, &a) in axes.iter().enumerate() {
        ranges[a] = axis_range(shape[a], starts[i], ends[i], steps[i])?;
    }
    Ok(ranges)
}

fn slice_typed<T: Element>(
    x: &[T],
    shape: &[usize],
    ranges: &[AxisRange],
) -> Result<Data, OpError> {
    let strides = strides_of(shape);
    let out_shape: Vec<usize> = ranges.iter().map(|r| r.len).collect();
    let offset = ranges.iter().zip(&strides).map(|(r, &s)| r.start * s).sum();
    let view: Vec<isize> = ranges
        .iter()
        .zip(&strides)
        .map(|(r, &s)| r.step as isize * s as isize)
        .collect();
    let out = mw_kernels::shape::copy_strided(x, &out_shape, offset, &view).map_err(kernel_err)?;
    Ok(T::wrap(out))
}

impl Op for Slice {
    fn op_type(&self) -> &'static str {
        "Slice"
    }
    fn attrs(&self) -> Attrs {
        Attrs::new()
    }
    fn infer(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>, OpError> {
        let shape = plan(inputs)?.iter().map(|r| r.len).collect();
        Ok(vec![Fact::new(required(inputs, 0)?.dtype, shape)])
    }
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, OpError> {
        let x = required(inputs, 0)?;
        let ranges = plan(inputs)?;
        let data = dispatch_data!(x.data(), v => slice_typed(v, x.shape(), &ranges))?;
        Ok(vec![Tensor::new(
            ranges.iter().map(|r| r.len).collect(),
            data,
        )?])
    }
    op_boilerplate!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::shape::test_util::*;

    fn r(dim: usize, start: i64, end: i64, step: i64) -> (usize, usize) {
        let a = axis_range(dim, start, end, step).unwrap();
        (a.start, a.len)
    }

    #[test]
    fn clamping_rules() {
        assert_eq!(r(10, 0, 3, 1), (0, 3));
        assert_eq!(r(10, -3, i64::MAX, 1), (7, 3));
        assert_eq!(r(10, 20, 1000, 1), (10, 0));
        assert_eq!(r(10, i64::MIN, i64::MAX, 3), (0, 4));
        assert_eq!(r(10, -1, i64::MIN, -1), (9, 10));
        assert_eq!(r(10, 20, -100, -2), (9, 5));
        assert_eq!(r(10, 5, 5, -1), (5, 0));
        // INT_MAX ends run to the end in the step's direction (ONNX Runtime's reading).
        assert_eq!(r(6, 3, i64::MAX, -1), (3, 4));
        assert_eq!(r(6, 3, i32::MAX as i64, -2), (3, 2));
        assert_eq!(r(6, 3, i32::MAX as i64, 1), (3, 3));
        assert_eq!(r(0, 0, -1, -1), (0, 0));
        assert!(axis_range(3, 0, 1, 0).is_err());
    }

    #[test]
    fn negative_steps_reverse() {
        let x = t(&[2, 4], (0..8).collect::<Vec<i32>>());
        let out = run(
            &Slice,
            &[
                Some(&x),
                Some(&i64s(&[-1, 20])),
                Some(&i64s(&[0, i64::MIN])),
                Some(&i64s(&[-2, -1])),
                Some(&i64s(&[-1, -2])),
            ],
        );
        // Axis 0 from 1 down to (exclusive) 0: row 1; axis 1 from the end with step -2: 3, 1.
        assert_eq!(out[0].shape(), &[1, 2]);
        assert_eq!(out[0].as_slice::<i32>().unwrap(), &[7, 5]);
    }

    #[test]
    fn default_axes_and_steps() {
        let x = t(&[3, 3], (0..9).map(|v| v as f64).collect());
        let out = run(
            &Slice,
            &[Some(&x), Some(&i64s(&[1, 0])), Some(&i64s(&[3, 2]))],
        );
        assert_eq!(out[0].as_slice::<f64>().unwrap(), &[3.0, 4.0, 6.0, 7.0]);
    }

    #[test]
    fn bad_arguments_are_refused() {
        let x = t(&[3], vec![1u8, 2, 3]);
        let s = i64s(&[0]);
        assert!(Slice
            .eval(&[Some(&x), Some(&s), Some(&i64s(&[1, 2]))])
            .is_err());
        assert!(Slice
            .eval(&[Some(&x), Some(&s), Some(&s), Some(&i64s(&[1]))])
            .is_err());
        assert!(build_slice(&Attrs::new(), &ctx(9, 1, 1)).is_err());
    }
}

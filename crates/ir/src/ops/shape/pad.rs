//! Pad (opset ≥ 11): pads (or, with negative amounts, crops) with a constant, the reflection,
//! the edge or the periodic wrap of the input. `pads` is `[begins..., ends...]` over every axis,
//! or over the `axes` input (opset ≥ 18).
use super::{attr_err, guard, ints, ints_opt, kernel_err, normalize_axes, Known};
use crate::op::{optional, required};
use crate::{op_boilerplate, Attr, Attrs, BuildCtx, Fact, Op, OpError};
use mw_kernels::shape::PadMode;
use mw_tensor::{dispatch_data, Data, Element, Tensor};

#[derive(Clone, Debug, PartialEq)]
pub struct Pad {
    pub mode: PadMode,
}

pub fn build_pad(attrs: &Attrs, ctx: &BuildCtx) -> Result<Box<dyn Op>, OpError> {
    if ctx.opset < 11 || attrs.get("pads").is_some() {
        return Err(OpError::Unsupported(format!(
            "Pad with a pads attribute (opset {} < 11)",
            ctx.opset
        )));
    }
    let mode = match attrs.string_or("mode", "constant")?.as_str() {
        "constant" => PadMode::Constant,
        "reflect" => PadMode::Reflect,
        "edge" => PadMode::Edge,
        "wrap" => PadMode::Wrap,
        other => return Err(attr_err("mode", format!("unknown mode `{other}`"))),
    };
    Ok(Box::new(Pad { mode }))
}

fn mode_name(mode: PadMode) -> &'static str {
    match mode {
        PadMode::Constant => "constant",
        PadMode::Reflect => "reflect",
        PadMode::Edge => "edge",
        PadMode::Wrap => "wrap",
    }
}

/// Per-axis pads before and after, and the output shape (checked against the size guard).
struct Plan {
    begins: Vec<i64>,
    ends: Vec<i64>,
    shape: Vec<usize>,
}

fn plan<K: Known>(inputs: &[Option<&K>]) -> Result<Plan, OpError> {
    let x = required(inputs, 0)?;
    let in_shape = x.dims();
    let rank = in_shape.len();
    let pads = ints(inputs, 1)?;
    let axes = match ints_opt(inputs, 3)? {
        Some(a) => normalize_axes(&a, rank, "axes")?,
        None => (0..rank).collect(),
    };
    if pads.len() != 2 * axes.len() {
        return Err(OpError::Shape(format!(
            "Pad: {} pads for {} axes",
            pads.len(),
            axes.len()
        )));
    }
    let (mut begins, mut ends) = (vec![0i64; rank], vec![0i64; rank]);
    for (i, &a) in axes.iter().enumerate() {
        begins[a] = pads[i];
        ends[a] = pads[axes.len() + i];
    }
    let shape = in_shape
        .iter()
        .zip(begins.iter().zip(&ends))
        .map(|(&d, (&b, &e))| {
            let n = d as i128 + b as i128 + e as i128;
            usize::try_from(n).map_err(|_| {
                OpError::Shape(format!("Pad: pads ({b}, {e}) on an axis of {d} give {n}"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    guard(x.dtype(), &shape)?;
    Ok(Plan {
        begins,
        ends,
        shape,
    })
}

fn pad_typed<T: Element>(
    x: &[T],
    shape: &[usize],
    plan: &Plan,
    mode: PadMode,
    value: Option<&Tensor>,
) -> Result<Data, OpError> {
    let fill = match value {
        Some(v) => v.as_slice::<T>()?.first().copied().unwrap_or_default(),
        None => T::default(),
    };
    let out = mw_kernels::shape::pad(x, shape, &plan.begins, &plan.ends, mode, fill)
        .map_err(kernel_err)?;
    Ok(T::wrap(out))
}

impl Op for Pad {
    fn op_type(&self) -> &'static str {
        "Pad"
    }
    fn attrs(&self) -> Attrs {
        Attrs::new().with("mode", Attr::String(mode_name(self.mode).into()))
    }
    fn infer(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>, OpError> {
        let x = required(inputs, 0)?;
        if let Some(v) = optional(inputs, 2) {
            if v.dtype != x.dtype {
                return Err(OpError::InputDType {
                    index: 2,
                    expected: x.dtype.to_string(),
                    actual: v.dtype,
                });
            }
        }
        Ok(vec![Fact::new(x.dtype, plan(inputs)?.shape)])
    }
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, OpError> {
        let x = required(inputs, 0)?;
        let p = plan(inputs)?;
        let value = optional(inputs, 2);
        let data = dispatch_data!(x.data(), v => pad_typed(v, x.shape(), &p, self.mode, value))?;
        Ok(vec![Tensor::new(p.shape, data)?])
    }
    op_boilerplate!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::shape::test_util::*;

    fn pad(mode: PadMode) -> Pad {
        Pad { mode }
    }

    #[test]
    fn constant_with_value_and_axes() {
        let x = t(&[2, 2], vec![1.0f32, 2.0, 3.0, 4.0]);
        let v = Tensor::scalar(9.0f32);
        let out = run(
            &pad(PadMode::Constant),
            &[Some(&x), Some(&i64s(&[1, 0])), Some(&v), Some(&i64s(&[-1]))],
        );
        assert_eq!(out[0].shape(), &[2, 3]);
        assert_eq!(
            out[0].as_slice::<f32>().unwrap(),
            &[9.0, 1.0, 2.0, 9.0, 3.0, 4.0]
        );
    }

    #[test]
    fn reflect_edge_wrap_on_ints() {
        let x = t(&[3], vec![1i32, 2, 3]);
        let pads = i64s(&[2, 1]);
        let go = |m| run(&pad(m), &[Some(&x), Some(&pads)])[0].clone();
        assert_eq!(
            go(PadMode::Reflect).as_slice::<i32>().unwrap(),
            &[3, 2, 1, 2, 3, 2]
        );
        assert_eq!(
            go(PadMode::Edge).as_slice::<i32>().unwrap(),
            &[1, 1, 1, 2, 3, 3]
        );
        assert_eq!(
            go(PadMode::Wrap).as_slice::<i32>().unwrap(),
            &[2, 3, 1, 2, 3, 1]
        );
        assert_eq!(
            go(PadMode::Constant).as_slice::<i32>().unwrap(),
            &[0, 0, 1, 2, 3, 0]
        );
    }

    #[test]
    fn negative_pads_crop() {
        let x = t(&[4], vec![1u8, 2, 3, 4]);
        let out = run(&pad(PadMode::Constant), &[Some(&x), Some(&i64s(&[-1, -2]))]);
        assert_eq!(out[0].as_slice::<u8>().unwrap(), &[2]);
        assert!(pad(PadMode::Constant)
            .eval(&[Some(&x), Some(&i64s(&[-3, -2]))])
            .is_err());
    }

    #[test]
    fn hostile_pads_are_refused_before_allocating() {
        let x = t(&[1], vec![1f32]);
        let err = pad(PadMode::Edge)
            .eval(&[Some(&x), Some(&i64s(&[i64::MAX, i64::MAX]))])
            .unwrap_err();
        assert!(matches!(err, OpError::MemoryCap { .. }), "{err}");
        let f = Fact::new(mw_tensor::DType::F32, vec![1]);
        assert!(pad(PadMode::Constant)
            .infer(&[Some(&f), Some(&Fact::of(&i64s(&[1 << 40, 0])))])
            .is_err());
    }

    #[test]
    fn mismatched_inputs_are_refused() {
        let x = t(&[2], vec![1f32, 2.0]);
        let v = Tensor::scalar(1i64);
        assert!(pad(PadMode::Constant)
            .eval(&[Some(&x), Some(&i64s(&[1, 1])), Some(&v)])
            .is_err());
        assert!(pad(PadMode::Constant)
            .eval(&[Some(&x), Some(&i64s(&[1]))])
            .is_err());
        assert!(build_pad(&Attrs::new(), &ctx(2, 1, 1)).is_err());
        let bad = attrs(&[("mode", Attr::String("mirror".into()))]);
        assert!(build_pad(&bad, &ctx(13, 2, 1)).is_err());
    }

    #[test]
    fn attrs_roundtrip() {
        roundtrip(&pad(PadMode::Wrap), &ctx(19, 2, 1));
    }
}

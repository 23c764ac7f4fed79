//! ReduceMean: the mean over `axes`, keeping them as size-1 dimensions when `keepdims` (default
//! 1).
//!
//! Axes come from the `axes` attribute before opset 18 and from the optional second input from
//! opset 18 on (that input must be a constant known at inference time, since the output shape
//! depends on it). No axes (absent or empty) means every axis, unless `noop_with_empty_axes`
//! (opset 18), which makes the op the identity. Integer means truncate toward zero.
use super::common::{bad_dtype, kernel_error};
use crate::op::{const_input, normalize_axis, optional, required};
use crate::{op_boilerplate, Attr, Attrs, BuildCtx, Fact, Op, OpError};
use mw_kernels::elementwise as k;
use mw_tensor::{DType, Element, Tensor};

const TYPES: &str = "f32, f64, i32, i64, u32 or u64";

/// Where the reduced axes come from.
#[derive(Clone, Debug, PartialEq)]
pub enum AxesFrom {
    /// The `axes` attribute (opsets < 18); `None` when absent.
    Attr(Option<Vec<i64>>),
    /// The optional input #1 (opset 18 on).
    Input,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ReduceMean {
    pub axes: AxesFrom,
    pub keepdims: bool,
    /// Empty axes make the op the identity (opset 18 on; always false before).
    pub noop_with_empty_axes: bool,
}

pub fn build_reduce_mean(attrs: &Attrs, ctx: &BuildCtx) -> Result<Box<dyn Op>, OpError> {
    let (axes, noop_with_empty_axes) = if ctx.opset < 18 {
        (AxesFrom::Attr(attrs.ints("axes")?), false)
    } else {
        let noop = attrs.int_or("noop_with_empty_axes", 0)? != 0;
        (AxesFrom::Input, noop)
    };
    Ok(Box::new(ReduceMean {
        axes,
        keepdims: attrs.int_or("keepdims", 1)? != 0,
        noop_with_empty_axes,
    }))
}

/// The sorted, normalized axes to reduce over a tensor of `rank`, or `None` for the identity.
fn resolve(raw: &[i64], rank: usize, noop_if_empty: bool) -> Result<Option<Vec<usize>>, OpError> {
    if raw.is_empty() {
        return Ok(if noop_if_empty {
            None
        } else {
            Some((0..rank).collect())
        });
    }
    let mut axes = raw
        .iter()
        .map(|&a| normalize_axis(a, rank))
        .collect::<Result<Vec<_>, _>>()?;
    axes.sort_unstable();
    if axes.windows(2).any(|w| w[0] == w[1]) {
        return Err(OpError::Attribute {
            name: "axes".into(),
            reason: format!("repeated axis in {raw:?}"),
        });
    }
    Ok(Some(axes))
}

fn check_dtype(dtype: DType) -> Result<(), OpError> {
    match dtype {
        DType::F32 | DType::F64 | DType::I32 | DType::I64 | DType::U32 | DType::U64 => Ok(()),
        other => Err(bad_dtype(0, TYPES, other)),
    }
}

fn mean<T: k::Numeric + Element>(
    x: &Tensor,
    axes: &[usize],
    keep: bool,
) -> Result<Tensor, OpError> {
    let y = k::reduce_mean(x.as_slice::<T>()?, x.shape(), axes).map_err(kernel_error)?;
    Ok(Tensor::from_vec(
        k::reduced_shape(x.shape(), axes, keep),
        y,
    )?)
}

impl ReduceMean {
    fn axes(&self, given: Option<&Tensor>, rank: usize) -> Result<Option<Vec<usize>>, OpError> {
        let raw = match (&self.axes, given) {
            (AxesFrom::Attr(a), _) => a.clone().unwrap_or_default(),
            (AxesFrom::Input, Some(t)) => t.to_i64_vec()?,
            (AxesFrom::Input, None) => Vec::new(),
        };
        resolve(&raw, rank, self.noop_with_empty_axes)
    }
}

impl Op for ReduceMean {
    fn op_type(&self) -> &'static str {
        "ReduceMean"
    }
    fn attrs(&self) -> Attrs {
        let a = Attrs::new().with("keepdims", Attr::Int(self.keepdims as i64));
        match &self.axes {
            AxesFrom::Attr(Some(axes)) => a.with("axes", Attr::Ints(axes.clone())),
            AxesFrom::Attr(None) => a,
            AxesFrom::Input => a.with(
                "noop_with_empty_axes",
                Attr::Int(self.noop_with_empty_axes as i64),
            ),
        }
    }
    fn infer(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>, OpError> {
        let x = required(inputs, 0)?;
        check_dtype(x.dtype)?;
        let given = match (&self.axes, optional(inputs, 1)) {
            (AxesFrom::Input, Some(_)) => Some(const_input(inputs, 1)?),
            _ => None,
        };
        let shape = match self.axes(given, x.rank())? {
            None => x.shape.clone(),
            Some(axes) => k::reduced_shape(&x.shape, &axes, self.keepdims),
        };
        Ok(vec![Fact::new(x.dtype, shape)])
    }
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, OpError> {
        let x = required(inputs, 0)?;
        let Some(axes) = self.axes(optional(inputs, 1), x.rank())? else {
            check_dtype(x.dtype())?;
            return Ok(vec![x.clone()]);
        };
        let keep = self.keepdims;
        let out = match x.dtype() {
            DType::F32 => mean::<f32>(x, &axes, keep)?,
            DType::F64 => mean::<f64>(x, &axes, keep)?,
            DType::I32 => mean::<i32>(x, &axes, keep)?,
            DType::I64 => mean::<i64>(x, &axes, keep)?,
            DType::U32 => mean::<u32>(x, &axes, keep)?,
            DType::U64 => mean::<u64>(x, &axes, keep)?,
            other => return Err(bad_dtype(0, TYPES, other)),
        };
        Ok(vec![out])
    }
    /// One addition per input element (plus one division per output, neglected).
    fn cost(&self, inputs: &[Option<&Fact>], _outputs: &[Fact]) -> crate::Cost {
        crate::Cost {
            elementwise: required(inputs, 0).map_or(0, |x| x.numel() as u64),
            ..crate::Cost::default()
        }
    }
    op_boilerplate!();
}

#[cfg(test)]
mod tests {
    use super::super::common::testutil::{build, round_trips, run, run_const, t};
    use super::*;

    fn data() -> Option<Tensor> {
        // shape [3, 2, 2]
        t(
            &[3, 2, 2],
            vec![
                5.0f32, 1.0, 20.0, 2.0, 30.0, 1.0, 40.0, 2.0, 55.0, 1.0, 60.0, 2.0,
            ],
        )
    }

    fn keep(k: i64) -> Attrs {
        Attrs::new().with("keepdims", Attr::Int(k))
    }

    #[test]
    fn opset18_axes_input() {
        let op = build("ReduceMean", &keep(1), 18, 2);
        let y = run_const(op.as_ref(), &[data(), t(&[1], vec![1i64])]).unwrap();
        assert_eq!(y.shape(), &[3, 1, 2]);
        assert_eq!(
            y.as_slice::<f32>().unwrap(),
            &[12.5, 1.5, 35.0, 1.5, 57.5, 1.5]
        );
        let op = build("ReduceMean", &keep(0), 18, 2);
        let y = run_const(op.as_ref(), &[data(), t(&[1], vec![-2i64])]).unwrap();
        assert_eq!(y.shape(), &[3, 2]);
        round_trips(op.as_ref(), 18, 2);
    }

    #[test]
    fn empty_axes_reduce_everything_unless_noop() {
        let op = build("ReduceMean", &keep(1), 18, 2);
        let y = run_const(op.as_ref(), &[data(), t::<i64>(&[0], vec![])]).unwrap();
        assert_eq!(y.shape(), &[1, 1, 1]);
        assert_eq!(y.as_slice::<f32>().unwrap(), &[18.25]);
        let y = run(op.as_ref(), &[data()]).unwrap();
        assert_eq!(y.as_slice::<f32>().unwrap(), &[18.25]);
        let attrs = keep(0).with("noop_with_empty_axes", Attr::Int(1));
        let op = build("ReduceMean", &attrs, 18, 1);
        assert_eq!(run(op.as_ref(), &[data()]).unwrap(), data().unwrap());
    }

    #[test]
    fn opset13_axes_attribute() {
        let attrs = keep(0).with("axes", Attr::Ints(vec![0, 2]));
        let op = build("ReduceMean", &attrs, 13, 1);
        let y = run(op.as_ref(), &[data()]).unwrap();
        assert_eq!(y.shape(), &[2]);
        let want = [
            (5.0 + 1.0 + 30.0 + 1.0 + 55.0 + 1.0) / 6.0,
            (20.0 + 2.0 + 40.0 + 2.0 + 60.0 + 2.0) / 6.0,
        ];
        assert_eq!(y.as_slice::<f32>().unwrap(), &want);
        round_trips(op.as_ref(), 13, 1);
    }

    #[test]
    fn integer_mean_truncates() {
        let attrs = keep(0).with("axes", Attr::Ints(vec![1]));
        let op = build("ReduceMean", &attrs, 13, 1);
        let y = run(op.as_ref(), &[t(&[2, 2], vec![1i32, 2, 4, -7])]).unwrap();
        assert_eq!(y.as_slice::<i32>().unwrap(), &[1, -1]);
    }

    #[test]
    fn refusals() {
        let op = build("ReduceMean", &keep(1), 18, 2);
        // a runtime (non-constant) axes input cannot fix the output shape
        assert_eq!(
            run(op.as_ref(), &[data(), t(&[1], vec![0i64])]).unwrap_err(),
            OpError::NotConstant(1)
        );
        assert!(run_const(op.as_ref(), &[data(), t(&[2], vec![1i64, -2])]).is_err());
        assert!(run_const(op.as_ref(), &[data(), t(&[1], vec![3i64])]).is_err());
        assert!(matches!(
            run(op.as_ref(), &[t(&[1], vec![1i8])]),
            Err(OpError::InputDType { .. })
        ));
    }

    #[test]
    fn cost_counts_input_elements() {
        let op = build("ReduceMean", &keep(1), 13, 1);
        let x = Fact::new(DType::F32, vec![1, 64, 5, 5]);
        let out = op.infer(&[Some(&x)]).unwrap();
        assert_eq!(op.cost(&[Some(&x)], &out).elementwise, 1600);
    }
}

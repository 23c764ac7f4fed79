//! Data movement and shape ops: Reshape, Flatten, Transpose, Squeeze/Unsqueeze, Concat, Split,
//! Slice, Pad, Gather, Shape, Resize, Identity, Constant, ConstantOfShape, Dropout.
//!
//! Each op computes its output shape in one function generic over [`Known`], which both a
//! [`Fact`] (at inference) and a [`Tensor`] (at evaluation) implement, so that `infer` and `eval`
//! cannot disagree. Inputs that determine shapes (shape, axes, pads, starts...) must be constant
//! at inference: otherwise `infer` returns [`OpError::NotConstant`].
use crate::registry::Constructor;
use crate::{Fact, Limits, OpError};
use mw_kernels::shape::ShapeKernelError;
use mw_tensor::{DType, Tensor};

mod concat;
mod constant;
mod dropout;
mod flatten;
mod gather;
mod identity;
mod pad;
mod reshape;
mod resize;
mod shape_of;
mod slice;
mod split;
mod squeeze;
mod transpose;

pub static REGISTRY: &[(&str, Constructor)] = &[
    ("Concat", concat::build_concat),
    ("Constant", constant::build_constant),
    ("ConstantOfShape", constant::build_constant_of_shape),
    ("Dropout", dropout::build_dropout),
    ("Flatten", flatten::build_flatten),
    ("Gather", gather::build_gather),
    ("Identity", identity::build_identity),
    ("Pad", pad::build_pad),
    ("Reshape", reshape::build_reshape),
    ("Resize", resize::build_resize),
    ("Shape", shape_of::build_shape),
    ("Slice", slice::build_slice),
    ("Split", split::build_split),
    ("Squeeze", squeeze::build_squeeze),
    ("Transpose", transpose::build_transpose),
    ("Unsqueeze", squeeze::build_unsqueeze),
];

/// What both a [`Fact`] and a [`Tensor`] tell about an input: its dtype, its shape and, when
/// known, its contents.
pub(crate) trait Known {
    fn dtype(&self) -> DType;
    fn dims(&self) -> &[usize];
    fn value(&self) -> Option<&Tensor>;
}

impl Known for Fact {
    fn dtype(&self) -> DType {
        self.dtype
    }
    fn dims(&self) -> &[usize] {
        &self.shape
    }
    fn value(&self) -> Option<&Tensor> {
        self.konst.as_deref()
    }
}

impl Known for Tensor {
    fn dtype(&self) -> DType {
        Tensor::dtype(self)
    }
    fn dims(&self) -> &[usize] {
        self.shape()
    }
    fn value(&self) -> Option<&Tensor> {
        Some(self)
    }
}

/// The contents of input `i`, which must be known (constant at inference).
pub(crate) fn value_of<'a, K: Known>(
    inputs: &[Option<&'a K>],
    i: usize,
) -> Result<&'a Tensor, OpError> {
    crate::op::required(inputs, i)?
        .value()
        .ok_or(OpError::NotConstant(i))
}

/// An integer input (shape, axes, pads, indices...) as i64; `None` when absent or empty-named.
pub(crate) fn ints_opt<K: Known>(
    inputs: &[Option<&K>],
    i: usize,
) -> Result<Option<Vec<i64>>, OpError> {
    match crate::op::optional(inputs, i) {
        None => Ok(None),
        Some(_) => ints_of(value_of(inputs, i)?, i).map(Some),
    }
}

/// A required integer input as i64.
pub(crate) fn ints<K: Known>(inputs: &[Option<&K>], i: usize) -> Result<Vec<i64>, OpError> {
    ints_of(value_of(inputs, i)?, i)
}

/// Contents of an integer tensor (input `index`) as i64.
pub(crate) fn ints_of(t: &Tensor, index: usize) -> Result<Vec<i64>, OpError> {
    if !t.dtype().is_integer() {
        return Err(OpError::InputDType {
            index,
            expected: "an integer type".into(),
            actual: t.dtype(),
        });
    }
    Ok(t.to_i64_vec()?)
}

/// Checks that a tensor of `shape` and `dtype` may be produced, in u128 arithmetic so hostile
/// sizes cannot wrap. Ops apply the default [`Limits`] before allocating; the graph applies the
/// configured ones to every inferred fact.
pub(crate) fn guard(dtype: DType, shape: &[usize]) -> Result<(), OpError> {
    Limits::default().check(dtype, shape)
}

/// Maps a kernel's refusal to an op error.
pub(crate) fn kernel_err(e: ShapeKernelError) -> OpError {
    OpError::Shape(e.to_string())
}

/// An attribute error naming `name`.
pub(crate) fn attr_err(name: &str, reason: impl Into<String>) -> OpError {
    OpError::Attribute {
        name: name.into(),
        reason: reason.into(),
    }
}

/// Normalizes axes against `rank`, refusing out-of-range and repeated axes.
pub(crate) fn normalize_axes(axes: &[i64], rank: usize, name: &str) -> Result<Vec<usize>, OpError> {
    let mut out: Vec<usize> = Vec::with_capacity(axes.len());
    for &a in axes {
        let n = crate::op::normalize_axis(a, rank)
            .map_err(|_| attr_err(name, format!("axis {a} out of range for rank {rank}")))?;
        if out.contains(&n) {
            return Err(attr_err(name, format!("axis {a} repeated")));
        }
        out.push(n);
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod test_util {
    use crate::{Attr, Attrs, BuildCtx, Fact, Op};
    use mw_tensor::{Element, Tensor};

    pub fn ctx(opset: i64, n_inputs: usize, n_outputs: usize) -> BuildCtx {
        BuildCtx {
            opset,
            n_inputs,
            n_outputs,
        }
    }

    pub fn t<T: Element>(shape: &[usize], v: Vec<T>) -> Tensor {
        Tensor::from_vec(shape.to_vec(), v).unwrap()
    }

    pub fn i64s(v: &[i64]) -> Tensor {
        t(&[v.len()], v.to_vec())
    }

    pub fn attrs(pairs: &[(&str, Attr)]) -> Attrs {
        let mut a = Attrs::new();
        for (k, v) in pairs {
            a.set(k, v.clone());
        }
        a
    }

    /// Evaluates `op` and checks that inference, with input #0 unknown and the others constant,
    /// agrees with the evaluated outputs' dtypes and shapes.
    pub fn run(op: &dyn Op, inputs: &[Option<&Tensor>]) -> Vec<Tensor> {
        run_with(op, inputs, &[0])
    }

    /// [`run`] with the inputs listed in `unknown` left non-constant at inference.
    pub fn run_with(op: &dyn Op, inputs: &[Option<&Tensor>], unknown: &[usize]) -> Vec<Tensor> {
        let out = op.eval(inputs).unwrap();
        let facts: Vec<Option<Fact>> = inputs
            .iter()
            .enumerate()
            .map(|(i, t)| {
                t.map(|t| {
                    if unknown.contains(&i) {
                        Fact::new(t.dtype(), t.shape().to_vec())
                    } else {
                        Fact::of(t)
                    }
                })
            })
            .collect();
        let refs: Vec<Option<&Fact>> = facts.iter().map(Option::as_ref).collect();
        let inferred = op.infer(&refs).unwrap();
        assert!(inferred.len() >= out.len());
        for (f, t) in inferred.iter().zip(&out) {
            assert_eq!(f.shape, t.shape());
            assert_eq!(f.dtype, t.dtype());
        }
        out
    }

    /// `build(op_type, attrs())` rebuilds an op whose `attrs()` are the same.
    pub fn roundtrip(op: &dyn Op, ctx: &BuildCtx) {
        let rebuilt = crate::build_op(op.op_type(), &op.attrs(), ctx)
            .unwrap()
            .unwrap();
        assert_eq!(format!("{op:?}"), format!("{rebuilt:?}"));
    }
}

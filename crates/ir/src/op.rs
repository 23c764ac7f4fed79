use crate::{Attrs, Fact, OpError};
use mw_tensor::Tensor;
use std::any::Any;
use std::fmt::Debug;

/// What an op's constructor may know beyond its attributes.
#[derive(Clone, Copy, Debug)]
pub struct BuildCtx {
    /// The model's default-domain opset version.
    pub opset: i64,
    /// Number of inputs the node lists (including empty optional ones).
    pub n_inputs: usize,
    /// Number of outputs the node lists.
    pub n_outputs: usize,
}

/// Work and storage one node costs, read by `inspect` and the energy model.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Cost {
    /// Multiply-accumulates (a Conv's or a MatMul's inner products).
    pub macs: u64,
    /// Other elementwise arithmetic operations (adds, compares, activations).
    pub elementwise: u64,
    /// Learned parameters read from constant inputs (weights, biases).
    pub params: u64,
    /// Bytes of those parameters as stored.
    pub weight_bytes: u64,
}

/// One operator of the IR.
///
/// Contract:
/// * `infer` validates dtypes and shapes of its inputs and returns one [`Fact`] per output (the
///   graph fills `konst` itself by evaluating ops whose inputs are all constant). A `None` input is
///   an omitted optional input.
/// * `eval` is the reference float semantics (and integer where the ONNX op defines it), equal to
///   ONNX Runtime's within the tolerance table of ARCHITECTURE.md. It must return a typed error —
///   never panic — on inputs that `infer` would refuse.
/// * `attrs` returns the ONNX attributes that rebuild the op: `build(op_type(), attrs())` is `self`.
pub trait Op: Debug + Send + Sync + 'static {
    fn op_type(&self) -> &'static str;
    fn attrs(&self) -> Attrs;
    fn infer(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>, OpError>;
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, OpError>;
    fn cost(&self, _inputs: &[Option<&Fact>], _outputs: &[Fact]) -> Cost {
        Cost::default()
    }
    fn as_any(&self) -> &dyn Any;
    fn clone_box(&self) -> Box<dyn Op>;
}

impl Clone for Box<dyn Op> {
    fn clone(&self) -> Self {
        self.clone_box()
    }
}

/// Implements the boilerplate `as_any`/`clone_box` of [`Op`] for a `Clone` type.
#[macro_export]
macro_rules! op_boilerplate {
    () => {
        fn as_any(&self) -> &dyn std::any::Any {
            self
        }
        fn clone_box(&self) -> Box<dyn $crate::Op> {
            Box::new(self.clone())
        }
    };
}

/// The required input `i`, or [`OpError::MissingInput`].
pub fn required<'a, T>(inputs: &[Option<&'a T>], i: usize) -> Result<&'a T, OpError> {
    inputs
        .get(i)
        .copied()
        .flatten()
        .ok_or(OpError::MissingInput(i))
}

/// The optional input `i` (absent when the node lists fewer inputs or an empty name).
pub fn optional<'a, T>(inputs: &[Option<&'a T>], i: usize) -> Option<&'a T> {
    inputs.get(i).copied().flatten()
}

/// The constant contents of input `i`, needed at inference time (shapes, axes, pads...).
pub fn const_input<'a>(inputs: &[Option<&'a Fact>], i: usize) -> Result<&'a Tensor, OpError> {
    required(inputs, i)?
        .konst
        .as_deref()
        .ok_or(OpError::NotConstant(i))
}

/// Normalizes a possibly negative axis against `rank`.
pub fn normalize_axis(axis: i64, rank: usize) -> Result<usize, OpError> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if a < 0 || a >= r {
        return Err(OpError::Attribute {
            name: "axis".into(),
            reason: format!("axis {axis} out of range for rank {rank}"),
        });
    }
    Ok(a as usize)
}

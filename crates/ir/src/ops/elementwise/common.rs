//! Helpers shared by the elementwise ops: dtype dispatch, error mapping, ONNX dtype codes, cost.
use crate::{Cost, Fact, OpError};
use mw_kernels::elementwise::ElementwiseError;
use mw_tensor::DType;

/// Runs `$body` with `$T` bound to the Rust type of a numeric (non-bool) dtype, else `$other`.
macro_rules! dispatch_numeric {
    ($dt:expr, $T:ident => $body:expr, _ => $other:expr) => {
        match $dt {
            mw_tensor::DType::F32 => {
                type $T = f32;
                $body
            }
            mw_tensor::DType::F64 => {
                type $T = f64;
                $body
            }
            mw_tensor::DType::I8 => {
                type $T = i8;
                $body
            }
            mw_tensor::DType::U8 => {
                type $T = u8;
                $body
            }
            mw_tensor::DType::I16 => {
                type $T = i16;
                $body
            }
            mw_tensor::DType::U16 => {
                type $T = u16;
                $body
            }
            mw_tensor::DType::I32 => {
                type $T = i32;
                $body
            }
            mw_tensor::DType::U32 => {
                type $T = u32;
                $body
            }
            mw_tensor::DType::I64 => {
                type $T = i64;
                $body
            }
            mw_tensor::DType::U64 => {
                type $T = u64;
                $body
            }
            mw_tensor::DType::Bool | mw_tensor::DType::I4 | mw_tensor::DType::U4 => $other,
        }
    };
}

/// Runs `$body` with `$T` bound to the Rust type of any dtype (bool included).
macro_rules! dispatch_all {
    ($dt:expr, $T:ident => $body:expr) => {
        $crate::ops::elementwise::common::dispatch_numeric!($dt, $T => $body, _ => {
            type $T = bool;
            $body
        })
    };
}

/// Runs `$body` with `$T` bound to `f32` or `f64`, else `$other`.
macro_rules! dispatch_float {
    ($dt:expr, $T:ident => $body:expr, _ => $other:expr) => {
        match $dt {
            mw_tensor::DType::F32 => {
                type $T = f32;
                $body
            }
            mw_tensor::DType::F64 => {
                type $T = f64;
                $body
            }
            _ => $other,
        }
    };
}

pub(crate) use {dispatch_all, dispatch_float, dispatch_numeric};

/// The dtypes of [`dispatch_numeric`], for error messages.
pub(crate) const NUMERIC: &str = "a numeric type (f32, f64 or an integer)";
pub(crate) const FLOAT: &str = "f32 or f64";

/// An [`OpError::InputDType`] for input `index`.
pub(crate) fn bad_dtype(index: usize, expected: &str, actual: DType) -> OpError {
    OpError::InputDType {
        index,
        expected: expected.to_string(),
        actual,
    }
}

/// Checks that input `index` has the dtype `want`.
pub(crate) fn expect_dtype(index: usize, actual: DType, want: DType) -> Result<(), OpError> {
    if actual != want {
        return Err(bad_dtype(index, want.name(), actual));
    }
    Ok(())
}

/// Maps a kernel refusal to the op error it stands for.
pub(crate) fn kernel_error(e: ElementwiseError) -> OpError {
    match e {
        ElementwiseError::DivisionByZero => OpError::Unsupported(
            "integer division by zero (undefined in ONNX; ONNX Runtime refuses it too)".into(),
        ),
        e @ ElementwiseError::Alloc(_) => OpError::Unsupported(e.to_string()),
        other => OpError::Shape(other.to_string()),
    }
}

/// The dtype of an ONNX `TensorProto.DataType` code, for the dtypes milliwatt stores.
pub(crate) fn dtype_from_onnx(code: i64) -> Result<DType, OpError> {
    Ok(match code {
        1 => DType::F32,
        2 => DType::U8,
        3 => DType::I8,
        4 => DType::U16,
        5 => DType::I16,
        6 => DType::I32,
        7 => DType::I64,
        9 => DType::Bool,
        11 => DType::F64,
        12 => DType::U32,
        13 => DType::U64,
        other => {
            return Err(OpError::Unsupported(format!(
                "ONNX element type {other} (string, float16, bfloat16, float8, int4 and \
                 other sub-byte types are not supported)"
            )))
        }
    })
}

/// The ONNX `TensorProto.DataType` code of `dtype`.
pub(crate) fn onnx_code(dtype: DType) -> i64 {
    match dtype {
        DType::F32 => 1,
        DType::U8 => 2,
        DType::I8 => 3,
        DType::U4 => 21,
        DType::I4 => 22,
        DType::U16 => 4,
        DType::I16 => 5,
        DType::I32 => 6,
        DType::I64 => 7,
        DType::Bool => 9,
        DType::F64 => 11,
        DType::U32 => 12,
        DType::U64 => 13,
    }
}

/// `factor` operations per element of the first output, plus the constant inputs at
/// `param_inputs` as parameters (their element count and stored bytes).
pub(crate) fn cost(
    inputs: &[Option<&Fact>],
    outputs: &[Fact],
    factor: u64,
    param_inputs: &[usize],
) -> Cost {
    let mut c = Cost {
        elementwise: outputs.first().map_or(0, |f| f.numel() as u64) * factor,
        ..Cost::default()
    };
    for &i in param_inputs {
        if let Some(k) = inputs
            .get(i)
            .copied()
            .flatten()
            .and_then(|f| f.konst.as_ref())
        {
            c.params += k.len() as u64;
            c.weight_bytes += k.dtype().packed_bytes(k.len()) as u64;
        }
    }
    c
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Building and running ops in unit tests.
    use crate::{Attrs, BuildCtx, Fact, Op, OpError};
    use mw_tensor::Tensor;

    pub fn ctx(opset: i64, n_inputs: usize) -> BuildCtx {
        BuildCtx {
            opset,
            n_inputs,
            n_outputs: 1,
        }
    }

    /// Builds `op_type` through the registry (so the tests also check the registration).
    pub fn build(op_type: &str, attrs: &Attrs, opset: i64, n_inputs: usize) -> Box<dyn Op> {
        crate::build_op(op_type, attrs, &ctx(opset, n_inputs))
            .expect("builds")
            .expect("registered")
    }

    /// Infers with runtime (non-constant) inputs, then evaluates; checks that both agree.
    pub fn run(op: &dyn Op, inputs: &[Option<Tensor>]) -> Result<Tensor, OpError> {
        let facts: Vec<Option<Fact>> = inputs
            .iter()
            .map(|t| t.as_ref().map(|t| Fact::new(t.dtype(), t.shape().to_vec())))
            .collect();
        let fact_refs: Vec<Option<&Fact>> = facts.iter().map(Option::as_ref).collect();
        let inferred = op.infer(&fact_refs)?;
        let refs: Vec<Option<&Tensor>> = inputs.iter().map(Option::as_ref).collect();
        let out = op.eval(&refs)?.remove(0);
        assert_eq!(out.shape(), inferred[0].shape.as_slice(), "inferred shape");
        assert_eq!(out.dtype(), inferred[0].dtype, "inferred dtype");
        Ok(out)
    }

    /// Like [`run`], with every input given as a constant fact (for ops reading constant inputs).
    pub fn run_const(op: &dyn Op, inputs: &[Option<Tensor>]) -> Result<Tensor, OpError> {
        let facts: Vec<Option<Fact>> = inputs.iter().map(|t| t.as_ref().map(Fact::of)).collect();
        let fact_refs: Vec<Option<&Fact>> = facts.iter().map(Option::as_ref).collect();
        let inferred = op.infer(&fact_refs)?;
        let refs: Vec<Option<&Tensor>> = inputs.iter().map(Option::as_ref).collect();
        let out = op.eval(&refs)?.remove(0);
        assert_eq!(out.shape(), inferred[0].shape.as_slice(), "inferred shape");
        assert_eq!(out.dtype(), inferred[0].dtype, "inferred dtype");
        Ok(out)
    }

    /// Checks `build(op_type(), attrs())` reproduces an op with the same attributes.
    pub fn round_trips(op: &dyn Op, opset: i64, n_inputs: usize) {
        let again = build(op.op_type(), &op.attrs(), opset, n_inputs);
        assert_eq!(again.op_type(), op.op_type());
        assert_eq!(again.attrs(), op.attrs());
        assert_eq!(format!("{again:?}"), format!("{op:?}"));
    }

    pub fn t<T: mw_tensor::Element>(shape: &[usize], v: Vec<T>) -> Option<Tensor> {
        Some(Tensor::from_vec(shape.to_vec(), v).expect("valid test tensor"))
    }
}

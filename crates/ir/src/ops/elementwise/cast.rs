//! Cast: converts every element to the dtype of the `to` attribute.
//!
//! Conversion rules are those of `mw_kernels::elementwise::cast` (integer narrowing wraps,
//! float → integer truncates toward zero and saturates, NaN → 0, `x != 0` to bool). `to` must be
//! a dtype milliwatt stores: string, float16, bfloat16, float8 and sub-byte types are refused.
//! `saturate` and `round_mode` only concern float8 targets; they are kept for export.
use super::common::{dispatch_all, dtype_from_onnx, onnx_code};
use crate::op::required;
use crate::{op_boilerplate, Attr, Attrs, BuildCtx, Fact, Op, OpError};
use mw_kernels::elementwise as k;
use mw_tensor::{DType, Tensor};

#[derive(Clone, Debug, PartialEq)]
pub struct Cast {
    pub to: DType,
    /// The `saturate` attribute when the model gave one.
    pub saturate: Option<i64>,
    /// The `round_mode` attribute when the model gave one.
    pub round_mode: Option<String>,
}

pub fn build_cast(attrs: &Attrs, _ctx: &BuildCtx) -> Result<Box<dyn Op>, OpError> {
    let code = attrs.int("to")?.ok_or_else(|| OpError::Attribute {
        name: "to".into(),
        reason: "required".into(),
    })?;
    Ok(Box::new(Cast {
        to: dtype_from_onnx(code)?,
        saturate: attrs.int("saturate")?,
        round_mode: attrs.string("round_mode")?,
    }))
}

/// `x` converted to `to`.
pub fn cast_tensor(x: &Tensor, to: DType) -> Result<Tensor, OpError> {
    if x.dtype() == to {
        return Ok(x.clone());
    }
    let shape = x.shape().to_vec();
    let out = dispatch_all!(x.dtype(), S => {
        let v = x.as_slice::<S>()?;
        dispatch_all!(to, D => Tensor::from_vec(shape, k::cast::<S, D>(v))?)
    });
    Ok(out)
}

impl Op for Cast {
    fn op_type(&self) -> &'static str {
        "Cast"
    }
    fn attrs(&self) -> Attrs {
        let mut a = Attrs::new().with("to", Attr::Int(onnx_code(self.to)));
        if let Some(s) = self.saturate {
            a.set("saturate", Attr::Int(s));
        }
        if let Some(m) = &self.round_mode {
            a.set("round_mode", Attr::String(m.clone()));
        }
        a
    }
    fn infer(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>, OpError> {
        let x = required(inputs, 0)?;
        Ok(vec![Fact::new(self.to, x.shape.clone())])
    }
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, OpError> {
        Ok(vec![cast_tensor(required(inputs, 0)?, self.to)?])
    }
    fn cost(&self, inputs: &[Option<&Fact>], outputs: &[Fact]) -> crate::Cost {
        super::common::cost(inputs, outputs, 1, &[])
    }
    op_boilerplate!();
}

#[cfg(test)]
mod tests {
    use super::super::common::testutil::{build, round_trips, run, t};
    use super::*;

    fn cast_to(code: i64) -> Box<dyn Op> {
        build("Cast", &Attrs::new().with("to", Attr::Int(code)), 21, 1)
    }

    #[test]
    fn float_to_integers() {
        let x = t(&[4], vec![2.9f32, -2.9, 1000.0, f32::NAN]);
        let y = run(cast_to(3).as_ref(), std::slice::from_ref(&x)).unwrap(); // INT8
        assert_eq!(y.as_slice::<i8>().unwrap(), &[2, -2, 127, 0]);
        let y = run(cast_to(7).as_ref(), &[x]).unwrap(); // INT64
        assert_eq!(y.as_slice::<i64>().unwrap(), &[2, -2, 1000, 0]);
    }

    #[test]
    fn integers_bools_and_floats() {
        let y = run(cast_to(3).as_ref(), &[t(&[2], vec![300i32, -129])]).unwrap();
        assert_eq!(y.as_slice::<i8>().unwrap(), &[44, 127]);
        let y = run(cast_to(9).as_ref(), &[t(&[3], vec![0.0f64, -0.5, 2.0])]).unwrap();
        assert_eq!(y.as_slice::<bool>().unwrap(), &[false, true, true]);
        let y = run(cast_to(1).as_ref(), &[t(&[2], vec![true, false])]).unwrap();
        assert_eq!(y.as_slice::<f32>().unwrap(), &[1.0, 0.0]);
        let y = run(cast_to(11).as_ref(), &[t(&[1], vec![u64::MAX])]).unwrap();
        assert_eq!(
            y.as_slice::<f64>().unwrap(),
            &[18_446_744_073_709_551_615.0]
        );
        let y = run(cast_to(1).as_ref(), &[t(&[1], vec![0.5f32])]).unwrap();
        assert_eq!(y.as_slice::<f32>().unwrap(), &[0.5]);
    }

    #[test]
    fn unsupported_targets_are_typed_errors() {
        for code in [8, 10, 16, 17, 22] {
            let err = crate::build_op(
                "Cast",
                &Attrs::new().with("to", Attr::Int(code)),
                &super::super::common::testutil::ctx(21, 1),
            );
            assert!(matches!(err, Err(OpError::Unsupported(_))), "code {code}");
        }
        let err = crate::build_op(
            "Cast",
            &Attrs::new(),
            &super::super::common::testutil::ctx(21, 1),
        );
        assert!(matches!(err, Err(OpError::Attribute { .. })));
    }

    #[test]
    fn attributes_round_trip() {
        round_trips(cast_to(6).as_ref(), 21, 1);
        let attrs = Attrs::new()
            .with("to", Attr::Int(2))
            .with("saturate", Attr::Int(0));
        round_trips(build("Cast", &attrs, 21, 1).as_ref(), 21, 1);
    }
}

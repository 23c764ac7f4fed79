//! MwQRequantize: an `i8` / `u8` / `i16` tensor brought to other quantization parameters (and
//! possibly another of those types), with an optional clamp — what
//! `DequantizeLinear → [Relu|Clip] → QuantizeLinear` computes, integer-only.
//!
//! Inputs: `x` (i8/u8/i16), `x_scale`, `x_zero_point`, `y_scale`, `y_zero_point` (one value each;
//! the output type, i8/u8/i16, is `y_zero_point`'s). Attributes `qmin` / `qmax` clamp the stored
//! output.
//!
//! `y = clamp(QuantizeLinear(DequantizeLinear(x)), qmin, qmax)`: the 256 (65 536 for `i16`
//! inputs) possible results are
//! derived on first use with ONNX's own arithmetic (`(x − x_zp) · x_scale` in f32, divided by
//! `y_scale`, rounded half to even, plus `y_zp`, saturated), so the op equals the QDQ pair it
//! replaces bit for bit — ties included, which simple scale ratios such as 1/2 make common. At run
//! time it is one table lookup per element.
use super::common::{check_scalar, scale_of, zero_point_of, Cache, Clamp};
use super::lowbit::{check_act, dispatch_act_pair, ACT};
use super::qlinear_conv::output_dtype;
use crate::op::{optional, required};
use crate::{op_boilerplate, Attrs, BuildCtx, Cost, Fact, Op, OpError};
use mw_kernels::elementwise::round_half_to_even;
use mw_kernels::lowbit::{ActElem, OutElem};
use mw_tensor::{DType, Element, Tensor};

#[derive(Clone, Debug, PartialEq)]
pub struct QRequantize {
    pub clamp: Clamp,
    /// The output of every input value `v`, at index `v − T::MIN`.
    cache: Cache<Vec<i32>>,
}

pub fn build_mw_qrequantize(attrs: &Attrs, _ctx: &BuildCtx) -> Result<Box<dyn Op>, OpError> {
    Ok(Box::new(QRequantize::new(Clamp::from_attrs(attrs)?)))
}

impl QRequantize {
    pub fn new(clamp: Clamp) -> QRequantize {
        QRequantize {
            clamp,
            cache: Cache::default(),
        }
    }

    /// The clamp attributes as bounds within `U`'s range; an error when they leave no value.
    fn range<U: OutElem>(&self) -> Result<(i32, i32), OpError> {
        let bound =
            |v: Option<i64>, d: i32| v.map_or(d, |v| v.clamp(U::MIN.into(), U::MAX.into()) as i32);
        let (lo, hi) = (
            bound(self.clamp.qmin, U::MIN),
            bound(self.clamp.qmax, U::MAX),
        );
        if lo > hi {
            return Err(OpError::Attribute {
                name: "qmin".into(),
                reason: format!("clamp [{lo}, {hi}] is empty for the output type"),
            });
        }
        Ok((lo, hi))
    }

    fn table<T: ActElem + Element, U: OutElem + Element>(
        &self,
        inputs: &[Option<&Tensor>],
    ) -> Result<Vec<i32>, OpError> {
        let x_scale = scale_of(required(inputs, 1)?, 1)?;
        let x_zp = zero_point_of(optional(inputs, 2), 2, T::DTYPE)?;
        let y_scale = scale_of(required(inputs, 3)?, 3)?;
        let y_zp = zero_point_of(optional(inputs, 4), 4, U::DTYPE)?;
        let (lo, hi) = self.range::<U>()?;
        Ok((T::MIN..=T::MAX)
            .map(|v| {
                let real = (v - x_zp) as f32 * x_scale;
                let q = round_half_to_even(real / y_scale) + y_zp as f32;
                (q.clamp(U::MIN as f32, U::MAX as f32) as i32).clamp(lo, hi)
            })
            .collect())
    }

    fn run<T: ActElem + Element, U: OutElem + Element>(
        &self,
        inputs: &[Option<&Tensor>],
    ) -> Result<Tensor, OpError> {
        let x = required(inputs, 0)?;
        let key = [1, 2, 3, 4].map(|i| optional(inputs, i));
        let table = self.cache.get(&key, || self.table::<T, U>(inputs))?;
        let y: Vec<U> = x
            .as_slice::<T>()?
            .iter()
            .map(|v| U::narrow(table[(v.to_i32() - T::MIN) as usize]))
            .collect();
        Ok(Tensor::from_vec(x.shape().to_vec(), y)?)
    }
}

impl Op for QRequantize {
    fn op_type(&self) -> &'static str {
        "MwQRequantize"
    }
    fn attrs(&self) -> Attrs {
        self.clamp.write(Attrs::new())
    }
    fn infer(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>, OpError> {
        let x = required(inputs, 0)?;
        check_act(x.dtype, 0)?;
        check_scalar(required(inputs, 1)?, 1, DType::F32)?;
        if let Some(z) = optional(inputs, 2) {
            check_scalar(z, 2, x.dtype)?;
        }
        check_scalar(required(inputs, 3)?, 3, DType::F32)?;
        let y_zp = optional(inputs, 4);
        if let Some(z) = y_zp {
            check_act(z.dtype, 4)?;
        }
        Ok(vec![Fact::new(
            output_dtype(y_zp, x.dtype),
            x.shape.clone(),
        )])
    }
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, OpError> {
        let x = required(inputs, 0)?;
        check_act(x.dtype(), 0)?;
        let y_dtype = optional(inputs, 4).map_or(x.dtype(), Tensor::dtype);
        let y = dispatch_act_pair!(x.dtype(), y_dtype, T, U => self.run::<T, U>(inputs)?,
            _ => return Err(OpError::InputDType { index: 4, expected: ACT.into(), actual: y_dtype }));
        Ok(vec![y])
    }
    fn cost(&self, _inputs: &[Option<&Fact>], outputs: &[Fact]) -> Cost {
        Cost {
            elementwise: outputs[0].numel() as u64,
            ..Cost::default()
        }
    }
    op_boilerplate!();
}

#[cfg(test)]
mod tests {
    use super::super::common::testutil::{s, t, z};
    use super::*;
    use crate::ops::elementwise::common::testutil::{build, round_trips, run};

    #[test]
    fn rescales_converts_type_and_clamps() {
        let a = Clamp {
            qmin: Some(0),
            qmax: Some(200),
        }
        .write(Attrs::new());
        let op = build("MwQRequantize", &a, 13, 5);
        let inputs = [
            t(&[4], vec![-128i8, -10, 0, 127]),
            s(1.0),
            z(-10i8),
            s(0.5),
            z(10u8),
        ];
        let y = run(op.as_ref(), &inputs.map(Some)).unwrap();
        // (x + 10)·2 + 10 = [−226, 10, 30, 284] → clamp [0, 200].
        assert_eq!(y.as_slice::<u8>().unwrap(), &[0, 10, 30, 200]);
        round_trips(op.as_ref(), 13, 5);
    }

    #[test]
    fn ties_round_half_to_even_as_quantize_linear_does() {
        let op = build("MwQRequantize", &Attrs::new(), 13, 5);
        let inputs = [
            t(&[4], vec![1i8, 3, -1, -3]),
            s(0.5),
            z(0i8),
            s(1.0),
            z(0i8),
        ];
        let y = run(op.as_ref(), &inputs.map(Some)).unwrap();
        assert_eq!(y.as_slice::<i8>().unwrap(), &[0, 2, 0, -2]);
    }

    #[test]
    fn equal_parameters_are_the_identity() {
        let op = build("MwQRequantize", &Attrs::new(), 13, 5);
        let x: Vec<i8> = (-128..=127).collect();
        let inputs = [t(&[256], x.clone()), s(0.3), z(5i8), s(0.3), z(5i8)];
        let y = run(op.as_ref(), &inputs.map(Some)).unwrap();
        assert_eq!(y.as_slice::<i8>().unwrap(), x.as_slice());
    }

    #[test]
    fn sixteen_bit_inputs_and_outputs() {
        let op = build("MwQRequantize", &Attrs::new(), 13, 5);
        // i16 → i8: (x − 100) · 2^-8 / 2^-2 = (x − 100) / 64, half to even (0.5 → 0, 1.5 → 2), + 3.
        let inputs = [
            t(&[5], vec![i16::MIN, 100, 132, 196, i16::MAX]),
            s(2f32.powi(-8)),
            z(100i16),
            s(0.25),
            z(3i8),
        ];
        let y = run(op.as_ref(), &inputs.map(Some)).unwrap();
        assert_eq!(y.as_slice::<i8>().unwrap(), &[-128, 3, 3, 5, 127]);
        // u8 → i16 is exact: (x − 128) · 0.5 / 2^-4 = 8 (x − 128).
        let inputs = [
            t(&[3], vec![0u8, 128, 255]),
            s(0.5),
            z(128u8),
            s(0.0625),
            z(0i16),
        ];
        let y = run(op.as_ref(), &inputs.map(Some)).unwrap();
        assert_eq!(y.as_slice::<i16>().unwrap(), &[-1024, 0, 1016]);
        round_trips(op.as_ref(), 13, 5);
    }

    #[test]
    fn thirty_two_bit_input_is_refused() {
        let op = build("MwQRequantize", &Attrs::new(), 13, 5);
        let inputs = [t(&[1], vec![0i32]), s(1.0), z(0i32), s(1.0), z(0i8)];
        assert!(matches!(
            run(op.as_ref(), &inputs.map(Some)),
            Err(OpError::InputDType { index: 0, .. })
        ));
    }
}

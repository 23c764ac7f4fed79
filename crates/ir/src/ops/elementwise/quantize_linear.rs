//! QuantizeLinear: `y = saturate(round_half_to_even(x / scale) + zero_point)` from f32 to
//! int8, uint8, int16 or uint16, per tensor, per axis (opset 13) or blocked (opset 21).
//!
//! The output dtype is the zero point's, else the `output_dtype` attribute's (opset 21), else
//! uint8. Rounding is `mw_kernels::elementwise::round_half_to_even`. `saturate` only concerns
//! float8 outputs (out of scope) and is kept for export; `precision` must be float (or absent).
use super::common::{bad_dtype, cost, dtype_from_onnx, expect_dtype, kernel_error, onnx_code};
use super::quant_params::QuantAxis;
use crate::op::{optional, required};
use crate::{op_boilerplate, Attr, Attrs, BuildCtx, Fact, Op, OpError};
use mw_kernels::elementwise as k;
use mw_tensor::{DType, Element, Tensor};

const OUTPUTS: &str = "i8, u8, i16 or u16";

#[derive(Clone, Debug, PartialEq)]
pub struct QuantizeLinear {
    pub axis: QuantAxis,
    /// The `output_dtype` attribute, when given and non-zero.
    pub output_dtype: Option<DType>,
    /// The `saturate` attribute when the model gave one.
    pub saturate: Option<i64>,
    /// The `precision` attribute when the model gave one (0 or 1 = float).
    pub precision: Option<i64>,
}

fn check_output(dtype: DType, index: usize) -> Result<DType, OpError> {
    match dtype {
        DType::I8 | DType::U8 | DType::I16 | DType::U16 => Ok(dtype),
        other => Err(bad_dtype(index, OUTPUTS, other)),
    }
}

pub fn build_quantize_linear(attrs: &Attrs, _ctx: &BuildCtx) -> Result<Box<dyn Op>, OpError> {
    let output_dtype = match attrs.int_or("output_dtype", 0)? {
        0 => None,
        code => Some(dtype_from_onnx(code).and_then(|d| {
            check_output(d, 0)
                .map_err(|_| OpError::Unsupported(format!("QuantizeLinear output_dtype {d}")))
        })?),
    };
    let precision = attrs.int("precision")?;
    if precision.is_some_and(|p| p != 0 && p != 1) {
        return Err(OpError::Unsupported(format!(
            "QuantizeLinear precision {precision:?} (only float is supported)"
        )));
    }
    Ok(Box::new(QuantizeLinear {
        axis: QuantAxis::from_attrs(attrs)?,
        output_dtype,
        saturate: attrs.int("saturate")?,
        precision,
    }))
}

impl QuantizeLinear {
    /// The output dtype given the zero point's dtype (if any).
    fn out_dtype(&self, zp: Option<DType>) -> Result<DType, OpError> {
        match (zp, self.output_dtype) {
            (Some(z), Some(o)) if z != o => Err(bad_dtype(2, o.name(), z)),
            (Some(z), _) => check_output(z, 2),
            (None, Some(o)) => Ok(o),
            (None, None) => Ok(DType::U8),
        }
    }

    fn apply<Q: k::QuantInt + Element>(
        &self,
        x: &Tensor,
        scale: &Tensor,
        zp: Option<&Tensor>,
    ) -> Result<Tensor, OpError> {
        let layout = self
            .axis
            .layout(x.shape(), scale.shape(), zp.map(Tensor::shape))?;
        let zp = zp.map(|z| z.as_slice::<Q>()).transpose()?;
        let y = k::quantize_linear(x.as_slice::<f32>()?, scale.as_slice::<f32>()?, zp, layout)
            .map_err(kernel_error)?;
        Ok(Tensor::from_vec(x.shape().to_vec(), y)?)
    }
}

impl Op for QuantizeLinear {
    fn op_type(&self) -> &'static str {
        "QuantizeLinear"
    }
    fn attrs(&self) -> Attrs {
        let mut a = self.axis.write(Attrs::new());
        if let Some(d) = self.output_dtype {
            a.set("output_dtype", Attr::Int(onnx_code(d)));
        }
        if let Some(s) = self.saturate {
            a.set("saturate", Attr::Int(s));
        }
        if let Some(p) = self.precision {
            a.set("precision", Attr::Int(p));
        }
        a
    }
    fn infer(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>, OpError> {
        let (x, scale) = (required(inputs, 0)?, required(inputs, 1)?);
        let zp = optional(inputs, 2);
        expect_dtype(0, x.dtype, DType::F32)?;
        expect_dtype(1, scale.dtype, DType::F32)?;
        let dtype = self.out_dtype(zp.map(|z| z.dtype))?;
        self.axis
            .layout(&x.shape, &scale.shape, zp.map(|z| z.shape.as_slice()))?;
        Ok(vec![Fact::new(dtype, x.shape.clone())])
    }
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, OpError> {
        let (x, scale) = (required(inputs, 0)?, required(inputs, 1)?);
        let zp = optional(inputs, 2);
        expect_dtype(0, x.dtype(), DType::F32)?;
        expect_dtype(1, scale.dtype(), DType::F32)?;
        let out = match self.out_dtype(zp.map(Tensor::dtype))? {
            DType::I8 => self.apply::<i8>(x, scale, zp)?,
            DType::U8 => self.apply::<u8>(x, scale, zp)?,
            DType::I16 => self.apply::<i16>(x, scale, zp)?,
            DType::U16 => self.apply::<u16>(x, scale, zp)?,
            other => return Err(bad_dtype(2, OUTPUTS, other)),
        };
        Ok(vec![out])
    }
    /// Divide, round, add the zero point and clamp: about four operations per element.
    fn cost(&self, inputs: &[Option<&Fact>], outputs: &[Fact]) -> crate::Cost {
        cost(inputs, outputs, 4, &[0, 1, 2])
    }
    op_boilerplate!();
}

#[cfg(test)]
mod tests {
    use super::super::common::testutil::{build, round_trips, run, t};
    use super::*;

    fn q(attrs: &Attrs, inputs: &[Option<Tensor>]) -> Result<Tensor, OpError> {
        run(
            build("QuantizeLinear", attrs, 21, inputs.len()).as_ref(),
            inputs,
        )
    }

    #[test]
    fn per_tensor_uint8_rounds_half_to_even_and_saturates() {
        let x = t(&[6], vec![0.0f32, 2.0, 3.0, 1000.0, -254.0, -1000.0]);
        let y = q(
            &Attrs::new(),
            &[x, t(&[], vec![2.0f32]), t(&[], vec![128u8])],
        )
        .unwrap();
        assert_eq!(y.as_slice::<u8>().unwrap(), &[128, 129, 130, 255, 1, 0]);
    }

    #[test]
    fn default_output_is_uint8_and_output_dtype_selects_int8() {
        let x = t(&[3], vec![-1.0f32, 0.5, 1.5]);
        let y = q(&Attrs::new(), &[x.clone(), t(&[], vec![1.0f32])]).unwrap();
        assert_eq!(y.as_slice::<u8>().unwrap(), &[0, 0, 2]);
        let attrs = Attrs::new().with("output_dtype", Attr::Int(3));
        let y = q(&attrs, &[x.clone(), t(&[], vec![1.0f32])]).unwrap();
        assert_eq!(y.as_slice::<i8>().unwrap(), &[-1, 0, 2]);
        let err = q(&attrs, &[x, t(&[], vec![1.0f32]), t(&[], vec![0u8])]).unwrap_err();
        assert!(matches!(err, OpError::InputDType { index: 2, .. }));
    }

    #[test]
    fn per_axis_and_int16() {
        let x = t(
            &[1, 3, 2],
            vec![-162.0f32, 10.0, -100.0, 232.0, -20.0, -50.0],
        );
        let s = t(&[3], vec![2.0f32, 4.0, 5.0]);
        let y = q(
            &Attrs::new(),
            &[x.clone(), s.clone(), t(&[3], vec![84u8, 24, 196])],
        )
        .unwrap();
        assert_eq!(y.as_slice::<u8>().unwrap(), &[3, 89, 0, 82, 192, 186]);
        let y = q(&Attrs::new(), &[x, s, t(&[3], vec![0i16, -32768, 32767])]).unwrap();
        assert_eq!(
            y.as_slice::<i16>().unwrap(),
            &[-81, 5, -32768, -32710, 32763, 32757]
        );
    }

    #[test]
    fn blocked() {
        let attrs = Attrs::new()
            .with("axis", Attr::Int(1))
            .with("block_size", Attr::Int(2));
        let x = t(
            &[3, 4],
            vec![
                6.0f32, 12.0, 50.0, 5.0, 1.0, 8.0, 4.0, 5.0, 0.0, 20.0, 10.0, 4.0,
            ],
        );
        let s = t(&[3, 2], vec![1.5f32, 2.5, 3.0, 4.9, 5.1, 6.9]);
        let zp = t(&[3, 2], vec![0u8, 1, 1, 0, 2, 3]);
        let op = build("QuantizeLinear", &attrs, 21, 3);
        let y = run(op.as_ref(), &[x, s, zp]).unwrap();
        assert_eq!(
            y.as_slice::<u8>().unwrap(),
            &[4, 8, 21, 3, 1, 4, 1, 1, 2, 6, 4, 4]
        );
        round_trips(op.as_ref(), 21, 3);
    }

    #[test]
    fn refusals() {
        let x = t(&[2], vec![1.0f32, 2.0]);
        assert!(q(&Attrs::new(), &[x.clone(), t(&[2, 1], vec![1.0f32; 2])]).is_err());
        assert!(matches!(
            q(&Attrs::new(), &[x.clone(), t(&[], vec![1.0f64])]),
            Err(OpError::InputDType { index: 1, .. })
        ));
        assert!(matches!(
            q(
                &Attrs::new(),
                &[x, t(&[], vec![1.0f32]), t(&[], vec![0i32])]
            ),
            Err(OpError::InputDType { index: 2, .. })
        ));
        let attrs = Attrs::new().with("output_dtype", Attr::Int(17)); // float8e4m3fn
        let ctx = super::super::common::testutil::ctx(21, 2);
        assert!(matches!(
            crate::build_op("QuantizeLinear", &attrs, &ctx),
            Err(OpError::Unsupported(_))
        ));
    }

    #[test]
    fn cost_counts_constant_inputs() {
        let op = build("QuantizeLinear", &Attrs::new(), 21, 3);
        let x = Fact::new(DType::F32, vec![4, 4]);
        let s = Fact::of(&Tensor::scalar(0.5f32));
        let z = Fact::of(&Tensor::scalar(3i8));
        let out = op.infer(&[Some(&x), Some(&s), Some(&z)]).unwrap();
        assert_eq!(out[0].dtype, DType::I8);
        let c = op.cost(&[Some(&x), Some(&s), Some(&z)], &out);
        assert_eq!((c.elementwise, c.params, c.weight_bytes), (64, 2, 5));
    }
}

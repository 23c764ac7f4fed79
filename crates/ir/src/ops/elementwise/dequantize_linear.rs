//! DequantizeLinear: `y = (x - zero_point) * scale` from int4, uint4 (opset 21), int8, uint8,
//! int16, uint16 or int32 to f32, per tensor, per axis (opset 13) or blocked (opset 21).
//!
//! The difference is exact in integers and converted to f32 before the multiplication, as in
//! ONNX Runtime. `output_dtype` (opset 23) must be float (or absent): float16/bfloat16 outputs
//! are out of scope.
use super::common::{bad_dtype, cost, expect_dtype, kernel_error};
use super::quant_params::QuantAxis;
use crate::op::{optional, required};
use crate::{op_boilerplate, Attr, Attrs, BuildCtx, Fact, Op, OpError};
use mw_kernels::elementwise as k;
use mw_tensor::{DType, Element, Tensor};

const INPUTS: &str = "i4, u4, i8, u8, i16, u16 or i32";

#[derive(Clone, Debug, PartialEq)]
pub struct DequantizeLinear {
    pub axis: QuantAxis,
    /// The `output_dtype` attribute when the model gave one (0 or 1 = float).
    pub output_dtype: Option<i64>,
}

pub fn build_dequantize_linear(attrs: &Attrs, _ctx: &BuildCtx) -> Result<Box<dyn Op>, OpError> {
    let output_dtype = attrs.int("output_dtype")?;
    if output_dtype.is_some_and(|d| d != 0 && d != 1) {
        return Err(OpError::Unsupported(format!(
            "DequantizeLinear output_dtype {output_dtype:?} (only float is supported)"
        )));
    }
    Ok(Box::new(DequantizeLinear {
        axis: QuantAxis::from_attrs(attrs)?,
        output_dtype,
    }))
}

fn check_input(x: DType, zp: Option<DType>) -> Result<(), OpError> {
    if !matches!(
        x,
        DType::I4 | DType::U4 | DType::I8 | DType::U8 | DType::I16 | DType::U16 | DType::I32
    ) {
        return Err(bad_dtype(0, INPUTS, x));
    }
    match zp {
        Some(z) if z != x => Err(bad_dtype(2, x.name(), z)),
        _ => Ok(()),
    }
}

impl DequantizeLinear {
    fn apply<Q: k::QuantInt + Element>(
        &self,
        x: &Tensor,
        scale: &Tensor,
        zp: Option<&Tensor>,
    ) -> Result<Tensor, OpError> {
        let layout = self
            .axis
            .layout(x.shape(), scale.shape(), zp.map(Tensor::shape))?;
        let zp = zp.map(|z| z.as_storage_slice::<Q>()).transpose()?;
        let x_values = x.as_storage_slice::<Q>()?;
        let y = k::dequantize_linear(x_values, scale.as_slice::<f32>()?, zp, layout)
            .map_err(kernel_error)?;
        Ok(Tensor::from_vec(x.shape().to_vec(), y)?)
    }
}

impl Op for DequantizeLinear {
    fn op_type(&self) -> &'static str {
        "DequantizeLinear"
    }
    fn attrs(&self) -> Attrs {
        let a = self.axis.write(Attrs::new());
        match self.output_dtype {
            Some(d) => a.with("output_dtype", Attr::Int(d)),
            None => a,
        }
    }
    fn infer(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>, OpError> {
        let (x, scale) = (required(inputs, 0)?, required(inputs, 1)?);
        let zp = optional(inputs, 2);
        check_input(x.dtype, zp.map(|z| z.dtype))?;
        expect_dtype(1, scale.dtype, DType::F32)?;
        self.axis
            .layout(&x.shape, &scale.shape, zp.map(|z| z.shape.as_slice()))?;
        Ok(vec![Fact::new(DType::F32, x.shape.clone())])
    }
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, OpError> {
        let (x, scale) = (required(inputs, 0)?, required(inputs, 1)?);
        let zp = optional(inputs, 2);
        check_input(x.dtype(), zp.map(Tensor::dtype))?;
        expect_dtype(1, scale.dtype(), DType::F32)?;
        let out = match x.dtype() {
            DType::I8 | DType::I4 => self.apply::<i8>(x, scale, zp)?,
            DType::U8 | DType::U4 => self.apply::<u8>(x, scale, zp)?,
            DType::I16 => self.apply::<i16>(x, scale, zp)?,
            DType::U16 => self.apply::<u16>(x, scale, zp)?,
            DType::I32 => self.apply::<i32>(x, scale, zp)?,
            other => return Err(bad_dtype(0, INPUTS, other)),
        };
        Ok(vec![out])
    }
    /// Subtract, convert and multiply: about three operations per element. A constant `x` (the
    /// stored weights of a QDQ model) counts as parameters in its integer width.
    fn cost(&self, inputs: &[Option<&Fact>], outputs: &[Fact]) -> crate::Cost {
        cost(inputs, outputs, 3, &[0, 1, 2])
    }
    op_boilerplate!();
}

#[cfg(test)]
mod tests {
    use super::super::common::testutil::{build, round_trips, run, t};
    use super::*;

    fn dq(attrs: &Attrs, inputs: &[Option<Tensor>]) -> Result<Tensor, OpError> {
        run(
            build("DequantizeLinear", attrs, 21, inputs.len()).as_ref(),
            inputs,
        )
    }

    #[test]
    fn per_tensor_uint8_and_int16() {
        let y = dq(
            &Attrs::new(),
            &[
                t(&[4], vec![0u8, 3, 128, 255]),
                t(&[], vec![2.0f32]),
                t(&[], vec![128u8]),
            ],
        )
        .unwrap();
        assert_eq!(y.as_slice::<f32>().unwrap(), &[-256.0, -250.0, 0.0, 254.0]);
        let y = dq(
            &Attrs::new(),
            &[
                t(&[4], vec![-300i16, -30, -1025, 1270]),
                t(&[], vec![2.0f32]),
                t(&[], vec![-1024i16]),
            ],
        )
        .unwrap();
        assert_eq!(
            y.as_slice::<f32>().unwrap(),
            &[1448.0, 1988.0, -2.0, 4588.0]
        );
    }

    #[test]
    fn int32_without_zero_point() {
        let y = dq(
            &Attrs::new(),
            &[t(&[3], vec![-7i32, 0, 1 << 20]), t(&[1], vec![0.5f32])],
        )
        .unwrap();
        assert_eq!(y.as_slice::<f32>().unwrap(), &[-3.5, 0.0, 524_288.0]);
    }

    #[test]
    fn per_axis_and_blocked() {
        let x = t(&[1, 3, 2], vec![3u8, 89, 0, 82, 192, 186]);
        let y = dq(
            &Attrs::new(),
            &[
                x,
                t(&[3], vec![2.0f32, 4.0, 5.0]),
                t(&[3], vec![84u8, 24, 196]),
            ],
        )
        .unwrap();
        assert_eq!(
            y.as_slice::<f32>().unwrap(),
            &[-162.0, 10.0, -96.0, 232.0, -20.0, -50.0]
        );
        let attrs = Attrs::new()
            .with("axis", Attr::Int(0))
            .with("block_size", Attr::Int(2));
        let y = dq(
            &attrs,
            &[t(&[3], vec![1i8, 1, 1]), t(&[2], vec![1.0f32, 3.0])],
        )
        .unwrap();
        assert_eq!(y.as_slice::<f32>().unwrap(), &[1.0, 1.0, 3.0]);
        round_trips(build("DequantizeLinear", &attrs, 21, 2).as_ref(), 21, 2);
    }

    #[test]
    fn int4_per_axis_and_blocked() {
        use mw_tensor::Data;
        let i4 =
            |shape: &[usize], v: Vec<i8>| Some(Tensor::new(shape.to_vec(), Data::I4(v)).unwrap());
        // [2, 4] int4 weights, per output channel (axis 0).
        let w = i4(&[2, 4], vec![-8, -1, 0, 7, 1, 2, 3, -7]);
        let attrs = Attrs::new().with("axis", Attr::Int(0));
        let y = dq(
            &attrs,
            &[w.clone(), t(&[2], vec![0.5f32, 2.0]), i4(&[2], vec![0, 0])],
        )
        .unwrap();
        assert_eq!(
            y.as_slice::<f32>().unwrap(),
            &[-4.0, -0.5, 0.0, 3.5, 2.0, 4.0, 6.0, -14.0]
        );
        // Blocks of 2 along axis 1: scales [2, 2].
        let attrs = Attrs::new()
            .with("axis", Attr::Int(1))
            .with("block_size", Attr::Int(2));
        let s = t(&[2, 2], vec![1.0f32, 10.0, 0.5, 0.25]);
        let y = dq(&attrs, &[w, s]).unwrap();
        assert_eq!(
            y.as_slice::<f32>().unwrap(),
            &[-8.0, -1.0, 0.0, 70.0, 0.5, 1.0, 0.75, -1.75]
        );
        let u4 = Some(Tensor::new(vec![2], Data::U4(vec![0, 15])).unwrap());
        let y = dq(
            &Attrs::new(),
            &[
                u4,
                t(&[], vec![1.0f32]),
                Some(Tensor::new(vec![], Data::U4(vec![8])).unwrap()),
            ],
        )
        .unwrap();
        assert_eq!(y.as_slice::<f32>().unwrap(), &[-8.0, 7.0]);
    }

    #[test]
    fn refusals() {
        let err = dq(
            &Attrs::new(),
            &[t(&[1], vec![1.0f32]), t(&[], vec![1.0f32])],
        )
        .unwrap_err();
        assert!(matches!(err, OpError::InputDType { index: 0, .. }));
        let err = dq(
            &Attrs::new(),
            &[t(&[1], vec![1u8]), t(&[], vec![1.0f32]), t(&[], vec![1i8])],
        );
        assert!(matches!(err, Err(OpError::InputDType { index: 2, .. })));
        let attrs = Attrs::new().with("output_dtype", Attr::Int(10)); // float16
        let ctx = super::super::common::testutil::ctx(23, 2);
        assert!(matches!(
            crate::build_op("DequantizeLinear", &attrs, &ctx),
            Err(OpError::Unsupported(_))
        ));
    }

    #[test]
    fn constant_int8_weights_are_parameters() {
        let op = build("DequantizeLinear", &Attrs::new(), 13, 3);
        let w = Fact::of(&Tensor::from_vec(vec![8, 4], vec![1i8; 32]).unwrap());
        let s = Fact::of(&Tensor::from_vec(vec![8], vec![0.1f32; 8]).unwrap());
        let z = Fact::of(&Tensor::from_vec(vec![8], vec![0i8; 8]).unwrap());
        let attrs_axis0 = build(
            "DequantizeLinear",
            &Attrs::new().with("axis", Attr::Int(0)),
            13,
            3,
        );
        assert!(op.infer(&[Some(&w), Some(&s), Some(&z)]).is_err()); // axis 1 has length 4
        let out = attrs_axis0.infer(&[Some(&w), Some(&s), Some(&z)]).unwrap();
        let c = attrs_axis0.cost(&[Some(&w), Some(&s), Some(&z)], &out);
        assert_eq!((c.elementwise, c.params, c.weight_bytes), (96, 48, 72));
        // int4 weights count packed: 32 values in 16 bytes.
        let w4 = Fact::of(&Tensor::new(vec![8, 4], mw_tensor::Data::I4(vec![1; 32])).unwrap());
        let z4 = Fact::of(&Tensor::new(vec![8], mw_tensor::Data::I4(vec![0; 8])).unwrap());
        let out = attrs_axis0
            .infer(&[Some(&w4), Some(&s), Some(&z4)])
            .unwrap();
        let c = attrs_axis0.cost(&[Some(&w4), Some(&s), Some(&z4)], &out);
        assert_eq!((c.params, c.weight_bytes), (48, 16 + 32 + 4));
    }
}

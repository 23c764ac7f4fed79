//! Conv: N-D convolution (cross-correlation) with groups, pads / auto_pad, strides, dilations
//! and an optional bias. `X [N, C, D...]`, `W [M, C/group, k...]`, `B [M]` → `Y [N, M, O...]`.
use super::spatial::{attr_err, Window};
use super::util::{
    check_dtype, constant_params, first_numel, kernel_error, optional_input, tail_product,
    typed_input,
};
use crate::op::{optional, required};
use crate::{op_boilerplate, Attr, Attrs, BuildCtx, Cost, Fact, Op, OpError};
use mw_kernels::nn::{self, ConvGeometry};
use mw_tensor::{DType, Tensor};

#[derive(Clone, Debug, PartialEq)]
pub struct Conv {
    pub window: Window,
    pub group: i64,
}

pub fn build_conv(attrs: &Attrs, _ctx: &BuildCtx) -> Result<Box<dyn Op>, OpError> {
    let group = attrs.int_or("group", 1)?;
    if group < 1 {
        return Err(attr_err("group", format!("{group} is not positive")));
    }
    Ok(Box::new(Conv {
        window: Window::from_attrs(attrs)?,
        group,
    }))
}

impl Conv {
    /// The kernel geometry for input shapes `x`, `w` and optional bias shape `b`; also
    /// returns the output shape.
    pub fn geometry(
        &self,
        x: &[usize],
        w: &[usize],
        b: Option<&[usize]>,
    ) -> Result<(ConvGeometry, Vec<usize>), OpError> {
        if x.len() < 3 || w.len() != x.len() {
            return Err(OpError::Shape(format!(
                "Conv needs X of rank >= 3 and W of the same rank, got {x:?} and {w:?}"
            )));
        }
        let group = self.group as usize;
        let (c, m) = (x[1], w[0]);
        if w[1].checked_mul(group) != Some(c) || !m.is_multiple_of(group) {
            return Err(OpError::Shape(format!(
                "X {x:?} and W {w:?} disagree with group {group}"
            )));
        }
        if let Some(b) = b {
            if b != [m] {
                return Err(OpError::Shape(format!(
                    "bias {b:?} for {m} output channels"
                )));
            }
        }
        let rank = x.len() - 2;
        let kernel = self.window.kernel(rank, Some(&w[2..]))?;
        let r = self.window.resolve(&x[2..], kernel)?;
        let g = ConvGeometry {
            batch: x[0],
            in_channels: c,
            out_channels: m,
            group,
            input: x[2..].to_vec(),
            kernel: r.kernel,
            strides: r.strides,
            dilations: r.dilations,
            pads_begin: r.pads_begin,
            pads_end: r.pads_end,
        };
        let out = g.output().map_err(kernel_error)?;
        Ok((g, [&[x[0], m][..], &out].concat()))
    }
}

impl Op for Conv {
    fn op_type(&self) -> &'static str {
        "Conv"
    }
    fn attrs(&self) -> Attrs {
        let attrs = Attrs::new().with("group", Attr::Int(self.group));
        self.window.to_attrs(attrs)
    }
    fn infer(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>, OpError> {
        let x = required(inputs, 0)?;
        let w = required(inputs, 1)?;
        let b = optional(inputs, 2);
        check_dtype(x.dtype, 0, &[DType::F32])?;
        check_dtype(w.dtype, 1, &[DType::F32])?;
        if let Some(b) = b {
            check_dtype(b.dtype, 2, &[DType::F32])?;
        }
        let (_, out) = self.geometry(&x.shape, &w.shape, b.map(|b| b.shape.as_slice()))?;
        Ok(vec![Fact::new(DType::F32, out)])
    }
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, OpError> {
        let x = typed_input::<f32>(inputs, 0)?;
        let w = typed_input::<f32>(inputs, 1)?;
        let b = optional_input::<f32>(inputs, 2)?;
        let (xt, wt) = (required(inputs, 0)?, required(inputs, 1)?);
        let bshape = optional(inputs, 2).map(|t| t.shape());
        let (g, out) = self.geometry(xt.shape(), wt.shape(), bshape)?;
        let mut y = Tensor::zeros(DType::F32, out)?;
        nn::conv(&g, x, w, b, y.as_slice_mut::<f32>()?).map_err(kernel_error)?;
        Ok(vec![y])
    }
    fn cost(&self, inputs: &[Option<&Fact>], outputs: &[Fact]) -> Cost {
        let (params, weight_bytes) = constant_params(inputs, &[1, 2]);
        let per_output = required(inputs, 1)
            .map(|w| tail_product(&w.shape, 1))
            .unwrap_or(0);
        Cost {
            macs: first_numel(outputs) * per_output,
            params,
            weight_bytes,
            elementwise: 0,
        }
    }
    op_boilerplate!();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(shape: &[usize], v: Vec<f32>) -> Tensor {
        Tensor::from_vec(shape.to_vec(), v).unwrap()
    }

    fn build(attrs: &Attrs) -> Box<dyn Op> {
        let ctx = BuildCtx {
            opset: 13,
            n_inputs: 3,
            n_outputs: 1,
        };
        build_conv(attrs, &ctx).unwrap()
    }

    #[test]
    fn basic_conv_with_padding_matches_onnx_example() {
        // ONNX docs example: 5x5 ramp, 3x3 ones, pads 1 → first row 12 21 27 33 24.
        let mut a = Attrs::new();
        a.set("kernel_shape", Attr::Ints(vec![3, 3]))
            .set("pads", Attr::Ints(vec![1, 1, 1, 1]));
        let op = build(&a);
        let x = t(&[1, 1, 5, 5], (0..25).map(|v| v as f32).collect());
        let w = t(&[1, 1, 3, 3], vec![1.0; 9]);
        let y = op.eval(&[Some(&x), Some(&w), None]).unwrap().remove(0);
        assert_eq!(y.shape(), &[1, 1, 5, 5]);
        assert_eq!(
            &y.as_slice::<f32>().unwrap()[..5],
            &[12.0, 21.0, 27.0, 33.0, 24.0]
        );
    }

    #[test]
    fn infer_auto_pad_same_and_bias_cost() {
        let mut a = Attrs::new();
        a.set("auto_pad", Attr::String("SAME_UPPER".into()))
            .set("strides", Attr::Ints(vec![2, 2]))
            .set("group", Attr::Int(2));
        let op = build(&a);
        let x = Fact::new(DType::F32, vec![1, 4, 7, 6]);
        let w = Fact::of(&Tensor::zeros(DType::F32, vec![6, 2, 3, 3]).unwrap());
        let b = Fact::of(&Tensor::zeros(DType::F32, vec![6]).unwrap());
        let out = op.infer(&[Some(&x), Some(&w), Some(&b)]).unwrap();
        assert_eq!(out[0].shape, vec![1, 6, 4, 3]);
        let cost = op.cost(&[Some(&x), Some(&w), Some(&b)], &out);
        assert_eq!(cost.macs, (6 * 4 * 3 * 2 * 9) as u64);
        assert_eq!((cost.params, cost.weight_bytes), (114, 456));
    }

    #[test]
    fn bad_shapes_and_dtypes_are_typed_errors() {
        let op = build(&Attrs::new());
        let x = Fact::new(DType::F32, vec![1, 3, 5, 5]);
        let w = Fact::new(DType::F32, vec![2, 2, 3, 3]);
        assert!(matches!(
            op.infer(&[Some(&x), Some(&w)]),
            Err(OpError::Shape(_))
        ));
        let xi = Fact::new(DType::I8, vec![1, 2, 5, 5]);
        assert!(matches!(
            op.infer(&[Some(&xi), Some(&w)]),
            Err(OpError::InputDType { index: 0, .. })
        ));
        let mut a = Attrs::new();
        a.set("kernel_shape", Attr::Ints(vec![2, 2]));
        let x2 = Fact::new(DType::F32, vec![1, 2, 5, 5]);
        assert!(build(&a).infer(&[Some(&x2), Some(&w)]).is_err());
        let xt = t(&[1, 3, 5, 5], vec![0.0; 75]);
        let wt = t(&[2, 2, 3, 3], vec![0.0; 36]);
        assert!(op.eval(&[Some(&xt), Some(&wt)]).is_err());
    }

    /// The MLPerf Tiny KWS DS-CNN at batch 1: Conv 10×4 stride 2 (1 → 64 channels), four
    /// depthwise 3×3 + pointwise 1×1 pairs, then the 64 × 12 MatMul: 2.66 M MACs, 22.6 k weights
    /// (its biases included; the final Add's 12 are not counted here).
    #[test]
    fn kws_dscnn_costs_2_66_m_macs() {
        let weights =
            |shape: &[usize]| Fact::of(&Tensor::zeros(DType::F32, shape.to_vec()).unwrap());
        let layer = |attrs: &[(&str, Attr)], x: &[usize], w: &[usize]| {
            let mut a = Attrs::new();
            for (k, v) in attrs {
                a.set(k, v.clone());
            }
            let op = build(&a);
            let (x, w, b) = (
                Fact::new(DType::F32, x.to_vec()),
                weights(w),
                weights(&[w[0]]),
            );
            let ins = [Some(&x), Some(&w), Some(&b)];
            let out = op.infer(&ins).unwrap();
            (op.cost(&ins, &out), out[0].shape.clone())
        };
        let (first, mut shape) = layer(
            &[
                ("strides", Attr::Ints(vec![2, 2])),
                ("pads", Attr::Ints(vec![4, 1, 5, 1])),
            ],
            &[1, 1, 49, 10],
            &[64, 1, 10, 4],
        );
        assert_eq!(shape, vec![1, 64, 25, 5]);
        let mut total = first;
        for _ in 0..4 {
            let same = [
                ("group", Attr::Int(64)),
                ("pads", Attr::Ints(vec![1, 1, 1, 1])),
            ];
            let (dw, s) = layer(&same, &shape, &[64, 1, 3, 3]);
            let (pw, s) = layer(&[], &s, &[64, 64, 1, 1]);
            shape = s;
            for c in [dw, pw] {
                total.macs += c.macs;
                total.params += c.params;
            }
        }
        let a = Fact::new(DType::F32, vec![1, 64]);
        let b = weights(&[64, 12]);
        let mm = super::super::matmul::MatMul;
        let out = mm.infer(&[Some(&a), Some(&b)]).unwrap();
        let c = mm.cost(&[Some(&a), Some(&b)], &out);
        total.macs += c.macs;
        total.params += c.params;
        assert_eq!(total.macs, 2_656_768);
        assert!((total.macs as f64 / 2.66e6 - 1.0).abs() < 0.02);
        assert_eq!(total.params, 22_592);
    }

    #[test]
    fn attrs_round_trip() {
        let mut a = Attrs::new();
        a.set("dilations", Attr::Ints(vec![2]))
            .set("group", Attr::Int(3))
            .set("auto_pad", Attr::String("VALID".into()));
        let op = build(&a);
        let again = build(&op.attrs());
        assert_eq!(
            again.as_any().downcast_ref::<Conv>(),
            op.as_any().downcast_ref::<Conv>()
        );
    }
}

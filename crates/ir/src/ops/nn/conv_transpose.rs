//! ConvTranspose: N-D transposed convolution with groups, pads / auto_pad, strides, dilations,
//! output_padding and output_shape. `X [N, C, D...]`, `W [C, M/group, k...]`, `B [M]` →
//! `Y [N, M, O...]`.
//!
//! Per dim the full result has `F = s·(D − 1) + output_padding + (k − 1)·d + 1` positions;
//! explicit pads crop it. With `output_shape` `O` the crop is `max(0, F − O)` (a larger `O` adds
//! bias-only positions at the end); with SAME auto_pad it is `max(0, F − D·s)`. The crop splits
//! with the floor half first for SAME_UPPER and last otherwise (as ONNX Runtime does).
use super::spatial::{attr_err, AutoPad, Window};
use super::util::{
    check_dtype, constant_params, kernel_error, optional_input, tail_product, typed_input,
};
use crate::op::{optional, required};
use crate::{op_boilerplate, Attr, Attrs, BuildCtx, Cost, Fact, Op, OpError};
use mw_kernels::nn::{self, ConvTransposeGeometry};
use mw_tensor::{DType, Tensor};

/// Largest output dim `output_shape` may state (the memory cap bounds the whole tensor later).
const MAX_OUTPUT_DIM: i64 = 1 << 31;

#[derive(Clone, Debug, PartialEq)]
pub struct ConvTranspose {
    pub window: Window,
    pub group: i64,
    pub output_padding: Option<Vec<i64>>,
    pub output_shape: Option<Vec<i64>>,
}

pub fn build_conv_transpose(attrs: &Attrs, _ctx: &BuildCtx) -> Result<Box<dyn Op>, OpError> {
    let group = attrs.int_or("group", 1)?;
    if group < 1 {
        return Err(attr_err("group", format!("{group} is not positive")));
    }
    let output_padding = attrs.ints("output_padding")?;
    if output_padding
        .as_ref()
        .is_some_and(|v| v.iter().any(|&p| !(0..=MAX_OUTPUT_DIM).contains(&p)))
    {
        return Err(attr_err("output_padding", "values must be in 0..=2^31"));
    }
    let output_shape = attrs.ints("output_shape")?;
    if output_shape
        .as_ref()
        .is_some_and(|v| v.iter().any(|&p| !(1..=MAX_OUTPUT_DIM).contains(&p)))
    {
        return Err(attr_err("output_shape", "values must be in 1..=2^31"));
    }
    Ok(Box::new(ConvTranspose {
        window: Window::from_attrs(attrs)?,
        group,
        output_padding,
        output_shape,
    }))
}

/// Splits a total crop (clamped at 0) into `(begin, end)`: floor half first for SAME_UPPER,
/// last otherwise.
fn split(total: i64, auto_pad: AutoPad) -> (i64, i64) {
    let total = total.max(0);
    let half = total / 2;
    if auto_pad == AutoPad::SameUpper {
        (half, total - half)
    } else {
        (total - half, half)
    }
}

impl ConvTranspose {
    /// The kernel geometry for input shapes `x`, `w` and optional bias `b`, and the output shape.
    pub fn geometry(
        &self,
        x: &[usize],
        w: &[usize],
        b: Option<&[usize]>,
    ) -> Result<(ConvTransposeGeometry, Vec<usize>), OpError> {
        if x.len() < 3 || w.len() != x.len() {
            return Err(OpError::Shape(format!(
                "ConvTranspose needs X of rank >= 3 and W of the same rank, got {x:?} and {w:?}"
            )));
        }
        let group = self.group as usize;
        let c = x[1];
        if w[0] != c || !c.is_multiple_of(group) {
            return Err(OpError::Shape(format!(
                "X {x:?} and W {w:?} disagree with group {group}"
            )));
        }
        let m = w[1]
            .checked_mul(group)
            .ok_or_else(|| OpError::Shape("output channels overflow".into()))?;
        if let Some(b) = b {
            if b != [m] {
                return Err(OpError::Shape(format!(
                    "bias {b:?} for {m} output channels"
                )));
            }
        }
        let rank = x.len() - 2;
        let kernel = self.window.kernel(rank, Some(&w[2..]))?;
        let strides = Window::per_dim("strides", &self.window.strides, rank, 1)?;
        let dilations = Window::per_dim("dilations", &self.window.dilations, rank, 1)?;
        let out_pad = Window::per_dim("output_padding", &self.output_padding, rank, 0)?;
        let stated = match &self.output_shape {
            Some(s) if s.len() == rank + 2 => Some(s[2..].to_vec()),
            Some(s) if s.len() == rank => Some(s.clone()),
            Some(s) => {
                return Err(attr_err(
                    "output_shape",
                    format!("has {} values for {rank} spatial dims", s.len()),
                ))
            }
            None => None,
        };
        let (explicit_begin, explicit_end) = self.window.explicit_pads(rank)?;
        let mut pads_begin = Vec::with_capacity(rank);
        let mut output = Vec::with_capacity(rank);
        for d in 0..rank {
            let (i, s) = (x[2 + d] as i64, strides[d] as i64);
            let window = (kernel[d] as i64 - 1) * dilations[d] as i64 + 1;
            let full = s * (i - 1).max(0) + out_pad[d] as i64 + window;
            let same = matches!(
                self.window.auto_pad,
                AutoPad::SameUpper | AutoPad::SameLower
            );
            let (begin, out) = match (&stated, same) {
                (Some(o), _) => (split(full - o[d], self.window.auto_pad).0, o[d]),
                (None, true) => {
                    let (b, e) = split(full - i * s, self.window.auto_pad);
                    (b, full - b - e)
                }
                (None, false) => {
                    let (pb, pe) = (explicit_begin[d] as i64, explicit_end[d] as i64);
                    (pb, full - pb - pe)
                }
            };
            if !(1..=MAX_OUTPUT_DIM).contains(&out) {
                return Err(OpError::Shape(format!(
                    "ConvTranspose output dim {d} would be {out}"
                )));
            }
            pads_begin.push(begin as isize);
            output.push(out as usize);
        }
        let g = ConvTransposeGeometry {
            batch: x[0],
            in_channels: c,
            out_channels: m,
            group,
            input: x[2..].to_vec(),
            kernel,
            strides,
            dilations,
            pads_begin,
            output: output.clone(),
        };
        Ok((g, [&[x[0], m][..], &output].concat()))
    }
}

impl Op for ConvTranspose {
    fn op_type(&self) -> &'static str {
        "ConvTranspose"
    }
    fn attrs(&self) -> Attrs {
        let mut a = self
            .window
            .to_attrs(Attrs::new().with("group", Attr::Int(self.group)));
        if let Some(v) = &self.output_padding {
            a.set("output_padding", Attr::Ints(v.clone()));
        }
        if let Some(v) = &self.output_shape {
            a.set("output_shape", Attr::Ints(v.clone()));
        }
        a
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
        nn::conv_transpose(&g, x, w, b, y.as_slice_mut::<f32>()?).map_err(kernel_error)?;
        Ok(vec![y])
    }
    fn cost(&self, inputs: &[Option<&Fact>], _outputs: &[Fact]) -> Cost {
        let (params, weight_bytes) = constant_params(inputs, &[1, 2]);
        let macs = match (required(inputs, 0), required(inputs, 1)) {
            (Ok(x), Ok(w)) => x.numel() as u64 * tail_product(&w.shape, 1),
            _ => 0,
        };
        Cost {
            macs,
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

    fn build(pairs: &[(&str, Attr)]) -> ConvTranspose {
        let mut a = Attrs::new();
        for (k, v) in pairs {
            a.set(k, v.clone());
        }
        let ctx = BuildCtx {
            opset: 22,
            n_inputs: 2,
            n_outputs: 1,
        };
        let op = build_conv_transpose(&a, &ctx).unwrap();
        op.as_any().downcast_ref::<ConvTranspose>().unwrap().clone()
    }

    fn out_shape(op: &ConvTranspose, x: &[usize], w: &[usize]) -> Vec<usize> {
        op.geometry(x, w, None).unwrap().1
    }

    #[test]
    fn output_sizes_follow_pads_padding_and_shape() {
        let x = [1, 1, 3, 3];
        let w = [1, 2, 3, 3];
        assert_eq!(out_shape(&build(&[]), &x, &w), vec![1, 2, 5, 5]);
        let strided = build(&[
            ("strides", Attr::Ints(vec![3, 2])),
            ("output_padding", Attr::Ints(vec![1, 1])),
        ]);
        assert_eq!(out_shape(&strided, &x, &w), vec![1, 2, 10, 8]);
        let shaped = build(&[
            ("strides", Attr::Ints(vec![3, 2])),
            ("output_shape", Attr::Ints(vec![10, 8])),
        ]);
        let (g, out) = shaped.geometry(&x, &w, None).unwrap();
        assert_eq!(out, vec![1, 2, 10, 8]);
        // natural sizes 9 and 7: one extra position at the end of each dim.
        assert_eq!(g.pads_begin, vec![0, 0]);
        let same = build(&[
            ("strides", Attr::Ints(vec![2, 2])),
            ("auto_pad", Attr::String("SAME_UPPER".into())),
        ]);
        let (g, out) = same.geometry(&x, &w, None).unwrap();
        assert_eq!(out, vec![1, 2, 6, 6]);
        // full 7, output 6: crop 1, SAME_UPPER puts floor(1/2) = 0 first.
        assert_eq!(g.pads_begin, vec![0, 0]);
        // stride 3, kernel 2 on 5: full 14 < 5·3, so nothing is cropped and the output is 14.
        let short = build(&[
            ("strides", Attr::Ints(vec![3])),
            ("auto_pad", Attr::String("SAME_LOWER".into())),
        ]);
        assert_eq!(out_shape(&short, &[1, 1, 5], &[1, 1, 2]), vec![1, 1, 14]);
    }

    #[test]
    fn one_d_values() {
        let op = build(&[
            ("strides", Attr::Ints(vec![2])),
            ("pads", Attr::Ints(vec![1, 0])),
        ]);
        let x = Tensor::from_vec(vec![1, 1, 2], vec![1.0f32, 2.0]).unwrap();
        let w = Tensor::from_vec(vec![1, 1, 3], vec![1.0f32, 10.0, 100.0]).unwrap();
        let y = op.eval(&[Some(&x), Some(&w)]).unwrap().remove(0);
        assert_eq!(y.shape(), &[1, 1, 4]);
        assert_eq!(y.as_slice::<f32>().unwrap(), &[10.0, 102.0, 20.0, 200.0]);
    }

    #[test]
    fn bad_inputs_are_errors() {
        let op = build(&[]);
        assert!(op.geometry(&[1, 2, 3], &[1, 2, 3], None).is_err());
        let big = build(&[("pads", Attr::Ints(vec![3, 3]))]);
        assert!(big.geometry(&[1, 1, 2], &[1, 1, 2], None).is_err());
    }
}

//! Group-wise weights (a blocked DequantizeLinear: one scale per output channel and block of
//! `block_size` input channels) lowered to `MwQGroupedGemm`:
//!
//! | float op                                   | weights seen by the op      |
//! |--------------------------------------------|-----------------------------|
//! | `MatMul(DQ(a), DQ(W [K, N], axis 0))`      | `Wᵀ [N, K]`, scales `[N, G]`|
//! | `Gemm(…, transB = 1, W [N, K], axis 1)`    | `W`, scales `[N, G]`        |
//! | `Conv` 1×1, stride 1, no padding, 1 group  | `W [O, C]`, scales `[O, G]` (layout 1) |
//! | any other 1-D/2-D `Conv` of 1 group        | `W [O, C, ..]`, scales `[O, G, ..]` and the Conv's window (layout 2) |
//!
//! Layout 2 is the grouped GEMM behind an im2col (`mw_kernels::lowbit::grouped::conv`): the
//! blocked DequantizeLinear has one scale per (output channel, block, kernel tap), so each (tap,
//! block) is one group of the GEMM. Refused with the reason (the layer runs on the float path,
//! named by the integer-only lint): a Conv of several groups (the grouped convolution runs one),
//! and a depthwise convolution, whose one input channel per group makes its "groups" per-channel
//! scales (the exporter writes those per channel).
use super::super::build::Builder;
use super::super::matcher::{input, Matcher, QTensor, QWeights, Why};
use super::Pattern;
use crate::ops::nn::Window;
use crate::{Attr, Attrs, Node, ValueId};
use mw_tensor::Tensor;

/// A blocked DequantizeLinear of constant weights.
pub(crate) struct Blocked {
    pub w: QWeights,
    /// The blocked axis.
    pub axis: usize,
    pub block_size: usize,
    /// Scales in the DequantizeLinear's shape.
    pub scale_tensor: Tensor,
}

/// The block size of the DequantizeLinear producing `v`, when it has one.
pub(crate) fn block_size(m: &Matcher, v: ValueId) -> Option<i64> {
    let (_, dq) = m
        .producer(v)
        .filter(|(_, n)| n.op.op_type() == "DequantizeLinear")?;
    match dq.op.attrs().get("block_size") {
        Some(Attr::Int(bs)) if *bs > 0 => Some(*bs),
        _ => None,
    }
}

/// Reads the blocked weights producing `v`.
fn blocked(m: &Matcher, v: ValueId) -> Result<Blocked, Why> {
    let (_, dq) = m
        .producer(v)
        .filter(|(_, n)| n.op.op_type() == "DequantizeLinear")
        .ok_or("the weights are not dequantized")?;
    let x = input(dq, 0)?;
    let tensor = m.konst(x).ok_or("the weights are not constant")?.clone();
    if !matches!(tensor.dtype(), mw_tensor::DType::I4 | mw_tensor::DType::I8) {
        return Err(format!(
            "group-wise weights are {}, not int4 or int8",
            tensor.dtype()
        ));
    }
    let attrs = dq.op.attrs();
    let int = |k: &str, d: i64| match attrs.get(k) {
        Some(Attr::Int(v)) => *v,
        _ => d,
    };
    let rank = tensor.rank() as i64;
    let a = int("axis", 1);
    let axis = usize::try_from(if a < 0 { a + rank } else { a }).map_err(|_| "bad axis")?;
    let block_size = usize::try_from(int("block_size", 0)).map_err(|_| "bad block size")?;
    let scale = input(dq, 1)?;
    let scale_tensor = m
        .konst(scale)
        .filter(|t| t.dtype() == mw_tensor::DType::F32)
        .ok_or("the weight scale is not a constant f32")?
        .clone();
    let zero_point = dq.inputs.get(2).copied().flatten();
    if let Some(z) = zero_point {
        let zs = m
            .konst(z)
            .and_then(|t| t.to_i64_vec().ok())
            .ok_or("non-constant weight zero point")?;
        if zs.iter().any(|&v| v != 0) {
            return Err("group-wise weights with a nonzero zero point".into());
        }
    }
    let mut want = tensor.shape().to_vec();
    match want.get_mut(axis) {
        Some(d) if block_size > 0 => *d = d.div_ceil(block_size),
        _ => return Err(format!("block axis {axis} of weights {:?}", tensor.shape())),
    }
    if scale_tensor.shape() != want {
        return Err(format!(
            "blocked scales {:?} for weights {:?} (expected {want:?})",
            scale_tensor.shape(),
            tensor.shape()
        ));
    }
    let scales = scale_tensor
        .as_slice::<f32>()
        .map_err(|e| e.to_string())?
        .to_vec();
    if let Some(bad) = scales.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
        return Err(format!("weight scale {bad} is not finite and positive"));
    }
    Ok(Blocked {
        w: QWeights {
            value: x,
            tensor,
            scale,
            zero_point: None,
            scales,
        },
        axis,
        block_size,
        scale_tensor,
    })
}

/// `[r, c]` values transposed, as a tensor of `dtype`.
fn transposed(v: &[i64], r: usize, c: usize, dtype: mw_tensor::DType) -> Result<Tensor, Why> {
    let mut out = vec![0i64; v.len()];
    for i in 0..r {
        for j in 0..c {
            out[j * r + i] = v[i * c + j];
        }
    }
    Ok(Tensor::from_vec(vec![c, r], out)
        .map_err(|e| e.to_string())?
        .cast(dtype))
}

impl Pattern<'_, '_> {
    /// A group-wise Conv (see the module doc).
    pub(super) fn grouped_conv(&self, b: &mut Builder) -> Result<(), Why> {
        let bl = blocked(self.m, input(self.core, 1)?)?;
        let shape = bl.w.tensor.shape().to_vec();
        let attrs = self.core.op.attrs();
        let ints = |k: &str| match attrs.get(k) {
            Some(Attr::Ints(v)) => v.clone(),
            _ => vec![],
        };
        let group = match attrs.get("group") {
            Some(Attr::Int(g)) => *g,
            _ => 1,
        };
        if shape.len() == 4 && shape[1] == 1 && group > 1 {
            return Err(
                "a depthwise Conv with group-wise weight scales: each group holds one input \
                        channel, so the scales are per channel — export them per channel"
                    .into(),
            );
        }
        if group != 1 {
            return Err(format!(
                "a Conv of {group} groups with group-wise weight scales: the grouped integer \
                 convolution runs one group; this layer runs on the float path"
            ));
        }
        if bl.axis != 1 || !(3..=4).contains(&shape.len()) {
            return Err(format!(
                "group-wise Conv weights {shape:?} blocked along axis {}, not the input \
                 channels of a 1-D or 2-D Conv; this layer runs on the float path",
                bl.axis
            ));
        }
        let x = self.m.dequantized(input(self.core, 0)?)?;
        let bias = self.core.inputs.get(2).copied().flatten();
        let pointwise = shape.len() == 4
            && shape[2..] == [1, 1]
            && ints("strides").iter().all(|&s| s == 1)
            && ints("pads").iter().all(|&p| p == 0)
            && !matches!(attrs.get("auto_pad"), Some(Attr::String(a)) if a != "NOTSET" && a != "VALID");
        if !pointwise {
            let window = Window::from_attrs(&attrs).map_err(|e| e.to_string())?;
            let layout = window.to_attrs(Attrs::new().with("layout", Attr::Int(2)));
            let (w, s) = (bl.w.tensor.clone(), bl.scale_tensor.clone());
            return self.grouped_node(b, &x, &bl, w, s, bias, layout);
        }
        let (o, c) = (shape[0], shape[1]);
        let g = c.div_ceil(bl.block_size);
        let w =
            bl.w.tensor
                .clone()
                .reshaped(vec![o, c])
                .map_err(|e| e.to_string())?;
        let s = bl
            .scale_tensor
            .clone()
            .reshaped(vec![o, g])
            .map_err(|e| e.to_string())?;
        let layout = Attrs::new().with("layout", Attr::Int(1));
        self.grouped_node(b, &x, &bl, w, s, bias, layout)
    }

    /// A group-wise MatMul (`trans_b` false, weights `[K, N]` blocked on axis 0) or Gemm with
    /// `transB = 1` (weights `[N, K]` blocked on axis 1).
    pub(super) fn grouped_matmul(
        &self,
        b: &mut Builder,
        mm: &Node,
        trans_b: bool,
        bias: Option<ValueId>,
    ) -> Result<(), Why> {
        let bl = blocked(self.m, input(mm, 1)?)?;
        let &[r, c] = bl.w.tensor.shape() else {
            return Err("group-wise weights that are not a matrix".into());
        };
        let want_axis = usize::from(trans_b);
        if bl.axis != want_axis {
            return Err(format!(
                "weights blocked along axis {}, not the reduction axis",
                bl.axis
            ));
        }
        let (w, s) = if trans_b {
            (bl.w.tensor.clone(), bl.scale_tensor.clone())
        } else {
            let v = bl.w.tensor.to_i64_vec().map_err(|e| e.to_string())?;
            let sv = bl
                .scale_tensor
                .as_slice::<f32>()
                .map_err(|e| e.to_string())?;
            let g = r.div_ceil(bl.block_size);
            let mut st = vec![0f32; sv.len()];
            for i in 0..g {
                for j in 0..c {
                    st[j * g + i] = sv[i * c + j];
                }
            }
            let s = Tensor::from_vec(vec![c, g], st).map_err(|e| e.to_string())?;
            (transposed(&v, r, c, bl.w.tensor.dtype())?, s)
        };
        let a = self.m.dequantized(input(mm, 0)?)?;
        let layout = Attrs::new().with("layout", Attr::Int(0));
        self.grouped_node(b, &a, &bl, w, s, bias, layout)
    }

    /// Adds the `MwQGroupedGemm` for weights `w` (`[M, K]`, or a Conv's `[M, C, ..]`) with scales
    /// `s` (`[M, G]`, or the Conv's `[M, G, ..]`); `layout` holds the layout attributes.
    #[allow(clippy::too_many_arguments)]
    fn grouped_node(
        &self,
        b: &mut Builder,
        x: &QTensor,
        bl: &Blocked,
        w: Tensor,
        s: Tensor,
        bias: Option<ValueId>,
        layout: Attrs,
    ) -> Result<(), Why> {
        let m = *w.shape().first().ok_or("scalar weights")?;
        // The bias is int32 at `s_x · max_g s_w[o][g]` (the exporter's per-channel scale).
        let sv = s.as_slice::<f32>().map_err(|e| e.to_string())?;
        let g = sv.len() / m.max(1);
        let channel: Vec<f32> = sv
            .chunks(g.max(1))
            .map(|r| r.iter().copied().fold(0f32, f32::max))
            .collect();
        let per_channel = QWeights {
            scales: channel,
            ..bl.w.clone()
        };
        let bias = self.bias(b, bias, x, &per_channel, m)?;
        let wid = b.constant(&format!("{}_weights_grouped", self.name()), w);
        let sid = b.constant(&format!("{}_weight_scales_grouped", self.name()), s);
        let mut inputs: Vec<Option<ValueId>> = self.triple(b, x, self.name()).to_vec();
        inputs.extend([Some(wid), Some(sid), None]);
        inputs.extend(self.out_pair(b));
        inputs.extend(bias.map(Some));
        let attrs = layout.with("group_size", Attr::Int(bl.block_size as i64));
        let attrs = self.clamp.write(attrs);
        b.node(
            self.name(),
            "MwQGroupedGemm",
            &attrs,
            inputs,
            self.out.value,
        )
    }
}

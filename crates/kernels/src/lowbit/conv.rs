//! 2-D convolution, NCHW, with packed sub-byte weights.
//!
//! Contract: that of [`crate::int8::conv`] — `x` is `[N, C, H, W]` of `A` with zero point `zx`;
//! the weights are a [`PackedWeights`] of `OC` rows and `C/groups · KH · KW` columns (the ONNX
//! weight `[OC, C/groups, KH, KW]` flattened per output channel); `bias` is `[OC]`; `out` is
//! `[N, OC, OH, OW]` of `U`. Per output
//! `acc = bias[oc] + Σ w[oc][ci][kh][kw] · (x[n][g·C/groups + ci][ih][iw] − zx)` over the taps,
//! a tap in the padding reading `zx`; then `out = stage.requantize(acc, oc)`. Geometry and
//! output sizes are [`Conv2dParams`]'.
//!
//! [`LowBitConvPlan`] runs depthwise convolutions (one input channel per group, several groups)
//! as a direct loop, and everything else as im2col (raw stored values, padding = the zero point)
//! followed by the packed GEMM of [`crate::lowbit::gemm`], one group of rows at a time.

mod depthwise;

use super::gemm::{self, Acts};
use super::{check_act_zero_point, ActElem, LowBitError, OutElem, PackedWeights};
use crate::int8::conv::{Conv2dParams, ConvDims};
use crate::int8::gemm::Isa;
use crate::int8::requant::OutputStage;
use crate::int8::{check_len, Int8Error, QInput};

/// Validates slices and weights against the geometry; returns the derived sizes.
fn validate<A: ActElem, U: OutElem>(
    p: &Conv2dParams,
    x: &QInput<'_, A>,
    w: &PackedWeights,
    bias: Option<&[i32]>,
    stage: &OutputStage,
    out: &[U],
) -> Result<ConvDims, LowBitError> {
    let d = check_weights(p, w)?;
    check_len("input", x.data.len(), d.x_len)?;
    check_len("output", out.len(), d.out_len)?;
    if let Some(b) = bias {
        check_len("bias", b.len(), p.out_channels)?;
    }
    check_act_zero_point::<A>(x.zero_point)?;
    super::check_weights_for::<A>(w)?;
    stage.check_channels(p.out_channels)?;
    Ok(d)
}

/// Checks that `w` has one row per output channel and one column per reduction element.
pub(super) fn check_weights(p: &Conv2dParams, w: &PackedWeights) -> Result<ConvDims, LowBitError> {
    let d = p.dims()?;
    if w.rows() != p.out_channels || w.cols() != d.k {
        return Err(Int8Error::Shape(format!(
            "{p}: weights are {}×{}, expected {}×{}",
            w.rows(),
            w.cols(),
            p.out_channels,
            d.k
        ))
        .into());
    }
    Ok(d)
}

/// A convolution with its packed weights, ready to run.
#[derive(Debug, Clone, PartialEq)]
pub struct LowBitConvPlan {
    params: Conv2dParams,
    dims: ConvDims,
    weights: PackedWeights,
}

impl LowBitConvPlan {
    /// Validates the geometry against the weights.
    pub fn new(params: Conv2dParams, weights: PackedWeights) -> Result<Self, LowBitError> {
        let dims = check_weights(&params, &weights)?;
        Ok(Self {
            params,
            dims,
            weights,
        })
    }

    /// The geometry.
    pub fn params(&self) -> &Conv2dParams {
        &self.params
    }

    /// The packed weights.
    pub fn weights(&self) -> &PackedWeights {
        &self.weights
    }

    /// Whether the direct depthwise loop runs (one input channel per group, several groups).
    pub fn is_depthwise(&self) -> bool {
        self.dims.cg == 1 && self.params.groups > 1
    }

    /// Runs the convolution (contract in the module doc).
    pub fn run<A: ActElem, U: OutElem>(
        &self,
        x: QInput<'_, A>,
        bias: Option<&[i32]>,
        stage: &OutputStage,
        out: &mut [U],
    ) -> Result<(), LowBitError> {
        self.run_with(Isa::detect(), x, bias, stage, out)
    }

    pub(crate) fn run_with<A: ActElem, U: OutElem>(
        &self,
        isa: Isa,
        x: QInput<'_, A>,
        bias: Option<&[i32]>,
        stage: &OutputStage,
        out: &mut [U],
    ) -> Result<(), LowBitError> {
        let (p, w) = (&self.params, &self.weights);
        let d = validate(p, &x, w, bias, stage, out)?;
        if self.is_depthwise() {
            depthwise::run(isa, p, &d, x, w, bias, stage, out);
            return Ok(());
        }
        let [oh, ow] = d.out_hw;
        let n = oh * ow;
        let plane = p.in_hw[0] * p.in_hw[1];
        let mut acts = Acts::zeros(A::A8, d.k, n)?;
        let rows_per_group = acts.group();
        let mut rows = vec![0i16; rows_per_group * n];
        let zx = x.zero_point + A::OFFSET;
        for b in 0..p.batch {
            for g in 0..p.groups {
                let c0 = b * p.in_channels + g * d.cg;
                let xg = &x.data[c0 * plane..(c0 + d.cg) * plane];
                for j in 0..acts.groups() {
                    for (t, row) in rows.chunks_exact_mut(n).enumerate() {
                        let kk = j * rows_per_group + t;
                        if kk < d.k {
                            im2col_row(p, &d, xg, zx as i16, kk, row, A::stored);
                        } else {
                            row.fill(0);
                        }
                    }
                    acts.write_group(j, &rows);
                }
                let oc0 = g * d.ocg;
                let o0 = (b * p.out_channels + oc0) * n;
                gemm::run(
                    isa,
                    w,
                    oc0..oc0 + d.ocg,
                    &acts,
                    zx,
                    bias,
                    stage,
                    &mut out[o0..o0 + d.ocg * n],
                );
            }
        }
        Ok(())
    }
}

/// One-shot optimized convolution: builds a [`LowBitConvPlan`] (cloning the weights) and runs it.
pub fn conv2d<A: ActElem, U: OutElem>(
    p: &Conv2dParams,
    x: QInput<'_, A>,
    w: &PackedWeights,
    bias: Option<&[i32]>,
    stage: &OutputStage,
    out: &mut [U],
) -> Result<(), LowBitError> {
    LowBitConvPlan::new(*p, w.clone())?.run(x, bias, stage, out)
}

/// Row `kk = (ci·KH + kh)·KW + kw` of the im2col matrix (channel-major: the rows of input
/// channel `ci` are the contiguous run `ci·KH·KW ..`), each tap mapped by `value`; taps in the
/// padding read `pad` (the zero point, mapped the same way).
pub(super) fn im2col_row<A: ActElem, T: Copy>(
    p: &Conv2dParams,
    d: &ConvDims,
    xg: &[A],
    pad: T,
    kk: usize,
    row: &mut [T],
    value: impl Fn(A) -> T,
) {
    let [h, w] = p.in_hw;
    let [oh_n, ow_n] = d.out_hw;
    let [kh_n, kw_n] = p.kernel;
    let (ci, kh, kw) = (kk / (kh_n * kw_n), kk / kw_n % kh_n, kk % kw_n);
    let plane = &xg[ci * h * w..(ci + 1) * h * w];
    if kh_n == 1 && kw_n == 1 && p.stride == [1, 1] && p.pads == [0; 4] {
        for (d, &v) in row.iter_mut().zip(plane) {
            *d = value(v);
        }
        return;
    }
    let off_h = (kh * p.dilation[0]) as isize - p.pads[0] as isize;
    let off_w = (kw * p.dilation[1]) as isize - p.pads[1] as isize;
    let rows = crate::int8::tap_range(off_h, p.stride[0], h, oh_n);
    let cols = crate::int8::tap_range(off_w, p.stride[1], w, ow_n);
    row.fill(pad);
    for oh in rows {
        let ih = ((oh * p.stride[0]) as isize + off_h) as usize;
        let src = &plane[ih * w..(ih + 1) * w];
        let dst = &mut row[oh * ow_n..(oh + 1) * ow_n];
        for ow in cols.clone() {
            let iw = ((ow * p.stride[1]) as isize + off_w) as usize;
            dst[ow] = value(src[iw]);
        }
    }
}

/// The obviously-correct twin: decode every weight to `i32`, seven loops, a bounds test per tap.
pub mod reference {
    use super::*;

    /// Scalar convolution with the contract of the module doc.
    pub fn conv2d<A: ActElem, U: OutElem>(
        p: &Conv2dParams,
        x: QInput<'_, A>,
        w: &PackedWeights,
        bias: Option<&[i32]>,
        stage: &OutputStage,
        out: &mut [U],
    ) -> Result<(), LowBitError> {
        let d = validate(p, &x, w, bias, stage, out)?;
        let wv: Vec<i32> = w.unpack().into_iter().map(i32::from).collect();
        let ([h, wd], [oh_n, ow_n], [kh_n, kw_n]) = (p.in_hw, d.out_hw, p.kernel);
        for b in 0..p.batch {
            for oc in 0..p.out_channels {
                let g = oc / d.ocg;
                for oh in 0..oh_n {
                    for ow in 0..ow_n {
                        let mut acc = bias.map_or(0, |bv| bv[oc]);
                        for ci in 0..d.cg {
                            let c = g * d.cg + ci;
                            for kh in 0..kh_n {
                                for kw in 0..kw_n {
                                    let ih = (oh * p.stride[0] + kh * p.dilation[0]) as isize
                                        - p.pads[0] as isize;
                                    let iw = (ow * p.stride[1] + kw * p.dilation[1]) as isize
                                        - p.pads[1] as isize;
                                    let inside = ih >= 0
                                        && iw >= 0
                                        && (ih as usize) < h
                                        && (iw as usize) < wd;
                                    let xv = if inside {
                                        x.data[((b * p.in_channels + c) * h + ih as usize) * wd
                                            + iw as usize]
                                            .to_i32()
                                    } else {
                                        x.zero_point
                                    };
                                    let wt = wv[((oc * d.cg + ci) * kh_n + kh) * kw_n + kw];
                                    acc = acc.wrapping_add(wt.wrapping_mul(xv - x.zero_point));
                                }
                            }
                        }
                        out[((b * p.out_channels + oc) * oh_n + oh) * ow_n + ow] =
                            U::narrow(stage.requantize(acc, oc));
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;

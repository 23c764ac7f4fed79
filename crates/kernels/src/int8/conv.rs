//! Int8 2-D convolution, NCHW.
//!
//! Contract: `x` is `[N, C, H, W]` of `T` with zero point `zx`; `w` is `[OC, C/groups, KH, KW]`
//! symmetric `i8`; `bias` is `[OC]` `i32` (scale `x_scale · w_scale[oc]`, zero point 0); `out` is
//! `[N, OC, OH, OW]` of `U`. For each output
//! `acc = bias[oc] + Σ w[oc][ci][kh][kw] · (x[n][g·C/groups + ci][ih][iw] − zx)` over the taps,
//! where a tap in the padding reads the value `zx` (real 0), then `out = stage.requantize(acc, oc)`.
//! `ih = oh·stride_h + kh·dilation_h − pad_top` (likewise for `iw`);
//! `OH = (H + pad_top + pad_bottom − dilation_h·(KH−1) − 1) / stride_h + 1` (floor).
//!
//! The optimized [`ConvPlan`] runs depthwise convolutions (one input channel per group, several
//! groups, any channel multiplier) as a direct loop over valid tap ranges, and everything else as im2col into
//! the packed layout of [`crate::int8::gemm`] followed by its microkernel.

mod depthwise;

use super::gemm::{run_packed, widen_row, Isa, PackedActs, PackedWeights};
use super::requant::OutputStage;
use super::{check_len, check_zero_point, checked_product, Int8Error, QInput, QuantElem};

/// Geometry of a 2-D convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2dParams {
    /// Batch size N.
    pub batch: usize,
    /// Input channels C.
    pub in_channels: usize,
    /// Input height and width.
    pub in_hw: [usize; 2],
    /// Output channels OC.
    pub out_channels: usize,
    /// Kernel height and width.
    pub kernel: [usize; 2],
    /// Strides (height, width), at least 1.
    pub stride: [usize; 2],
    /// Dilations (height, width), at least 1.
    pub dilation: [usize; 2],
    /// Pads: top, left, bottom, right (ONNX order).
    pub pads: [usize; 4],
    /// Groups; divides both channel counts.
    pub groups: usize,
}

impl std::fmt::Display for Conv2dParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "conv N={} C={} H×W={}×{} OC={} K={}×{} s={:?} d={:?} pads={:?} g={}",
            self.batch,
            self.in_channels,
            self.in_hw[0],
            self.in_hw[1],
            self.out_channels,
            self.kernel[0],
            self.kernel[1],
            self.stride,
            self.dilation,
            self.pads,
            self.groups
        )
    }
}

/// Derived sizes of a valid [`Conv2dParams`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvDims {
    /// Output height and width.
    pub out_hw: [usize; 2],
    /// Input channels per group.
    pub cg: usize,
    /// Output channels per group.
    pub ocg: usize,
    /// Reduction length `cg · KH · KW`.
    pub k: usize,
    /// Elements of `x`, `w` and `out`.
    pub x_len: usize,
    /// Elements of `w`.
    pub w_len: usize,
    /// Elements of `out`.
    pub out_len: usize,
}

/// Output length of one spatial axis, or an error when the dilated kernel exceeds the padded input.
pub(crate) fn out_len(
    input: usize,
    pad: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
) -> Result<usize, Int8Error> {
    if input == 0 {
        return Err(Int8Error::Shape("empty input plane".into()));
    }
    if kernel == 0 || stride == 0 || dilation == 0 {
        return Err(Int8Error::Shape(
            "kernel, stride and dilation must be ≥ 1".into(),
        ));
    }
    let extent = (kernel - 1)
        .checked_mul(dilation)
        .and_then(|e| e.checked_add(1))
        .ok_or(Int8Error::SizeOverflow("kernel extent"))?;
    let padded = input
        .checked_add(pad)
        .ok_or(Int8Error::SizeOverflow("padded input"))?;
    if padded < extent {
        return Err(Int8Error::Shape(format!(
            "kernel extent {extent} exceeds padded input {padded}"
        )));
    }
    Ok((padded - extent) / stride + 1)
}

impl Conv2dParams {
    /// Validates the geometry and derives its sizes.
    pub fn dims(&self) -> Result<ConvDims, Int8Error> {
        let g = self.groups;
        if self.in_channels.checked_rem(g) != Some(0) || self.out_channels.checked_rem(g) != Some(0)
        {
            return Err(Int8Error::Shape(format!(
                "{self}: groups must divide both channel counts"
            )));
        }
        let [pt, pl, pb, pr] = self.pads;
        let oh = out_len(
            self.in_hw[0],
            pt.saturating_add(pb),
            self.kernel[0],
            self.stride[0],
            self.dilation[0],
        )?;
        let ow = out_len(
            self.in_hw[1],
            pl.saturating_add(pr),
            self.kernel[1],
            self.stride[1],
            self.dilation[1],
        )?;
        let cg = self.in_channels / g;
        Ok(ConvDims {
            out_hw: [oh, ow],
            cg,
            ocg: self.out_channels / g,
            k: checked_product("reduction", &[cg, self.kernel[0], self.kernel[1]])?,
            x_len: checked_product(
                "input",
                &[self.batch, self.in_channels, self.in_hw[0], self.in_hw[1]],
            )?,
            w_len: checked_product(
                "weights",
                &[self.out_channels, cg, self.kernel[0], self.kernel[1]],
            )?,
            out_len: checked_product("output", &[self.batch, self.out_channels, oh, ow])?,
        })
    }
}

/// Validates slices against the geometry; returns the derived sizes.
fn validate<T: QuantElem, U: QuantElem>(
    p: &Conv2dParams,
    x: &QInput<'_, T>,
    w_len: usize,
    bias: Option<&[i32]>,
    stage: &OutputStage,
    out: &[U],
) -> Result<ConvDims, Int8Error> {
    let d = p.dims()?;
    check_len("input", x.data.len(), d.x_len)?;
    check_len("weights", w_len, d.w_len)?;
    check_len("output", out.len(), d.out_len)?;
    if let Some(b) = bias {
        check_len("bias", b.len(), p.out_channels)?;
    }
    check_zero_point::<T>("input zero point", x.zero_point)?;
    stage.check_channels(p.out_channels)?;
    Ok(d)
}

/// How a [`ConvPlan`] computes.
#[derive(Debug, Clone, PartialEq)]
enum Kind {
    /// One input channel per group and more than one group: direct loop; weights `[OC, KH·KW]`.
    /// (A single-channel, single-group conv such as a first layer goes to the GEMM: its many
    /// output channels fill the microkernel tile better than a per-channel loop.)
    Depthwise(Vec<i8>),
    /// im2col + GEMM; one packed weight matrix `[OC/groups × K]` per group.
    Gemm(Vec<PackedWeights>),
}

/// A convolution with its weights prepared offline.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvPlan {
    params: Conv2dParams,
    dims: ConvDims,
    kind: Kind,
}

impl ConvPlan {
    /// Validates the geometry and prepares the weights.
    pub fn new(params: Conv2dParams, w: &[i8]) -> Result<Self, Int8Error> {
        let dims = params.dims()?;
        check_len("weights", w.len(), dims.w_len)?;
        let kind = if dims.cg == 1 && params.groups > 1 {
            Kind::Depthwise(w.to_vec())
        } else {
            let per_group = dims.ocg * dims.k;
            Kind::Gemm(
                (0..params.groups)
                    .map(|g| {
                        PackedWeights::new(dims.ocg, dims.k, &w[g * per_group..(g + 1) * per_group])
                    })
                    .collect::<Result<_, _>>()?,
            )
        };
        Ok(Self { params, dims, kind })
    }

    /// The geometry.
    pub fn params(&self) -> &Conv2dParams {
        &self.params
    }

    /// Whether the direct depthwise loop runs.
    pub fn is_depthwise(&self) -> bool {
        matches!(self.kind, Kind::Depthwise(_))
    }

    /// Runs the convolution (contract in the module doc).
    pub fn run<T: QuantElem, U: QuantElem>(
        &self,
        x: QInput<'_, T>,
        bias: Option<&[i32]>,
        stage: &OutputStage,
        out: &mut [U],
    ) -> Result<(), Int8Error> {
        self.run_with(Isa::detect(), x, bias, stage, out)
    }

    pub(crate) fn run_with<T: QuantElem, U: QuantElem>(
        &self,
        isa: Isa,
        x: QInput<'_, T>,
        bias: Option<&[i32]>,
        stage: &OutputStage,
        out: &mut [U],
    ) -> Result<(), Int8Error> {
        let p = &self.params;
        let d = validate(p, &x, self.dims.w_len, bias, stage, out)?;
        match &self.kind {
            Kind::Depthwise(w) => depthwise::run(isa, p, &d, x, w, bias, stage, out),
            Kind::Gemm(packed) => {
                let [oh, ow] = d.out_hw;
                let n = oh * ow;
                let plane = p.in_hw[0] * p.in_hw[1];
                let mut acts = PackedActs::zeros(d.k, n)?;
                let mut rows = vec![0i16; 2 * n];
                for b in 0..p.batch {
                    for (g, pw) in packed.iter().enumerate() {
                        let c0 = b * p.in_channels + g * d.cg;
                        let xg = &x.data[c0 * plane..(c0 + d.cg) * plane];
                        im2col(p, &d, xg, x.zero_point, &mut rows, &mut acts);
                        let oc0 = g * d.ocg;
                        let o0 = (b * p.out_channels + oc0) * n;
                        let bias_g = bias.map(|bv| &bv[oc0..oc0 + d.ocg]);
                        run_packed(
                            isa,
                            pw,
                            &acts,
                            bias_g,
                            stage,
                            oc0,
                            &mut out[o0..o0 + d.ocg * n],
                        );
                    }
                }
            }
        }
        Ok(())
    }
}

/// One-shot optimized convolution: prepares a [`ConvPlan`] and runs it.
pub fn conv2d<T: QuantElem, U: QuantElem>(
    p: &Conv2dParams,
    x: QInput<'_, T>,
    w: &[i8],
    bias: Option<&[i32]>,
    stage: &OutputStage,
    out: &mut [U],
) -> Result<(), Int8Error> {
    ConvPlan::new(*p, w)?.run(x, bias, stage, out)
}

/// Writes one group's im2col matrix `[cg·KH·KW × OH·OW]` (zero point subtracted, padding 0) into
/// `acts`, two rows at a time. `xg` holds the group's `cg` input planes; `rows` is scratch of
/// `2·OH·OW`.
fn im2col<T: QuantElem>(
    p: &Conv2dParams,
    d: &ConvDims,
    xg: &[T],
    zx: i32,
    rows: &mut [i16],
    acts: &mut PackedActs,
) {
    let n = d.out_hw[0] * d.out_hw[1];
    let (r0, r1) = rows.split_at_mut(n);
    for j in 0..d.k.div_ceil(2) {
        im2col_row(p, d, xg, zx, 2 * j, r0);
        if 2 * j + 1 < d.k {
            im2col_row(p, d, xg, zx, 2 * j + 1, r1);
        } else {
            r1.fill(0);
        }
        acts.write_pair(j, r0, r1);
    }
}

/// Row `kk = (ci·KH + kh)·KW + kw` of the im2col matrix.
fn im2col_row<T: QuantElem>(
    p: &Conv2dParams,
    d: &ConvDims,
    xg: &[T],
    zx: i32,
    kk: usize,
    row: &mut [i16],
) {
    let [h, w] = p.in_hw;
    let [oh_n, ow_n] = d.out_hw;
    let [kh_n, kw_n] = p.kernel;
    let (ci, kh, kw) = (kk / (kh_n * kw_n), kk / kw_n % kh_n, kk % kw_n);
    let plane = &xg[ci * h * w..(ci + 1) * h * w];
    if kh_n == 1 && kw_n == 1 && p.stride == [1, 1] && p.pads == [0; 4] {
        widen_row(plane, zx, row);
        return;
    }
    let off_h = (kh * p.dilation[0]) as isize - p.pads[0] as isize;
    let off_w = (kw * p.dilation[1]) as isize - p.pads[1] as isize;
    let rows = super::tap_range(off_h, p.stride[0], h, oh_n);
    let cols = super::tap_range(off_w, p.stride[1], w, ow_n);
    row.fill(0);
    for oh in rows {
        let ih = ((oh * p.stride[0]) as isize + off_h) as usize;
        let src = &plane[ih * w..(ih + 1) * w];
        let dst = &mut row[oh * ow_n..(oh + 1) * ow_n];
        for ow in cols.clone() {
            let iw = ((ow * p.stride[1]) as isize + off_w) as usize;
            dst[ow] = (src[iw].to_i32() - zx) as i16;
        }
    }
}

/// The obviously-correct twin: seven loops with a bounds test per tap.
pub mod reference {
    use super::*;

    /// Scalar convolution with the contract of the module doc.
    pub fn conv2d<T: QuantElem, U: QuantElem>(
        p: &Conv2dParams,
        x: QInput<'_, T>,
        w: &[i8],
        bias: Option<&[i32]>,
        stage: &OutputStage,
        out: &mut [U],
    ) -> Result<(), Int8Error> {
        let d = validate(p, &x, w.len(), bias, stage, out)?;
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
                                    let wv =
                                        i32::from(w[((oc * d.cg + ci) * kh_n + kh) * kw_n + kw]);
                                    acc = acc.wrapping_add(wv.wrapping_mul(xv - x.zero_point));
                                }
                            }
                        }
                        out[((b * p.out_channels + oc) * oh_n + oh) * ow_n + ow] =
                            stage.requantize_to(acc, oc);
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;

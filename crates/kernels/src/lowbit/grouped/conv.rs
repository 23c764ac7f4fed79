//! 2-D convolution (NCHW, one group) with group-wise weight scales: one scale per (output
//! channel, block of `B` consecutive input channels), integer-only.
//!
//! # Contract
//! `x` is `[N, C, H, W]` of `A` with zero point `zx`; the weights are a [`PackedWeights`] of `OC`
//! rows and `C · KH · KW` columns (the ONNX weight `[OC, C, KH, KW]` flattened per output
//! channel); block `g` is the input channels `g·B .. min((g+1)·B, C)` (`G = ⌈C / B⌉`, the last
//! block may be partial, as ONNX's blocked DequantizeLinear allows); `out` is `[N, OC, OH, OW]`
//! of `U`, geometry and output sizes those of [`Conv2dParams`] (whose `groups` must be 1). Per
//! output, with taps in the padding reading `zx`:
//! 1. `acc_g = Σ_{ci ∈ g, kh, kw} w[oc][ci][kh][kw] · (x[n][ci][ih][iw] − zx)`;
//! 2. `s = Σ_g acc_g · m[oc][g] + bias[oc] · m_b[oc]`;
//! 3. `y = clamp(rdiv(s, e[oc]) + zy, qmin, qmax)`,
//!
//! with the multipliers, exponents, bounds and the one rounding of [`super`] (the module doc of
//! the grouped GEMM: this is that GEMM, exactly).
//!
//! # Fast path
//! The im2col of [`crate::lowbit::conv`] writes rows `kk = (ci·KH + kh)·KW + kw`, channel-major,
//! so block `g` is the contiguous run of `B·KH·KW` rows: the convolution is one im2col per image
//! followed by [`GroupedGemm`] with group size `B·KH·KW`. [`reference::conv2d`] is the scalar
//! twin: a direct loop per (output, block), `i64` block sums, `i128` totals, the rounding of
//! [`super::reference`].
use super::{GroupedError, GroupedGemm, GroupedScales};
use crate::int8::conv::{Conv2dParams, ConvDims};
use crate::int8::gemm::Isa;
use crate::int8::{check_len, checked_product, Int8Error, QInput};
use crate::lowbit::conv::{check_weights, im2col_row};
use crate::lowbit::{check_act_zero_point, ActElem, LowBitError, OutElem, PackedWeights};

/// A group-wise convolution ready to run.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupedConv {
    params: Conv2dParams,
    dims: ConvDims,
    /// Input channels per block.
    block: usize,
    /// The grouped GEMM over the im2col rows (group size `block · KH · KW`).
    gemm: GroupedGemm,
}

impl GroupedConv {
    /// Checks the geometry against the weights and derives the stage for activations of `A`
    /// (arguments as [`GroupedGemm::new`], `scales.w` being `[OC × ⌈C / block⌉]`).
    pub fn new<A: ActElem>(
        params: Conv2dParams,
        weights: PackedWeights,
        block: usize,
        bias: Option<&[i32]>,
        scales: GroupedScales<'_>,
        zero_point: i32,
        clamp: (i32, i32),
    ) -> Result<Self, GroupedError> {
        if params.groups != 1 {
            return Err(Int8Error::Shape(format!(
                "{params}: a group-wise convolution has one group"
            ))
            .into());
        }
        if block == 0 {
            return Err(GroupedError::ZeroGroupSize);
        }
        let dims = check_weights(&params, &weights)?;
        let taps = checked_product("block", &[params.kernel[0], params.kernel[1]])?;
        let gs = checked_product("block", &[block.min(params.in_channels.max(1)), taps])?;
        let gemm = GroupedGemm::new::<A>(weights, gs, bias, scales, zero_point, clamp)?;
        Ok(Self {
            params,
            dims,
            block,
            gemm,
        })
    }

    /// The geometry.
    pub fn params(&self) -> &Conv2dParams {
        &self.params
    }

    /// Input channels per block.
    pub fn block(&self) -> usize {
        self.block
    }

    /// The grouped GEMM behind the im2col.
    pub fn gemm(&self) -> &GroupedGemm {
        &self.gemm
    }

    fn validate<A: ActElem, U: OutElem>(
        &self,
        x: &QInput<'_, A>,
        out: &[U],
    ) -> Result<(), LowBitError> {
        check_len("input", x.data.len(), self.dims.x_len)?;
        check_len("output", out.len(), self.dims.out_len)?;
        check_act_zero_point::<A>(x.zero_point)?;
        Ok(())
    }

    /// Runs the convolution (contract in the module doc).
    pub fn run<A: ActElem, U: OutElem>(
        &self,
        x: QInput<'_, A>,
        out: &mut [U],
    ) -> Result<(), LowBitError> {
        self.run_with(Isa::detect(), x, out)
    }

    pub(crate) fn run_with<A: ActElem, U: OutElem>(
        &self,
        isa: Isa,
        x: QInput<'_, A>,
        out: &mut [U],
    ) -> Result<(), LowBitError> {
        self.validate(&x, out)?;
        let (p, d) = (&self.params, &self.dims);
        let n = d.out_hw[0] * d.out_hw[1];
        let image = p.in_channels * p.in_hw[0] * p.in_hw[1];
        let per_out = p.out_channels * n;
        let pointwise = p.kernel == [1, 1] && p.stride == [1, 1] && p.pads == [0; 4];
        let mut cols = if pointwise {
            Vec::new()
        } else {
            vec![A::default(); checked_product("im2col", &[d.k, n])?]
        };
        let pad = A::from_checked(x.zero_point);
        for b in 0..p.batch {
            let xb = &x.data[b * image..(b + 1) * image];
            if !pointwise {
                for (kk, row) in cols.chunks_exact_mut(n.max(1)).enumerate() {
                    im2col_row(p, d, xb, pad, kk, row, |v| v);
                }
            }
            let src = if pointwise { xb } else { &cols };
            let dst = &mut out[b * per_out..(b + 1) * per_out];
            self.gemm.run_with(isa, n, src, x.zero_point, dst)?;
        }
        Ok(())
    }
}

/// The obviously-correct twin: decoded weights, a direct loop per (output, block).
pub mod reference {
    use super::*;
    use crate::lowbit::grouped::reference::round_div;

    /// Scalar convolution with the contract of the module doc.
    pub fn conv2d<A: ActElem, U: OutElem>(
        layer: &GroupedConv,
        x: QInput<'_, A>,
        out: &mut [U],
    ) -> Result<(), LowBitError> {
        layer.validate(&x, out)?;
        let (p, d, g) = (&layer.params, &layer.dims, &layer.gemm);
        let w: Vec<i64> = g.weights.unpack().into_iter().map(i64::from).collect();
        let ([h, wd], [oh_n, ow_n], [kh_n, kw_n]) = (p.in_hw, d.out_hw, p.kernel);
        let (c, bs, st) = (p.in_channels, layer.block, &g.stage);
        let tap = |b: usize, ci: usize, oh: usize, ow: usize, kh: usize, kw: usize| -> i64 {
            let ih = (oh * p.stride[0] + kh * p.dilation[0]) as isize - p.pads[0] as isize;
            let iw = (ow * p.stride[1] + kw * p.dilation[1]) as isize - p.pads[1] as isize;
            let inside = ih >= 0 && iw >= 0 && (ih as usize) < h && (iw as usize) < wd;
            let v = if inside {
                x.data[((b * c + ci) * h + ih as usize) * wd + iw as usize].to_i32()
            } else {
                x.zero_point
            };
            i64::from(v - x.zero_point)
        };
        for b in 0..p.batch {
            for oc in 0..p.out_channels {
                let mult = st.row_multipliers(oc);
                let (mb, e) = st.row_bias_and_exponent(oc);
                for oh in 0..oh_n {
                    for ow in 0..ow_n {
                        let mut s = i128::from(g.bias[oc]) * i128::from(mb);
                        for (blk, &mg) in mult.iter().enumerate() {
                            let mut acc = 0i64;
                            for ci in blk * bs..((blk + 1) * bs).min(c) {
                                for kh in 0..kh_n {
                                    for kw in 0..kw_n {
                                        let wt = w[((oc * c + ci) * kh_n + kh) * kw_n + kw];
                                        acc += wt * tap(b, ci, oh, ow, kh, kw);
                                    }
                                }
                            }
                            s += i128::from(acc) * i128::from(mg);
                        }
                        let y = round_div(s, e) + i128::from(st.zero_point);
                        let y = y.clamp(st.qmin.into(), st.qmax.into());
                        out[((b * p.out_channels + oc) * oh_n + oh) * ow_n + ow] =
                            U::narrow(y as i32);
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;

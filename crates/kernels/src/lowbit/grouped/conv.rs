//! 2-D convolution (NCHW, one group) with group-wise weight scales as ONNX's blocked
//! DequantizeLinear states them: one scale per (output channel, block of `B` consecutive input
//! channels, kernel tap), integer-only.
//!
//! # Contract
//! `x` is `[N, C, H, W]` of `A` with zero point `zx`; the weights are a [`PackedWeights`] of `OC`
//! rows and `C · KH · KW` columns (the ONNX weight `[OC, C, KH, KW]` flattened per output
//! channel); the weight scales are `[OC, G, KH, KW]` row-major (the blocked DequantizeLinear's
//! scale tensor, axis 1), block `g` being the input channels `g·B .. min((g+1)·B, C)`
//! (`G = ⌈C / B⌉`; the last block may be partial, as ONNX allows); `out` is `[N, OC, OH, OW]` of
//! `U`, geometry and output sizes those of [`Conv2dParams`] (whose `groups` must be 1). Per output,
//! with taps in the padding reading `zx`, for every block `g` and tap `t = (kh, kw)`:
//! 1. `acc_{g,t} = Σ_{ci ∈ g} w[oc][ci][kh][kw] · (x[n][ci][ih][iw] − zx)`;
//! 2. `s = Σ_{g,t} acc_{g,t} · m[oc][g][t] + bias[oc] · m_b[oc]`;
//! 3. `y = clamp(rdiv(s, e[oc]) + zy, qmin, qmax)`,
//!
//! with the multipliers, exponents, bounds and the one rounding of [`super`] (the module doc of
//! the grouped GEMM: this is that GEMM, exactly, with one group per (tap, block)).
//!
//! # Fast path
//! The reduction is reordered tap-major, `r = t · C' + ci` with `C' = G·B` (the im2col rows of
//! the padding channels `C..C'` are the zero point, so they add 0 whatever their weight: 0, or 1
//! for binary weights, which then count in the accumulator bound of [`super`]), so (tap, block) is the
//! contiguous run of `B` rows `t·C' + g·B ..`: the convolution is one im2col per image (rows from
//! [`crate::lowbit::conv`]'s im2col, permuted) followed by [`GroupedGemm`] with group size `B`
//! and group `t·G + g`. [`reference::conv2d`] is the scalar twin: a direct loop per (output, block,
//! tap), `i64` sums, `i128` totals, the rounding of [`super::reference`].
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
    /// The weights as given (for the reference).
    weights: PackedWeights,
    /// Input channels rounded up to whole blocks (`C'`).
    padded: usize,
    /// The grouped GEMM over the tap-major im2col rows (group size `block`).
    gemm: GroupedGemm,
}

impl GroupedConv {
    /// Checks the geometry against the weights and derives the stage for activations of `A`
    /// (arguments as [`GroupedGemm::new`], `scales.w` being `[OC × G × KH × KW]`).
    pub fn new<A: ActElem>(
        params: Conv2dParams,
        weights: PackedWeights,
        block: usize,
        bias: Option<&[i32]>,
        scales: GroupedScales<'_>,
        zero_point: i32,
        clamp: (i32, i32),
    ) -> Result<Self, GroupedError> {
        if params.groups != 1 || params.in_channels == 0 {
            return Err(Int8Error::Shape(format!(
                "{params}: a group-wise convolution has one group and input channels"
            ))
            .into());
        }
        if block == 0 {
            return Err(GroupedError::ZeroGroupSize);
        }
        let dims = check_weights(&params, &weights)?;
        let (c, oc) = (params.in_channels, params.out_channels);
        let g = c.div_ceil(block);
        let taps = checked_product("kernel", &[params.kernel[0], params.kernel[1]])?;
        let padded = checked_product("padded channels", &[g, block])?;
        let k = checked_product("reduction", &[taps, padded])?;
        check_len(
            "weight scales",
            scales.w.len(),
            checked_product("weight scales", &[oc, g, taps])?,
        )?;
        let all = weights.unpack();
        // Padding channels read the zero point, so any weight adds 0; binary has no 0.
        let filler = i8::from(!weights.format().contains(0));
        let mut w = vec![filler; checked_product("weights", &[oc, k])?];
        let mut ws = vec![0f32; scales.w.len()];
        for o in 0..oc {
            for t in 0..taps {
                for ci in 0..c {
                    w[o * k + t * padded + ci] = all[(o * c + ci) * taps + t];
                }
                for b in 0..g {
                    ws[(o * taps + t) * g + b] = scales.w[(o * g + b) * taps + t];
                }
            }
        }
        let w = PackedWeights::pack(weights.format(), oc, k, &w)?;
        let scales = GroupedScales { w: &ws, ..scales };
        let gemm = GroupedGemm::new::<A>(w, block, bias, scales, zero_point, clamp)?;
        Ok(Self {
            params,
            dims,
            block,
            weights,
            padded,
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

    /// The weights `[OC × C·KH·KW]`, channel-major as given.
    pub fn weights(&self) -> &PackedWeights {
        &self.weights
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
        let taps = p.kernel[0] * p.kernel[1];
        let direct =
            taps == 1 && p.stride == [1, 1] && p.pads == [0; 4] && self.padded == p.in_channels;
        let mut cols = if direct {
            Vec::new()
        } else {
            vec![A::default(); checked_product("im2col", &[taps, self.padded, n])?]
        };
        let pad = A::from_checked(x.zero_point);
        for b in 0..p.batch {
            let xb = &x.data[b * image..(b + 1) * image];
            if !direct {
                for (r, row) in cols.chunks_exact_mut(n.max(1)).enumerate() {
                    let (t, ci) = (r / self.padded, r % self.padded);
                    if ci < p.in_channels {
                        im2col_row(p, d, xb, pad, ci * taps + t, row, |v| v);
                    } else {
                        row.fill(pad);
                    }
                }
            }
            let src = if direct { xb } else { &cols };
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
        let w: Vec<i64> = layer.weights.unpack().into_iter().map(i64::from).collect();
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
        let blocks = c.div_ceil(bs);
        for b in 0..p.batch {
            for oc in 0..p.out_channels {
                // The stage's multipliers of row `oc`, in the GEMM's group order `t·G + g`.
                let mult = st.row_multipliers(oc);
                let (mb, e) = st.row_bias_and_exponent(oc);
                for oh in 0..oh_n {
                    for ow in 0..ow_n {
                        let mut s = i128::from(g.bias[oc]) * i128::from(mb);
                        for blk in 0..blocks {
                            for kh in 0..kh_n {
                                for kw in 0..kw_n {
                                    let t = kh * kw_n + kw;
                                    let mut acc = 0i64;
                                    for ci in blk * bs..((blk + 1) * bs).min(c) {
                                        let wt = w[((oc * c + ci) * kh_n + kh) * kw_n + kw];
                                        acc += wt * tap(b, ci, oh, ow, kh, kw);
                                    }
                                    s += i128::from(acc) * i128::from(mult[t * blocks + blk]);
                                }
                            }
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

//! Direct depthwise convolution (one input channel per group).
//!
//! * Stride 1 (the common case), when the padded plane is at most a few times the input: the
//!   channel is copied once into a zero-padded `i16` plane (zero point subtracted) of row pitch
//!   `Wp`; each tap is then one long `acc[j] += w · P[off + j]` over the flattened output rows
//!   (columns past `OW` in each row are computed and discarded), and the whole block is
//!   requantized at once. Long contiguous loops vectorize even for narrow planes (KWS: 5 wide).
//! * Otherwise, per output row, each tap adds over the contiguous range of output columns whose
//!   input column is in bounds, so padding costs nothing and the loop has no branches.

use super::{Conv2dParams, ConvDims};
use crate::int8::gemm::Isa;
use crate::int8::requant::OutputStage;
use crate::int8::{tap_range, QInput, QuantElem};

/// Runs a validated depthwise convolution; `w` is `[OC, KH·KW]`.
#[allow(clippy::too_many_arguments)]
pub(super) fn run<T: QuantElem, U: QuantElem>(
    isa: Isa,
    p: &Conv2dParams,
    d: &ConvDims,
    x: QInput<'_, T>,
    w: &[i8],
    bias: Option<&[i32]>,
    stage: &OutputStage,
    out: &mut [U],
) {
    let [h, wd] = p.in_hw;
    let padded = (h + p.pads[0] + p.pads[2]).saturating_mul(wd + p.pads[1] + p.pads[3]);
    if p.stride == [1, 1] && padded <= 4 * h * wd + 256 {
        run_flat(isa, p, d, x, w, bias, stage, out);
    } else {
        run_rows(p, d, x, w, bias, stage, out);
    }
}

/// The stride-1 flattened-plane path (see the module doc).
#[allow(clippy::too_many_arguments)]
fn run_flat<T: QuantElem, U: QuantElem>(
    isa: Isa,
    p: &Conv2dParams,
    d: &ConvDims,
    x: QInput<'_, T>,
    w: &[i8],
    bias: Option<&[i32]>,
    stage: &OutputStage,
    out: &mut [U],
) {
    let [h, wd] = p.in_hw;
    let [oh_n, ow_n] = d.out_hw;
    let (hp, wp) = (h + p.pads[0] + p.pads[2], wd + p.pads[1] + p.pads[3]);
    let taps = p.kernel[0] * p.kernel[1];
    let len = (oh_n - 1) * wp + ow_n;
    let mut plane = vec![0i16; hp * wp];
    let mut acc = vec![0i32; len];
    let mut block = vec![U::default(); len];
    for b in 0..p.batch {
        for c in 0..p.in_channels {
            let src = &x.data[(b * p.in_channels + c) * h * wd..][..h * wd];
            for (r, src_row) in src.chunks_exact(wd).enumerate() {
                let dst = &mut plane[(r + p.pads[0]) * wp + p.pads[1]..][..wd];
                for (o, &v) in dst.iter_mut().zip(src_row) {
                    *o = (v.to_i32() - x.zero_point) as i16;
                }
            }
            for oc in c * d.ocg..(c + 1) * d.ocg {
                let wc = &w[oc * taps..(oc + 1) * taps];
                acc.fill(0);
                for kh in 0..p.kernel[0] {
                    for kw in 0..p.kernel[1] {
                        let off = kh * p.dilation[0] * wp + kw * p.dilation[1];
                        axpy(
                            isa,
                            &mut acc,
                            i32::from(wc[kh * p.kernel[1] + kw]),
                            &plane[off..off + len],
                        );
                    }
                }
                stage.requantize_row(&acc, bias.map_or(0, |bv| bv[oc]), oc, &mut block);
                let dst = &mut out[(b * p.out_channels + oc) * oh_n * ow_n..][..oh_n * ow_n];
                for (oh, row) in dst.chunks_exact_mut(ow_n).enumerate() {
                    row.copy_from_slice(&block[oh * wp..oh * wp + ow_n]);
                }
            }
        }
    }
}

/// `acc[j] += w · src[j]` (wrapping), compiled for the best available ISA.
#[inline]
fn axpy(isa: Isa, acc: &mut [i32], w: i32, src: &[i16]) {
    match isa {
        Isa::Scalar => axpy_body(acc, w, src),
        // SAFETY: `Isa::Avx2` is only produced after runtime detection.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { axpy_avx2(acc, w, src) },
    }
}

#[inline(always)]
fn axpy_body(acc: &mut [i32], w: i32, src: &[i16]) {
    for (a, &v) in acc.iter_mut().zip(src) {
        *a = a.wrapping_add(w.wrapping_mul(i32::from(v)));
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn axpy_avx2(acc: &mut [i32], w: i32, src: &[i16]) {
    axpy_body(acc, w, src)
}

/// The per-row path for strided or heavily padded convolutions.
fn run_rows<T: QuantElem, U: QuantElem>(
    p: &Conv2dParams,
    d: &ConvDims,
    x: QInput<'_, T>,
    w: &[i8],
    bias: Option<&[i32]>,
    stage: &OutputStage,
    out: &mut [U],
) {
    let [h, wd] = p.in_hw;
    let [oh_n, ow_n] = d.out_hw;
    let taps = p.kernel[0] * p.kernel[1];
    let mut plane = vec![0i16; h * wd];
    let mut acc = vec![0i32; ow_n];
    for b in 0..p.batch {
        for c in 0..p.in_channels {
            let src = &x.data[(b * p.in_channels + c) * h * wd..][..h * wd];
            for (dst, &v) in plane.iter_mut().zip(src) {
                *dst = (v.to_i32() - x.zero_point) as i16;
            }
            for oc in c * d.ocg..(c + 1) * d.ocg {
                let wc = &w[oc * taps..(oc + 1) * taps];
                let dst = &mut out[(b * p.out_channels + oc) * oh_n * ow_n..][..oh_n * ow_n];
                for (oh, out_row) in dst.chunks_exact_mut(ow_n.max(1)).enumerate().take(oh_n) {
                    acc.fill(0);
                    accumulate_row(p, &plane, wc, oh, &mut acc);
                    stage.requantize_row(&acc, bias.map_or(0, |bv| bv[oc]), oc, out_row);
                }
            }
        }
    }
}

/// Adds every tap of output row `oh` into `acc` (`[OW]`).
fn accumulate_row(p: &Conv2dParams, plane: &[i16], wc: &[i8], oh: usize, acc: &mut [i32]) {
    let [h, wd] = p.in_hw;
    let [kh_n, kw_n] = p.kernel;
    let (sw, ow_n) = (p.stride[1], acc.len());
    for kh in 0..kh_n {
        let ih = (oh * p.stride[0] + kh * p.dilation[0]) as isize - p.pads[0] as isize;
        if ih < 0 || ih as usize >= h {
            continue;
        }
        let row = &plane[ih as usize * wd..(ih as usize + 1) * wd];
        for kw in 0..kw_n {
            let wv = i32::from(wc[kh * kw_n + kw]);
            let off = (kw * p.dilation[1]) as isize - p.pads[1] as isize;
            let r = tap_range(off, sw, wd, ow_n);
            if r.is_empty() {
                continue;
            }
            let first = (r.start * sw) as isize + off;
            let src = &row[first as usize..];
            let dst = &mut acc[r.clone()];
            if sw == 1 {
                for (a, &v) in dst.iter_mut().zip(src) {
                    *a = a.wrapping_add(wv * i32::from(v));
                }
            } else {
                for (a, &v) in dst.iter_mut().zip(src.iter().step_by(sw)) {
                    *a = a.wrapping_add(wv * i32::from(v));
                }
            }
        }
    }
}

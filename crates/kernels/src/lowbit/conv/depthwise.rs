//! Direct depthwise convolution (one input channel per group) with packed weights.
//!
//! Each channel is widened once to `i32` with the zero point subtracted; each output channel's
//! `KH·KW` taps are decoded from its packed row. Then, as in the int8 depthwise kernel:
//! * stride 1, when the padded plane is at most a few times the input: the channel is copied into
//!   a zero-padded plane of row pitch `Wp`, each tap is one long `acc[j] += w · P[off + j]` over the
//!   flattened output rows (columns past `OW` are computed and discarded);
//! * otherwise, per output row, each tap adds over the contiguous range of output columns whose
//!   input is in bounds (padding adds nothing and is never allocated).

use crate::int8::conv::{Conv2dParams, ConvDims};
use crate::int8::gemm::Isa;
use crate::int8::requant::OutputStage;
use crate::int8::{tap_range, QInput};
use crate::lowbit::{ActElem, OutElem, PackedWeights};

/// Runs a validated depthwise convolution.
#[allow(clippy::too_many_arguments)]
pub(super) fn run<A: ActElem, U: OutElem>(
    isa: Isa,
    p: &Conv2dParams,
    d: &ConvDims,
    x: QInput<'_, A>,
    w: &PackedWeights,
    bias: Option<&[i32]>,
    stage: &OutputStage,
    out: &mut [U],
) {
    let [h, wd] = p.in_hw;
    let [oh_n, ow_n] = d.out_hw;
    let (hp, wp) = (h + p.pads[0] + p.pads[2], wd + p.pads[1] + p.pads[3]);
    let flat = p.stride == [1, 1] && hp.saturating_mul(wp) <= 4 * h * wd + 256;
    let (ph, pw) = if flat { (hp, wp) } else { (h, wd) };
    let (pt, pl) = if flat { (p.pads[0], p.pads[1]) } else { (0, 0) };
    let len = if flat { (oh_n - 1) * wp + ow_n } else { ow_n };
    let mut plane = vec![0i32; ph * pw];
    let mut taps = vec![0i8; d.k];
    let mut acc = vec![0i32; len];
    let mut block = vec![U::default(); len];
    for b in 0..p.batch {
        for c in 0..p.in_channels {
            let src = &x.data[(b * p.in_channels + c) * h * wd..][..h * wd];
            for (r, src_row) in src.chunks_exact(wd).enumerate() {
                let dst = &mut plane[(r + pt) * pw + pl..][..wd];
                for (o, &v) in dst.iter_mut().zip(src_row) {
                    *o = v.to_i32() - x.zero_point;
                }
            }
            for oc in c * d.ocg..(c + 1) * d.ocg {
                w.unpack_row_into(oc, &mut taps);
                let bias_v = bias.map_or(0, |bv| bv[oc]);
                let dst = &mut out[(b * p.out_channels + oc) * oh_n * ow_n..][..oh_n * ow_n];
                if flat {
                    acc.fill(0);
                    for kh in 0..p.kernel[0] {
                        for kw in 0..p.kernel[1] {
                            let off = kh * p.dilation[0] * wp + kw * p.dilation[1];
                            let wv = i32::from(taps[kh * p.kernel[1] + kw]);
                            axpy(isa, &mut acc, wv, &plane[off..off + len]);
                        }
                    }
                    U::requantize_row(stage, &acc, bias_v, oc, &mut block);
                    for (oh, row) in dst.chunks_exact_mut(ow_n).enumerate() {
                        row.copy_from_slice(&block[oh * wp..oh * wp + ow_n]);
                    }
                } else {
                    for (oh, out_row) in dst.chunks_exact_mut(ow_n.max(1)).enumerate().take(oh_n) {
                        acc.fill(0);
                        accumulate_row(p, &plane, &taps, oh, &mut acc);
                        U::requantize_row(stage, &acc, bias_v, oc, out_row);
                    }
                }
            }
        }
    }
}

/// `acc[j] += w · src[j]` (wrapping), compiled for the best available ISA.
#[inline]
fn axpy(isa: Isa, acc: &mut [i32], w: i32, src: &[i32]) {
    match isa {
        Isa::Scalar => axpy_body(acc, w, src),
        // SAFETY: `Isa::Avx2` is only produced after runtime detection.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { axpy_avx2(acc, w, src) },
    }
}

#[inline(always)]
fn axpy_body(acc: &mut [i32], w: i32, src: &[i32]) {
    for (a, &v) in acc.iter_mut().zip(src) {
        *a = a.wrapping_add(w.wrapping_mul(v));
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn axpy_avx2(acc: &mut [i32], w: i32, src: &[i32]) {
    axpy_body(acc, w, src)
}

/// Adds every tap of output row `oh` into `acc` (`[OW]`) from the unpadded plane.
fn accumulate_row(p: &Conv2dParams, plane: &[i32], taps: &[i8], oh: usize, acc: &mut [i32]) {
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
            let wv = i32::from(taps[kh * kw_n + kw]);
            let off = (kw * p.dilation[1]) as isize - p.pads[1] as isize;
            let r = tap_range(off, sw, wd, ow_n);
            if r.is_empty() {
                continue;
            }
            let first = ((r.start * sw) as isize + off) as usize;
            for (a, &v) in acc[r].iter_mut().zip(row[first..].iter().step_by(sw)) {
                *a = a.wrapping_add(wv.wrapping_mul(v));
            }
        }
    }
}

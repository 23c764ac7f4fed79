//! Direct depthwise convolution (one input channel per group): per output row, each tap adds
//! `w · (x − zx)` over the contiguous range of output columns whose input column is in bounds, so
//! padding costs nothing and the inner loop has no branches.

use super::{Conv2dParams, ConvDims};
use crate::int8::requant::OutputStage;
use crate::int8::{tap_range, QInput, QuantElem};

/// Runs a validated depthwise convolution; `w` is `[OC, KH·KW]`.
pub(super) fn run<T: QuantElem, U: QuantElem>(
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

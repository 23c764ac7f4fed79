//! Fast convolution. 1-D and 2-D problems run here (1-D as 2-D with a unit height); other ranks
//! and problems whose scratch would exceed [`MAX_SCRATCH`] use [`reference::conv`].
//!
//! * depthwise (one input channel per group, several groups): direct loops. With unit strides
//!   (and an output no wider than the input) each tap is one multiply-add over a whole plane,
//!   held in registers 32 outputs at a time (AVX2 when the CPU has it); otherwise a loop over a
//!   zero-padded copy of each plane. Sums run in the reference's order: results are identical.
//! * everything else: per image and group, `y = W · cols` through [`gemm`], where `cols` is the
//!   im2col matrix `[cig·kh·kw, ho·wo]` (the input itself for unit, unpadded 1×1 kernels).
use super::gemm::{gemm, Mat};
use super::geometry::ConvGeometry;
use super::{reference, NnError};

/// Largest scratch buffer (in elements) a fast path allocates.
const MAX_SCRATCH: usize = 1 << 24;

/// ONNX `Conv` on f32: same contract as [`reference::conv`].
pub fn conv(
    g: &ConvGeometry,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
) -> Result<(), NnError> {
    let out = g.check_buffers(x.len(), w.len(), bias.map(<[f32]>::len), y.len())?;
    match out.len() {
        1 => conv2d(&lift_1d(g), [1, out[0]], x, w, bias, y),
        2 => conv2d(g, [out[0], out[1]], x, w, bias, y),
        _ => reference::conv(g, x, w, bias, y),
    }
}

/// The 1-D geometry as a 2-D one of unit height (same memory layout).
fn lift_1d(g: &ConvGeometry) -> ConvGeometry {
    let lift = |v: &[usize], unit: usize| [&[unit][..], v].concat();
    ConvGeometry {
        input: lift(&g.input, 1),
        kernel: lift(&g.kernel, 1),
        strides: lift(&g.strides, 1),
        dilations: lift(&g.dilations, 1),
        pads_begin: lift(&g.pads_begin, 0),
        pads_end: lift(&g.pads_end, 0),
        ..g.clone()
    }
}

/// A checked 2-D geometry flattened into plain numbers.
struct Dims {
    h: usize,
    w: usize,
    kh: usize,
    kw: usize,
    sh: usize,
    sw: usize,
    dh: usize,
    dw: usize,
    pt: usize,
    pl: usize,
    ho: usize,
    wo: usize,
}

fn conv2d(
    g: &ConvGeometry,
    out: [usize; 2],
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
) -> Result<(), NnError> {
    let d = Dims {
        h: g.input[0],
        w: g.input[1],
        kh: g.kernel[0],
        kw: g.kernel[1],
        sh: g.strides[0],
        sw: g.strides[1],
        dh: g.dilations[0],
        dw: g.dilations[1],
        pt: g.pads_begin[0],
        pl: g.pads_begin[1],
        ho: out[0],
        wo: out[1],
    };
    let cig = g.in_channels / g.group;
    if cig == 1 && g.group > 1 {
        let hreq = (d.ho - 1) * d.sh + (d.kh - 1) * d.dh + 1;
        let wreq = (d.wo - 1) * d.sw + (d.kw - 1) * d.dw + 1;
        if hreq.saturating_mul(wreq) <= MAX_SCRATCH {
            depthwise(g, &d, [hreq, wreq], x, w, bias, y);
            return Ok(());
        }
    } else if cig.saturating_mul(d.kh * d.kw).saturating_mul(d.ho * d.wo) <= MAX_SCRATCH {
        return im2col_gemm(g, &d, x, w, bias, y);
    }
    reference::conv(g, x, w, bias, y)
}

fn im2col_gemm(
    g: &ConvGeometry,
    d: &Dims,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
) -> Result<(), NnError> {
    let cig = g.in_channels / g.group;
    let cog = g.out_channels / g.group;
    let in_plane = d.h * d.w;
    let out_plane = d.ho * d.wo;
    let kdim = cig * d.kh * d.kw;
    let direct = d.kh == 1
        && d.kw == 1
        && d.sh == 1
        && d.sw == 1
        && g.pads_begin.iter().chain(&g.pads_end).all(|&p| p == 0);
    let mut cols = if direct {
        Vec::new()
    } else {
        vec![0.0f32; kdim * out_plane]
    };
    for n in 0..g.batch {
        for grp in 0..g.group {
            let xg = &x[(n * g.in_channels + grp * cig) * in_plane..][..cig * in_plane];
            let rhs: &[f32] = if direct {
                xg
            } else {
                im2col(d, cig, xg, &mut cols);
                &cols
            };
            let yg = &mut y[(n * g.out_channels + grp * cog) * out_plane..][..cog * out_plane];
            let beta = match bias {
                Some(b) => {
                    for (row, &bv) in yg.chunks_exact_mut(out_plane).zip(&b[grp * cog..]) {
                        row.fill(bv);
                    }
                    1.0
                }
                None => 0.0,
            };
            let wg = &w[grp * cog * kdim..][..cog * kdim];
            gemm(
                1.0,
                Mat::row_major(wg, cog, kdim)?,
                Mat::row_major(rhs, kdim, out_plane)?,
                beta,
                yg,
            )?;
        }
    }
    Ok(())
}

/// Fills `cols [cig·kh·kw, ho·wo]`: row `(ic, ky, kx)`, column `(oy, ox)` holds the input at
/// `(oy·sh + ky·dh − pt, ox·sw + kx·dw − pl)`. Entries falling in the padding are not written:
/// they depend only on the geometry, so the caller zeroes `cols` once for all images.
fn im2col(d: &Dims, cig: usize, xg: &[f32], cols: &mut [f32]) {
    let in_plane = d.h * d.w;
    let out_plane = d.ho * d.wo;
    let mut rows = cols.chunks_exact_mut(out_plane);
    for ic in 0..cig {
        let plane = &xg[ic * in_plane..][..in_plane];
        for ky in 0..d.kh {
            for kx in 0..d.kw {
                let Some(dst) = rows.next() else { return };
                let (lo, hi) = valid_range(d.wo, d.sw, kx * d.dw, d.pl, d.w);
                for (oy, drow) in dst.chunks_exact_mut(d.wo).enumerate() {
                    let iy = oy * d.sh + ky * d.dh;
                    if iy < d.pt || iy - d.pt >= d.h || hi == lo {
                        continue;
                    }
                    let src = &plane[(iy - d.pt) * d.w..][..d.w];
                    let start = lo * d.sw + kx * d.dw - d.pl;
                    if d.sw == 1 {
                        drow[lo..hi].copy_from_slice(&src[start..start + hi - lo]);
                    } else {
                        for (v, s) in drow[lo..hi]
                            .iter_mut()
                            .zip(src[start..].iter().step_by(d.sw))
                        {
                            *v = *s;
                        }
                    }
                }
            }
        }
    }
}

/// The range `lo..hi` of output indices `o < n_out` whose input position
/// `o·stride + offset − pad` lies in `0..n_in`.
fn valid_range(
    n_out: usize,
    stride: usize,
    offset: usize,
    pad: usize,
    n_in: usize,
) -> (usize, usize) {
    let lo = if pad > offset {
        (pad - offset).div_ceil(stride)
    } else {
        0
    };
    let hi = if n_in + pad > offset {
        (n_in + pad - offset).div_ceil(stride)
    } else {
        0
    };
    let lo = lo.min(n_out);
    (lo, hi.clamp(lo, n_out))
}

/// Depthwise convolution (`cig == 1`): each output channel `oc` filters input channel
/// `oc / cog` alone. `req` is the padded-plane extent the windows read. Unit strides with no
/// more horizontal padding than the kernel's reach (the output no wider than the input) take
/// [`depthwise_rows`] when its masks fit [`MAX_SCRATCH`]; the rest a direct loop over a
/// zero-padded copy of each plane.
fn depthwise(
    g: &ConvGeometry,
    d: &Dims,
    req: [usize; 2],
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
) {
    let masks_len = d.kw.saturating_mul((d.ho * d.w).next_multiple_of(8));
    if d.sh == 1 && d.sw == 1 && d.wo <= d.w && masks_len <= MAX_SCRATCH {
        return depthwise_rows(g, d, x, w, bias, y);
    }
    let [hreq, wreq] = req;
    let cog = g.out_channels / g.group;
    let in_plane = d.h * d.w;
    let out_plane = d.ho * d.wo;
    let taps = d.kh * d.kw;
    let mut padded = vec![0.0f32; hreq * wreq];
    let mut acc = vec![0.0f32; d.wo];
    for n in 0..g.batch {
        for c in 0..g.in_channels {
            let plane = &x[(n * g.in_channels + c) * in_plane..][..in_plane];
            pad_plane(d, plane, wreq, &mut padded);
            for m in 0..cog {
                let oc = c * cog + m;
                let filter = &w[oc * taps..][..taps];
                let b = bias.map_or(0.0, |b| b[oc]);
                let yp = &mut y[(n * g.out_channels + oc) * out_plane..][..out_plane];
                for (oy, yrow) in yp.chunks_exact_mut(d.wo).enumerate() {
                    acc.fill(0.0);
                    for ky in 0..d.kh {
                        let row = &padded[(oy * d.sh + ky * d.dh) * wreq..][..wreq];
                        for kx in 0..d.kw {
                            let wk = filter[ky * d.kw + kx];
                            let src = row[kx * d.dw..].iter().step_by(d.sw);
                            for (a, &v) in acc.iter_mut().zip(src) {
                                *a += wk * v;
                            }
                        }
                    }
                    for (v, a) in yrow.iter_mut().zip(&acc) {
                        *v = a + b;
                    }
                }
            }
        }
    }
}

/// Unit-stride depthwise convolution whose output is no wider than its input (`wo <= w`), on
/// whole planes at once. Each input plane is copied in one piece into a buffer padded with zero
/// rows only (and `pl` leading zeros); flat output `i = oy·w + ox` (every column of the input
/// width, the first `wo` kept) reads tap `(ky, kx)` at `buf[i + ky·dh·w + kx·dw]`. A tap whose
/// column falls outside the row would read the neighbouring row instead: a per-column bit mask
/// zeroes its product, so each output is the reference's sum exactly (0 added for padding taps,
/// even next to infinities), in the same order.
fn depthwise_rows(
    g: &ConvGeometry,
    d: &Dims,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
) {
    let cog = g.out_channels / g.group;
    let in_plane = d.h * d.w;
    let out_plane = d.ho * d.wo;
    let taps = d.kh * d.kw;
    // Flat outputs, rounded up to whole 8-wide blocks.
    let len = (d.ho * d.w).next_multiple_of(8);
    let offsets: Vec<usize> = (0..taps)
        .map(|t| (t / d.kw) * d.dh * d.w + (t % d.kw) * d.dw)
        .collect();
    let reach = offsets.iter().max().copied().unwrap_or(0);
    let mut buf = vec![0.0f32; reach + len];
    // masks[kx][i]: all ones when column i mod w, shifted by kx·dw − pl, stays in the row.
    let masks: Vec<u32> = (0..d.kw)
        .flat_map(|kx| {
            (0..len).map(move |i| {
                let col = (i % d.w + kx * d.dw) as isize - d.pl as isize;
                if col >= 0 && (col as usize) < d.w {
                    u32::MAX
                } else {
                    0
                }
            })
        })
        .collect();
    let tap_masks: Vec<&[u32]> = (0..taps)
        .map(|t| &masks[(t % d.kw) * len..][..len])
        .collect();
    let mut acc = vec![0.0f32; len];
    let start = d.pl + d.pt * d.w;
    for n in 0..g.batch {
        for c in 0..g.in_channels {
            let plane = &x[(n * g.in_channels + c) * in_plane..][..in_plane];
            buf[start..start + in_plane].copy_from_slice(plane);
            for m in 0..cog {
                let oc = c * cog + m;
                let filter = &w[oc * taps..][..taps];
                let b = bias.map_or(0.0, |b| b[oc]);
                let yp = &mut y[(n * g.out_channels + oc) * out_plane..][..out_plane];
                sum_taps(&mut acc, &buf, &offsets, filter, &tap_masks);
                if d.wo == d.w {
                    for (v, a) in yp.iter_mut().zip(&acc) {
                        *v = a + b;
                    }
                } else {
                    for (yrow, arow) in yp.chunks_exact_mut(d.wo).zip(acc.chunks_exact(d.w)) {
                        for (v, a) in yrow.iter_mut().zip(arow) {
                            *v = a + b;
                        }
                    }
                }
            }
        }
    }
}

/// `out[i] = Σ_t (ws[t] · src[offsets[t] + i]) & masks[t][i]` (a zero mask zeroes the product),
/// summed from 0 in tap order as the reference does. `out.len()` is a multiple of 8; `src`
/// holds `max(offsets) + out.len()` elements and each mask `out.len()`.
fn sum_taps(out: &mut [f32], src: &[f32], offsets: &[usize], ws: &[f32], masks: &[&[u32]]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above); the function is otherwise safe.
        unsafe { sum_taps_avx2(out, src, offsets, ws, masks) };
        return;
    }
    sum_taps_body(out, src, offsets, ws, masks);
}

/// [`sum_taps_body`] compiled for AVX2 (wider vectors; the same operations in the same order).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn sum_taps_avx2(
    out: &mut [f32],
    src: &[f32],
    offsets: &[usize],
    ws: &[f32],
    masks: &[&[u32]],
) {
    sum_taps_body(out, src, offsets, ws, masks);
}

/// Blocks of 32, then 8 outputs stay in registers while every tap is added to them.
#[inline(always)]
fn sum_taps_body(out: &mut [f32], src: &[f32], offsets: &[usize], ws: &[f32], masks: &[&[u32]]) {
    let done = sum_taps_blocks::<32>(out, 0, src, offsets, ws, masks);
    sum_taps_blocks::<8>(out, done, src, offsets, ws, masks);
}

/// Fills whole blocks of `B` outputs from `start`; returns where the blocks end.
#[inline(always)]
fn sum_taps_blocks<const B: usize>(
    out: &mut [f32],
    start: usize,
    src: &[f32],
    offsets: &[usize],
    ws: &[f32],
    masks: &[&[u32]],
) -> usize {
    let mut at = start;
    for block in out[start..].chunks_exact_mut(B) {
        let mut acc = [0.0f32; B];
        for ((&off, &w), mask) in offsets.iter().zip(ws).zip(masks) {
            let s = &src[off + at..][..B];
            let m = &mask[at..][..B];
            for j in 0..B {
                acc[j] += f32::from_bits((w * s[j]).to_bits() & m[j]);
            }
        }
        block.copy_from_slice(&acc);
        at += B;
    }
    at
}

/// Copies `plane [h, w]` into `padded [hreq, wreq]` shifted by the begin pads, clipped to the
/// padded extent. Positions in the padding are not written: the caller zeroes `padded` once.
fn pad_plane(d: &Dims, plane: &[f32], wreq: usize, padded: &mut [f32]) {
    let (lo, hi) = valid_range(wreq, 1, 0, d.pl, d.w);
    if hi == lo {
        return;
    }
    for (r, prow) in padded.chunks_exact_mut(wreq).enumerate().skip(d.pt) {
        if r - d.pt >= d.h {
            break;
        }
        let src = &plane[(r - d.pt) * d.w..][..d.w];
        prow[lo..hi].copy_from_slice(&src[lo - d.pl..][..hi - lo]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::testutil::{tolerance, values};
    use proptest::prelude::*;

    /// Runs fast and reference on `g` with pseudo-random data; returns (fast, reference, K).
    fn both(g: &ConvGeometry, with_bias: bool, seed: u64) -> (Vec<f32>, Vec<f32>, usize) {
        let out = g.output().unwrap();
        let nx = g.batch * g.in_channels * g.input.iter().product::<usize>();
        let nw = g.out_channels * g.filter_len().unwrap();
        let ny = g.batch * g.out_channels * out.iter().product::<usize>();
        let x = values(nx, seed);
        let w = values(nw, seed ^ 7);
        let b = values(g.out_channels, seed ^ 9);
        let bias = with_bias.then_some(&b[..]);
        let mut fast = vec![f32::NAN; ny];
        let mut slow = vec![f32::NAN; ny];
        conv(g, &x, &w, bias, &mut fast).unwrap();
        reference::conv(g, &x, &w, bias, &mut slow).unwrap();
        (fast, slow, g.filter_len().unwrap() + 1)
    }

    fn geometry(
        rank: usize,
        (batch, group, cig, cog): (usize, usize, usize, usize),
        dims: &[[usize; 6]],
    ) -> ConvGeometry {
        let col = |i: usize| dims[..rank].iter().map(|d| d[i]).collect::<Vec<_>>();
        ConvGeometry {
            batch,
            in_channels: group * cig,
            out_channels: group * cog,
            group,
            input: col(0),
            kernel: col(1),
            strides: col(2),
            dilations: col(3),
            pads_begin: col(4),
            pads_end: col(5),
        }
    }

    fn dim() -> impl Strategy<Value = [usize; 6]> {
        (
            1usize..10,
            1usize..5,
            1usize..4,
            1usize..4,
            0usize..4,
            0usize..4,
        )
            .prop_map(|(i, k, s, d, pb, pe)| [i, k, s, d, pb, pe])
    }

    fn channels() -> impl Strategy<Value = (usize, usize, usize, usize)> {
        prop_oneof![
            (1usize..3, 1usize..2, 1usize..6, 1usize..6),
            (1usize..3, 2usize..9, Just(1usize), 1usize..3),
            (1usize..3, 2usize..4, 1usize..4, 1usize..4),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        #[test]
        fn fast_matches_reference(
            rank in 1usize..3,
            ch in channels(),
            dims in proptest::array::uniform2(dim()),
            with_bias in any::<bool>(),
            seed in any::<u64>(),
        ) {
            let g = geometry(rank, ch, &dims);
            prop_assume!(g.output().is_ok());
            let (fast, slow, k) = both(&g, with_bias, seed);
            if g.in_channels == g.group && g.group > 1 {
                // Depthwise sums run in the reference's order: equal bit for bit.
                prop_assert_eq!(fast, slow, "{:?}", g);
            } else {
                let tol = tolerance(&slow, k);
                for (i, (f, s)) in fast.iter().zip(&slow).enumerate() {
                    prop_assert!((f - s).abs() <= tol, "{g:?} at {i}: {f} vs {s}");
                }
            }
        }
    }

    #[test]
    fn kws_layers_match_reference() {
        let first = geometry(
            2,
            (3, 1, 1, 64),
            &[[49, 10, 2, 1, 4, 5], [10, 4, 2, 1, 1, 1]],
        );
        let dw = geometry(2, (3, 64, 1, 1), &[[25, 3, 1, 1, 1, 1], [5, 3, 1, 1, 1, 1]]);
        let pw = geometry(
            2,
            (3, 1, 64, 64),
            &[[25, 1, 1, 1, 0, 0], [5, 1, 1, 1, 0, 0]],
        );
        for g in [first, dw, pw] {
            assert_eq!(g.output().unwrap(), vec![25, 5]);
            let (fast, slow, k) = both(&g, true, 42);
            let tol = tolerance(&slow, k);
            assert!(fast.iter().zip(&slow).all(|(f, s)| (f - s).abs() <= tol));
        }
    }

    #[test]
    fn depthwise_is_bit_identical_to_reference() {
        let strided = geometry(2, (2, 5, 1, 2), &[[7, 3, 1, 2, 2, 1], [6, 2, 2, 1, 0, 1]]);
        let flat = geometry(2, (2, 64, 1, 1), &[[25, 3, 1, 1, 1, 1], [5, 3, 1, 1, 1, 1]]);
        let dilated = geometry(2, (1, 3, 1, 2), &[[30, 3, 1, 2, 0, 3], [17, 2, 1, 3, 1, 0]]);
        for g in [strided, flat, dilated] {
            let (fast, slow, _) = both(&g, true, 3);
            assert_eq!(fast, slow, "{g:?}");
        }
    }

    #[test]
    fn depthwise_padding_taps_ignore_infinities_next_door() {
        // An infinity in the last column of a row sits, in the flat layout, just before the
        // next row's first column: the masked taps must not turn it into NaN there.
        let g = geometry(2, (1, 2, 1, 1), &[[4, 3, 1, 1, 1, 1], [4, 3, 1, 1, 1, 1]]);
        let mut x = values(2 * 16, 5);
        x[3] = f32::INFINITY;
        x[16 + 7] = f32::NEG_INFINITY;
        let w = values(2 * 9, 6);
        let mut fast = vec![0.0; 32];
        let mut slow = vec![0.0; 32];
        conv(&g, &x, &w, None, &mut fast).unwrap();
        reference::conv(&g, &x, &w, None, &mut slow).unwrap();
        let same = |a: f32, b: f32| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
        assert!(
            fast.iter().zip(&slow).all(|(&a, &b)| same(a, b)),
            "{fast:?}\n{slow:?}"
        );
        assert!(slow.iter().any(|v| v.is_finite()) && slow.iter().any(|v| !v.is_finite()));
    }

    #[test]
    fn padding_survives_several_images() {
        // The scratch buffers keep their zero padding from one image to the next.
        let dw = geometry(2, (3, 4, 1, 1), &[[5, 3, 1, 1, 2, 2], [4, 3, 1, 1, 1, 2]]);
        let general = geometry(2, (3, 1, 2, 3), &[[5, 3, 2, 1, 2, 2], [4, 3, 1, 2, 3, 1]]);
        for g in [dw, general] {
            let (fast, slow, k) = both(&g, false, 11);
            let tol = tolerance(&slow, k);
            assert!(
                fast.iter().zip(&slow).all(|(f, s)| (f - s).abs() <= tol),
                "{g:?}"
            );
        }
    }

    #[test]
    fn three_d_uses_reference() {
        let g = geometry(
            3,
            (1, 2, 2, 3),
            &[[3, 2, 1, 1, 0, 1], [4, 3, 2, 1, 1, 0], [2, 1, 1, 1, 0, 0]],
        );
        let (fast, slow, _) = both(&g, false, 5);
        assert_eq!(fast, slow);
    }

    #[test]
    fn wrong_buffer_is_an_error() {
        let g = geometry(1, (1, 1, 1, 1), &[[4, 2, 1, 1, 0, 0]]);
        let mut y = vec![0.0; 2];
        assert!(conv(&g, &[0.0; 4], &[0.0; 2], None, &mut y).is_err());
    }

    #[test]
    fn valid_range_clips_to_input() {
        // positions o*2 + 1 - 2 for o in 0..5: -1, 1, 3, 5, 7 inside 0..6 → o in 1..4.
        assert_eq!(valid_range(5, 2, 1, 2, 6), (1, 4));
        assert_eq!(valid_range(3, 1, 0, 9, 2), (3, 3));
        assert_eq!(valid_range(3, 1, 9, 0, 2), (0, 0));
    }
}

//! Scalar twins of the fast kernels: obviously correct, never optimized. They define what the
//! fast kernels compute; property tests compare the two within the float tolerance
//! `max|v| · ε · 64 · √K`.
use super::gemm::{check_product, Mat};
use super::geometry::{next_index, numel};
use super::{ConvGeometry, NnError};

/// `c = alpha · a · b + beta · c` by the textbook triple loop, summing in `k` order.
/// When `beta == 0` the previous contents of `c` are ignored.
pub fn gemm(alpha: f32, a: Mat, b: Mat, beta: f32, c: &mut [f32]) -> Result<(), NnError> {
    let (m, k, n) = check_product(&a, &b, c.len())?;
    for i in 0..m {
        for j in 0..n {
            let mut acc = 0.0f32;
            for p in 0..k {
                acc += a.at(i, p) * b.at(p, j);
            }
            let old = if beta == 0.0 {
                0.0
            } else {
                beta * c[i * n + j]
            };
            c[i * n + j] = alpha * acc + old;
        }
    }
    Ok(())
}

/// N-D convolution (ONNX `Conv`, cross-correlation) over any number of spatial dims and groups:
/// `y[n, oc, o] = bias[oc] + Σ_{ic in group(oc), t} x[n, ic, o·s − pb + t·d] · w[oc, ic, t]`,
/// positions outside the input reading zero.
pub fn conv(
    g: &ConvGeometry,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
) -> Result<(), NnError> {
    let out = g.check_buffers(x.len(), w.len(), bias.map(<[f32]>::len), y.len())?;
    let rank = out.len();
    let cig = g.in_channels / g.group;
    let cog = g.out_channels / g.group;
    let in_plane = numel(&g.input).unwrap_or(0);
    let k_plane = numel(&g.kernel).unwrap_or(0);
    let mut yi = 0;
    for n in 0..g.batch {
        for oc in 0..g.out_channels {
            let grp = oc / cog;
            let mut o = vec![0usize; rank];
            loop {
                let mut acc = 0.0f32;
                for icg in 0..cig {
                    let ic = grp * cig + icg;
                    let plane = &x[(n * g.in_channels + ic) * in_plane..][..in_plane];
                    let filter = &w[(oc * cig + icg) * k_plane..][..k_plane];
                    let mut t = vec![0usize; rank];
                    let mut ti = 0;
                    loop {
                        if let Some(xi) = input_offset(g, &o, &t) {
                            acc += plane[xi] * filter[ti];
                        }
                        ti += 1;
                        if !next_index(&mut t, &g.kernel) {
                            break;
                        }
                    }
                }
                y[yi] = acc + bias.map_or(0.0, |b| b[oc]);
                yi += 1;
                if !next_index(&mut o, &out) {
                    break;
                }
            }
        }
    }
    Ok(())
}

/// Row-major offset inside one input plane of tap `t` of output position `o`, or `None` when
/// the tap falls in the padding.
fn input_offset(g: &ConvGeometry, o: &[usize], t: &[usize]) -> Option<usize> {
    let mut offset = 0usize;
    for d in 0..o.len() {
        let pos = (o[d] * g.strides[d] + t[d] * g.dilations[d]) as isize - g.pads_begin[d] as isize;
        if pos < 0 || pos as usize >= g.input[d] {
            return None;
        }
        offset = offset * g.input[d] + pos as usize;
    }
    Some(offset)
}

//! Scalar twins of the fast kernels: obviously correct, never optimized. They define what the
//! fast kernels compute; property tests compare the two, within the float tolerance
//! `max|v| · ε · 64 · √K` for matrix products and convolutions, exactly for pooling.
use super::gemm::{check_product, Mat};
use super::geometry::{next_index, numel};
use super::{ConvGeometry, NnError, PoolElement, PoolGeometry};

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

/// One pooling window's real input positions, in row-major tap order, as row-major in-plane
/// offsets; also the number of taps inside the declared padded extent `[−pb, input + pe)`.
fn window_taps(g: &PoolGeometry, o: &[usize]) -> (Vec<usize>, usize) {
    let rank = o.len();
    let mut real = Vec::new();
    let mut padded = 0;
    let mut t = vec![0usize; rank];
    loop {
        let mut offset = Some(0usize);
        let mut inside_pads = true;
        for d in 0..rank {
            let pos = (o[d] * g.strides[d] + t[d] * g.dilations[d]) as isize - g.pads_begin[d];
            inside_pads &= pos < g.input[d] as isize + g.pads_end[d];
            offset = match offset {
                Some(acc) if pos >= 0 && (pos as usize) < g.input[d] => {
                    Some(acc * g.input[d] + pos as usize)
                }
                _ => None,
            };
        }
        padded += usize::from(inside_pads);
        real.extend(offset);
        if !next_index(&mut t, &g.kernel) {
            return (real, padded);
        }
    }
}

/// Max pooling: the first largest real element of each window (row-major tap order; NaN never
/// wins; `T::LOWEST` for an empty window), and its row-major in-plane offset (0 when empty).
pub fn max_pool<T: PoolElement>(
    g: &PoolGeometry,
    x: &[T],
    y: &mut [T],
    offsets: &mut [usize],
) -> Result<(), NnError> {
    let (in_plane, out_plane) = g.check_buffers(x.len(), y.len())?;
    super::check_len("max_pool offsets", offsets.len(), y.len())?;
    for i in 0..y.len() {
        let (p, oi) = (i / out_plane, i % out_plane);
        let o = unravel(oi, &g.output);
        let (taps, _) = window_taps(g, &o);
        let mut best = T::LOWEST;
        let mut best_at = None;
        for at in taps {
            let v = x[p * in_plane + at];
            if v > best || (best_at.is_none() && v == best) {
                best = v;
                best_at = Some(at);
            }
        }
        y[i] = best;
        offsets[i] = best_at.unwrap_or(0);
    }
    Ok(())
}

/// Average pooling: the sum of each window's real elements in row-major tap order, divided by
/// their count, or with `count_include_pad` by the taps inside the declared padded extent.
pub fn average_pool(
    g: &PoolGeometry,
    count_include_pad: bool,
    x: &[f32],
    y: &mut [f32],
) -> Result<(), NnError> {
    let (in_plane, out_plane) = g.check_buffers(x.len(), y.len())?;
    for (i, v) in y.iter_mut().enumerate() {
        let (p, oi) = (i / out_plane, i % out_plane);
        let (taps, padded) = window_taps(g, &unravel(oi, &g.output));
        let mut sum = 0.0f32;
        for &at in &taps {
            sum += x[p * in_plane + at];
        }
        let count = if count_include_pad {
            padded
        } else {
            taps.len()
        };
        *v = sum / count as f32;
    }
    Ok(())
}

/// The row-major coordinates of flat index `i` in `dims`.
fn unravel(mut i: usize, dims: &[usize]) -> Vec<usize> {
    let mut c = vec![0usize; dims.len()];
    for (cd, &n) in c.iter_mut().zip(dims).rev() {
        *cd = i % n;
        i /= n;
    }
    c
}

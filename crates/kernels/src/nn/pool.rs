//! Pooling: max (with argmax indices), average, and their global forms.
use super::geometry::{next_index, PoolGeometry};
use super::{check_len, NnError};

/// An element type max pooling supports; `LOWEST` is the value of a window with no element.
pub trait PoolElement: Copy + PartialOrd + Send + Sync + 'static {
    const LOWEST: Self;
}

macro_rules! pool_element {
    ($($t:ty),*) => {$(impl PoolElement for $t { const LOWEST: Self = <$t>::MIN; })*};
}
pool_element!(f32, f64, i8, u8, i16, u16, i32, u32, i64, u64);

/// For one output position, per dim: the taps `k_lo..k_hi` that read real input, and how many
/// taps lie inside the declared padded extent (`0..input + pad_end`).
struct Window {
    start: Vec<isize>,
    k_lo: Vec<usize>,
    k_hi: Vec<usize>,
    padded_count: usize,
}

impl Window {
    fn new(rank: usize) -> Window {
        Window {
            start: vec![0; rank],
            k_lo: vec![0; rank],
            k_hi: vec![0; rank],
            padded_count: 1,
        }
    }

    fn locate(&mut self, g: &PoolGeometry, o: &[usize]) {
        self.padded_count = 1;
        for (d, &od) in o.iter().enumerate() {
            let start = g.window_start(d, od);
            let dil = g.dilations[d] as isize;
            let k = g.kernel[d] as isize;
            // Taps k with 0 <= start + k·dil < limit, as a count from 0.
            let below = |limit: isize| -> isize {
                if limit <= start {
                    0
                } else {
                    ((limit - start + dil - 1) / dil).min(k)
                }
            };
            let lo = if start < 0 {
                ((-start + dil - 1) / dil).min(k)
            } else {
                0
            };
            let hi = below(g.input[d] as isize).max(lo);
            self.start[d] = start;
            self.k_lo[d] = lo as usize;
            self.k_hi[d] = hi as usize;
            let padded = below(g.input[d] as isize + g.pads_end[d]);
            self.padded_count *= padded.max(0) as usize;
        }
    }

    fn real_count(&self) -> usize {
        self.k_lo
            .iter()
            .zip(&self.k_hi)
            .map(|(l, h)| h - l)
            .product()
    }

    /// Calls `f(offset, n, step)` for every run of real input positions the window covers:
    /// the `n` elements at `offset + j·step` (row-major offsets), runs in row-major order.
    /// Trailing dims the window covers whole (contiguously) merge into a single run.
    fn for_each_row(
        &self,
        g: &PoolGeometry,
        k: &mut [usize],
        mut f: impl FnMut(usize, usize, usize),
    ) {
        if self.real_count() == 0 {
            return;
        }
        let rank = k.len();
        let whole = |d: usize| {
            self.k_hi[d] - self.k_lo[d] == g.input[d] && (g.dilations[d] == 1 || g.input[d] == 1)
        };
        let merged = (0..rank).rev().take_while(|&d| whole(d)).count();
        let (outer, run, step) = if merged > 0 {
            let run = g.input[rank - merged..].iter().product();
            (rank - merged, run, 1)
        } else {
            let last = rank - 1;
            (last, self.k_hi[last] - self.k_lo[last], g.dilations[last])
        };
        k.copy_from_slice(&self.k_lo);
        loop {
            let mut off = 0;
            for (d, &kd) in k.iter().enumerate() {
                // A merged dim starts at its first element.
                let c = if d >= outer && merged > 0 {
                    0
                } else {
                    (self.start[d] + (kd * g.dilations[d]) as isize) as usize
                };
                off = off * g.input[d] + c;
            }
            f(off, run, step);
            let mut d = outer;
            loop {
                if d == 0 {
                    return;
                }
                d -= 1;
                k[d] += 1;
                if k[d] < self.k_hi[d] {
                    break;
                }
                k[d] = self.k_lo[d];
            }
        }
    }
}

/// Max over each window (NaN never wins; an empty window yields `T::LOWEST`). `indices`, when
/// given, receives the flat index into `x` of the first maximum, with the in-plane offset taken
/// row-major, or column-major when `column_major` (ONNX `storage_order = 1`).
pub fn max_pool<T: PoolElement>(
    g: &PoolGeometry,
    x: &[T],
    y: &mut [T],
    mut indices: Option<&mut [i64]>,
    column_major: bool,
) -> Result<(), NnError> {
    let (in_plane, out_plane) = g.check_buffers(x.len(), y.len())?;
    if let Some(ix) = &indices {
        check_len("max_pool indices", ix.len(), y.len())?;
    }
    let rank = g.input.len();
    let mut win = Window::new(rank);
    let mut k = vec![0usize; rank];
    let mut o = vec![0usize; rank];
    for (p, yp) in y.chunks_exact_mut(out_plane.max(1)).enumerate() {
        let plane = &x[p * in_plane..][..in_plane];
        o.fill(0);
        for (oi, yv) in yp.iter_mut().enumerate() {
            win.locate(g, &o);
            let mut best = T::LOWEST;
            let mut best_at = None;
            win.for_each_row(g, &mut k, |off, n, step| {
                for at in (off..).step_by(step).take(n) {
                    if plane[at] > best || best_at.is_none() && plane[at] == best {
                        best = plane[at];
                        best_at = Some(at);
                    }
                }
            });
            *yv = best;
            if let Some(ix) = indices.as_deref_mut() {
                let at = best_at.unwrap_or(0);
                let at = if column_major {
                    column_offset(at, &g.input)
                } else {
                    at
                };
                ix[p * out_plane + oi] = (p * in_plane + at) as i64;
            }
            next_index(&mut o, &g.output);
        }
    }
    Ok(())
}

/// The column-major offset of the position whose row-major offset in `dims` is `row_major`.
fn column_offset(row_major: usize, dims: &[usize]) -> usize {
    let mut coords = vec![0usize; dims.len()];
    let mut rest = row_major;
    for (c, &d) in coords.iter_mut().zip(dims).rev() {
        *c = rest % d;
        rest /= d;
    }
    coords
        .iter()
        .zip(dims)
        .rev()
        .fold(0, |acc, (&c, &d)| acc * d + c)
}

/// Mean over each window. The divisor counts the real input positions, or with
/// `count_include_pad` every tap inside the declared padded extent (taps past it, which ceil
/// rounding can create, never count). A window with nothing to count yields NaN.
pub fn average_pool(
    g: &PoolGeometry,
    count_include_pad: bool,
    x: &[f32],
    y: &mut [f32],
) -> Result<(), NnError> {
    let (in_plane, out_plane) = g.check_buffers(x.len(), y.len())?;
    let rank = g.input.len();
    let mut win = Window::new(rank);
    let mut k = vec![0usize; rank];
    let mut o = vec![0usize; rank];
    for (p, yp) in y.chunks_exact_mut(out_plane.max(1)).enumerate() {
        let plane = &x[p * in_plane..][..in_plane];
        o.fill(0);
        for yv in yp.iter_mut() {
            win.locate(g, &o);
            let mut sum = 0.0f32;
            win.for_each_row(g, &mut k, |off, n, step| {
                for v in plane[off..].iter().step_by(step).take(n) {
                    sum += v;
                }
            });
            let count = if count_include_pad {
                win.padded_count
            } else {
                win.real_count()
            };
            *yv = sum / count as f32;
            next_index(&mut o, &g.output);
        }
    }
    Ok(())
}

/// Mean of each of the `x.len() / plane` consecutive planes of `plane` elements into `y`.
pub fn global_average_pool(x: &[f32], plane: usize, y: &mut [f32]) -> Result<(), NnError> {
    check_len("global pool input", x.len(), y.len().saturating_mul(plane))?;
    if plane == 0 {
        y.fill(f32::NAN);
        return Ok(());
    }
    for (v, chunk) in y.iter_mut().zip(x.chunks_exact(plane)) {
        *v = chunk.iter().sum::<f32>() / plane as f32;
    }
    Ok(())
}

/// Max of each of the consecutive planes of `plane` elements into `y` (NaN never wins).
pub fn global_max_pool<T: PoolElement>(x: &[T], plane: usize, y: &mut [T]) -> Result<(), NnError> {
    check_len("global pool input", x.len(), y.len().saturating_mul(plane))?;
    if plane == 0 {
        y.fill(T::LOWEST);
        return Ok(());
    }
    for (v, chunk) in y.iter_mut().zip(x.chunks_exact(plane)) {
        *v = chunk
            .iter()
            .fold(T::LOWEST, |m, &e| if e > m { e } else { m });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g2(
        input: [usize; 2],
        kernel: [usize; 2],
        strides: [usize; 2],
        pads: [usize; 4],
        output: [usize; 2],
    ) -> PoolGeometry {
        PoolGeometry {
            batch: 1,
            channels: 1,
            input: input.to_vec(),
            kernel: kernel.to_vec(),
            strides: strides.to_vec(),
            dilations: vec![1, 1],
            pads_begin: pads[..2].iter().map(|&p| p as isize).collect(),
            pads_end: pads[2..].iter().map(|&p| p as isize).collect(),
            output: output.to_vec(),
        }
    }

    #[test]
    fn max_pool_reports_first_maximum_row_and_column_major() {
        // 2x3 input [0 5 9 / 3 9 1], 2x2 windows at columns 0 and 1: maxima 9 at (1, 1), then
        // 9 first at (0, 2).
        let x = [0.0f32, 5.0, 9.0, 3.0, 9.0, 1.0];
        let g = g2([2, 3], [2, 2], [1, 1], [0, 0, 0, 0], [1, 2]);
        let mut y = [0.0f32; 2];
        let mut ix = [0i64; 2];
        max_pool(&g, &x, &mut y, Some(&mut ix), false).unwrap();
        assert_eq!(y, [9.0, 9.0]);
        assert_eq!(ix, [4, 2]);
        max_pool(&g, &x, &mut y, Some(&mut ix), true).unwrap();
        // column-major offsets in a 2x3 plane: (1, 1) → 1·2 + 1 = 3, (0, 2) → 2·2 + 0 = 4.
        assert_eq!(ix, [3, 4]);
    }

    #[test]
    fn average_pool_divisor_follows_count_include_pad() {
        // 1x2 input [2, 4], kernel 1x2, pad 1 left/right, stride 2: windows (-1, 0) and (1, 2).
        let x = [2.0f32, 4.0];
        let g = g2([1, 2], [1, 2], [1, 2], [0, 1, 0, 1], [1, 2]);
        let mut y = [0.0f32; 2];
        average_pool(&g, false, &x, &mut y).unwrap();
        assert_eq!(y, [2.0, 4.0]);
        average_pool(&g, true, &x, &mut y).unwrap();
        assert_eq!(y, [1.0, 2.0]);
    }

    #[test]
    fn ceil_window_past_the_padding_is_not_counted() {
        // input 3, kernel 2, stride 2, no pads, ceil output 2: the last window covers (2, 3).
        let g = PoolGeometry {
            batch: 1,
            channels: 1,
            input: vec![3],
            kernel: vec![2],
            strides: vec![2],
            dilations: vec![1],
            pads_begin: vec![0],
            pads_end: vec![0],
            output: vec![2],
        };
        let mut y = [0.0f32; 2];
        average_pool(&g, true, &[1.0, 3.0, 5.0], &mut y).unwrap();
        assert_eq!(y, [2.0, 5.0]);
    }

    #[test]
    fn integer_max_pool_and_global_pools() {
        let g = g2([2, 2], [2, 2], [1, 1], [0, 0, 0, 0], [1, 1]);
        let mut y = [0u8; 1];
        max_pool(&g, &[3u8, 200, 7, 0], &mut y, None, false).unwrap();
        assert_eq!(y, [200]);
        let mut m = [0.0f32; 2];
        global_average_pool(&[1.0, 3.0, -2.0, 4.0], 2, &mut m).unwrap();
        assert_eq!(m, [2.0, 1.0]);
        global_max_pool(&[1.0f32, 3.0, -2.0, -4.0], 2, &mut m).unwrap();
        assert_eq!(m, [3.0, -2.0]);
        assert!(global_max_pool(&[1.0f32; 3], 2, &mut m).is_err());
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use crate::nn::reference;
    use crate::nn::testutil::values;
    use proptest::prelude::*;

    /// Per dim: input, kernel, stride, dilation and output sizes, then the (maybe negative) pads.
    fn geometry() -> impl Strategy<Value = PoolGeometry> {
        let sizes = (1usize..8, 1usize..5, 1usize..4, 1usize..3, 0usize..7)
            .prop_map(|(i, k, s, d, o)| [i, k, s, d, o]);
        let dim = (sizes, -1isize..3, -1isize..3);
        (1usize..3, 1usize..3, proptest::collection::vec(dim, 1..4)).prop_map(|(b, c, dims)| {
            let col = |j: usize| dims.iter().map(|d| d.0[j]).collect::<Vec<_>>();
            PoolGeometry {
                batch: b,
                channels: c,
                input: col(0),
                kernel: col(1),
                strides: col(2),
                dilations: col(3),
                pads_begin: dims.iter().map(|d| d.1).collect(),
                pads_end: dims.iter().map(|d| d.2).collect(),
                output: col(4),
            }
        })
    }

    fn same(a: f32, b: f32) -> bool {
        a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn pools_equal_their_reference(g in geometry(), seed in any::<u64>(), incl in any::<bool>()) {
            let nx = g.batch * g.channels * g.input.iter().product::<usize>();
            let ny = g.batch * g.channels * g.output.iter().product::<usize>();
            let x = values(nx, seed);
            let (mut fast, mut slow) = (vec![0.0; ny], vec![0.0; ny]);
            average_pool(&g, incl, &x, &mut fast).unwrap();
            reference::average_pool(&g, incl, &x, &mut slow).unwrap();
            prop_assert!(fast.iter().zip(&slow).all(|(&a, &b)| same(a, b)), "{:?}", g);
            let mut ix = vec![0i64; ny];
            let mut offsets = vec![0usize; ny];
            max_pool(&g, &x, &mut fast, Some(&mut ix), false).unwrap();
            reference::max_pool(&g, &x, &mut slow, &mut offsets).unwrap();
            prop_assert_eq!(&fast, &slow);
            let in_plane = g.input.iter().product::<usize>();
            let out_plane = g.output.iter().product::<usize>();
            for (i, (&a, &b)) in ix.iter().zip(&offsets).enumerate() {
                prop_assert_eq!(a as usize, (i / out_plane) * in_plane + b);
            }
        }
    }
}

//! MSE calibration: the clipping range minimizing the expected squared quantization error.
//!
//! The histogram is read as a piecewise-uniform density (each bin's count spread evenly over the
//! part of the bin inside the observed `[min, max]`; a bin squeezed to a point is a point mass),
//! exact zeros being a point mass at 0 (no error on any grid).
//! For a candidate range the error is computed on the exact grid [`qparams_from_range`] would
//! produce — rounding error inside the grid and clipping error beyond it, integrated in closed
//! form — so the search ranks candidates by the error the quantized tensor would actually have
//! (up to the in-bin uniformity assumption).
//!
//! Search: symmetric schemes scan `t = amax * j / 128` (`j = 128 ..= 1`) then refine 32 steps
//! around the best; asymmetric schemes do the same alternately on the upper and lower end
//! (coordinate descent, at most 3 rounds). Ties keep the wider range.
use super::histogram::Histogram;
use super::qparams::{qparams_from_range, QParams};
use super::round::round_half_to_even_f64;
use super::{clamp_to_observed, QScheme};

const GRID: usize = 128;
const REFINE: usize = 32;
const ROUNDS: usize = 3;

/// Values spread uniformly over `[lo, hi]` (`lo == hi`: a point mass).
struct Piece {
    lo: f64,
    hi: f64,
    count: f64,
}

/// The histogram as pieces; the `zeros` exact zeros (all in the center bin) become a point mass.
fn pieces(hist: &Histogram, (min, max): (f32, f32), zeros: u64) -> Vec<Piece> {
    let (min, max) = (min as f64, max as f64);
    let z = hist.bins() / 2;
    let mut pieces: Vec<Piece> = hist
        .counts()
        .iter()
        .enumerate()
        .map(|(i, &c)| (i, if i == z { c - zeros.min(c) } else { c }))
        .filter(|&(_, c)| c > 0)
        .map(|(i, c)| Piece {
            lo: hist.edge(i).clamp(min, max),
            hi: hist.edge(i + 1).clamp(min, max),
            count: c as f64,
        })
        .collect();
    if zeros > 0 {
        pieces.push(Piece {
            lo: 0.0,
            hi: 0.0,
            count: zeros as f64,
        });
    }
    pieces
}

/// The grid as f64: `q(x) = clamp(floor(x / s + 1/2) + zp)` and `g(k) = (k - zp) s`.
struct Grid {
    s: f64,
    zp: f64,
    qmin: f64,
    qmax: f64,
}

impl Grid {
    fn new(qp: &QParams) -> Grid {
        Grid {
            s: qp.scale as f64,
            zp: qp.zero_point as f64,
            qmin: qp.scheme.qmin() as f64,
            qmax: qp.scheme.qmax() as f64,
        }
    }

    fn level(&self, x: f64) -> f64 {
        (round_half_to_even_f64(x / self.s) + self.zp).clamp(self.qmin, self.qmax)
    }

    fn value(&self, k: f64) -> f64 {
        (k - self.zp) * self.s
    }

    /// `∫_a^b (x - g)^2 dx`.
    fn seg(a: f64, b: f64, g: f64) -> f64 {
        ((b - g).powi(3) - (a - g).powi(3)) / 3.0
    }

    /// `∫_a^b (x - Q(x))^2 dx` for `a < b`: partial cells at both ends, whole interior cells
    /// (each `s^3 / 12`) in between. Cell boundaries are half-way between grid values, the end
    /// cells extending to infinity (clipping).
    fn integral(&self, a: f64, b: f64) -> f64 {
        let (ka, kb) = (self.level(a), self.level(b));
        if ka == kb {
            return Grid::seg(a, b, self.value(ka));
        }
        let upper_a = self.value(ka) + 0.5 * self.s;
        let lower_b = self.value(kb) - 0.5 * self.s;
        Grid::seg(a, upper_a, self.value(ka))
            + Grid::seg(lower_b, b, self.value(kb))
            + (kb - ka - 1.0) * self.s.powi(3) / 12.0
    }

    fn error(&self, pieces: &[Piece]) -> f64 {
        pieces
            .iter()
            .map(|p| {
                if p.hi > p.lo {
                    p.count * self.integral(p.lo, p.hi) / (p.hi - p.lo)
                } else {
                    p.count * (p.lo - self.value(self.level(p.lo))).powi(2)
                }
            })
            .sum()
    }
}

/// Expected total squared error of quantizing the pieces with the range `(lo, hi)` clamped to the
/// observed data; infinite when no parameters exist.
fn range_error(pieces: &[Piece], lo: f64, hi: f64, min_max: (f32, f32), scheme: QScheme) -> f64 {
    match qparams_from_range(clamp_to_observed(lo, hi, min_max), scheme) {
        Ok(qp) => Grid::new(&qp).error(pieces),
        Err(_) => f64::INFINITY,
    }
}

/// The `t` in `(0, full]` minimizing `err(t)`: a coarse scan from `full` down, then a finer one
/// around the winner. Ties keep the larger `t`.
fn search(full: f64, mut err: impl FnMut(f64) -> f64) -> f64 {
    let mut best = (full, err(full));
    let mut consider = |t: f64, best: &mut (f64, f64)| {
        let e = err(t);
        if e < best.1 {
            *best = (t, e);
        }
    };
    for j in (1..GRID).rev() {
        consider(full * j as f64 / GRID as f64, &mut best);
    }
    let step = full / GRID as f64;
    let (from, to) = (
        (best.0 - step).max(step / REFINE as f64),
        (best.0 + step).min(full),
    );
    for m in (0..=REFINE).rev() {
        consider(from + (to - from) * m as f64 / REFINE as f64, &mut best);
    }
    best.0
}

/// MSE-optimal range for `scheme`, clamped to the observed `min_max` (not all zero).
pub(crate) fn range(
    hist: &Histogram,
    min_max: (f32, f32),
    zeros: u64,
    scheme: QScheme,
) -> (f32, f32) {
    let pieces = pieces(hist, min_max, zeros);
    let (min, max) = (min_max.0 as f64, min_max.1 as f64);
    let err = |lo: f64, hi: f64| range_error(&pieces, lo, hi, min_max, scheme);
    if scheme.symmetric() {
        let t = search(min.abs().max(max.abs()), |t| err(-t, t));
        return clamp_to_observed(-t, t, min_max);
    }
    let (mut lo, mut hi) = (min.min(0.0), max.max(0.0));
    for _ in 0..ROUNDS {
        let before = (lo, hi);
        if max > 0.0 {
            hi = search(max, |h| err(lo, h));
        }
        if min < 0.0 {
            lo = -search(-min, |m| err(-m, hi));
        }
        if (lo, hi) == before {
            break;
        }
    }
    clamp_to_observed(lo, hi, min_max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(s: f64, zp: f64, qmin: f64, qmax: f64) -> Grid {
        Grid { s, zp, qmin, qmax }
    }

    #[test]
    fn interior_error_is_step_squared_over_twelve() {
        let g = grid(0.5, 0.0, -127.0, 127.0);
        // [-10, 10) spans 40 whole cells... plus two half cells at the ends.
        let mean = g.integral(-10.0, 10.0) / 20.0;
        assert!((mean - 0.25 / 12.0).abs() < 1e-12, "{mean}");
        // A sub-cell interval centered on a grid value: ∫_{-h}^{h} x^2 = 2h^3/3.
        assert!((g.integral(0.9, 1.1) - 2.0 * 0.1f64.powi(3) / 3.0).abs() < 1e-15);
    }

    #[test]
    fn clipping_error_is_integrated() {
        // Grid {0, 1, 2} (uint 2-bit-like, zp 0), values uniform on [2, 5]: all clip to 2.
        let g = grid(1.0, 0.0, 0.0, 2.0);
        let want = 3f64.powi(3) / 3.0; // ∫_2^5 (x-2)^2
        assert!((g.integral(2.0, 5.0) - want).abs() < 1e-12);
        // Point masses use the grid value directly.
        let p = [Piece {
            lo: 7.0,
            hi: 7.0,
            count: 2.0,
        }];
        assert_eq!(g.error(&p), 2.0 * 25.0);
    }

    #[test]
    fn search_finds_an_interior_minimum() {
        let t = search(10.0, |t| (t - 3.3).powi(2));
        assert!((t - 3.3).abs() < 10.0 / GRID as f64 / REFINE as f64, "{t}");
        // Flat error keeps the widest range.
        assert_eq!(search(10.0, |_| 1.0), 10.0);
    }
}

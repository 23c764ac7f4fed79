//! AdaRound (Nagel et al., ICML 2020): learn, per weight, whether to round down or up so that the
//! layer output on the calibration inputs is reconstructed, instead of rounding to nearest.
//!
//! `w̃ = s · clamp(⌊w/s⌋ + h(V), qmin, qmax)` with the rectified sigmoid
//! `h(V) = clamp(σ(V)·(ζ − γ) + γ, 0, 1)`, ζ = 1.1, γ = −0.1; `V` starts where `h(V)` equals the
//! fractional part of `w/s`. Adam minimizes, full batch,
//! `Σ_r (w̃_r − w_r)·(XᵀX / n)·(w̃_r − w_r)ᵀ / rows + λ·Σ (1 − |2h(V) − 1|^β)`
//! (the layer's mean squared output error from its input statistics — no data pass per step —
//! plus the regularizer that drives every `h` to 0 or 1), with β annealed from 20 to 2 after a
//! warm-up without regularizer. The result rounds up where `h(V) ≥ ½`. Deterministic.
use super::grid::{Grid, Matrix, Quantizer};
use super::hessian::Hessian;
use super::RoundingError;

const ZETA: f64 = 1.1;
const GAMMA: f64 = -0.1;

/// AdaRound options; defaults follow the paper (10k iterations, λ = 0.01, β 20 → 2, 20 %
/// warm-up, Adam with learning rate 1e-3).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct AdaRoundConfig {
    pub iterations: usize,
    pub reg: f64,
    pub beta: (f64, f64),
    pub warmup: f64,
    pub lr: f64,
}

impl Default for AdaRoundConfig {
    fn default() -> AdaRoundConfig {
        AdaRoundConfig {
            iterations: 10_000,
            reg: 0.01,
            beta: (20.0, 2.0),
            warmup: 0.2,
            lr: 1e-3,
        }
    }
}

fn sigmoid(v: f64) -> f64 {
    1.0 / (1.0 + (-v).exp())
}

fn rect(v: f64) -> f64 {
    (sigmoid(v) * (ZETA - GAMMA) + GAMMA).clamp(0.0, 1.0)
}

/// The AdaRound grid values of `w` under `quant` (integer grids only), for inputs summarized by
/// `h` (`cols = h.k`).
pub fn adaround_quantize(
    w: Matrix,
    h: &Hessian,
    quant: &Quantizer,
    cfg: &AdaRoundConfig,
) -> Result<Vec<i8>, RoundingError> {
    let Grid::Int { min, max } = quant.grid else {
        return Err(RoundingError::Grid("AdaRound needs an integer grid".into()));
    };
    quant.check(w.rows, w.cols)?;
    let k = w.cols;
    if h.k != k {
        return Err(RoundingError::Shape(format!(
            "Hessian of K = {} for {k} columns",
            h.k
        )));
    }
    if !(cfg.reg.is_finite() && cfg.lr.is_finite() && cfg.warmup.is_finite()) {
        return Err(RoundingError::NonFinite("AdaRound option"));
    }
    let g: Vec<f64> = h.xtx.iter().map(|v| v / h.n.max(1) as f64).collect();
    let n = w.data.len();
    let scale: Vec<f64> = (0..n)
        .map(|i| quant.scale(k, i / k, i % k) as f64)
        .collect();
    let floor: Vec<f64> = (0..n)
        .map(|i| (w.data[i] as f64 / scale[i]).floor())
        .collect();
    let mut v: Vec<f64> = (0..n)
        .map(|i| {
            let frac = (w.data[i] as f64 / scale[i] - floor[i]).clamp(0.01, 0.99);
            -((ZETA - GAMMA) / (frac - GAMMA) - 1.0).ln()
        })
        .collect();
    let (mut m1, mut m2) = (vec![0f64; n], vec![0f64; n]);
    let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8);
    let warm = (cfg.warmup * cfg.iterations as f64) as usize;
    let mut delta = vec![0f64; n];
    let mut grad = vec![0f64; n];
    for it in 0..cfg.iterations {
        // Δ = w̃ − w, and whether each weight is inside the grid (else no gradient).
        for i in 0..n {
            let q = (floor[i] + rect(v[i])).clamp(min as f64, max as f64);
            delta[i] = q * scale[i] - w.data[i] as f64;
        }
        let beta = if it < warm {
            None
        } else {
            let t = (it - warm) as f64 / (cfg.iterations - warm).max(1) as f64;
            Some(
                cfg.beta.1
                    + 0.5 * (cfg.beta.0 - cfg.beta.1) * (1.0 + (t * std::f64::consts::PI).cos()),
            )
        };
        for r in 0..w.rows {
            let d = &delta[r * k..(r + 1) * k];
            for c in 0..k {
                let gc: f64 = g[c * k..(c + 1) * k]
                    .iter()
                    .zip(d)
                    .map(|(a, b)| a * b)
                    .sum();
                grad[r * k + c] = 2.0 * gc / w.rows as f64;
            }
        }
        for i in 0..n {
            let s = sigmoid(v[i]);
            let hv = s * (ZETA - GAMMA) + GAMMA;
            let q = floor[i] + hv;
            let inside = hv > 0.0 && hv < 1.0 && q >= min as f64 && q <= max as f64;
            let dh = if inside {
                s * (1.0 - s) * (ZETA - GAMMA)
            } else {
                0.0
            };
            let mut gi = grad[i] * scale[i];
            if let Some(beta) = beta {
                let x = 2.0 * hv.clamp(0.0, 1.0) - 1.0;
                gi += cfg.reg * -beta * x.abs().powf(beta - 1.0) * x.signum() * 2.0;
            }
            gi *= dh;
            m1[i] = b1 * m1[i] + (1.0 - b1) * gi;
            m2[i] = b2 * m2[i] + (1.0 - b2) * gi * gi;
            let t = (it + 1) as i32;
            let mh = m1[i] / (1.0 - b1.powi(t));
            let vh = m2[i] / (1.0 - b2.powi(t));
            v[i] -= cfg.lr * mh / (vh.sqrt() + eps);
        }
    }
    Ok((0..n)
        .map(|i| {
            let up = if rect(v[i]) >= 0.5 { 1.0 } else { 0.0 };
            (floor[i] + up).clamp(min as f64, max as f64) as i8
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rounding::grid::{dequantize, nearest_quantize};
    use crate::rounding::hessian::HessianAccumulator;

    #[test]
    fn learns_a_better_rounding_than_nearest() {
        let (rows, k, n) = (6, 10, 300);
        let mut state = 12345u64;
        let mut rnd = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 11) as f64 / (1u64 << 53) as f64 - 0.5) as f32
        };
        let w: Vec<f32> = (0..rows * k).map(|_| rnd()).collect();
        let mut acc = HessianAccumulator::new(k).unwrap();
        for _ in 0..n {
            let a = rnd();
            let row: Vec<f32> = (0..k).map(|_| a + 0.3 * rnd()).collect();
            acc.add_rows(&row, 1).unwrap();
        }
        let h = acc.finish();
        let m = Matrix::new(&w, rows, k).unwrap();
        let q = Quantizer::absmax(m, Grid::symmetric(3).unwrap(), None).unwrap();
        let err = |qi: &[i8]| {
            let d = dequantize(qi, rows, k, &q).unwrap();
            (0..rows)
                .map(|r| {
                    let x: Vec<f64> = (0..k)
                        .map(|c| (d[r * k + c] - w[r * k + c]) as f64)
                        .collect();
                    h.quad(&x, &x)
                })
                .sum::<f64>()
        };
        let cfg = AdaRoundConfig {
            iterations: 2000,
            lr: 1e-2,
            ..Default::default()
        };
        let a = adaround_quantize(m, &h, &q, &cfg).unwrap();
        let near = nearest_quantize(m, &q).unwrap();
        assert!(err(&a) < 0.8 * err(&near), "{} vs {}", err(&a), err(&near));
        // Every value is the floor or the ceiling of w/s.
        for (i, &v) in a.iter().enumerate() {
            let x = w[i] / q.scale(k, i / k, i % k);
            assert!((v as f32 - x).abs() < 1.0 + 1e-5, "{v} for {x}");
        }
        assert_eq!(a, adaround_quantize(m, &h, &q, &cfg).unwrap());
        let b = Quantizer::absmax(m, Grid::Binary, None).unwrap();
        assert!(adaround_quantize(m, &h, &b, &cfg).is_err());
    }
}

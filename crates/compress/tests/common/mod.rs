//! Deterministic synthetic data for calibration tests.
#![allow(dead_code)]

use mw_compress::calibrate::{
    dequantize_value, qparams_from_range, quantize_value, HistogramObserver, Observer, QScheme,
};

/// SplitMix64: small, fast, and the same on every platform.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.uniform().max(1e-300);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

pub fn uniform(n: usize, lo: f32, hi: f32, seed: u64) -> Vec<f32> {
    let mut r = Rng::new(seed);
    (0..n)
        .map(|_| lo + (hi - lo) * r.uniform() as f32)
        .collect()
}

pub fn gaussian(n: usize, mean: f32, std: f32, seed: u64) -> Vec<f32> {
    let mut r = Rng::new(seed);
    (0..n).map(|_| mean + std * r.normal() as f32).collect()
}

/// Laplace(0, b): heavy-tailed, like many activations.
pub fn laplace(n: usize, b: f32, seed: u64) -> Vec<f32> {
    let mut r = Rng::new(seed);
    (0..n)
        .map(|_| {
            let u = r.uniform() - 0.5;
            (-(b as f64) * u.signum() * (1.0 - 2.0 * u.abs()).max(1e-300).ln()) as f32
        })
        .collect()
}

pub fn observe_in_batches(data: &[f32], batch: usize) -> HistogramObserver {
    let mut obs = HistogramObserver::default();
    for chunk in data.chunks(batch.max(1)) {
        obs.observe(chunk);
    }
    obs
}

/// Mean squared error of quantizing `data` with the parameters derived from `range`.
pub fn empirical_mse(data: &[f32], range: (f32, f32), scheme: QScheme) -> f64 {
    let qp = qparams_from_range(range, scheme).expect("valid range");
    let sum: f64 = data
        .iter()
        .map(|&x| {
            let d = dequantize_value(quantize_value(x, &qp), &qp) as f64 - x as f64;
            d * d
        })
        .sum();
    sum / data.len() as f64
}

//! GPTQ (Frantar et al. 2022, the OBQ lineage): quantize a weight matrix column by column, each
//! time spreading the rounding error of the column over the columns not yet quantized so that the
//! layer output on the calibration inputs, `‖W Xᵀ − Ŵ Xᵀ‖²`, stays small.
//!
//! With `H = XᵀX + λI` (λ = `damp` × mean diagonal; columns never excited get diagonal 1) and
//! `H⁻¹ = UᵀU` (U upper-triangular), column `i` is rounded to the grid, `e = (w_i − q_i)/U_ii`,
//! and every later column `j` gets `w_j −= e · U_ij`. Rows are independent. This equals OBQ with
//! a fixed column order: the row `i` of `U` is the first row of `(H_F)⁻¹` for the trailing set
//! `F = {i, …, K−1}`, divided by the square root of its diagonal ([`reference`] computes exactly
//! that, by inverting every trailing block).
use super::grid::{Matrix, Quantizer};
use super::hessian::Hessian;
use super::linalg::upper_cholesky_of_inverse;
use super::RoundingError;

/// GPTQ options; the defaults are the authors'.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct GptqConfig {
    /// Dampening as a fraction of the mean Hessian diagonal (0.01).
    pub damp: f64,
    /// Quantize columns in order of decreasing Hessian diagonal ("act-order") instead of 0..K.
    pub act_order: bool,
}

impl Default for GptqConfig {
    fn default() -> GptqConfig {
        GptqConfig {
            damp: 0.01,
            act_order: false,
        }
    }
}

/// How often the dampening is multiplied by 10 when the damped Hessian is not numerically
/// positive definite.
const DAMP_RETRIES: usize = 4;

/// The GPTQ grid values of `w` (`[rows, cols]`, `cols = h.k`) under `quant`, row-major.
/// Deterministic: no randomness, a fixed column order.
pub fn gptq_quantize(
    w: Matrix,
    h: &Hessian,
    quant: &Quantizer,
    cfg: &GptqConfig,
) -> Result<Vec<i8>, RoundingError> {
    let (order, hp) = prepare(w, h, quant, cfg)?;
    let k = w.cols;
    let u = factor(&hp, k, cfg.damp)?;
    let mut out = vec![0i8; w.data.len()];
    let mut row = vec![0f64; k];
    for r in 0..w.rows {
        let src = w.row(r);
        row.iter_mut()
            .zip(&order)
            .for_each(|(x, &c)| *x = src[c] as f64);
        for i in 0..k {
            let col = order[i];
            let s = quant.scale(k, r, col) as f64;
            let q = quant.grid.round((row[i] / s) as f32);
            out[r * k + col] = q;
            let e = (row[i] - q as f64 * s) / u[i * k + i];
            let ui = &u[i * k..(i + 1) * k];
            for j in i + 1..k {
                row[j] -= e * ui[j];
            }
        }
    }
    Ok(out)
}

/// Checks the inputs; returns the column order and `XᵀX` permuted to it, dead columns set to 1 on
/// the diagonal.
fn prepare(
    w: Matrix,
    h: &Hessian,
    quant: &Quantizer,
    cfg: &GptqConfig,
) -> Result<(Vec<usize>, Vec<f64>), RoundingError> {
    let k = w.cols;
    if h.k != k || h.xtx.len() != k * k {
        return Err(RoundingError::Shape(format!(
            "Hessian of K = {} for a matrix of {k} columns",
            h.k
        )));
    }
    quant.check(w.rows, k)?;
    if !cfg.damp.is_finite() || cfg.damp < 0.0 {
        return Err(RoundingError::NonFinite("dampening"));
    }
    if h.xtx.iter().any(|v| !v.is_finite()) {
        return Err(RoundingError::NonFinite("Hessian"));
    }
    let diag = |i: usize| h.xtx[i * k + i];
    let mut order: Vec<usize> = (0..k).collect();
    if cfg.act_order {
        order.sort_by(|&a, &b| diag(b).total_cmp(&diag(a)).then(a.cmp(&b)));
    }
    let mut hp = vec![0f64; k * k];
    for (i, &a) in order.iter().enumerate() {
        for (j, &b) in order.iter().enumerate() {
            hp[i * k + j] = h.xtx[a * k + b];
        }
        if hp[i * k + i] <= 0.0 {
            hp[i * k + i] = 1.0;
        }
    }
    Ok((order, hp))
}

/// `U` with `(H + λI)⁻¹ = UᵀU`, raising λ tenfold while the factorization fails.
fn factor(hp: &[f64], k: usize, damp: f64) -> Result<Vec<f64>, RoundingError> {
    let mean = (0..k).map(|i| hp[i * k + i]).sum::<f64>() / k as f64;
    let mut lambda = damp * mean;
    let mut last = RoundingError::NotPositiveDefinite { pivot: 0 };
    for _ in 0..=DAMP_RETRIES {
        let mut d = hp.to_vec();
        (0..k).for_each(|i| d[i * k + i] += lambda);
        match upper_cholesky_of_inverse(&d, k) {
            Ok(u) => return Ok(u),
            Err(e) => last = e,
        }
        lambda = if lambda > 0.0 {
            lambda * 10.0
        } else {
            1e-6 * mean
        };
    }
    Err(last)
}

/// The same algorithm written as OBQ with a fixed order: for every column, invert the damped
/// Hessian of the trailing columns from scratch and apply the optimal-brain-surgeon update.
/// O(rows·K⁴); never optimized — the twin [`gptq_quantize`] is tested against.
pub mod reference {
    use super::*;
    use crate::rounding::linalg::spd_inverse;

    pub fn gptq_quantize(
        w: Matrix,
        h: &Hessian,
        quant: &Quantizer,
        cfg: &GptqConfig,
    ) -> Result<Vec<i8>, RoundingError> {
        let (order, hp) = prepare(w, h, quant, cfg)?;
        let k = w.cols;
        let lambda = cfg.damp * (0..k).map(|i| hp[i * k + i]).sum::<f64>() / k as f64;
        let mut out = vec![0i8; w.data.len()];
        for r in 0..w.rows {
            let mut row: Vec<f64> = order.iter().map(|&c| w.row(r)[c] as f64).collect();
            for i in 0..k {
                let m = k - i;
                let mut sub = vec![0f64; m * m];
                for a in 0..m {
                    for b in 0..m {
                        sub[a * m + b] =
                            hp[(i + a) * k + i + b] + if a == b { lambda } else { 0.0 };
                    }
                }
                let inv = spd_inverse(&sub, m)?;
                let s = quant.scale(k, r, order[i]) as f64;
                let q = quant.grid.round((row[i] / s) as f32);
                out[r * k + order[i]] = q;
                let e = (row[i] - q as f64 * s) / inv[0];
                for j in 1..m {
                    row[i + j] -= e * inv[j];
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rounding::grid::{dequantize, nearest_quantize, Grid};
    use crate::rounding::hessian::HessianAccumulator;
    use proptest::prelude::*;

    /// SplitMix64-based normals: the same numbers everywhere.
    fn normals(seed: u64, n: usize) -> Vec<f32> {
        let mut s = seed;
        let mut next = || {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
        };
        (0..n)
            .map(|_| {
                let (u1, u2) = (next().max(1e-300), next());
                ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
            })
            .collect()
    }

    /// `n` rows of length `k` with correlated columns (a random mixing of fewer sources + noise).
    fn correlated(seed: u64, n: usize, k: usize) -> Hessian {
        let z = normals(seed, n * k);
        let mix = normals(seed + 1, k * k);
        let mut acc = HessianAccumulator::new(k).unwrap();
        for r in 0..n {
            let row: Vec<f32> = (0..k)
                .map(|j| {
                    let src = &z[r * k..r * k + k.div_ceil(2)];
                    let own = z[r * k + j] * 0.1;
                    src.iter()
                        .zip(&mix[j * k..])
                        .map(|(a, b)| a * b)
                        .sum::<f32>()
                        + own
                })
                .collect();
            acc.add_rows(&row, 1).unwrap();
        }
        acc.finish()
    }

    fn output_error(w: &[f32], wq: &[f32], rows: usize, h: &Hessian) -> f64 {
        let k = h.k;
        (0..rows)
            .map(|r| {
                let d: Vec<f64> = (0..k)
                    .map(|c| (w[r * k + c] - wq[r * k + c]) as f64)
                    .collect();
                h.quad(&d, &d)
            })
            .sum()
    }

    #[test]
    fn diagonal_hessian_is_nearest_rounding() {
        let (rows, k) = (5, 7);
        let w = normals(3, rows * k);
        let m = Matrix::new(&w, rows, k).unwrap();
        let mut acc = HessianAccumulator::new(k).unwrap();
        for j in 0..k {
            let mut e = vec![0f32; k];
            e[j] = (j + 1) as f32;
            acc.add_rows(&e, 1).unwrap();
        }
        let h = acc.finish();
        let q = Quantizer::absmax(m, Grid::symmetric(4).unwrap(), None).unwrap();
        let g = gptq_quantize(m, &h, &q, &GptqConfig::default()).unwrap();
        assert_eq!(g, nearest_quantize(m, &q).unwrap());
    }

    #[test]
    fn beats_nearest_rounding_on_correlated_inputs() {
        for (bits, group, act_order) in [(4, None, false), (3, Some(4), true), (2, None, false)] {
            let (rows, k) = (16, 24);
            let w = normals(11, rows * k);
            let m = Matrix::new(&w, rows, k).unwrap();
            let h = correlated(5, 400, k);
            let q = Quantizer::absmax(m, Grid::symmetric(bits).unwrap(), group).unwrap();
            let cfg = GptqConfig {
                act_order,
                ..Default::default()
            };
            let g = gptq_quantize(m, &h, &q, &cfg).unwrap();
            let near = nearest_quantize(m, &q).unwrap();
            let eg = output_error(&w, &dequantize(&g, rows, k, &q).unwrap(), rows, &h);
            let en = output_error(&w, &dequantize(&near, rows, k, &q).unwrap(), rows, &h);
            assert!(eg < 0.8 * en, "{bits} bits: GPTQ {eg} vs nearest {en}");
            assert_eq!(g, gptq_quantize(m, &h, &q, &cfg).unwrap(), "deterministic");
        }
    }

    #[test]
    fn binary_and_dead_columns() {
        let (rows, k) = (4, 6);
        let w = normals(21, rows * k);
        let m = Matrix::new(&w, rows, k).unwrap();
        let mut h = correlated(8, 100, k);
        // Column 2 never excited.
        for j in 0..k {
            h.xtx[2 * k + j] = 0.0;
            h.xtx[j * k + 2] = 0.0;
        }
        let q = Quantizer::absmax(m, Grid::Binary, None).unwrap();
        let g = gptq_quantize(m, &h, &q, &GptqConfig::default()).unwrap();
        assert!(g.iter().all(|&v| v == 1 || v == -1));
        let r = reference::gptq_quantize(m, &h, &q, &GptqConfig::default()).unwrap();
        assert_eq!(g, r);
    }

    #[test]
    fn refuses_bad_input() {
        let w = [1.0f32, 2.0, 3.0, 4.0];
        let m = Matrix::new(&w, 2, 2).unwrap();
        let h = correlated(1, 10, 3);
        let q = Quantizer::absmax(m, Grid::symmetric(4).unwrap(), None).unwrap();
        assert!(matches!(
            gptq_quantize(m, &h, &q, &GptqConfig::default()),
            Err(RoundingError::Shape(_))
        ));
        let h = correlated(1, 10, 2);
        let cfg = GptqConfig {
            damp: f64::NAN,
            ..Default::default()
        };
        assert!(gptq_quantize(m, &h, &q, &cfg).is_err());
        let mut bad = h.clone();
        bad.xtx[0] = f64::INFINITY;
        assert!(gptq_quantize(m, &bad, &q, &GptqConfig::default()).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn matches_the_obq_reference(
            rows in 1usize..5, k in 1usize..19, n in 1usize..40, seed in 0u64..1000,
            bits in 2u8..9, group in prop::option::of(1usize..6), act_order in any::<bool>(),
        ) {
            let w = normals(seed, rows * k);
            let m = Matrix::new(&w, rows, k).unwrap();
            let h = correlated(seed + 7, n, k);
            let q = Quantizer::absmax(m, Grid::symmetric(bits).unwrap(), group).unwrap();
            let cfg = GptqConfig { act_order, ..Default::default() };
            let fast = gptq_quantize(m, &h, &q, &cfg).unwrap();
            let slow = reference::gptq_quantize(m, &h, &q, &cfg).unwrap();
            prop_assert_eq!(fast, slow);
        }
    }
}

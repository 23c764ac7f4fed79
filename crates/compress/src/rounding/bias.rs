//! Empirical bias correction and the layer-output error, both from a layer's input statistics
//! ([`Hessian`]: `XᵀX`, `Σx`, `n` per group) without running the layer again.
//!
//! For row `r` (group `g`) with float weights `w`, bias `b`, quantized `ŵ`, `b̂`:
//! `Σ‖y‖² = w·XᵀX·wᵀ + 2b·(w·Σx) + n·b²` and, with `Δ = ŵ − w`, `δ = b̂ − b`,
//! `Σ‖ŷ − y‖² = Δ·XᵀX·Δᵀ + 2δ·(Δ·Σx) + n·δ²`.
use super::grid::Matrix;
use super::hessian::Hessian;
use super::RoundingError;

/// `−(ŵ_r − w_r)·E[x]` per row: added to the bias, it makes the quantized layer's mean output on
/// the calibration inputs equal the float layer's, `E[Ŵx] + b̂ = E[Wx] + b`.
pub fn bias_correction(
    w: Matrix,
    w_hat: &[f32],
    hessians: &[Hessian],
) -> Result<Vec<f32>, RoundingError> {
    let per = check(w, w_hat, hessians)?;
    let mut out = Vec::with_capacity(w.rows);
    for r in 0..w.rows {
        let mean = hessians[r / per].mean();
        let d: f64 = (0..w.cols)
            .map(|c| (w_hat[r * w.cols + c] - w.data[r * w.cols + c]) as f64 * mean[c])
            .sum();
        out.push(-d as f32);
    }
    Ok(out)
}

/// Squared output energies of a layer over its calibration inputs.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct OutputError {
    /// `Σ‖y‖²` of the float layer.
    pub signal: f64,
    /// `Σ‖ŷ − y‖²`.
    pub error: f64,
    /// Output elements summed over.
    pub count: u64,
}

impl OutputError {
    /// `10·log10(signal / error)`; infinite when the error is zero.
    pub fn sqnr_db(&self) -> f64 {
        10.0 * (self.signal / self.error).log10()
    }

    /// Mean squared error per output element.
    pub fn mse(&self) -> f64 {
        self.error / self.count.max(1) as f64
    }
}

/// The output signal and error of a layer with float `(w, bias)` and quantized
/// `(w_hat, bias_hat)`, over the inputs summarized by `hessians` (one per group).
pub fn output_error(
    w: Matrix,
    w_hat: &[f32],
    bias: &[f32],
    bias_hat: &[f32],
    hessians: &[Hessian],
) -> Result<OutputError, RoundingError> {
    let per = check(w, w_hat, hessians)?;
    if bias.len() != w.rows || bias_hat.len() != w.rows {
        return Err(RoundingError::Shape(format!(
            "biases of {} and {} values for {} rows",
            bias.len(),
            bias_hat.len(),
            w.rows
        )));
    }
    let mut e = OutputError::default();
    for r in 0..w.rows {
        let h = &hessians[r / per];
        let wr: Vec<f64> = w.row(r).iter().map(|&v| v as f64).collect();
        let dr: Vec<f64> = (0..w.cols)
            .map(|c| (w_hat[r * w.cols + c] - w.data[r * w.cols + c]) as f64)
            .collect();
        let (b, db) = (bias[r] as f64, (bias_hat[r] - bias[r]) as f64);
        let n = h.n as f64;
        let dot = |v: &[f64]| v.iter().zip(&h.sum).map(|(a, s)| a * s).sum::<f64>();
        e.signal += h.quad(&wr, &wr) + 2.0 * b * dot(&wr) + n * b * b;
        e.error += h.quad(&dr, &dr) + 2.0 * db * dot(&dr) + n * db * db;
        e.count += h.n;
    }
    Ok(e)
}

/// Rows per group after checking the sizes.
fn check(w: Matrix, w_hat: &[f32], hessians: &[Hessian]) -> Result<usize, RoundingError> {
    if w_hat.len() != w.data.len() {
        return Err(RoundingError::Shape(format!(
            "{} quantized values for {} weights",
            w_hat.len(),
            w.data.len()
        )));
    }
    if hessians.is_empty() || !w.rows.is_multiple_of(hessians.len()) {
        return Err(RoundingError::Shape(format!(
            "{} groups for {} rows",
            hessians.len(),
            w.rows
        )));
    }
    if let Some(h) = hessians.iter().find(|h| h.k != w.cols) {
        return Err(RoundingError::Shape(format!(
            "statistics of K = {} for {} columns",
            h.k, w.cols
        )));
    }
    Ok(w.rows / hessians.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rounding::hessian::HessianAccumulator;

    #[test]
    fn correction_and_error_match_a_direct_computation() {
        // Two groups of one row each, K = 2.
        let xs: [[f32; 2]; 3] = [[1.0, 2.0], [0.5, -1.0], [2.0, 0.0]];
        let mut accs = [
            HessianAccumulator::new(2).unwrap(),
            HessianAccumulator::new(2).unwrap(),
        ];
        for x in &xs {
            accs[0].add_rows(x, 1).unwrap();
            accs[1].add_rows(&[x[1], x[0]], 1).unwrap();
        }
        let hs: Vec<_> = accs.into_iter().map(|a| a.finish()).collect();
        let w = [0.3f32, -0.7, 1.1, 0.2];
        let wq = [0.25f32, -0.75, 1.0, 0.25];
        let m = Matrix::new(&w, 2, 2).unwrap();
        let c = bias_correction(m, &wq, &hs).unwrap();
        let b = [0.1f32, -0.2];
        let bq = [b[0] + c[0], b[1] + c[1]];
        // Direct: outputs per row and input.
        let (mut sig, mut err, mut mean_diff) = (0.0f64, 0.0f64, [0.0f64; 2]);
        for x in &xs {
            for r in 0..2 {
                let xr = if r == 0 { [x[0], x[1]] } else { [x[1], x[0]] };
                let y = w[2 * r] * xr[0] + w[2 * r + 1] * xr[1] + b[r];
                let yq = wq[2 * r] * xr[0] + wq[2 * r + 1] * xr[1] + bq[r];
                sig += (y as f64).powi(2);
                err += ((yq - y) as f64).powi(2);
                mean_diff[r] += (yq - y) as f64 / 3.0;
            }
        }
        assert!(mean_diff.iter().all(|d| d.abs() < 1e-6), "{mean_diff:?}");
        let e = output_error(m, &wq, &b, &bq, &hs).unwrap();
        assert!(
            (e.signal - sig).abs() < 1e-5 && (e.error - err).abs() < 1e-6,
            "{e:?}"
        );
        assert_eq!(e.count, 6);
        assert!(output_error(m, &wq, &b[..1], &bq, &hs).is_err());
        assert!(bias_correction(m, &wq[..3], &hs).is_err());
    }
}

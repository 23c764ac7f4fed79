//! Second-order statistics of a layer's input: `XᵀX`, `Σx` and the row count, streamed.
//!
//! GPTQ's Hessian of the layer-wise squared error `‖W Xᵀ − Ŵ Xᵀ‖²` is `H = 2·XᵀX` (the factor
//! does not matter: dampening is relative to the mean diagonal); bias correction and the output
//! error read `Σx` and the count too.
use super::RoundingError;

/// Largest reduction length K accepted: the `K × K` f64 matrix is then at most 128 MiB.
pub const MAX_K: usize = 4096;

/// Streams rows `x ∈ R^K` into `XᵀX` (upper triangle while streaming), `Σx` and `n`. Memory is
/// `K² + K` f64 whatever the number of rows.
#[derive(Clone, Debug)]
pub struct HessianAccumulator {
    k: usize,
    xtx: Vec<f64>,
    sum: Vec<f64>,
    n: u64,
}

/// The finished statistics of `n` rows of length `k`.
#[derive(Clone, Debug, PartialEq)]
pub struct Hessian {
    pub k: usize,
    /// `XᵀX`, full symmetric, row-major `k × k`.
    pub xtx: Vec<f64>,
    /// `Σ x` over rows.
    pub sum: Vec<f64>,
    pub n: u64,
}

impl HessianAccumulator {
    /// An empty accumulator for rows of length `k` (`1 ≤ k ≤ MAX_K`).
    pub fn new(k: usize) -> Result<HessianAccumulator, RoundingError> {
        if k == 0 || k > MAX_K {
            return Err(RoundingError::TooLarge { k, max: MAX_K });
        }
        Ok(HessianAccumulator {
            k,
            xtx: vec![0.0; k * k],
            sum: vec![0.0; k],
            n: 0,
        })
    }

    pub fn k(&self) -> usize {
        self.k
    }

    /// Adds `n` rows stored back to back in `rows` (`rows.len() == n · k`). Non-finite values are
    /// refused and leave the accumulator unchanged.
    pub fn add_rows(&mut self, rows: &[f32], n: usize) -> Result<(), RoundingError> {
        if n.checked_mul(self.k) != Some(rows.len()) {
            return Err(RoundingError::Shape(format!(
                "{} values for {n} rows of {}",
                rows.len(),
                self.k
            )));
        }
        if rows.iter().any(|v| !v.is_finite()) {
            return Err(RoundingError::NonFinite("activation"));
        }
        for row in rows.chunks_exact(self.k) {
            self.add_row_unchecked(row);
        }
        Ok(())
    }

    fn add_row_unchecked(&mut self, row: &[f32]) {
        let k = self.k;
        for (i, &xi) in row.iter().enumerate() {
            if xi == 0.0 {
                continue;
            }
            let xi = xi as f64;
            self.sum[i] += xi;
            let h = &mut self.xtx[i * k + i..(i + 1) * k];
            for (hj, &xj) in h.iter_mut().zip(&row[i..]) {
                *hj += xi * xj as f64;
            }
        }
        self.n += 1;
    }

    /// Adds the statistics of another accumulator of the same `k`.
    pub fn merge(&mut self, other: &HessianAccumulator) -> Result<(), RoundingError> {
        if other.k != self.k {
            return Err(RoundingError::Shape(format!(
                "merging K = {} into K = {}",
                other.k, self.k
            )));
        }
        self.xtx
            .iter_mut()
            .zip(&other.xtx)
            .for_each(|(a, b)| *a += b);
        self.sum
            .iter_mut()
            .zip(&other.sum)
            .for_each(|(a, b)| *a += b);
        self.n += other.n;
        Ok(())
    }

    /// The statistics, `XᵀX` mirrored to a full symmetric matrix.
    pub fn finish(self) -> Hessian {
        let k = self.k;
        let mut xtx = self.xtx;
        for i in 0..k {
            for j in 0..i {
                xtx[i * k + j] = xtx[j * k + i];
            }
        }
        Hessian {
            k,
            xtx,
            sum: self.sum,
            n: self.n,
        }
    }
}

impl Hessian {
    /// `E[x]` (zeros when no rows were seen).
    pub fn mean(&self) -> Vec<f64> {
        let n = self.n.max(1) as f64;
        self.sum.iter().map(|s| s / n).collect()
    }

    /// `a · XᵀX · bᵀ` for two length-K vectors.
    pub fn quad(&self, a: &[f64], b: &[f64]) -> f64 {
        let k = self.k;
        let mut s = 0.0;
        for (ai, row) in a.iter().zip(self.xtx.chunks_exact(k)) {
            if *ai != 0.0 {
                s += ai * row.iter().zip(b).map(|(h, y)| h * y).sum::<f64>();
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_xtx_sum_and_count() {
        let mut acc = HessianAccumulator::new(2).unwrap();
        acc.add_rows(&[1.0, 2.0, 3.0, -1.0], 2).unwrap();
        let mut other = HessianAccumulator::new(2).unwrap();
        other.add_rows(&[0.0, 1.0], 1).unwrap();
        acc.merge(&other).unwrap();
        let h = acc.finish();
        // rows (1,2), (3,-1), (0,1): XᵀX = [[10, -1], [-1, 6]].
        assert_eq!(h.xtx, vec![10.0, -1.0, -1.0, 6.0]);
        assert_eq!(h.sum, vec![4.0, 2.0]);
        assert_eq!(h.n, 3);
        assert_eq!(h.quad(&[1.0, 1.0], &[1.0, 0.0]), 9.0);
    }

    #[test]
    fn refuses_bad_input() {
        assert!(HessianAccumulator::new(0).is_err());
        assert!(HessianAccumulator::new(MAX_K + 1).is_err());
        let mut acc = HessianAccumulator::new(2).unwrap();
        assert!(acc.add_rows(&[1.0, 2.0, 3.0], 2).is_err());
        assert!(acc.add_rows(&[1.0, f32::INFINITY], 1).is_err());
        assert!(acc.merge(&HessianAccumulator::new(3).unwrap()).is_err());
        assert_eq!(acc.finish().n, 0);
    }
}

//! Dense symmetric positive-definite algebra in f64 on row-major `k × k` matrices: Cholesky
//! factorization, triangular inversion, and the SPD inverse. Small and obviously correct (the
//! matrices here are at most a few thousand wide); no LAPACK.
use super::RoundingError;

/// Lower-triangular `L` with `a = L·Lᵀ`. Fails at the first pivot that is not positive.
pub fn cholesky(a: &[f64], k: usize) -> Result<Vec<f64>, RoundingError> {
    let mut l = vec![0f64; k * k];
    for i in 0..k {
        for j in 0..=i {
            let dot: f64 = (0..j).map(|p| l[i * k + p] * l[j * k + p]).sum();
            let v = a[i * k + j] - dot;
            if i == j {
                if v.is_nan() || v <= 0.0 || !v.is_finite() {
                    return Err(RoundingError::NotPositiveDefinite { pivot: i });
                }
                l[i * k + i] = v.sqrt();
            } else {
                l[i * k + j] = v / l[j * k + j];
            }
        }
    }
    Ok(l)
}

/// `L⁻¹` of a lower-triangular `L` with a positive diagonal (forward substitution per column).
pub fn invert_lower(l: &[f64], k: usize) -> Vec<f64> {
    let mut inv = vec![0f64; k * k];
    for c in 0..k {
        inv[c * k + c] = 1.0 / l[c * k + c];
        for i in c + 1..k {
            let s: f64 = (c..i).map(|p| l[i * k + p] * inv[p * k + c]).sum();
            inv[i * k + c] = -s / l[i * k + i];
        }
    }
    inv
}

/// `a⁻¹` of an SPD matrix, as `L⁻ᵀ·L⁻¹`.
pub fn spd_inverse(a: &[f64], k: usize) -> Result<Vec<f64>, RoundingError> {
    let li = invert_lower(&cholesky(a, k)?, k);
    let mut inv = vec![0f64; k * k];
    for i in 0..k {
        for j in 0..=i {
            // (Lᵀ⁻¹ L⁻¹)[i][j] = Σ_p L⁻¹[p][i] · L⁻¹[p][j], p ≥ max(i, j) = i.
            let s: f64 = (i..k).map(|p| li[p * k + i] * li[p * k + j]).sum();
            inv[i * k + j] = s;
            inv[j * k + i] = s;
        }
    }
    Ok(inv)
}

/// Upper-triangular `U` with `a⁻¹ = Uᵀ·U` (what GPTQ walks row by row).
pub fn upper_cholesky_of_inverse(a: &[f64], k: usize) -> Result<Vec<f64>, RoundingError> {
    let l = cholesky(&spd_inverse(a, k)?, k)?;
    let mut u = vec![0f64; k * k];
    for i in 0..k {
        for j in 0..=i {
            u[j * k + i] = l[i * k + j];
        }
    }
    Ok(u)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matmul(a: &[f64], b: &[f64], k: usize) -> Vec<f64> {
        let mut c = vec![0f64; k * k];
        for i in 0..k {
            for j in 0..k {
                c[i * k + j] = (0..k).map(|p| a[i * k + p] * b[p * k + j]).sum();
            }
        }
        c
    }

    fn transpose(a: &[f64], k: usize) -> Vec<f64> {
        (0..k * k).map(|i| a[(i % k) * k + i / k]).collect()
    }

    #[test]
    fn known_factorization() {
        let a = [4.0, 12.0, -16.0, 12.0, 37.0, -43.0, -16.0, -43.0, 98.0];
        let l = cholesky(&a, 3).unwrap();
        assert_eq!(l, vec![2.0, 0.0, 0.0, 6.0, 1.0, 0.0, -8.0, 5.0, 3.0]);
        let inv = spd_inverse(&a, 3).unwrap();
        let id = matmul(&a, &inv, 3);
        for i in 0..3 {
            for j in 0..3 {
                let e = if i == j { 1.0 } else { 0.0 };
                assert!((id[i * 3 + j] - e).abs() < 1e-9, "{id:?}");
            }
        }
        let u = upper_cholesky_of_inverse(&a, 3).unwrap();
        assert!(u[3] == 0.0 && u[6] == 0.0 && u[7] == 0.0);
        let back = matmul(&transpose(&u, 3), &u, 3);
        for (x, y) in back.iter().zip(&inv) {
            assert!((x - y).abs() < 1e-9);
        }
    }

    #[test]
    fn refuses_indefinite() {
        assert_eq!(
            cholesky(&[1.0, 2.0, 2.0, 1.0], 2),
            Err(RoundingError::NotPositiveDefinite { pivot: 1 })
        );
        assert!(cholesky(&[f64::NAN], 1).is_err());
    }
}

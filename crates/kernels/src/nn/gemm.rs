//! Matrix product `C = alpha · A · B + beta · C` on strided views, through the `gemm` crate.
use super::{err, NnError};

/// A read-only `rows × cols` f32 matrix inside a slice: element `(r, c)` is
/// `data[r * row_stride + c * col_stride]`.
#[derive(Clone, Copy, Debug)]
pub struct Mat<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> Mat<'a> {
    /// A strided view; fails when an element would fall outside `data`.
    pub fn new(
        data: &'a [f32],
        rows: usize,
        cols: usize,
        row_stride: usize,
        col_stride: usize,
    ) -> Result<Mat<'a>, NnError> {
        if rows > 0 && cols > 0 {
            let last = (rows - 1)
                .checked_mul(row_stride)
                .zip((cols - 1).checked_mul(col_stride))
                .and_then(|(a, b)| a.checked_add(b));
            match last {
                Some(l) if l < data.len() && l <= isize::MAX as usize => {}
                _ => {
                    return err(format!(
                        "{rows}x{cols} matrix with strides ({row_stride}, {col_stride}) \
                         does not fit {} elements",
                        data.len()
                    ))
                }
            }
        }
        Ok(Mat {
            data,
            rows,
            cols,
            row_stride,
            col_stride,
        })
    }

    /// A dense row-major `rows × cols` matrix.
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Result<Mat<'a>, NnError> {
        Mat::new(data, rows, cols, cols, 1)
    }

    /// The transposed view (no copy).
    pub fn t(self) -> Mat<'a> {
        Mat {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Element `(r, c)`; the caller keeps `r < rows`, `c < cols`.
    pub fn at(&self, r: usize, c: usize) -> f32 {
        self.data[r * self.row_stride + c * self.col_stride]
    }
}

/// Checks the product's shapes; returns `(m, k, n)`.
pub(crate) fn check_product(
    a: &Mat,
    b: &Mat,
    c_len: usize,
) -> Result<(usize, usize, usize), NnError> {
    if a.cols != b.rows {
        return err(format!(
            "matrix product of {}x{} by {}x{}",
            a.rows, a.cols, b.rows, b.cols
        ));
    }
    match a.rows.checked_mul(b.cols) {
        Some(mn) if mn == c_len => Ok((a.rows, a.cols, b.cols)),
        _ => err(format!(
            "product is {}x{} but the output holds {c_len} elements",
            a.rows, b.cols
        )),
    }
}

/// `c = alpha · a · b + beta · c`, `c` dense row-major `a.rows() × b.cols()`. When `beta == 0`
/// the previous contents of `c` are ignored (not multiplied, so NaNs there do not propagate).
/// Single-threaded and deterministic for a given machine.
pub fn gemm(alpha: f32, a: Mat, b: Mat, beta: f32, c: &mut [f32]) -> Result<(), NnError> {
    let (m, k, n) = check_product(&a, &b, c.len())?;
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 {
        for v in c.iter_mut() {
            *v = if beta == 0.0 { 0.0 } else { beta * *v };
        }
        return Ok(());
    }
    // SAFETY: `Mat::new` proved every element `(r, c)` of `a` and `b` lies inside its slice and
    // that the offsets fit `isize`; `check_product` proved `c` holds exactly `m × n` elements,
    // addressed row-major with row stride `n` and column stride 1. `c` is borrowed mutably, so
    // it cannot alias `a` or `b`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            beta != 0.0,
            a.data.as_ptr(),
            a.col_stride as isize,
            a.row_stride as isize,
            b.data.as_ptr(),
            b.col_stride as isize,
            b.row_stride as isize,
            beta,
            alpha,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::reference;
    use proptest::prelude::*;

    #[test]
    fn small_product_is_exact() {
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let b = [7.0, 8.0, 9.0, 10.0, 11.0, 12.0];
        let mut c = [0.0; 4];
        let am = Mat::row_major(&a, 2, 3).unwrap();
        let bm = Mat::row_major(&b, 3, 2).unwrap();
        gemm(1.0, am, bm, 0.0, &mut c).unwrap();
        assert_eq!(c, [58.0, 64.0, 139.0, 154.0]);
    }

    #[test]
    fn beta_zero_ignores_nan_in_c() {
        let a = [1.0; 4];
        let mut c = [f32::NAN; 4];
        let m = Mat::row_major(&a, 2, 2).unwrap();
        gemm(1.0, m, m, 0.0, &mut c).unwrap();
        assert_eq!(c, [2.0; 4]);
    }

    #[test]
    fn view_outside_slice_is_refused() {
        assert!(Mat::new(&[0.0; 5], 2, 3, 3, 1).is_err());
        assert!(Mat::new(&[0.0; 6], 2, 3, 3, 1).is_ok());
        let a = [0.0; 6];
        let m = Mat::row_major(&a, 2, 3).unwrap();
        assert!(gemm(1.0, m, m, 0.0, &mut [0.0; 4]).is_err());
    }

    fn case() -> impl Strategy<Value = (usize, usize, usize, bool, bool, f32, f32, u64)> {
        (
            1usize..40,
            0usize..70,
            1usize..40,
            any::<bool>(),
            any::<bool>(),
            prop_oneof![Just(1.0f32), -2.0f32..2.0],
            prop_oneof![Just(0.0f32), Just(1.0f32), -2.0f32..2.0],
            any::<u64>(),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn fast_matches_reference((m, k, n, ta, tb, alpha, beta, seed) in case()) {
            let a = crate::nn::testutil::values(m * k, seed);
            let b = crate::nn::testutil::values(k * n, seed ^ 1);
            let c0 = crate::nn::testutil::values(m * n, seed ^ 2);
            let am = if ta { Mat::row_major(&a, k, m).unwrap().t() } else { Mat::row_major(&a, m, k).unwrap() };
            let bm = if tb { Mat::row_major(&b, n, k).unwrap().t() } else { Mat::row_major(&b, k, n).unwrap() };
            let mut fast = c0.clone();
            let mut slow = c0.clone();
            gemm(alpha, am, bm, beta, &mut fast).unwrap();
            reference::gemm(alpha, am, bm, beta, &mut slow).unwrap();
            let tol = crate::nn::testutil::tolerance(&slow, k + 1);
            for (i, (f, s)) in fast.iter().zip(&slow).enumerate() {
                prop_assert!((f - s).abs() <= tol, "m={m} k={k} n={n} at {i}: {f} vs {s} (tol {tol})");
            }
        }
    }
}

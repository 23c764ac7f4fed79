//! Scalar twins of the shape kernels: every output element's source address is computed from
//! scratch (div/mod of its flat index). Never optimized; the fast kernels are tested against them.
use super::gather::axis_offsets;
use super::strided::{transpose_view, view_len};
use super::{numel, ShapeKernelError};

/// Multi-index of flat position `flat` in a row-major `shape`.
fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for k in (0..shape.len()).rev() {
        idx[k] = flat % shape[k];
        flat /= shape[k];
    }
    idx
}

/// Twin of [`super::copy_strided`].
pub fn copy_strided<T: Copy>(
    x: &[T],
    out_shape: &[usize],
    offset: usize,
    strides: &[isize],
) -> Result<Vec<T>, ShapeKernelError> {
    let n = view_len(x.len(), out_shape, offset, strides)?;
    Ok((0..n)
        .map(|flat| {
            let idx = unravel(flat, out_shape);
            let addr = idx
                .iter()
                .zip(strides)
                .fold(offset as isize, |a, (&i, &s)| a + i as isize * s);
            x[addr as usize]
        })
        .collect())
}

/// Twin of [`super::transpose`].
pub fn transpose<T: Copy>(
    x: &[T],
    shape: &[usize],
    perm: &[usize],
) -> Result<Vec<T>, ShapeKernelError> {
    let (out_shape, strides) = transpose_view(x.len(), shape, perm)?;
    copy_strided(x, &out_shape, 0, &strides)
}

/// Twin of [`super::gather_axes`].
pub fn gather_axes<T: Copy>(
    x: &[T],
    shape: &[usize],
    maps: &[Vec<Option<usize>>],
    fill: T,
) -> Result<Vec<T>, ShapeKernelError> {
    let offsets = axis_offsets(x.len(), shape, maps)?;
    let out_shape: Vec<usize> = maps.iter().map(Vec::len).collect();
    let n = numel(&out_shape)?;
    Ok((0..n)
        .map(|flat| {
            let idx = unravel(flat, &out_shape);
            idx.iter()
                .zip(&offsets)
                .try_fold(0usize, |acc, (&i, offs)| offs[i].map(|o| acc + o))
                .map_or(fill, |a| x[a])
        })
        .collect())
}

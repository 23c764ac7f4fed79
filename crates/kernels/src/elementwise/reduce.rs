//! Mean over a set of axes.
use super::{check_len, numel, with_capacity, ElementwiseError, Numeric};

/// `shape` with `axes` set to 1 (`keepdims`) or removed. `axes` must be valid indices of `shape`.
pub fn reduced_shape(shape: &[usize], axes: &[usize], keepdims: bool) -> Vec<usize> {
    shape
        .iter()
        .enumerate()
        .filter_map(|(i, &d)| match (axes.contains(&i), keepdims) {
            (false, _) => Some(d),
            (true, true) => Some(1),
            (true, false) => None,
        })
        .collect()
}

/// The mean of `x` (of `shape`) over `axes` (each `< shape.len()`, any order, no duplicates
/// needed), in the row-major order of the kept dimensions. Sums accumulate in `T` in row-major
/// order; integer means truncate toward zero. A mean over zero elements is `0 / 0` (NaN for
/// floats, 0 for integers).
pub fn reduce_mean<T: Numeric>(
    x: &[T],
    shape: &[usize],
    axes: &[usize],
) -> Result<Vec<T>, ElementwiseError> {
    check_len(shape, x.len())?;
    if let Some(&bad) = axes.iter().find(|&&a| a >= shape.len()) {
        return Err(ElementwiseError::Layout(format!(
            "axis {bad} out of range for shape {shape:?}"
        )));
    }
    let out_shape = reduced_shape(shape, axes, true);
    let n_out = numel(&out_shape)?;
    let count = T::from_usize(x.len().checked_div(n_out).unwrap_or(0));
    let mut sums = with_capacity(n_out)?;
    sums.resize(n_out, T::ZERO);
    let first_reduced = (0..shape.len()).find(|i| axes.contains(i));
    let trailing = first_reduced.is_some_and(|k| (k..shape.len()).all(|i| axes.contains(&i)));
    if trailing && n_out > 0 {
        let block = x.len() / n_out;
        for (s, chunk) in sums.iter_mut().zip(x.chunks_exact(block.max(1))) {
            *s = chunk.iter().fold(T::ZERO, |acc, &v| acc.num_add(v));
        }
    } else {
        accumulate(x, shape, &out_shape, &mut sums);
    }
    Ok(sums.into_iter().map(|s| s.num_div(count)).collect())
}

/// Adds every element of `x` (row-major over `shape`) into its slot of `sums` (row-major over
/// `out_shape`, the keepdims shape).
fn accumulate<T: Numeric>(x: &[T], shape: &[usize], out_shape: &[usize], sums: &mut [T]) {
    let rank = shape.len();
    let mut out_strides = vec![0usize; rank];
    let mut acc = 1usize;
    for d in (0..rank).rev() {
        if out_shape[d] != 1 {
            out_strides[d] = acc;
        }
        acc *= out_shape[d];
    }
    let mut idx = vec![0usize; rank];
    let mut off = 0usize;
    for &v in x {
        sums[off] = sums[off].num_add(v);
        for d in (0..rank).rev() {
            idx[d] += 1;
            off += out_strides[d];
            if idx[d] < shape[d] {
                break;
            }
            off -= out_strides[d] * shape[d];
            idx[d] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Mean by definition: for each output slot, average the inputs whose kept coordinates match.
    fn naive(x: &[f64], shape: &[usize], axes: &[usize]) -> Vec<f64> {
        let out_shape = reduced_shape(shape, axes, true);
        let n_out: usize = out_shape.iter().product();
        let mut sums = vec![(0.0, 0usize); n_out];
        for (flat, &v) in x.iter().enumerate() {
            let mut rem = flat;
            let mut coords = vec![0; shape.len()];
            for d in (0..shape.len()).rev() {
                coords[d] = rem % shape[d];
                rem /= shape[d];
            }
            let o = (0..shape.len()).fold(0, |acc, d| {
                acc * out_shape[d] + if axes.contains(&d) { 0 } else { coords[d] }
            });
            sums[o].0 += v;
            sums[o].1 += 1;
        }
        sums.iter().map(|(s, c)| s / *c as f64).collect()
    }

    #[test]
    fn matches_the_definition_on_every_axis_subset() {
        let shape = [2usize, 3, 4];
        let x: Vec<f64> = (0..24).map(|i| (i * i % 7) as f64 - 2.5).collect();
        for mask in 0u32..8 {
            let axes: Vec<usize> = (0..3).filter(|b| mask >> b & 1 == 1).collect();
            let got = reduce_mean(&x, &shape, &axes).unwrap();
            let want = naive(&x, &shape, &axes);
            assert_eq!(got.len(), want.len(), "axes {axes:?}");
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() < 1e-12, "axes {axes:?}: {g} vs {w}");
            }
        }
    }

    #[test]
    fn shapes_and_integers() {
        assert_eq!(reduced_shape(&[2, 3, 4], &[0, 2], true), vec![1, 3, 1]);
        assert_eq!(reduced_shape(&[2, 3, 4], &[0, 2], false), vec![3]);
        assert_eq!(
            reduce_mean(&[1i32, 2, 4, -7], &[2, 2], &[1]).unwrap(),
            vec![1, -1]
        );
        assert!(reduce_mean(&[1.0f32], &[1], &[1]).is_err());
        assert!(reduce_mean::<f32>(&[], &[0, 2], &[0]).unwrap()[0].is_nan());
    }
}

use super::{check_len, numel, strides, ShapeKernelError};

/// Copies a strided view of `x` into a new row-major buffer of shape `out_shape`: the element at
/// multi-index `i` reads `x[offset + Σ i_k · strides[k]]` (strides may be negative or zero).
///
/// Errors when the view's extreme addresses fall outside `x` (an empty view reads nothing and
/// always succeeds).
pub fn copy_strided<T: Copy>(
    x: &[T],
    out_shape: &[usize],
    offset: usize,
    strides: &[isize],
) -> Result<Vec<T>, ShapeKernelError> {
    let n = view_len(x.len(), out_shape, offset, strides)?;
    let mut out = Vec::with_capacity(n);
    if n == 0 {
        return Ok(out);
    }
    let rank = out_shape.len();
    if rank == 0 {
        out.push(x[offset]);
        return Ok(out);
    }
    let inner = out_shape[rank - 1];
    let inner_stride = strides[rank - 1];
    let mut idx = vec![0usize; rank - 1];
    let mut base = offset as isize;
    loop {
        if inner_stride == 1 {
            let b = base as usize;
            out.extend_from_slice(&x[b..b + inner]);
        } else {
            let mut a = base;
            for _ in 0..inner {
                out.push(x[a as usize]);
                a += inner_stride;
            }
        }
        // Advance the odometer over the outer axes, updating the base address incrementally.
        let mut k = rank - 1;
        loop {
            if k == 0 {
                return Ok(out);
            }
            k -= 1;
            idx[k] += 1;
            base += strides[k];
            if idx[k] < out_shape[k] {
                break;
            }
            base -= strides[k] * out_shape[k] as isize;
            idx[k] = 0;
        }
    }
}

/// Validates a strided view against a buffer of `len` elements; returns the view's element count.
pub(crate) fn view_len(
    len: usize,
    out_shape: &[usize],
    offset: usize,
    strides: &[isize],
) -> Result<usize, ShapeKernelError> {
    if strides.len() != out_shape.len() {
        return Err(ShapeKernelError::Invalid(format!(
            "{} strides for a rank-{} view",
            strides.len(),
            out_shape.len()
        )));
    }
    let n = numel(out_shape)?;
    if n == 0 {
        return Ok(0);
    }
    let (mut lo, mut hi) = (offset as i128, offset as i128);
    for (&d, &s) in out_shape.iter().zip(strides) {
        let span = (d as i128 - 1) * s as i128;
        if span < 0 {
            lo += span;
        } else {
            hi += span;
        }
    }
    if lo < 0 {
        return Err(ShapeKernelError::OutOfBounds(lo));
    }
    if hi >= len as i128 {
        return Err(ShapeKernelError::OutOfBounds(hi));
    }
    Ok(n)
}

/// Permutes the axes of `x` (shape `shape`): output axis `k` is input axis `perm[k]`.
pub fn transpose<T: Copy>(
    x: &[T],
    shape: &[usize],
    perm: &[usize],
) -> Result<Vec<T>, ShapeKernelError> {
    let (out_shape, view_strides) = transpose_view(x.len(), shape, perm)?;
    copy_strided(x, &out_shape, 0, &view_strides)
}

/// Output shape and input strides of a transpose, after validating `perm` and `x`'s length.
pub(crate) fn transpose_view(
    len: usize,
    shape: &[usize],
    perm: &[usize],
) -> Result<(Vec<usize>, Vec<isize>), ShapeKernelError> {
    check_len(len, shape)?;
    let rank = shape.len();
    let mut seen = vec![false; rank];
    for &p in perm {
        if p >= rank || std::mem::replace(&mut seen[p], true) {
            return Err(ShapeKernelError::Invalid(format!(
                "{perm:?} is not a permutation of {rank} axes"
            )));
        }
    }
    if perm.len() != rank {
        return Err(ShapeKernelError::Invalid(format!(
            "{perm:?} is not a permutation of {rank} axes"
        )));
    }
    let st = strides(shape);
    let out_shape = perm.iter().map(|&p| shape[p]).collect();
    let view_strides = perm.iter().map(|&p| st[p] as isize).collect();
    Ok((out_shape, view_strides))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shape::reference;
    use proptest::prelude::*;

    #[test]
    fn transpose_2d() {
        let x = [1, 2, 3, 4, 5, 6];
        assert_eq!(transpose(&x, &[2, 3], &[1, 0]).unwrap(), [1, 4, 2, 5, 3, 6]);
    }

    #[test]
    fn negative_strides_reverse() {
        let x = [1, 2, 3, 4];
        assert_eq!(copy_strided(&x, &[4], 3, &[-1]).unwrap(), [4, 3, 2, 1]);
    }

    #[test]
    fn out_of_bounds_view_is_refused() {
        let x = [1, 2, 3];
        assert!(copy_strided(&x, &[2], 2, &[1]).is_err());
        assert!(copy_strided(&x, &[2], 0, &[-1]).is_err());
        assert_eq!(
            copy_strided(&x, &[0, 5], 9, &[1, 1]).unwrap(),
            Vec::<i32>::new()
        );
    }

    #[test]
    fn scalar_view() {
        assert_eq!(copy_strided(&[7u8, 8], &[], 1, &[]).unwrap(), [8]);
    }

    #[test]
    fn bad_permutation_is_refused() {
        let x = [0f32; 6];
        assert!(transpose(&x, &[2, 3], &[0, 0]).is_err());
        assert!(transpose(&x, &[2, 3], &[0]).is_err());
        assert!(transpose(&x, &[2, 3], &[0, 2]).is_err());
        assert!(transpose(&x, &[2, 2], &[1, 0]).is_err());
    }

    fn view_case() -> impl Strategy<Value = (Vec<usize>, Vec<isize>, Vec<usize>)> {
        // A random view inside a random buffer: shape, steps and starting coordinates.
        prop::collection::vec(1usize..5, 0..5).prop_flat_map(|shape| {
            let r = shape.len();
            (
                Just(shape.clone()),
                prop::collection::vec(-2isize..=2, r),
                prop::collection::vec(0usize..4, r),
            )
        })
    }

    proptest! {
        #[test]
        fn copy_strided_matches_reference((in_shape, steps, starts) in view_case()) {
            // Slice-like view: per axis, start within bounds, walk `step` until leaving the axis.
            let x: Vec<u32> = (0..in_shape.iter().product::<usize>() as u32).collect();
            let st = strides(&in_shape);
            let mut offset = 0usize;
            let mut out_shape = vec![];
            let mut view = vec![];
            for k in 0..in_shape.len() {
                let d = in_shape[k] as isize;
                let s = (starts[k] as isize).min(d - 1);
                let step = steps[k];
                let len = match step {
                    0 => 1,
                    st if st > 0 => (d - s + st - 1) / st,
                    st => s / (-st) + 1,
                };
                offset += s as usize * st[k];
                out_shape.push(len as usize);
                view.push(step * st[k] as isize);
            }
            let fast = copy_strided(&x, &out_shape, offset, &view).unwrap();
            let slow = reference::copy_strided(&x, &out_shape, offset, &view).unwrap();
            prop_assert_eq!(fast, slow);
        }

        #[test]
        fn transpose_matches_reference(
            shape in prop::collection::vec(1usize..5, 0..5),
            seed in any::<u64>(),
        ) {
            let r = shape.len();
            let mut perm: Vec<usize> = (0..r).collect();
            let mut s = seed;
            for i in (1..r).rev() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                perm.swap(i, (s >> 33) as usize % (i + 1));
            }
            let x: Vec<i16> = (0..shape.iter().product::<usize>() as i16).collect();
            let fast = transpose(&x, &shape, &perm).unwrap();
            let slow = reference::transpose(&x, &shape, &perm).unwrap();
            prop_assert_eq!(fast, slow);
        }
    }
}

use super::{check_len, numel, strides, ShapeKernelError};

/// Gathers along one axis: `x` is viewed as `[outer, axis_len, inner]` and the output is
/// `[outer, indices.len(), inner]`, block `(o, j)` being `x[o, indices[j], ..]`.
pub fn gather<T: Copy>(
    x: &[T],
    outer: usize,
    axis_len: usize,
    inner: usize,
    indices: &[usize],
) -> Result<Vec<T>, ShapeKernelError> {
    check_len(x.len(), &[outer, axis_len, inner])?;
    if let Some(&index) = indices.iter().find(|&&i| i >= axis_len) {
        return Err(ShapeKernelError::Index {
            index,
            len: axis_len,
        });
    }
    let n = numel(&[outer, indices.len(), inner])?;
    let mut out = Vec::with_capacity(n);
    for o in 0..outer {
        let block = &x[o * axis_len * inner..(o + 1) * axis_len * inner];
        for &i in indices {
            out.extend_from_slice(&block[i * inner..(i + 1) * inner]);
        }
    }
    Ok(out)
}

/// Gathers by one index map per axis: the output has shape `[maps[0].len(), maps[1].len(), ..]`
/// and its element at `(i_0, i_1, ..)` is `x[maps[0][i_0], maps[1][i_1], ..]`, or `fill` when
/// any of those map entries is `None`. Pad and nearest-neighbour Resize are such gathers.
pub fn gather_axes<T: Copy>(
    x: &[T],
    shape: &[usize],
    maps: &[Vec<Option<usize>>],
    fill: T,
) -> Result<Vec<T>, ShapeKernelError> {
    let offsets = axis_offsets(x.len(), shape, maps)?;
    let out_shape: Vec<usize> = maps.iter().map(Vec::len).collect();
    let n = numel(&out_shape)?;
    let mut out = Vec::with_capacity(n);
    if n == 0 {
        return Ok(out);
    }
    let rank = shape.len();
    if rank == 0 {
        out.push(x[0]);
        return Ok(out);
    }
    let last = &offsets[rank - 1];
    let mut idx = vec![0usize; rank - 1];
    loop {
        // Base address of the current row, or None when an outer coordinate is a fill.
        let base = idx
            .iter()
            .zip(&offsets)
            .try_fold(0usize, |acc, (&i, offs)| offs[i].map(|o| acc + o));
        match base {
            None => out.extend(std::iter::repeat_n(fill, last.len())),
            Some(b) => out.extend(last.iter().map(|o| o.map_or(fill, |o| x[b + o]))),
        }
        let mut k = rank - 1;
        loop {
            if k == 0 {
                return Ok(out);
            }
            k -= 1;
            idx[k] += 1;
            if idx[k] < out_shape[k] {
                break;
            }
            idx[k] = 0;
        }
    }
}

/// Validates `maps` against `shape` and turns each entry into an element offset.
pub(crate) fn axis_offsets(
    len: usize,
    shape: &[usize],
    maps: &[Vec<Option<usize>>],
) -> Result<Vec<Vec<Option<usize>>>, ShapeKernelError> {
    check_len(len, shape)?;
    if maps.len() != shape.len() {
        return Err(ShapeKernelError::Invalid(format!(
            "{} index maps for rank {}",
            maps.len(),
            shape.len()
        )));
    }
    let st = strides(shape);
    maps.iter()
        .zip(shape.iter().zip(&st))
        .map(|(map, (&d, &s))| {
            map.iter()
                .map(|m| match m {
                    Some(i) if *i >= d => Err(ShapeKernelError::Index { index: *i, len: d }),
                    Some(i) => Ok(Some(i * s)),
                    None => Ok(None),
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shape::reference;
    use proptest::prelude::*;

    #[test]
    fn gather_rows_and_columns() {
        let x = [1, 2, 3, 4, 5, 6]; // [2, 3]
        assert_eq!(
            gather(&x, 1, 2, 3, &[1, 0, 1]).unwrap(),
            [4, 5, 6, 1, 2, 3, 4, 5, 6]
        );
        assert_eq!(gather(&x, 2, 3, 1, &[2, 0]).unwrap(), [3, 1, 6, 4]);
        assert_eq!(gather(&x, 2, 3, 1, &[]).unwrap(), Vec::<i32>::new());
    }

    #[test]
    fn gather_refuses_out_of_range_and_bad_lengths() {
        let x = [1, 2, 3, 4, 5, 6];
        assert_eq!(
            gather(&x, 2, 3, 1, &[3]),
            Err(ShapeKernelError::Index { index: 3, len: 3 })
        );
        assert!(gather(&x, 2, 2, 1, &[0]).is_err());
    }

    #[test]
    fn gather_axes_fills_missing_coordinates() {
        let x = [1, 2, 3, 4]; // [2, 2]
        let maps = vec![vec![None, Some(0), Some(1)], vec![Some(1), None]];
        assert_eq!(
            gather_axes(&x, &[2, 2], &maps, 0).unwrap(),
            [0, 0, 2, 0, 4, 0]
        );
        let bad = vec![vec![Some(2)], vec![Some(0)]];
        assert!(gather_axes(&x, &[2, 2], &bad, 0).is_err());
    }

    fn maps_case() -> impl Strategy<Value = (Vec<usize>, Vec<Vec<Option<usize>>>)> {
        prop::collection::vec(1usize..5, 0..5).prop_flat_map(|shape| {
            let maps: Vec<_> = shape
                .iter()
                .map(|&d| prop::collection::vec(prop::option::of(0..d), 0..6))
                .collect();
            (Just(shape), maps)
        })
    }

    proptest! {
        #[test]
        fn gather_axes_matches_reference((shape, maps) in maps_case()) {
            let x: Vec<i64> = (1..=shape.iter().product::<usize>() as i64).collect();
            let fast = gather_axes(&x, &shape, &maps, -1).unwrap();
            let slow = reference::gather_axes(&x, &shape, &maps, -1).unwrap();
            prop_assert_eq!(fast, slow);
        }
    }
}

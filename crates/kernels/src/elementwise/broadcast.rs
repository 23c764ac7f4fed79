//! Numpy multidirectional broadcasting and the binary kernel built on it.
//!
//! Shapes align on their last dimension; a missing leading dimension counts as 1; two dimensions
//! agree when they are equal or one of them is 1 (the result takes the other, so `0` with `1` gives
//! `0`).
use super::{check_len, numel, with_capacity, ElementwiseError};

/// The shape `a` and `b` broadcast to, or [`ElementwiseError::Broadcast`].
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Result<Vec<usize>, ElementwiseError> {
    let rank = a.len().max(b.len());
    let pa = padded(a, rank);
    let pb = padded(b, rank);
    pa.iter()
        .zip(&pb)
        .map(|(&da, &db)| match (da, db) {
            _ if da == db => Ok(da),
            (1, _) => Ok(db),
            (_, 1) => Ok(da),
            _ => Err(ElementwiseError::Broadcast {
                a: a.to_vec(),
                b: b.to_vec(),
            }),
        })
        .collect()
}

/// Whether `shape` broadcasts unidirectionally to `target` (as PRelu's slope must).
pub fn broadcasts_to(shape: &[usize], target: &[usize]) -> bool {
    shape.len() <= target.len()
        && padded(shape, target.len())
            .iter()
            .zip(target)
            .all(|(&d, &t)| d == t || d == 1)
}

/// Element strides of `shape` read as `out` (right-aligned), 0 along broadcast dimensions.
/// `shape` must broadcast to `out`.
pub fn broadcast_strides(shape: &[usize], out: &[usize]) -> Vec<usize> {
    let p = padded(shape, out.len());
    let mut strides = vec![0usize; out.len()];
    let mut acc = 1usize;
    for i in (0..out.len()).rev() {
        if p[i] != 1 {
            strides[i] = acc;
        }
        acc = acc.saturating_mul(p[i]);
    }
    strides
}

/// `shape` with leading 1s up to `rank` (unchanged when already at least that long).
fn padded(shape: &[usize], rank: usize) -> Vec<usize> {
    let mut v = vec![1usize; rank.saturating_sub(shape.len())];
    v.extend_from_slice(shape);
    v
}

/// `f(a, b)` over the broadcast of `a` (shape `a_shape`) and `b` (shape `b_shape`): the output
/// shape and its elements in row-major order.
///
/// Fast paths: equal element counts (same shape up to leading 1s), a one-element operand, and a
/// generic walk over coalesced strides whose innermost loop runs over contiguous or broadcast
/// slices. [`reference::binary`] is its scalar twin; both apply `f` to the same pairs in the same
/// order, so results are identical bit for bit.
pub fn binary<A: Copy, B: Copy, R>(
    a: &[A],
    a_shape: &[usize],
    b: &[B],
    b_shape: &[usize],
    f: impl Fn(A, B) -> R,
) -> Result<(Vec<usize>, Vec<R>), ElementwiseError> {
    check_len(a_shape, a.len())?;
    check_len(b_shape, b.len())?;
    let out_shape = broadcast_shapes(a_shape, b_shape)?;
    let n = numel(&out_shape)?;
    let mut out = with_capacity(n)?;
    if a.len() == n && b.len() == n {
        out.extend(a.iter().zip(b).map(|(&x, &y)| f(x, y)));
    } else if b.len() == 1 && a.len() == n {
        let y = b[0];
        out.extend(a.iter().map(|&x| f(x, y)));
    } else if a.len() == 1 && b.len() == n {
        let x = a[0];
        out.extend(b.iter().map(|&y| f(x, y)));
    } else if n > 0 {
        strided(a, a_shape, b, b_shape, &out_shape, &f, &mut out);
    }
    Ok((out_shape, out))
}

/// Dimensions and both operands' strides with size-1 dimensions dropped and mergeable neighbours
/// merged (a dimension merges into the next when both operands step through it as one block).
fn coalesce(
    out_shape: &[usize],
    sa: &[usize],
    sb: &[usize],
) -> (Vec<usize>, Vec<usize>, Vec<usize>) {
    let (mut dims, mut ca, mut cb) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..out_shape.len() {
        let d = out_shape[i];
        if d == 1 {
            continue;
        }
        if let (Some(&ld), Some(&la), Some(&lb)) = (dims.last(), ca.last(), cb.last()) {
            if la == sa[i] * d && lb == sb[i] * d {
                let last = dims.len() - 1;
                dims[last] = ld * d;
                ca[last] = sa[i];
                cb[last] = sb[i];
                continue;
            }
        }
        dims.push(d);
        ca.push(sa[i]);
        cb.push(sb[i]);
    }
    if dims.is_empty() {
        dims.push(1);
        ca.push(0);
        cb.push(0);
    }
    (dims, ca, cb)
}

/// The generic path of [`binary`]: an odometer over the outer coalesced dimensions and a tight
/// loop over the innermost one. `out` has capacity for every output element and is filled in order.
fn strided<A: Copy, B: Copy, R>(
    a: &[A],
    a_shape: &[usize],
    b: &[B],
    b_shape: &[usize],
    out_shape: &[usize],
    f: &impl Fn(A, B) -> R,
    out: &mut Vec<R>,
) {
    let (dims, sa, sb) = coalesce(
        out_shape,
        &broadcast_strides(a_shape, out_shape),
        &broadcast_strides(b_shape, out_shape),
    );
    let inner = dims.len() - 1;
    let (n_in, ia, ib) = (dims[inner], sa[inner], sb[inner]);
    let mut idx = vec![0usize; inner];
    let (mut oa, mut ob) = (0usize, 0usize);
    loop {
        match (ia, ib) {
            (1, 1) => out.extend(
                a[oa..oa + n_in]
                    .iter()
                    .zip(&b[ob..ob + n_in])
                    .map(|(&x, &y)| f(x, y)),
            ),
            (1, 0) => {
                let y = b[ob];
                out.extend(a[oa..oa + n_in].iter().map(|&x| f(x, y)));
            }
            (0, 1) => {
                let x = a[oa];
                out.extend(b[ob..ob + n_in].iter().map(|&y| f(x, y)));
            }
            _ => out.extend((0..n_in).map(|k| f(a[oa + k * ia], b[ob + k * ib]))),
        }
        // Advance the odometer over the outer dimensions.
        let mut d = inner;
        loop {
            if d == 0 {
                return;
            }
            d -= 1;
            idx[d] += 1;
            oa += sa[d];
            ob += sb[d];
            if idx[d] < dims[d] {
                break;
            }
            oa -= sa[d] * dims[d];
            ob -= sb[d] * dims[d];
            idx[d] = 0;
        }
    }
}

pub mod reference {
    //! Scalar, obviously correct broadcasting: one output element at a time.
    use super::super::{check_len, numel, ElementwiseError};
    use super::broadcast_shapes;

    /// Same contract as [`super::binary`].
    pub fn binary<A: Copy, B: Copy, R>(
        a: &[A],
        a_shape: &[usize],
        b: &[B],
        b_shape: &[usize],
        f: impl Fn(A, B) -> R,
    ) -> Result<(Vec<usize>, Vec<R>), ElementwiseError> {
        check_len(a_shape, a.len())?;
        check_len(b_shape, b.len())?;
        let out_shape = broadcast_shapes(a_shape, b_shape)?;
        let n = numel(&out_shape)?;
        let out = (0..n)
            .map(|flat| {
                let coords = unravel(flat, &out_shape);
                f(a[offset(&coords, a_shape)], b[offset(&coords, b_shape)])
            })
            .collect();
        Ok((out_shape, out))
    }

    /// Row-major coordinates of element `flat` of `shape`.
    fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
        let mut coords = vec![0; shape.len()];
        for i in (0..shape.len()).rev() {
            coords[i] = flat % shape[i];
            flat /= shape[i];
        }
        coords
    }

    /// Flat offset in an operand of `shape` of the output coordinates `coords` (right-aligned;
    /// size-1 dimensions read index 0).
    fn offset(coords: &[usize], shape: &[usize]) -> usize {
        let skip = coords.len() - shape.len();
        shape.iter().enumerate().fold(0, |acc, (i, &d)| {
            let c = if d == 1 { 0 } else { coords[skip + i] };
            acc * d + c
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn shapes_broadcast_like_numpy() {
        assert_eq!(broadcast_shapes(&[2, 3, 4], &[4]).unwrap(), vec![2, 3, 4]);
        assert_eq!(broadcast_shapes(&[3, 1], &[1, 5]).unwrap(), vec![3, 5]);
        assert_eq!(broadcast_shapes(&[], &[2]).unwrap(), vec![2]);
        assert_eq!(broadcast_shapes(&[0, 1], &[1, 3]).unwrap(), vec![0, 3]);
        assert!(matches!(
            broadcast_shapes(&[2, 3], &[3, 2]),
            Err(ElementwiseError::Broadcast { .. })
        ));
        assert!(broadcast_shapes(&[0], &[3]).is_err());
    }

    #[test]
    fn unidirectional_broadcast() {
        assert!(broadcasts_to(&[3, 1, 1], &[2, 3, 4, 5]));
        assert!(broadcasts_to(&[], &[2]));
        assert!(!broadcasts_to(&[2, 3], &[3]));
        assert!(!broadcasts_to(&[4], &[2, 3]));
    }

    #[test]
    fn strides_are_zero_on_broadcast_dims() {
        assert_eq!(broadcast_strides(&[3, 1], &[2, 3, 4]), vec![0, 1, 0]);
        assert_eq!(broadcast_strides(&[2, 3, 4], &[2, 3, 4]), vec![12, 4, 1]);
    }

    #[test]
    fn bias_add_over_channels() {
        let a: Vec<i32> = (0..12).collect();
        let (shape, out) = binary(&a, &[2, 3, 2], &[100, 200, 300], &[3, 1], |x, y| x + y).unwrap();
        assert_eq!(shape, vec![2, 3, 2]);
        assert_eq!(
            out,
            vec![100, 101, 202, 203, 304, 305, 106, 107, 208, 209, 310, 311]
        );
    }

    #[test]
    fn outer_product_broadcast() {
        let (shape, out) = binary(&[1, 2, 3], &[3, 1], &[10, 20], &[1, 2], |x, y| x * y).unwrap();
        assert_eq!(shape, vec![3, 2]);
        assert_eq!(out, vec![10, 20, 20, 40, 30, 60]);
    }

    #[test]
    fn wrong_lengths_and_empty_outputs() {
        assert!(matches!(
            binary(&[1, 2], &[3], &[1], &[1], |x: i32, y: i32| x + y),
            Err(ElementwiseError::Length { .. })
        ));
        let (shape, out) =
            binary::<i32, i32, i32>(&[], &[0, 3], &[1, 2, 3], &[3], |x, y| x + y).unwrap();
        assert_eq!(shape, vec![0, 3]);
        assert!(out.is_empty());
    }

    /// A random pair of broadcast-compatible shapes: an output shape, then each operand drops
    /// some leading dimensions and sets some others to 1.
    fn shape_pair() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
        proptest::collection::vec(0usize..5, 0..5).prop_flat_map(|out| {
            let r = out.len();
            (
                Just(out),
                0..=r,
                0..=r,
                proptest::collection::vec(any::<bool>(), r),
                proptest::collection::vec(any::<bool>(), r),
            )
                .prop_map(|(out, da, db, ma, mb)| {
                    let a = (da..out.len())
                        .map(|i| if ma[i] { 1 } else { out[i] })
                        .collect();
                    let b = (db..out.len())
                        .map(|i| if mb[i] { 1 } else { out[i] })
                        .collect();
                    (a, b)
                })
        })
    }

    proptest! {
        #[test]
        fn fast_equals_reference((sa, sb) in shape_pair(), seed in any::<i32>()) {
            let na: usize = sa.iter().product();
            let nb: usize = sb.iter().product();
            let a: Vec<i32> = (0..na as i32).map(|i| i.wrapping_mul(seed) ^ 0x55).collect();
            let b: Vec<i32> = (0..nb as i32).map(|i| i.wrapping_add(seed).rotate_left(7)).collect();
            let f = |x: i32, y: i32| x.wrapping_mul(31).wrapping_sub(y);
            let fast = binary(&a, &sa, &b, &sb, f).unwrap();
            let slow = reference::binary(&a, &sa, &b, &sb, f).unwrap();
            prop_assert_eq!(fast, slow);
        }

        #[test]
        fn fast_equals_reference_f32((sa, sb) in shape_pair()) {
            let na: usize = sa.iter().product();
            let nb: usize = sb.iter().product();
            let a: Vec<f32> = (0..na).map(|i| i as f32 * 0.37 - 1.0).collect();
            let b: Vec<f32> = (0..nb).map(|i| 2.0 - i as f32 * 0.11).collect();
            let fast = binary(&a, &sa, &b, &sb, |x, y| x / y).unwrap();
            let slow = reference::binary(&a, &sa, &b, &sb, |x, y| x / y).unwrap();
            prop_assert_eq!(fast.0, slow.0);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            prop_assert_eq!(bits(&fast.1), bits(&slow.1));
        }
    }
}

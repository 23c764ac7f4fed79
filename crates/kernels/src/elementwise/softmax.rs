//! Softmax and LogSoftmax along one axis of a row-major tensor.
use super::{ElementwiseError, Float};

/// A tensor seen as `[outer, n, inner]`: the softmax runs over the `n` axis for each of the
/// `outer * inner` lanes. ONNX's axis semantics (opset 13) is `outer = prod(dims[..axis])`,
/// `n = dims[axis]`, `inner = prod(dims[axis + 1..])`; the flatten-to-2-D semantics of opsets < 13
/// is `n = prod(dims[axis..])`, `inner = 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SoftmaxLayout {
    pub outer: usize,
    pub n: usize,
    pub inner: usize,
}

impl SoftmaxLayout {
    /// The layout of `shape` reduced along `axis` (opset ≥ 13), or flattened at `axis` (< 13).
    /// `axis` must be `< shape.len()`, or `<= shape.len()` when `flatten` (a trailing axis).
    pub fn of(shape: &[usize], axis: usize, flatten: bool) -> SoftmaxLayout {
        let prod = |d: &[usize]| d.iter().product::<usize>();
        let axis = axis.min(shape.len());
        if flatten {
            SoftmaxLayout {
                outer: prod(&shape[..axis]),
                n: prod(&shape[axis..]),
                inner: 1,
            }
        } else {
            let end = (axis + 1).min(shape.len());
            SoftmaxLayout {
                outer: prod(&shape[..axis]),
                n: prod(&shape[axis..end]),
                inner: prod(&shape[end..]),
            }
        }
    }

    fn check(&self, len: usize) -> Result<(), ElementwiseError> {
        let total = self
            .outer
            .checked_mul(self.n)
            .and_then(|v| v.checked_mul(self.inner));
        if total != Some(len) {
            return Err(ElementwiseError::Layout(format!(
                "softmax layout {self:?} does not cover {len} elements"
            )));
        }
        Ok(())
    }
}

/// `exp(x - max) / sum(exp(x - max))` along the layout's axis.
pub fn softmax<T: Float>(x: &[T], layout: SoftmaxLayout) -> Result<Vec<T>, ElementwiseError> {
    run(x, layout, false)
}

/// `x - max - ln(sum(exp(x - max)))` along the layout's axis.
pub fn log_softmax<T: Float>(x: &[T], layout: SoftmaxLayout) -> Result<Vec<T>, ElementwiseError> {
    run(x, layout, true)
}

/// Both variants: per outer block, the max, then the sum of exponentials, of all `inner` lanes
/// at once (rows of `inner` contiguous elements), then the normalization.
fn run<T: Float>(x: &[T], l: SoftmaxLayout, log: bool) -> Result<Vec<T>, ElementwiseError> {
    l.check(x.len())?;
    let mut out = vec![T::ZERO; x.len()];
    let block = l.n * l.inner;
    let mut max = vec![T::NEG_INFINITY; l.inner];
    let mut sum = vec![T::ZERO; l.inner];
    for (xb, yb) in x
        .chunks_exact(block.max(1))
        .zip(out.chunks_exact_mut(block.max(1)))
    {
        max.fill(T::NEG_INFINITY);
        sum.fill(T::ZERO);
        for row in xb.chunks_exact(l.inner) {
            for (m, &v) in max.iter_mut().zip(row) {
                if v > *m {
                    *m = v;
                }
            }
        }
        for (xr, yr) in xb.chunks_exact(l.inner).zip(yb.chunks_exact_mut(l.inner)) {
            for i in 0..l.inner {
                let shifted = xr[i].num_sub(max[i]);
                let e = shifted.exp();
                sum[i] = sum[i].num_add(e);
                yr[i] = if log { shifted } else { e };
            }
        }
        let finish: Vec<T> = if log {
            sum.iter().map(|s| s.ln()).collect()
        } else {
            sum.clone()
        };
        for yr in yb.chunks_exact_mut(l.inner) {
            for (y, &f) in yr.iter_mut().zip(&finish) {
                *y = if log { y.num_sub(f) } else { y.num_div(f) };
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[f32], b: &[f32]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6)
    }

    #[test]
    fn softmax_of_a_row() {
        let l = SoftmaxLayout::of(&[1, 3], 1, false);
        let y = softmax(&[1.0f32, 2.0, 3.0], l).unwrap();
        assert!(close(&y, &[0.090_030_57, 0.244_728_48, 0.665_240_94]));
    }

    #[test]
    fn softmax_along_a_middle_axis() {
        // shape [2, 2, 2], axis 1: pairs (x[o,0,i], x[o,1,i]).
        let x = [0.0f32, 0.0, 1.0, 0.0, 0.0, 5.0, 0.0, 5.0];
        let y = softmax(&x, SoftmaxLayout::of(&[2, 2, 2], 1, false)).unwrap();
        let s = 1.0 / (1.0 + (1.0f32).exp());
        assert!(close(&y, &[s, 0.5, 1.0 - s, 0.5, 0.5, 0.5, 0.5, 0.5]));
    }

    #[test]
    fn flattened_layout_spans_trailing_dims() {
        let l = SoftmaxLayout::of(&[2, 3, 4], 1, true);
        assert_eq!(
            l,
            SoftmaxLayout {
                outer: 2,
                n: 12,
                inner: 1
            }
        );
        let l = SoftmaxLayout::of(&[2, 3, 4], 1, false);
        assert_eq!(
            l,
            SoftmaxLayout {
                outer: 2,
                n: 3,
                inner: 4
            }
        );
    }

    #[test]
    fn large_numbers_do_not_overflow() {
        let l = SoftmaxLayout::of(&[4], 0, false);
        let y = softmax(&[10000.0f32, 10001.0, 10002.0, 10003.0], l).unwrap();
        assert!(y.iter().all(|v| v.is_finite()));
        let ly = log_softmax(&[10000.0f32, 10001.0, 10002.0, 10003.0], l).unwrap();
        assert!((ly[3] - -0.440_189_7).abs() < 1e-5);
    }

    #[test]
    fn wrong_layout_is_an_error() {
        let l = SoftmaxLayout {
            outer: 2,
            n: 2,
            inner: 2,
        };
        assert!(softmax(&[0.0f32; 7], l).is_err());
        assert!(softmax::<f32>(
            &[],
            SoftmaxLayout {
                outer: 0,
                n: 3,
                inner: 1
            }
        )
        .unwrap()
        .is_empty());
    }
}

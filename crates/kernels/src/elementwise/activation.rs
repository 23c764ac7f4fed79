//! Pointwise activations. Each maps a slice to a new `Vec` of the same length.
use super::{binary, broadcasts_to, ElementwiseError, Float, Numeric};

/// `max(x, 0)`; NaN stays NaN (as in ONNX Runtime).
pub fn relu<T: Numeric>(x: &[T]) -> Vec<T> {
    x.iter()
        .map(|&v| if v < T::ZERO { T::ZERO } else { v })
        .collect()
}

/// `min(max(x, lo), hi)` with absent bounds ignored. When `lo > hi` every element becomes `hi`
/// (ONNX Runtime's order of operations); NaN stays NaN.
pub fn clip<T: Numeric>(x: &[T], lo: Option<T>, hi: Option<T>) -> Vec<T> {
    x.iter()
        .map(|&v| {
            let v = match lo {
                Some(l) if v < l => l,
                _ => v,
            };
            match hi {
                Some(h) if v > h => h,
                _ => v,
            }
        })
        .collect()
}

/// `x` where `x >= 0`, else `alpha * x`.
pub fn leaky_relu<T: Float>(x: &[T], alpha: T) -> Vec<T> {
    x.iter().map(|&v| prelu_scalar(v, alpha)).collect()
}

/// PRelu of one element: `x` where `x >= 0`, else `slope * x`.
pub fn prelu_scalar<T: Numeric>(x: T, slope: T) -> T {
    if x < T::ZERO {
        slope.num_mul(x)
    } else {
        x
    }
}

/// PRelu over `x` of `x_shape` with `slope` broadcast unidirectionally to `x_shape`.
pub fn prelu<T: Numeric>(
    x: &[T],
    x_shape: &[usize],
    slope: &[T],
    slope_shape: &[usize],
) -> Result<Vec<T>, ElementwiseError> {
    if !broadcasts_to(slope_shape, x_shape) {
        return Err(ElementwiseError::Broadcast {
            a: x_shape.to_vec(),
            b: slope_shape.to_vec(),
        });
    }
    Ok(binary(x, x_shape, slope, slope_shape, prelu_scalar)?.1)
}

/// The logistic function `1 / (1 + exp(-x))`, evaluated without overflow for large `|x|`.
pub fn sigmoid<T: Float>(x: &[T]) -> Vec<T> {
    x.iter()
        .map(|&v| {
            if v >= T::ZERO {
                T::ONE.num_div(T::ONE.num_add(T::ZERO.num_sub(v).exp()))
            } else {
                let e = v.exp();
                e.num_div(T::ONE.num_add(e))
            }
        })
        .collect()
}

/// `max(0, min(1, alpha * x + beta))`; NaN stays NaN.
pub fn hard_sigmoid<T: Float>(x: &[T], alpha: T, beta: T) -> Vec<T> {
    x.iter()
        .map(|&v| hard_sigmoid_scalar(v, alpha, beta))
        .collect()
}

fn hard_sigmoid_scalar<T: Float>(x: T, alpha: T, beta: T) -> T {
    let y = alpha.num_mul(x).num_add(beta);
    if y > T::ONE {
        T::ONE
    } else if y < T::ZERO {
        T::ZERO
    } else {
        y
    }
}

/// `x * max(0, min(1, x / 6 + 1/2))`, with `1/6` as a multiplication (as ONNX Runtime does).
pub fn hard_swish<T: Float>(x: &[T]) -> Vec<T> {
    let alpha = T::from_f32(1.0 / 6.0);
    let beta = T::from_f32(0.5);
    x.iter()
        .map(|&v| v.num_mul(hard_sigmoid_scalar(v, alpha, beta)))
        .collect()
}

pub fn tanh<T: Float>(x: &[T]) -> Vec<T> {
    x.iter().map(|&v| v.tanh()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relu_zeroes_negatives_and_keeps_nan() {
        assert_eq!(relu(&[-1.0f32, 0.0, 2.5]), vec![0.0, 0.0, 2.5]);
        assert!(relu(&[f32::NAN])[0].is_nan());
        assert_eq!(relu(&[-5i8, 7]), vec![0, 7]);
    }

    #[test]
    fn clip_bounds() {
        let x = [-3.0f32, 0.5, 9.0];
        assert_eq!(clip(&x, Some(0.0), Some(6.0)), vec![0.0, 0.5, 6.0]);
        assert_eq!(clip(&x, None, Some(1.0)), vec![-3.0, 0.5, 1.0]);
        assert_eq!(clip(&x, Some(2.0), Some(1.0)), vec![1.0, 1.0, 1.0]);
        assert_eq!(clip(&[-128i8, 5, 127], Some(-2), None), vec![-2, 5, 127]);
        assert!(clip(&[f32::NAN], Some(0.0), Some(1.0))[0].is_nan());
    }

    #[test]
    fn leaky_and_prelu() {
        assert_eq!(leaky_relu(&[-2.0f32, 3.0], 0.5), vec![-1.0, 3.0]);
        let y = prelu(&[-1.0f32, -1.0, 2.0, -4.0], &[2, 2], &[0.1, 0.5], &[2]).unwrap();
        assert_eq!(y, vec![-0.1, -0.5, 2.0, -2.0]);
        assert!(prelu(&[1.0f32; 2], &[2], &[1.0; 4], &[2, 2]).is_err());
    }

    #[test]
    fn sigmoid_is_stable_and_symmetric() {
        let y = sigmoid(&[0.0f32, 100.0, -100.0, 1.0, -1.0]);
        assert_eq!(y[0], 0.5);
        assert_eq!(y[1], 1.0);
        assert!(y[2] > 0.0 && y[2] < 1e-40);
        assert!((y[3] + y[4] - 1.0).abs() < 1e-7);
        assert!((y[3] - 0.731_058_6).abs() < 1e-6);
    }

    #[test]
    fn hard_sigmoid_and_swish() {
        assert_eq!(
            hard_sigmoid(&[-10.0f32, 0.0, 10.0], 0.2, 0.5),
            vec![0.0, 0.5, 1.0]
        );
        let y = hard_swish(&[-4.0f32, 0.0, 1.0, 4.0]);
        assert_eq!(y[0], 0.0);
        assert_eq!(y[1], 0.0);
        assert!((y[2] - 2.0 / 3.0).abs() < 1e-6);
        assert_eq!(y[3], 4.0);
    }
}

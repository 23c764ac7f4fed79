//! Broadcasting Add, Sub, Mul and Div with ONNX Runtime's integer semantics (see [`Numeric`]).
use super::{binary, ElementwiseError, Numeric};

/// The broadcast shape of `a` and `b` and its elements.
pub type Broadcast<T> = (Vec<usize>, Vec<T>);

pub fn add<T: Numeric>(
    a: &[T],
    a_shape: &[usize],
    b: &[T],
    b_shape: &[usize],
) -> Result<Broadcast<T>, ElementwiseError> {
    binary(a, a_shape, b, b_shape, T::num_add)
}

pub fn sub<T: Numeric>(
    a: &[T],
    a_shape: &[usize],
    b: &[T],
    b_shape: &[usize],
) -> Result<Broadcast<T>, ElementwiseError> {
    binary(a, a_shape, b, b_shape, T::num_sub)
}

pub fn mul<T: Numeric>(
    a: &[T],
    a_shape: &[usize],
    b: &[T],
    b_shape: &[usize],
) -> Result<Broadcast<T>, ElementwiseError> {
    binary(a, a_shape, b, b_shape, T::num_mul)
}

/// `a / b`. Integer division truncates toward zero; an integer zero divisor anywhere in `b` is
/// [`ElementwiseError::DivisionByZero`] (when the output is non-empty, every element of `b` is
/// read). Float division is IEEE 754 (`x / 0` is ±inf or NaN).
pub fn div<T: Numeric>(
    a: &[T],
    a_shape: &[usize],
    b: &[T],
    b_shape: &[usize],
) -> Result<Broadcast<T>, ElementwiseError> {
    if T::IS_INTEGER && !a.is_empty() && b.iter().any(|y| y.is_zero()) {
        return Err(ElementwiseError::DivisionByZero);
    }
    binary(a, a_shape, b, b_shape, T::num_div)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_division_truncates_toward_zero() {
        let (_, q) = div(&[-3i32, 3, -3, 3], &[4], &[2, 2, -2, -2], &[4]).unwrap();
        assert_eq!(q, vec![-1, 1, 1, -1]);
    }

    #[test]
    fn integer_division_by_zero_is_an_error() {
        let err = div(&[1u8, 2], &[2], &[0u8], &[1]).unwrap_err();
        assert_eq!(err, ElementwiseError::DivisionByZero);
        // An empty output reads no divisor.
        assert!(div::<i32>(&[], &[0], &[0], &[1]).is_ok());
    }

    #[test]
    fn unsigned_arithmetic_wraps() {
        assert_eq!(sub(&[1u32], &[1], &[2], &[1]).unwrap().1, vec![u32::MAX]);
        assert_eq!(mul(&[200u8], &[], &[2], &[]).unwrap().1, vec![144]);
        assert_eq!(add(&[u64::MAX], &[1], &[1], &[1]).unwrap().1, vec![0]);
    }

    #[test]
    fn float_ops_broadcast() {
        let (shape, y) = add(&[1.0f32, 2.0], &[2, 1], &[10.0, 20.0, 30.0], &[3]).unwrap();
        assert_eq!(shape, vec![2, 3]);
        assert_eq!(y, vec![11.0, 21.0, 31.0, 12.0, 22.0, 32.0]);
        let (_, q) = div(&[1.0f64], &[], &[0.0], &[]).unwrap();
        assert_eq!(q, vec![f64::INFINITY]);
    }
}

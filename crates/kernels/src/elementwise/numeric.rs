//! The element types the arithmetic kernels are generic over.
use std::fmt::Debug;

/// A numeric element: the four arithmetic operations with ONNX Runtime's semantics.
///
/// Integer addition, subtraction and multiplication wrap (two's complement), as in ONNX Runtime.
/// Integer division truncates toward zero and wraps on `MIN / -1`; a zero divisor must be ruled out
/// by the caller ([`crate::elementwise::div`] does). Float operations are IEEE 754.
pub trait Numeric: Copy + PartialOrd + Default + Debug + Send + Sync + 'static {
    const ZERO: Self;
    const IS_INTEGER: bool;
    fn num_add(self, other: Self) -> Self;
    fn num_sub(self, other: Self) -> Self;
    fn num_mul(self, other: Self) -> Self;
    /// `self / other`; for integers `other` must be non-zero.
    fn num_div(self, other: Self) -> Self;
    fn is_zero(self) -> bool;
    /// `n` converted with `as` (the element count of a mean).
    fn from_usize(n: usize) -> Self;
}

macro_rules! numeric_int {
    ($($t:ty),*) => {$(
        impl Numeric for $t {
            const ZERO: Self = 0;
            const IS_INTEGER: bool = true;
            fn num_add(self, other: Self) -> Self {
                self.wrapping_add(other)
            }
            fn num_sub(self, other: Self) -> Self {
                self.wrapping_sub(other)
            }
            fn num_mul(self, other: Self) -> Self {
                self.wrapping_mul(other)
            }
            fn num_div(self, other: Self) -> Self {
                // A zero divisor yields zero rather than a panic; callers reject it beforehand.
                self.checked_div(other).unwrap_or_else(|| {
                    if other == 0 { 0 } else { self.wrapping_div(other) }
                })
            }
            fn is_zero(self) -> bool {
                self == 0
            }
            fn from_usize(n: usize) -> Self {
                n as $t
            }
        }
    )*};
}

numeric_int!(i8, u8, i16, u16, i32, u32, i64, u64);

/// A floating-point element: what the activations, softmax and mean need beyond [`Numeric`].
pub trait Float: Numeric {
    const ONE: Self;
    const NEG_INFINITY: Self;
    /// An `f32` attribute value (alpha, beta, bounds) in this type.
    fn from_f32(v: f32) -> Self;
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn tanh(self) -> Self;
}

macro_rules! numeric_float {
    ($($t:ident),*) => {$(
        impl Numeric for $t {
            const ZERO: Self = 0.0;
            const IS_INTEGER: bool = false;
            fn num_add(self, other: Self) -> Self {
                self + other
            }
            fn num_sub(self, other: Self) -> Self {
                self - other
            }
            fn num_mul(self, other: Self) -> Self {
                self * other
            }
            fn num_div(self, other: Self) -> Self {
                self / other
            }
            fn is_zero(self) -> bool {
                self == 0.0
            }
            fn from_usize(n: usize) -> Self {
                n as $t
            }
        }

        impl Float for $t {
            const ONE: Self = 1.0;
            const NEG_INFINITY: Self = $t::NEG_INFINITY;
            fn from_f32(v: f32) -> Self {
                v as $t
            }
            fn exp(self) -> Self {
                $t::exp(self)
            }
            fn ln(self) -> Self {
                $t::ln(self)
            }
            fn tanh(self) -> Self {
                $t::tanh(self)
            }
        }
    )*};
}

numeric_float!(f32, f64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_arithmetic_wraps_and_truncates() {
        assert_eq!(100i8.num_add(100), -56);
        assert_eq!(0u8.num_sub(1), 255);
        assert_eq!((-7i32).num_div(2), -3);
        assert_eq!(7i32.num_div(-2), -3);
        assert_eq!(i32::MIN.num_div(-1), i32::MIN);
        assert_eq!(5u16.num_div(0), 0);
    }

    #[test]
    fn float_arithmetic_is_ieee() {
        assert_eq!(1.0f32.num_div(0.0), f32::INFINITY);
        assert!(0.0f64.num_div(0.0).is_nan());
    }
}

//! Element type conversion with C++ `static_cast` results where those are defined, as ONNX
//! Runtime's Cast produces them:
//!
//! * integer → integer keeps the low bits (two's complement wrap), e.g. `300i32 → 44i8`;
//! * float → integer truncates toward zero; out-of-range values saturate to the target's
//!   bounds and NaN becomes 0 (C++ leaves both undefined; this is Rust's `as`);
//! * integer → float and f64 → f32 round to nearest even;
//! * anything → bool is `x != 0` (NaN is true); bool → number is 0 or 1.

/// Conversion of one element to `D` under the rules above.
pub trait CastTo<D> {
    fn cast_to(self) -> D;
}

macro_rules! cast_numeric {
    ($src:ty => $($dst:ty),*) => {$(
        impl CastTo<$dst> for $src {
            #[allow(clippy::unnecessary_cast)]
            fn cast_to(self) -> $dst {
                self as $dst
            }
        }
    )*};
}

macro_rules! cast_all {
    ($($src:ty),*) => {$(
        cast_numeric!($src => f32, f64, i8, u8, i16, u16, i32, u32, i64, u64);
        impl CastTo<bool> for $src {
            #[allow(clippy::float_cmp)]
            fn cast_to(self) -> bool {
                self != (0 as $src)
            }
        }
        impl CastTo<$src> for bool {
            fn cast_to(self) -> $src {
                u8::from(self) as $src
            }
        }
    )*};
}

cast_all!(f32, f64, i8, u8, i16, u16, i32, u32, i64, u64);

impl CastTo<bool> for bool {
    fn cast_to(self) -> bool {
        self
    }
}

/// Every element of `x` converted to `D`.
pub fn cast<S: CastTo<D> + Copy, D>(x: &[S]) -> Vec<D> {
    x.iter().map(|&v| v.cast_to()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_narrowing_wraps() {
        assert_eq!(cast::<i32, i8>(&[300, -129, 127]), vec![44, 127, 127]);
        assert_eq!(cast::<i64, u8>(&[-1, 256]), vec![255, 0]);
        assert_eq!(cast::<u64, i64>(&[u64::MAX]), vec![-1]);
    }

    #[test]
    fn float_to_integer_truncates_and_saturates() {
        assert_eq!(cast::<f32, i32>(&[2.9, -2.9, 0.5]), vec![2, -2, 0]);
        assert_eq!(
            cast::<f32, i8>(&[1000.0, -1000.0, f32::NAN]),
            vec![127, -128, 0]
        );
        assert_eq!(cast::<f64, u8>(&[-1.5, 255.9]), vec![0, 255]);
    }

    #[test]
    fn bool_conversions() {
        assert_eq!(
            cast::<f32, bool>(&[0.0, -0.0, 0.1, f32::NAN]),
            vec![false, false, true, true]
        );
        assert_eq!(cast::<bool, f32>(&[true, false]), vec![1.0, 0.0]);
        assert_eq!(cast::<bool, i64>(&[true]), vec![1]);
    }

    #[test]
    fn float_narrowing_rounds_to_nearest() {
        assert_eq!(cast::<f64, f32>(&[0.1]), vec![0.1f32]);
        assert_eq!(cast::<i64, f32>(&[16_777_217]), vec![16_777_216.0]);
    }
}

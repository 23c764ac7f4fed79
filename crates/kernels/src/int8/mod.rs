//! Integer-only 8-bit kernels (the arithmetic of Jacob et al., CVPR 2018, as in gemmlowp/TFLite).
//!
//! Contract shared by every kernel here:
//! * A real value `r` is represented by an 8-bit integer `q` as `r = scale · (q − zero_point)`.
//!   Weights are symmetric (`zero_point = 0`, values in `[-127, 127]` recommended, `-128` allowed).
//! * Run time is integer-only: products accumulate in `i32` (wrapping, so every summation order
//!   gives the same bits), and the accumulator is brought back to 8 bits by the output pipeline of
//!   [`requant`]. Floats appear only when *deriving* parameters offline (`from_real`, `new`
//!   constructors) — except in the explicitly named [`requant::RoundingMode::FloatHalfEven`] mode,
//!   which reproduces ONNX Runtime's float requantization and is never the default.
//! * Every kernel has a scalar `reference` twin written for obviousness, and an optimized version
//!   that must agree with it bit for bit; the tests in each file pit the two against each other over
//!   the shape table of `cases.rs` and over random shapes (proptest).
//! * Everything is single-threaded and deterministic. Bad parameters give an [`Int8Error`], never a
//!   panic; sizes are checked before anything is allocated.
//! * Whether the wrapping `i32` accumulator holds the mathematically exact sum is the quantizer's
//!   business: [`overflow::max_abs_accumulator`] bounds it for a reduction length.

pub mod add;
pub mod conv;
pub mod gemm;
pub mod overflow;
pub mod pool;
pub mod requant;
pub mod softmax;

#[cfg(test)]
mod cases;
#[cfg(test)]
mod ort_tests;
#[cfg(test)]
mod testutil;

use std::fmt::Debug;

/// Invalid parameters given to an int8 kernel.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Int8Error {
    /// A real multiplier that the fixed-point representation cannot hold.
    #[error("real multiplier {0} is not finite or not in [0, 2^31)")]
    MultiplierOutOfRange(f64),
    /// A scale that is not a finite positive number.
    #[error("{what} scale {value} is not finite and positive")]
    BadScale { what: &'static str, value: f64 },
    /// A slice whose length does not match the shape.
    #[error("{what}: expected {expected} elements, got {got}")]
    Length {
        what: &'static str,
        expected: usize,
        got: usize,
    },
    /// A zero point or clamp bound outside the element type's range.
    #[error("{what} {value} is outside [{min}, {max}]")]
    OutOfRange {
        what: &'static str,
        value: i64,
        min: i64,
        max: i64,
    },
    /// A shape that the kernel cannot run (zero stride, kernel larger than padded input, ...).
    #[error("invalid shape: {0}")]
    Shape(String),
    /// Sizes whose product overflows `usize`.
    #[error("size overflow in {0}")]
    SizeOverflow(&'static str),
}

/// An 8-bit quantized element type (`i8` or `u8`).
pub trait QuantElem: Copy + Default + Debug + PartialEq + Send + Sync + 'static {
    /// Smallest representable value.
    const MIN: i32;
    /// Largest representable value.
    const MAX: i32;
    /// Widens to `i32`.
    fn to_i32(self) -> i32;
    /// Narrows with saturation to `[MIN, MAX]`.
    fn saturate(v: i32) -> Self;
}

impl QuantElem for i8 {
    const MIN: i32 = i8::MIN as i32;
    const MAX: i32 = i8::MAX as i32;
    #[inline(always)]
    fn to_i32(self) -> i32 {
        self as i32
    }
    #[inline(always)]
    fn saturate(v: i32) -> Self {
        v.clamp(<Self as QuantElem>::MIN, <Self as QuantElem>::MAX) as i8
    }
}

impl QuantElem for u8 {
    const MIN: i32 = u8::MIN as i32;
    const MAX: i32 = u8::MAX as i32;
    #[inline(always)]
    fn to_i32(self) -> i32 {
        self as i32
    }
    #[inline(always)]
    fn saturate(v: i32) -> Self {
        v.clamp(<Self as QuantElem>::MIN, <Self as QuantElem>::MAX) as u8
    }
}

/// Checks that `zero_point` is representable in `T`.
pub(crate) fn check_zero_point<T: QuantElem>(what: &'static str, zp: i32) -> Result<(), Int8Error> {
    if (T::MIN..=T::MAX).contains(&zp) {
        Ok(())
    } else {
        Err(Int8Error::OutOfRange {
            what,
            value: zp.into(),
            min: T::MIN.into(),
            max: T::MAX.into(),
        })
    }
}

/// Checks a slice length.
pub(crate) fn check_len(what: &'static str, got: usize, expected: usize) -> Result<(), Int8Error> {
    if got == expected {
        Ok(())
    } else {
        Err(Int8Error::Length {
            what,
            expected,
            got,
        })
    }
}

/// Product of sizes, or [`Int8Error::SizeOverflow`].
pub(crate) fn checked_product(what: &'static str, dims: &[usize]) -> Result<usize, Int8Error> {
    dims.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or(Int8Error::SizeOverflow(what))
}

/// Output positions `o` in `0..out_len` whose input index `o·stride + offset` lies in
/// `0..in_len` (a contiguous range, since the index grows with `o`).
pub(crate) fn tap_range(
    offset: isize,
    stride: usize,
    in_len: usize,
    out_len: usize,
) -> std::ops::Range<usize> {
    let s = stride as isize;
    let lo = if offset >= 0 {
        0
    } else {
        (-offset + s - 1) / s
    };
    let room = in_len as isize - offset;
    let hi = if room <= 0 { 0 } else { (room + s - 1) / s };
    let (lo, hi) = (lo as usize, (hi as usize).min(out_len));
    lo.min(hi)..hi
}

/// A quantized input: stored values and their zero point.
#[derive(Debug, Clone, Copy)]
pub struct QInput<'a, T> {
    /// Stored values.
    pub data: &'a [T],
    /// Zero point (representable in `T`).
    pub zero_point: i32,
}

#[cfg(test)]
mod geometry_tests {
    use super::tap_range;

    #[test]
    fn tap_range_is_exactly_the_in_bounds_positions() {
        for offset in -7isize..7 {
            for stride in 1..4 {
                for in_len in 0..6 {
                    for out_len in 0..6 {
                        let want: Vec<usize> = (0..out_len)
                            .filter(|&o| {
                                (0..in_len as isize)
                                    .contains(&(o as isize * stride as isize + offset))
                            })
                            .collect();
                        let got: Vec<usize> = tap_range(offset, stride, in_len, out_len).collect();
                        assert_eq!(
                            got, want,
                            "offset={offset} stride={stride} in={in_len} out={out_len}"
                        );
                    }
                }
            }
        }
    }
}

/// Quantization parameters of a tensor: `real = scale · (q − zero_point)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QParams {
    /// Positive, finite scale.
    pub scale: f32,
    /// Zero point, representable in the tensor's element type.
    pub zero_point: i32,
}

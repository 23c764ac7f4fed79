//! Sub-byte weights (INT4, INT2, ternary, binary) in packed storage, with 8- or 16-bit
//! activations: GEMM and 2-D convolution (incl. depthwise and pointwise).
//!
//! # Contract
//! Exactly that of [`crate::int8`], with the weights read from a [`PackedWeights`] instead of an
//! `i8` slice: `acc = bias[oc] + Σ w · (x − zx)` wrapping in `i32`, where a convolution tap in the
//! padding reads `zx`; then `out = stage.requantize(acc, oc)` through the int8 output stage
//! ([`crate::int8::requant::OutputStage`] — the project's one rounding function). For the same
//! weight values, every kernel here gives the same bits as the int8 kernel
//! ([`crate::int8::gemm::gemm`], [`crate::int8::conv::conv2d`]); tests check that.
//!
//! * Weights: [`PackedWeights`], one packed row per output channel (layout contract in [`pack`]),
//!   symmetric (zero point 0). [`LowBitFormat::Int8`] (one byte per weight) serves int8 weights
//!   with `i16` activations (W8A16) and is refused with 8-bit activations.
//! * Activations ([`ActElem`]): `i8`, `u8` (A8) or `i16` (A16), any zero point of their type.
//! * Outputs ([`OutElem`]): `i8`, `u8` or `i16`. A stage for `i16` outputs comes from
//!   [`output_stage_i16`] / [`output_stage_i16_from_scales`].
//!
//! # API
//! * [`pack::PackedWeights::pack`], [`pack::PackedWeights::from_bytes`], [`pack::PackedWeights::unpack`];
//!   [`pack::pack_values`] / [`pack::unpack_values`] for a flat stream (ONNX INT4 order).
//! * [`gemm::gemm`]`(w, n, x, zx, bias, stage, out)`: `out[M × N] = w[M × K] · x[K × N]`, NCHW
//!   im2col orientation as in [`crate::int8::gemm`]; [`gemm::reference::gemm`] is its twin.
//! * [`conv::LowBitConvPlan`] (`new(params, weights)`, `run(x, bias, stage, out)`) and the one-shot
//!   [`conv::conv2d`]; [`conv::reference::conv2d`] is the twin. Geometry is
//!   [`crate::int8::conv::Conv2dParams`].
//!
//! # How the fast kernels compute
//! Activations enter raw, and the zero point is applied once per output channel:
//! `Σ w·(x − zx) = Σ w·x − zx·Σ w` (exact in wrapping `i32`), with `Σ w` stored in the packed
//! weights and padding taps reading the raw `zx`. Weights are decoded from packed storage one
//! panel of rows at a time into a small scratch (`K × 4` values, in L1) and reused over every
//! column tile.
//! * A8: `i8` inputs are biased to `u8` (`x + 128`, zero point `zx + 128`), so the AVX2 kernel can
//!   use `vpmaddubsw` (`u8 × i8` pairs summed into `i16`). With `|w| ≤ 8` a pair is at most
//!   `2 · 255 · 8 = 4080` in magnitude, so eight of them add up in `i16` without saturation
//!   before `vpmaddwd` widens them into `i32` — twice the multiplies per instruction of the int8
//!   kernel, which must widen to `i16` first because `255 · 128 · 2` overflows `i16`.
//! * A16: `vpmaddwd` on `i16` pairs, as in the int8 kernel (with `|w| ≤ 8` no pair can overflow).
//! * Binary weights run the same kernels as the other formats (decoded to `±1`). The
//!   multiplication-free form `Σ ±x = 2·Σ_{bit=1} x − Σ x` is not used: on AVX2 a `vpmaddubsw`
//!   costs what an add does, so it would save nothing here (it matters on cores without a fast
//!   multiplier).
//! * Depthwise convolutions run a direct loop like the int8 one.
//!
//! # Speed on the KWS DS-CNN (`benches/lowbit.rs`, one thread, AVX2 desktop CPU)
//! W4A8 is about as fast as W8A8 (within run-to-run noise), not faster. The A8 microkernel does
//! about 1.6× the multiplies per second of the int8 one (profile: 10 % vs 17 % of the model's
//! time), but the microkernel is a small part of a model this size: the output stage, activation
//! packing, the depthwise layers and copies dominate and are the same work at any weight width,
//! and decoding the packed weights on every call costs back about what the microkernel saves
//! (~3 µs per 64×64 pointwise layer). The 22 k weights fit in L1/L2 at 8 bits already, so packing
//! saves memory (22 016 → 11 136 B at INT4, 2 752 B binary), not memory traffic time.

pub mod conv;
pub mod gemm;
pub mod grouped;
pub mod pack;

#[cfg(test)]
mod cases;
#[cfg(test)]
pub(crate) mod testutil;

pub use pack::{LowBitFormat, PackedWeights};

use crate::int8::requant::{Activation, Multipliers, OutputStage, RoundingMode};
use crate::int8::{Int8Error, QuantElem};
use std::fmt::Debug;

/// Invalid input to a low-bit kernel or packing function.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LowBitError {
    /// A value that the format cannot hold.
    #[error("{format} weight #{index} = {value} is out of range")]
    ValueOutOfRange {
        format: LowBitFormat,
        index: usize,
        value: i8,
    },
    /// A stored code that means no value (ternary `0b10`).
    #[error("{format} weight #{index} has an invalid code")]
    BadCode { format: LowBitFormat, index: usize },
    /// [`LowBitFormat::Int8`] weights with 8-bit activations (the `vpmaddubsw` path needs
    /// `|w| ≤ 8`; that pair runs [`crate::int8`]).
    #[error("int8 weights with 8-bit activations: use the int8 kernels")]
    Int8WeightsA8,
    /// A length, shape, zero point or stage that the shared int8 checks reject.
    #[error(transparent)]
    Int8(#[from] Int8Error),
}

/// An activation element type: `i8`, `u8` (A8) or `i16` (A16).
pub trait ActElem: Copy + Default + Debug + PartialEq + Send + Sync + 'static {
    /// Smallest representable value.
    const MIN: i32;
    /// Largest representable value.
    const MAX: i32;
    /// Whether the type has 8 bits (the `vpmaddubsw` path).
    const A8: bool;
    /// What the fast kernels add to a value before storing it (`128` for `i8`, making it a `u8`).
    const OFFSET: i32;
    /// Widens to `i32`.
    fn to_i32(self) -> i32;
    /// Narrows a value known to lie in `MIN..=MAX` (a checked zero point).
    fn from_checked(v: i32) -> Self;
    /// The value the fast kernels store: `self + OFFSET`.
    #[inline(always)]
    fn stored(self) -> i16 {
        (self.to_i32() + Self::OFFSET) as i16
    }
}

impl ActElem for i8 {
    const MIN: i32 = -128;
    const MAX: i32 = 127;
    const A8: bool = true;
    const OFFSET: i32 = 128;
    #[inline(always)]
    fn to_i32(self) -> i32 {
        self.into()
    }
    #[inline(always)]
    fn from_checked(v: i32) -> Self {
        v as i8
    }
}

impl ActElem for u8 {
    const MIN: i32 = 0;
    const MAX: i32 = 255;
    const A8: bool = true;
    const OFFSET: i32 = 0;
    #[inline(always)]
    fn to_i32(self) -> i32 {
        self.into()
    }
    #[inline(always)]
    fn from_checked(v: i32) -> Self {
        v as u8
    }
}

impl ActElem for i16 {
    const MIN: i32 = i16::MIN as i32;
    const MAX: i32 = i16::MAX as i32;
    const A8: bool = false;
    const OFFSET: i32 = 0;
    #[inline(always)]
    fn to_i32(self) -> i32 {
        self.into()
    }
    #[inline(always)]
    fn from_checked(v: i32) -> Self {
        v as i16
    }
}

/// Refuses [`LowBitFormat::Int8`] weights with 8-bit activations.
pub(crate) fn check_weights_for<A: ActElem>(w: &PackedWeights) -> Result<(), LowBitError> {
    if A::A8 && w.format() == LowBitFormat::Int8 {
        return Err(LowBitError::Int8WeightsA8);
    }
    Ok(())
}

/// Checks that a zero point is representable in `A`.
pub(crate) fn check_act_zero_point<A: ActElem>(zp: i32) -> Result<(), Int8Error> {
    if (A::MIN..=A::MAX).contains(&zp) {
        Ok(())
    } else {
        Err(Int8Error::OutOfRange {
            what: "activation zero point",
            value: zp.into(),
            min: A::MIN.into(),
            max: A::MAX.into(),
        })
    }
}

/// An output element type: `i8`, `u8` or `i16`.
pub trait OutElem: Copy + Default + Debug + PartialEq + Send + Sync + 'static {
    /// Smallest representable value.
    const MIN: i32;
    /// Largest representable value.
    const MAX: i32;
    /// Narrows a requantized value with saturation.
    fn narrow(v: i32) -> Self;
    /// Widens to `i32`.
    fn to_i32(self) -> i32;
    /// `out[i] = stage.requantize(acc[i] + bias, channel)`, narrowed with saturation.
    fn requantize_row(
        stage: &OutputStage,
        acc: &[i32],
        bias: i32,
        channel: usize,
        out: &mut [Self],
    );
}

/// The 8-bit outputs: saturate, and requantize through the int8 output stage.
macro_rules! out_elem_8bit {
    ($t:ty, $min:expr, $max:expr) => {
        impl OutElem for $t {
            #[inline(always)]
            fn to_i32(self) -> i32 {
                self.into()
            }
            const MIN: i32 = $min;
            const MAX: i32 = $max;
            #[inline(always)]
            fn narrow(v: i32) -> Self {
                <$t as QuantElem>::saturate(v)
            }
            #[inline]
            fn requantize_row(
                stage: &OutputStage,
                acc: &[i32],
                bias: i32,
                channel: usize,
                out: &mut [Self],
            ) {
                stage.requantize_row(acc, bias, channel, out)
            }
        }
    };
}
out_elem_8bit!(i8, -128, 127);
out_elem_8bit!(u8, 0, 255);

impl OutElem for i16 {
    #[inline(always)]
    fn to_i32(self) -> i32 {
        self.into()
    }
    const MIN: i32 = i16::MIN as i32;
    const MAX: i32 = i16::MAX as i32;
    #[inline(always)]
    fn narrow(v: i32) -> Self {
        v.clamp(i16::MIN.into(), i16::MAX.into()) as i16
    }
    #[inline]
    fn requantize_row(
        stage: &OutputStage,
        acc: &[i32],
        bias: i32,
        channel: usize,
        out: &mut [Self],
    ) {
        for (o, &a) in out.iter_mut().zip(acc) {
            *o = Self::narrow(stage.requantize(a.wrapping_add(bias), channel));
        }
    }
}

/// The range of `i16`, for building output stages of `i16` outputs (private so that no int8
/// kernel can be instantiated with it).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct I16Range;

impl QuantElem for I16Range {
    const MIN: i32 = i16::MIN as i32;
    const MAX: i32 = i16::MAX as i32;
    fn to_i32(self) -> i32 {
        0
    }
    fn saturate(_: i32) -> Self {
        I16Range
    }
}

/// [`OutputStage::new`] for `i16` outputs.
pub fn output_stage_i16(
    multipliers: Multipliers,
    zero_point: i32,
    qmin: i32,
    qmax: i32,
) -> Result<OutputStage, LowBitError> {
    Ok(OutputStage::new::<I16Range>(
        multipliers,
        zero_point,
        qmin,
        qmax,
    )?)
}

/// [`OutputStage::from_scales`] for `i16` outputs.
pub fn output_stage_i16_from_scales(
    x_scale: f32,
    w_scales: &[f32],
    y_scale: f32,
    zero_point: i32,
    act: Activation,
    mode: RoundingMode,
) -> Result<OutputStage, LowBitError> {
    Ok(OutputStage::from_scales::<I16Range>(
        x_scale, w_scales, y_scale, zero_point, act, mode,
    )?)
}

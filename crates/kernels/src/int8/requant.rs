//! The output pipeline: `i32` accumulator → 8-bit output (gemmlowp `doc/output.md`, TFLite
//! `MultiplyByQuantizedMultiplier`).
//!
//! # The one rounding function
//! The project's rounding of a real multiplier applied to an accumulator is
//! [`multiply_by_quantized_multiplier`]: TFLite's reference ("double rounding") composition of
//! * [`saturating_rounding_doubling_high_mul`] `(x, m0)` = `x·m0 / 2^31`, rounded to nearest with
//!   ties toward +∞ (gemmlowp's nudge), saturating the single overflow case `MIN·MIN`; then
//! * [`rounding_divide_by_pot`] `(y, e)` = `y / 2^e`, rounded to nearest with ties away from zero.
//!
//! It reproduces TFLite's reference kernels and gemmlowp bit for bit, and agrees with ONNX Runtime
//! to ±1 (see below). Being two roundings, it is within 1 of `x·M` (not 1/2) and follows no
//! single tie rule: with `M = 1/2` (no right shift) `-2.5 → -2`; with `M = 1/4`, `-0.5 → -1` and
//! even `5·M = 1.25 → 2` (the first rounding makes `2.5 → 3`, a tie for the second).
//!
//! # Where ONNX Runtime differs
//! ORT's `QLinearConv`/`QLinearMatMul` (MLAS `MlasRequantizeOutput`) compute in float:
//! `scale = x_scale · w_scale / y_scale` (f32, in that order), then
//! `q = round_half_even(clamp(f32(acc) · scale, qmin − zp, qmax − zp)) + zp`, where `f32(acc)` itself
//! rounds once `|acc| > 2^24`. Ties and the extra f32 roundings can land one step away from the
//! fixed-point result, and such differences compound through a network.
//! [`RoundingMode::SoftFloat`] reproduces that computation bit for bit **with integer arithmetic
//! only** ([`soft_float`]: the f32 multiplier kept as its 24-bit mantissa and exponent, both f32
//! roundings and the final round-half-even done on integers); [`RoundingMode::FloatHalfEven`] is
//! the same computation in f32, its reference twin.
//!
//! # Which mode runs where
//! The engine's ONNX integer ops (`QLinearConv`, `QLinearMatMul` and the `Mw` ops lowered from QDQ
//! graphs) use [`RoundingMode::SoftFloat`]: an ONNX model means what ONNX Runtime computes, and the
//! engine agrees with it on every element while staying integer-only.
//! [`RoundingMode::FixedPoint`] (the `Default`) is TFLite's and gemmlowp's arithmetic, for targets
//! that execute TFLite's reference semantics; its kernels stay tested bit-exact against TFLite's
//! definition.

pub mod soft_float;

use super::{Int8Error, QuantElem};
pub use soft_float::SoftFloatScale;

/// `2^31` as f64.
const TWO_POW_31: f64 = 2_147_483_648.0;

/// `round(a·b / 2^31)` with ties toward +∞, saturating `i32::MIN · i32::MIN` to `i32::MAX`
/// (gemmlowp `SaturatingRoundingDoublingHighMul`).
#[inline(always)]
pub fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let ab = i64::from(a) * i64::from(b);
    let nudge: i64 = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
    // Rust's `/` truncates toward zero, as C's does.
    ((ab + nudge) / (1i64 << 31)) as i32
}

/// `round(x / 2^exponent)` with ties away from zero, for `exponent` in `0..=31`
/// (gemmlowp `RoundingDivideByPOT`).
#[inline(always)]
pub fn rounding_divide_by_pot(x: i32, exponent: u32) -> i32 {
    debug_assert!(exponent <= 31);
    let mask = ((1i64 << exponent) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + i32::from(x < 0);
    (x >> exponent) + i32::from(remainder > threshold)
}

/// [`rounding_divide_by_pot`] at 64 bits: `round(x / 2^exponent)` with ties away from zero, for
/// `exponent` in `0..=62` (the single rounding of group-wise layers, [`crate::lowbit::grouped`]).
#[inline(always)]
pub fn rounding_divide_by_pot_i64(x: i64, exponent: u32) -> i64 {
    debug_assert!(exponent <= 62);
    let mask = (1i64 << exponent) - 1;
    let remainder = x & mask;
    let threshold = (mask >> 1) + i64::from(x < 0);
    (x >> exponent) + i64::from(remainder > threshold)
}

/// A real multiplier `M = m0 · 2^(shift − 31)` with `m0` in `[2^30, 2^31)` (or `m0 = 0`, the zero
/// multiplier, for `M` below `2^-32`), `shift` in `-31..=31`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QuantizedMultiplier {
    /// Fixed-point mantissa, Q0.31.
    pub m0: i32,
    /// Power-of-two exponent: positive shifts left, negative shifts right.
    pub shift: i32,
}

impl QuantizedMultiplier {
    /// The multiplier that maps everything to 0.
    pub const ZERO: Self = Self { m0: 0, shift: 0 };

    /// Derives the fixed-point form of `m` (offline; TFLite `QuantizeMultiplier`).
    ///
    /// Accepts `0 ≤ m < 2^31`; multipliers below about `2^-32` become [`Self::ZERO`], as in TFLite.
    /// The mantissa is rounded to nearest (ties away from zero), so the relative error is at most
    /// `2^-31`.
    pub fn from_real(m: f64) -> Result<Self, Int8Error> {
        if !m.is_finite() || !(0.0..TWO_POW_31).contains(&m) {
            return Err(Int8Error::MultiplierOutOfRange(m));
        }
        let bits = m.to_bits();
        let biased_exp = ((bits >> 52) & 0x7ff) as i32;
        if biased_exp == 0 {
            // Zero or subnormal: far below 2^-32.
            return Ok(Self::ZERO);
        }
        // m = q · 2^e with q in [0.5, 1) (C's frexp).
        let mut e = biased_exp - 1022;
        let q = f64::from_bits((bits & !(0x7ffu64 << 52)) | (1022u64 << 52));
        let mut q_fixed = (q * TWO_POW_31).round() as i64;
        if q_fixed == 1i64 << 31 {
            q_fixed /= 2;
            e += 1;
        }
        if e < -31 {
            return Ok(Self::ZERO);
        }
        if e > 31 {
            return Err(Int8Error::MultiplierOutOfRange(m));
        }
        Ok(Self {
            m0: q_fixed as i32,
            shift: e,
        })
    }

    /// The real value this multiplier stands for.
    pub fn to_real(self) -> f64 {
        f64::from(self.m0) * 2f64.powi(self.shift - 31)
    }

    /// `x · M`, rounded by [`multiply_by_quantized_multiplier`].
    #[inline(always)]
    pub fn apply(self, x: i32) -> i32 {
        multiply_by_quantized_multiplier(x, self)
    }
}

/// `x · M` for `M = m0 · 2^(shift − 31)`: the project's one rounding function (TFLite reference
/// `MultiplyByQuantizedMultiplier`). A positive shift first multiplies `x` by `2^shift`, saturating
/// to `i32` (TFLite leaves that overflow undefined; everywhere TFLite is defined the two agree).
#[inline(always)]
pub fn multiply_by_quantized_multiplier(x: i32, m: QuantizedMultiplier) -> i32 {
    let left = m.shift.max(0) as u32;
    let right = (-m.shift).max(0) as u32;
    let shifted = if left == 0 {
        x
    } else {
        (i64::from(x) << left).clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
    };
    rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, m.m0), right)
}

/// How accumulators are rescaled to the output scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RoundingMode {
    /// Integer-only [`multiply_by_quantized_multiplier`] (TFLite/gemmlowp bit-exact; ORT ±1).
    #[default]
    FixedPoint,
    /// ORT/MLAS bit-exact: `round_half_even(f32(acc) · f32 scale)`; float at run time.
    FloatHalfEven,
    /// ORT/MLAS bit-exact with integer arithmetic only ([`soft_float`]).
    SoftFloat,
}

/// Per-channel (or per-tensor, when there is one) multipliers in one [`RoundingMode`].
#[derive(Debug, Clone, PartialEq)]
pub enum Multipliers {
    /// Fixed-point multipliers.
    FixedPoint(Vec<QuantizedMultiplier>),
    /// f32 scales applied as ORT does.
    FloatHalfEven(Vec<f32>),
    /// f32 scales applied as ORT does, emulated with integers ([`soft_float`]).
    SoftFloat(Vec<SoftFloatScale>),
}

impl Multipliers {
    fn len(&self) -> usize {
        match self {
            Multipliers::FixedPoint(v) => v.len(),
            Multipliers::FloatHalfEven(v) => v.len(),
            Multipliers::SoftFloat(v) => v.len(),
        }
    }
}

/// A fused activation, expressed as a clamp of the quantized output.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Activation {
    /// No clamp beyond the output type's range.
    None,
    /// `max(0, x)`.
    Relu,
    /// `min(6, max(0, x))`.
    Relu6,
    /// `min(hi, max(lo, x))` in real values.
    Clip { lo: f32, hi: f32 },
}

/// Quantized clamp bounds `[qmin, qmax]` of `act` for an output of type `T` with `scale` and
/// `zero_point` (offline; TFLite `CalculateActivationRangeQuantized`, rounding ties away from zero).
pub fn activation_range<T: QuantElem>(
    act: Activation,
    scale: f32,
    zero_point: i32,
) -> Result<(i32, i32), Int8Error> {
    if !(scale.is_finite() && scale > 0.0) {
        return Err(Int8Error::BadScale {
            what: "output",
            value: scale.into(),
        });
    }
    super::check_zero_point::<T>("output zero point", zero_point)?;
    let q = |r: f32| -> i32 {
        let v = (f64::from(r) / f64::from(scale)).round() + f64::from(zero_point);
        v.clamp(f64::from(T::MIN), f64::from(T::MAX)) as i32
    };
    let (lo, hi) = match act {
        Activation::None => (T::MIN, T::MAX),
        Activation::Relu => (q(0.0), T::MAX),
        Activation::Relu6 => (q(0.0), q(6.0)),
        Activation::Clip { lo, hi } if lo <= hi => (q(lo), q(hi)),
        Activation::Clip { .. } => return Err(Int8Error::Shape("clip lo > hi".into())),
    };
    Ok((lo, hi))
}

/// The output stage: rescale, add the output zero point, clamp to `[qmin, qmax]`.
///
/// The accumulator it receives already includes the bias. Holds one multiplier per output channel,
/// or a single one shared by all channels.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputStage {
    multipliers: Multipliers,
    zero_point: i32,
    qmin: i32,
    qmax: i32,
}

impl OutputStage {
    /// Builds a stage from explicit multipliers; `[qmin, qmax]` must lie in `T`'s range and contain
    /// no value outside it, and `zero_point` must be representable in `T`.
    pub fn new<T: QuantElem>(
        multipliers: Multipliers,
        zero_point: i32,
        qmin: i32,
        qmax: i32,
    ) -> Result<Self, Int8Error> {
        super::check_zero_point::<T>("output zero point", zero_point)?;
        super::check_zero_point::<T>("clamp min", qmin)?;
        super::check_zero_point::<T>("clamp max", qmax)?;
        if qmin > qmax {
            return Err(Int8Error::Shape(format!(
                "clamp range [{qmin}, {qmax}] is empty"
            )));
        }
        if multipliers.len() == 0 {
            return Err(Int8Error::Shape("no multipliers".into()));
        }
        Ok(Self {
            multipliers,
            zero_point,
            qmin,
            qmax,
        })
    }

    /// Derives the stage of a conv/matmul from its scales (offline): real multiplier per channel
    /// `x_scale · w_scale[c] / y_scale` (f64 for [`RoundingMode::FixedPoint`]; f32 in ORT's order
    /// for [`RoundingMode::FloatHalfEven`]).
    pub fn from_scales<T: QuantElem>(
        x_scale: f32,
        w_scales: &[f32],
        y_scale: f32,
        zero_point: i32,
        act: Activation,
        mode: RoundingMode,
    ) -> Result<Self, Int8Error> {
        check_scale("input", x_scale)?;
        check_scale("output", y_scale)?;
        for &w in w_scales {
            check_scale("weight", w)?;
        }
        let (qmin, qmax) = activation_range::<T>(act, y_scale, zero_point)?;
        let multipliers = match mode {
            RoundingMode::FixedPoint => Multipliers::FixedPoint(
                w_scales
                    .iter()
                    .map(|&w| {
                        let m = f64::from(x_scale) * f64::from(w) / f64::from(y_scale);
                        QuantizedMultiplier::from_real(m)
                    })
                    .collect::<Result<_, _>>()?,
            ),
            RoundingMode::FloatHalfEven => Multipliers::FloatHalfEven(
                w_scales.iter().map(|&w| x_scale * w / y_scale).collect(),
            ),
            RoundingMode::SoftFloat => Multipliers::SoftFloat(
                w_scales
                    .iter()
                    .map(|&w| soft_float_scale(x_scale * w / y_scale))
                    .collect::<Result<_, _>>()?,
            ),
        };
        Self::new::<T>(multipliers, zero_point, qmin, qmax)
    }

    /// Number of multipliers: 1 (shared) or one per channel.
    pub fn channels(&self) -> usize {
        self.multipliers.len()
    }

    /// Whether this stage can serve `channels` output channels.
    pub fn check_channels(&self, channels: usize) -> Result<(), Int8Error> {
        let n = self.channels();
        if n == 1 || n == channels {
            Ok(())
        } else {
            Err(Int8Error::Length {
                what: "output stage multipliers",
                expected: channels,
                got: n,
            })
        }
    }

    /// The output zero point.
    pub fn zero_point(&self) -> i32 {
        self.zero_point
    }

    /// The clamp bounds.
    pub fn clamp_range(&self) -> (i32, i32) {
        (self.qmin, self.qmax)
    }

    /// The multipliers.
    pub fn multipliers(&self) -> &Multipliers {
        &self.multipliers
    }

    /// Requantizes one bias-added accumulator of output channel `channel` to `[qmin, qmax]`.
    #[inline(always)]
    pub fn requantize(&self, acc: i32, channel: usize) -> i32 {
        match &self.multipliers {
            Multipliers::FixedPoint(m) => {
                let m = if m.len() == 1 { m[0] } else { m[channel] };
                multiply_by_quantized_multiplier(acc, m)
                    .saturating_add(self.zero_point)
                    .clamp(self.qmin, self.qmax)
            }
            Multipliers::FloatHalfEven(s) => {
                let s = if s.len() == 1 { s[0] } else { s[channel] };
                let lo = (self.qmin - self.zero_point) as f32;
                let hi = (self.qmax - self.zero_point) as f32;
                let v = (acc as f32 * s).max(lo).min(hi);
                v.round_ties_even() as i32 + self.zero_point
            }
            Multipliers::SoftFloat(s) => {
                let s = if s.len() == 1 { s[0] } else { s[channel] };
                let (lo, hi) = (self.qmin - self.zero_point, self.qmax - self.zero_point);
                soft_float::requantize(acc, s, lo, hi) + self.zero_point
            }
        }
    }

    /// Requantizes `acc[i] + bias` of channel `channel` into `out[i]`: equal to calling
    /// [`Self::requantize_to`] per element, with the multiplier looked up once and, for
    /// fixed-point multipliers without left shift on AVX2 CPUs, 8 lanes at a time.
    #[inline]
    pub fn requantize_row<U: QuantElem>(
        &self,
        acc: &[i32],
        bias: i32,
        channel: usize,
        out: &mut [U],
    ) {
        let (zp, lo, hi) = (self.zero_point, self.qmin, self.qmax);
        let n = acc.len().min(out.len());
        match &self.multipliers {
            Multipliers::FixedPoint(m) => {
                let m = if m.len() == 1 { m[0] } else { m[channel] };
                let done = self.requantize_row_simd(&acc[..n], bias, m, out);
                for (o, &a) in out[done..n].iter_mut().zip(&acc[done..n]) {
                    let v = multiply_by_quantized_multiplier(a.wrapping_add(bias), m);
                    *o = U::saturate(v.saturating_add(zp).clamp(lo, hi));
                }
            }
            Multipliers::SoftFloat(s) => {
                let s = if s.len() == 1 { s[0] } else { s[channel] };
                soft_float::requantize_row(&acc[..n], bias, s, zp, (lo, hi), &mut out[..n]);
            }
            Multipliers::FloatHalfEven(_) => {
                for (o, &a) in out.iter_mut().zip(acc) {
                    *o = self.requantize_to(a.wrapping_add(bias), channel);
                }
            }
        }
    }

    /// The vector part of [`Self::requantize_row`]; returns how many leading elements it wrote.
    #[inline]
    fn requantize_row_simd<U: QuantElem>(
        &self,
        acc: &[i32],
        bias: i32,
        m: QuantizedMultiplier,
        out: &mut [U],
    ) -> usize {
        #[cfg(target_arch = "x86_64")]
        if m.shift <= 0 && acc.len() >= 8 && std::arch::is_x86_feature_detected!("avx2") {
            let mut done = 0;
            let mut buf = [0i32; 64];
            for (a, o) in acc.chunks(64).zip(out.chunks_mut(64)) {
                // SAFETY: AVX2 was detected; `buf` holds a full chunk.
                let k = unsafe {
                    avx2::requantize_row(
                        a,
                        bias,
                        m.m0,
                        (-m.shift) as u32,
                        self.zero_point,
                        self.qmin,
                        self.qmax,
                        &mut buf,
                    )
                };
                for (d, &v) in o[..k].iter_mut().zip(&buf[..k]) {
                    *d = U::saturate(v);
                }
                done += k;
                if k < a.len() {
                    break;
                }
            }
            return done;
        }
        let _ = (acc, bias, m, out);
        0
    }

    /// [`Self::requantize`] narrowed to the output type.
    #[inline(always)]
    pub fn requantize_to<U: QuantElem>(&self, acc: i32, channel: usize) -> U {
        U::saturate(self.requantize(acc, channel))
    }
}

/// The integer form of a finite, positive f32 multiplier (offline).
pub fn soft_float_scale(m: f32) -> Result<SoftFloatScale, Int8Error> {
    SoftFloatScale::from_f32(m)
        .filter(|_| m > 0.0)
        .ok_or(Int8Error::MultiplierOutOfRange(m.into()))
}

/// Checks that a scale is finite and positive.
pub(crate) fn check_scale(what: &'static str, s: f32) -> Result<(), Int8Error> {
    if s.is_finite() && s > 0.0 {
        Ok(())
    } else {
        Err(Int8Error::BadScale {
            what,
            value: s.into(),
        })
    }
}

/// Exact, slow formulations of the rounding primitives (128-bit arithmetic, explicit tie rules):
/// the twins the fast versions above are tested against.
pub mod reference {
    use super::QuantizedMultiplier;

    /// `a·b/2^31` rounded to nearest, ties toward +∞, saturated to `i32`.
    pub fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
        let p = i128::from(a) * i128::from(b);
        // floor(p / 2^31 + 1/2) = floor((2p + 2^31) / 2^32)
        let r = (2 * p + (1i128 << 31)).div_euclid(1i128 << 32);
        r.clamp(i128::from(i32::MIN), i128::from(i32::MAX)) as i32
    }

    /// `x/2^e` rounded to nearest, ties away from zero.
    pub fn rounding_divide_by_pot(x: i32, e: u32) -> i32 {
        if e == 0 {
            return x;
        }
        let mag = (i64::from(x).abs() + (1i64 << (e - 1))) >> e;
        (if x < 0 { -mag } else { mag }) as i32
    }

    /// TFLite's double rounding, composed from the exact twins.
    pub fn multiply_by_quantized_multiplier(x: i32, m: QuantizedMultiplier) -> i32 {
        let shifted = if m.shift > 0 {
            (i64::from(x) * (1i64 << m.shift)).clamp(i64::from(i32::MIN), i64::from(i32::MAX))
                as i32
        } else {
            x
        };
        let right = if m.shift < 0 { (-m.shift) as u32 } else { 0 };
        rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, m.m0), right)
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(test)]
mod tests;

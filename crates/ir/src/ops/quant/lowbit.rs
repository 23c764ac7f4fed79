//! What the integer ops share for 16-bit activations (A16) and packed sub-byte weights: the
//! element types, weight packing, the output stage for `i8`/`u8`/`i16` outputs and the
//! accumulator-overflow guard. These ops run `mw_kernels::lowbit`.
//!
//! An op takes this path when its input or output is `i16`, or its weights are 4-bit (INT4/UINT4
//! tensors, holding INT4, ternary or binary values); otherwise it runs `mw_kernels::int8`.
//! Weights (minus their zero point) are packed in the narrowest [`LowBitFormat`] holding all
//! their values: binary (`±1`), ternary (`{-1, 0, 1}`), INT4 (`[-8, 7]`), else int8 (A16 only).
use super::common::{int8_error, Clamp};
use crate::OpError;
use mw_kernels::int8::overflow::{check_accumulator_fits_i32, ActRange};
use mw_kernels::int8::requant::{soft_float_scale, Multipliers, OutputStage};
use mw_kernels::lowbit::{output_stage_i16, ActElem, LowBitError, LowBitFormat, PackedWeights};
use mw_tensor::DType;

/// The activation element types of the integer ops.
pub(crate) const ACT: &str = "i8, u8 or i16";

/// Refuses anything but `i8`, `u8` or `i16` at input `index`.
pub(crate) fn check_act(dtype: DType, index: usize) -> Result<(), OpError> {
    match dtype {
        DType::I8 | DType::U8 | DType::I16 => Ok(()),
        actual => Err(OpError::InputDType {
            index,
            expected: ACT.into(),
            actual,
        }),
    }
}

/// Refuses weights that are not 8- or 4-bit integers at input `index`.
pub(crate) fn check_weights(dtype: DType, index: usize) -> Result<(), OpError> {
    match dtype {
        DType::I8 | DType::U8 | DType::I4 | DType::U4 => Ok(()),
        actual => Err(OpError::InputDType {
            index,
            expected: "i8, u8, i4 or u4".into(),
            actual,
        }),
    }
}

/// Whether an op with these input, weight and output types runs the low-bit kernels.
pub(crate) fn uses_lowbit(x: DType, w: DType, y: DType) -> bool {
    x == DType::I16 || y == DType::I16 || matches!(w, DType::I4 | DType::U4)
}

/// Whether 8-bit activations must be widened to `i16` for `w`: the A8 low-bit kernels take weights
/// of at most 4 bits, the A16 ones every format (an int8-weight layer with 8-bit input and 16-bit
/// output meets this at a mixed-precision boundary).
pub(crate) fn needs_widening<A: ActElem>(w: &PackedWeights) -> bool {
    A::A8 && w.format() == LowBitFormat::Int8
}

/// 8-bit activations as `i16` of the same values (the zero point is unchanged).
pub(crate) fn widen<A: ActElem>(x: &[A]) -> Vec<i16> {
    x.iter().map(|v| v.to_i32() as i16).collect()
}

/// The stored range of an activation type.
pub(crate) fn act_range(dtype: DType) -> (i32, i32) {
    match dtype {
        DType::U8 => (0, 255),
        DType::I16 => (i16::MIN.into(), i16::MAX.into()),
        _ => (-128, 127),
    }
}

/// The narrowest format holding every value.
pub(crate) fn narrowest(values: &[i8]) -> LowBitFormat {
    [
        LowBitFormat::Binary,
        LowBitFormat::Ternary,
        LowBitFormat::Int4,
    ]
    .into_iter()
    .find(|f| values.iter().all(|&v| f.contains(v)))
    .unwrap_or(LowBitFormat::Int8)
}

/// `[rows × cols]` weights packed in their narrowest format.
pub(crate) fn pack(values: &[i8], rows: usize, cols: usize) -> Result<PackedWeights, OpError> {
    PackedWeights::pack(narrowest(values), rows, cols, values).map_err(lowbit_error)
}

/// Checks that no accumulator of a reduction over `w`'s rows can leave `i32` for activations of
/// `x_dtype` with zero point `x_zero_point` (the int8 kernels' inputs cannot, the `i16` ones can).
pub(crate) fn check_overflow(
    w: &PackedWeights,
    x_dtype: DType,
    x_zero_point: i32,
    bias: Option<&[i32]>,
) -> Result<(), OpError> {
    let (min, max) = act_range(x_dtype);
    let w_max = w
        .unpack()
        .iter()
        .map(|v| v.unsigned_abs())
        .max()
        .unwrap_or(0);
    let b_max = bias
        .into_iter()
        .flatten()
        .map(|b| b.unsigned_abs())
        .max()
        .unwrap_or(0);
    let range = ActRange {
        min,
        max,
        zero_point: x_zero_point,
    };
    check_accumulator_fits_i32(w.cols(), w_max.into(), range, b_max)
        .map(|_| ())
        .map_err(|e| OpError::Unsupported(format!("{e} (reduction of {})", w.cols())))
}

/// The output stage `x_scale · w_scale[c] / y_scale` for `m` channels of output type `y`
/// (`i8`, `u8` or `i16`), clamped; multipliers formed in f32 and applied by the soft-float
/// requantization, as in the 8-bit ops.
#[allow(clippy::too_many_arguments)]
pub(crate) fn output_stage(
    y: DType,
    x_scale: f32,
    w_scale: &[f32],
    y_scale: f32,
    y_zero_point: i32,
    clamp: &Clamp,
    m: usize,
) -> Result<OutputStage, OpError> {
    match y {
        DType::I8 => super::qlinear_conv::output_stage::<i8>(
            x_scale,
            w_scale,
            y_scale,
            y_zero_point,
            clamp,
            m,
        ),
        DType::U8 => super::qlinear_conv::output_stage::<u8>(
            x_scale,
            w_scale,
            y_scale,
            y_zero_point,
            clamp,
            m,
        ),
        DType::I16 => {
            if w_scale.len() != 1 && w_scale.len() != m {
                return Err(OpError::Shape(format!(
                    "{} weight scales for {m} output channels",
                    w_scale.len()
                )));
            }
            let multipliers = w_scale
                .iter()
                .map(|&ws| soft_float_scale(x_scale * ws / y_scale).map_err(int8_error))
                .collect::<Result<Vec<_>, _>>()?;
            let (qmin, qmax) = clamp_i16(clamp)?;
            output_stage_i16(
                Multipliers::SoftFloat(multipliers),
                y_zero_point,
                qmin,
                qmax,
            )
            .map_err(lowbit_error)
        }
        other => Err(OpError::Unsupported(format!("{other} output"))),
    }
}

/// A stage with given multipliers for output type `y`, clamped.
pub(crate) fn stage_with(
    y: DType,
    multipliers: Multipliers,
    y_zero_point: i32,
    clamp: &Clamp,
) -> Result<OutputStage, OpError> {
    match y {
        DType::I8 => {
            let (lo, hi) = clamp.range::<i8>()?;
            OutputStage::new::<i8>(multipliers, y_zero_point, lo, hi).map_err(int8_error)
        }
        DType::U8 => {
            let (lo, hi) = clamp.range::<u8>()?;
            OutputStage::new::<u8>(multipliers, y_zero_point, lo, hi).map_err(int8_error)
        }
        DType::I16 => {
            let (lo, hi) = clamp_i16(clamp)?;
            output_stage_i16(multipliers, y_zero_point, lo, hi).map_err(lowbit_error)
        }
        other => Err(OpError::Unsupported(format!("{other} output"))),
    }
}

/// The clamp's bounds within `i16`.
fn clamp_i16(clamp: &Clamp) -> Result<(i32, i32), OpError> {
    let (min, max) = (i64::from(i16::MIN), i64::from(i16::MAX));
    let lo = clamp.qmin.map_or(min, |v| v.clamp(min, max)) as i32;
    let hi = clamp.qmax.map_or(max, |v| v.clamp(min, max)) as i32;
    if lo > hi {
        return Err(OpError::Attribute {
            name: "qmin".into(),
            reason: format!("clamp [{lo}, {hi}] is empty for i16"),
        });
    }
    Ok((lo, hi))
}

/// A low-bit kernel's refusal, as an op error.
pub(crate) fn lowbit_error(e: LowBitError) -> OpError {
    match e {
        LowBitError::Int8(e) => int8_error(e),
        other => OpError::Unsupported(other.to_string()),
    }
}

/// Runs `$body` with `$T` bound to `i8`, `u8` or `i16` according to `$dt`; else `$other`.
macro_rules! dispatch_act {
    ($dt:expr, $T:ident => $body:expr, _ => $other:expr) => {
        match $dt {
            mw_tensor::DType::I8 => {
                type $T = i8;
                $body
            }
            mw_tensor::DType::U8 => {
                type $T = u8;
                $body
            }
            mw_tensor::DType::I16 => {
                type $T = i16;
                $body
            }
            _ => $other,
        }
    };
}
pub(crate) use dispatch_act;

/// Runs `$body` with `$T` and `$U` bound to the activation types of `$a` and `$b`.
macro_rules! dispatch_act_pair {
    ($a:expr, $b:expr, $T:ident, $U:ident => $body:expr, _ => $other:expr) => {
        $crate::ops::quant::lowbit::dispatch_act!($a, $T => {
            $crate::ops::quant::lowbit::dispatch_act!($b, $U => $body, _ => $other)
        }, _ => $other)
    };
}
pub(crate) use dispatch_act_pair;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrowest_format_is_chosen() {
        assert_eq!(narrowest(&[1, -1, 1]), LowBitFormat::Binary);
        assert_eq!(narrowest(&[1, 0, -1]), LowBitFormat::Ternary);
        assert_eq!(narrowest(&[7, -7, 0]), LowBitFormat::Int4);
        assert_eq!(narrowest(&[9, 0]), LowBitFormat::Int8);
    }

    #[test]
    fn long_i16_reductions_are_refused() {
        // 300 · 127 · |x − zx| with |x − zx| up to 65 535 (zero point at the i16 minimum).
        let w = pack(&vec![127i8; 2 * 300], 2, 300).unwrap();
        assert!(check_overflow(&w, DType::I16, -32768, None).is_err());
        assert!(check_overflow(&w, DType::I16, 0, None).is_ok());
        assert!(check_overflow(&w, DType::I8, 0, None).is_ok());
        let w4 = pack(&[7i8; 64], 1, 64).unwrap();
        assert!(check_overflow(&w4, DType::I16, 0, None).is_ok());
    }

    #[test]
    fn i16_stage_clamps_inside_i16() {
        let c = Clamp {
            qmin: Some(0),
            qmax: Some(100_000),
        };
        let s = output_stage(DType::I16, 1.0, &[1.0], 1.0, 0, &c, 1).unwrap();
        assert_eq!(s.clamp_range(), (0, 32767));
        assert_eq!(s.requantize(-5, 0), 0);
        assert_eq!(s.requantize(40_000, 0), 32767);
    }
}

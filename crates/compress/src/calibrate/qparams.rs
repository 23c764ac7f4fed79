//! Scale and zero point from a range, and quantizing single values with them.
use serde::Serialize;

use super::round::{round_half_to_even, round_half_to_even_f64};
use super::{CalibError, QScheme};

/// The smallest scale ever produced: `f32::EPSILON` (2^-23 ≈ 1.19e-7), the floor PyTorch's
/// observers use. A range narrower than `MIN_SCALE * (qmax - qmin)` (≈ 3e-5 for 8 bits),
/// including the all-zero range, gets this scale: zero stays exact, the scale stays positive and
/// requantization multipliers derived from it stay far from f32 overflow.
pub const MIN_SCALE: f32 = f32::EPSILON;

/// Affine quantization parameters: `real = scale * (q - zero_point)`, `q ∈ [qmin, qmax]`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct QParams {
    /// Always finite and `>= MIN_SCALE`.
    pub scale: f32,
    /// Always within `[scheme.qmin(), scheme.qmax()]`; 0 (signed) or the grid midpoint
    /// (unsigned, e.g. 128) for symmetric schemes.
    pub zero_point: i32,
    pub scheme: QScheme,
}

/// Derives scale and zero point for `range = (lo, hi)` on `scheme`.
///
/// The range is first widened to include 0 (so ReLU outputs and zero padding quantize exactly),
/// then, for symmetric schemes, to `[-a, a]` with `a = max(|lo|, |hi|)`. Then
/// `scale = (hi - lo) / (qmax - qmin)` (computed in f64, stored as f32, floored at
/// [`MIN_SCALE`]) and, for asymmetric schemes, `zero_point = round_half_to_even(qmin - lo / scale)`
/// clamped to the grid — ONNX Runtime's `compute_scale_zp` except for the scale floor (ORT maps
/// scales below `f32::MIN_POSITIVE` to 1.0). Refuses non-finite or reversed ranges.
pub fn qparams_from_range(range: (f32, f32), scheme: QScheme) -> Result<QParams, CalibError> {
    let (lo, hi) = range;
    if !lo.is_finite() || !hi.is_finite() || lo > hi {
        return Err(CalibError::Range { lo, hi });
    }
    let (mut lo, mut hi) = ((lo as f64).min(0.0), (hi as f64).max(0.0));
    let (qmin, qmax) = (scheme.qmin() as f64, scheme.qmax() as f64);
    if scheme.symmetric() {
        let a = lo.abs().max(hi.abs());
        (lo, hi) = (-a, a);
    }
    let scale = (((hi - lo) / (qmax - qmin)) as f32).max(MIN_SCALE);
    let zero_point = if scheme.symmetric() {
        round_half_to_even_f64((qmin + qmax) / 2.0)
    } else {
        round_half_to_even_f64(qmin - lo / scale as f64).clamp(qmin, qmax)
    };
    Ok(QParams {
        scale,
        zero_point: zero_point as i32,
        scheme,
    })
}

/// ONNX `QuantizeLinear` on one value: `clamp(round_half_to_even(x / scale) + zero_point)`.
/// NaN maps to the zero point (as `QuantizeLinear` implementations saturate-cast NaN to 0).
pub fn quantize_value(x: f32, qp: &QParams) -> i32 {
    let q = round_half_to_even(x / qp.scale);
    let q = if q.is_nan() { 0.0 } else { q };
    let (qmin, qmax) = (qp.scheme.qmin() as f32, qp.scheme.qmax() as f32);
    // Clamp before the integer conversion so huge values cannot overflow the addition.
    let q = (q + qp.zero_point as f32).clamp(qmin, qmax);
    q as i32
}

/// ONNX `DequantizeLinear` on one value: `(q - zero_point) * scale`.
pub fn dequantize_value(q: i32, qp: &QParams) -> f32 {
    (q - qp.zero_point) as f32 * qp.scale
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn qp(lo: f32, hi: f32, s: QScheme) -> QParams {
        qparams_from_range((lo, hi), s).unwrap()
    }

    #[test]
    fn int8_symmetric() {
        let p = qp(-2.0, 1.0, QScheme::INT8_SYMMETRIC);
        assert_eq!(p.zero_point, 0);
        assert_eq!(p.scale, 2.0 / 127.0);
    }

    #[test]
    fn uint8_asymmetric_matches_ort_formula() {
        // ORT: scale = 3/255, zp = round(0 - (-1)/scale) = round(85.0) = 85.
        let p = qp(-1.0, 2.0, QScheme::UINT8_ASYMMETRIC);
        assert_eq!(p.scale, (3.0f64 / 255.0) as f32);
        assert_eq!(p.zero_point, 85);
        // ReLU output: zero point at the bottom of the grid.
        let p = qp(0.0, 6.0, QScheme::UINT8_ASYMMETRIC);
        assert_eq!(p.zero_point, 0);
        // Negative-only data: the range is widened to include 0, zero point at the top.
        let p = qp(-4.0, -1.0, QScheme::UINT8_ASYMMETRIC);
        assert_eq!(p.zero_point, 255);
        assert_eq!(p.scale, (4.0f64 / 255.0) as f32);
        let p = qp(-4.0, -1.0, QScheme::INT8_ASYMMETRIC);
        assert_eq!(p.zero_point, 127);
    }

    #[test]
    fn uint8_symmetric_zero_point_is_128() {
        let p = qp(-3.0, 1.0, QScheme::UINT8_SYMMETRIC);
        assert_eq!(p.zero_point, 128);
        assert_eq!(p.scale, (6.0f64 / 255.0) as f32);
    }

    #[test]
    fn all_zero_and_tiny_ranges_get_min_scale() {
        for s in [
            QScheme::INT8_SYMMETRIC,
            QScheme::INT8_ASYMMETRIC,
            QScheme::UINT8_ASYMMETRIC,
            QScheme::UINT8_SYMMETRIC,
        ] {
            for (lo, hi) in [(0.0, 0.0), (-1e-30, 1e-30), (0.0, 1e-9), (-1e-45, 0.0)] {
                let p = qp(lo, hi, s);
                assert_eq!(p.scale, MIN_SCALE, "{s:?} ({lo}, {hi})");
                assert!((s.qmin()..=s.qmax()).contains(&p.zero_point));
                assert_eq!(dequantize_value(quantize_value(0.0, &p), &p), 0.0);
            }
        }
    }

    #[test]
    fn refuses_bad_ranges() {
        let s = QScheme::INT8_SYMMETRIC;
        assert!(qparams_from_range((f32::NAN, 1.0), s).is_err());
        assert!(qparams_from_range((0.0, f32::INFINITY), s).is_err());
        assert!(qparams_from_range((2.0, 1.0), s).is_err());
    }

    #[test]
    fn extreme_ranges_stay_finite() {
        let p = qp(-f32::MAX, f32::MAX, QScheme::INT8_ASYMMETRIC);
        assert!(p.scale.is_finite());
        assert!((-128..=127).contains(&p.zero_point));
        assert_eq!(quantize_value(f32::MAX, &p), 127);
        assert_eq!(quantize_value(-f32::INFINITY, &p), -128);
        assert_eq!(quantize_value(f32::NAN, &p), p.zero_point);
    }

    #[test]
    fn quantize_rounds_half_to_even() {
        let p = QParams {
            scale: 1.0,
            zero_point: 0,
            scheme: QScheme::INT8_ASYMMETRIC,
        };
        let got: Vec<i32> = [0.5, 1.5, 2.5, -0.5, -2.5, 200.0, -200.0]
            .iter()
            .map(|&x| quantize_value(x, &p))
            .collect();
        assert_eq!(got, vec![0, 2, 2, 0, -2, 127, -128]);
    }

    fn schemes() -> impl Strategy<Value = QScheme> {
        (2u8..=16, any::<bool>(), any::<bool>())
            .prop_map(|(b, s, y)| QScheme::new(b, s, y).unwrap())
    }

    proptest! {
        /// Zero is exact, the zero point is on the grid, and every value of the range is
        /// reproduced within half a step.
        #[test]
        fn range_is_covered(a in -1e4f32..1e4, b in -1e4f32..1e4, t in 0f32..=1.0, s in schemes()) {
            let (lo, hi) = (a.min(b), a.max(b));
            let p = qp(lo, hi, s);
            prop_assert!(p.scale >= MIN_SCALE && p.scale.is_finite());
            prop_assert!((s.qmin()..=s.qmax()).contains(&p.zero_point));
            prop_assert_eq!(dequantize_value(quantize_value(0.0, &p), &p), 0.0);
            let x = lo + (hi - lo) * t;
            let err = (dequantize_value(quantize_value(x, &p), &p) - x).abs();
            // f32 division near 2^16 steps can move the rounding decision by ~0.004 step.
            let tol = p.scale * 0.51 + x.abs() * 1e-6;
            prop_assert!(err <= tol, "x={} err={} scale={}", x, err, p.scale);
        }
    }
}

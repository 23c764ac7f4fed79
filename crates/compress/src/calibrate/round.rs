//! The one rounding rule used to quantize values.

/// The project's one float → integer rounding rule (ties to even, as ONNX `QuantizeLinear`
/// specifies), defined once in `mw-kernels` and used here for zero points,
/// [`super::quantize_value`] and the MSE search, so calibration and the engines agree bit for bit.
pub use mw_kernels::elementwise::round_half_to_even;

/// [`round_half_to_even`] in f64, for parameter derivation done in double precision.
pub(crate) fn round_half_to_even_f64(x: f64) -> f64 {
    x.round_ties_even()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_go_to_even() {
        let cases = [
            (0.5, 0.0),
            (1.5, 2.0),
            (2.5, 2.0),
            (3.5, 4.0),
            (-0.5, -0.0),
            (-1.5, -2.0),
            (-2.5, -2.0),
            (2.4999998, 2.0),
            (2.5000002, 3.0),
            (-7.0, -7.0),
            (8_388_609.0, 8_388_609.0), // 2^23 + 1: already an integer
        ];
        for (x, want) in cases {
            let got = round_half_to_even(x);
            assert_eq!(got, want, "round_half_to_even({x})");
            assert_eq!(
                got.is_sign_negative(),
                want.is_sign_negative(),
                "sign of {x}"
            );
        }
        assert!(round_half_to_even(f32::NAN).is_nan());
        assert_eq!(round_half_to_even(f32::INFINITY), f32::INFINITY);
        assert_eq!(round_half_to_even_f64(127.5), 128.0);
        assert_eq!(round_half_to_even_f64(126.5), 126.0);
    }
}

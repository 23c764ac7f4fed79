//! Integer target grids: bit width, signedness, symmetry.
use serde::Serialize;

use super::CalibError;

/// The integer grid a tensor is quantized to.
///
/// * unsigned: `[0, 2^bits - 1]` (uint8: `[0, 255]`);
/// * signed, asymmetric: `[-2^(bits-1), 2^(bits-1) - 1]` (int8: `[-128, 127]`);
/// * signed, symmetric: the restricted `[-(2^(bits-1) - 1), 2^(bits-1) - 1]` (int8: `[-127, 127]`),
///   as ONNX Runtime's `get_qmin_qmax_for_qType(symmetric=True)`, so that the grid is symmetric
///   about the zero point 0.
///
/// Symmetric schemes quantize `[-a, a]` with `a = max(|lo|, |hi|)`; asymmetric ones `[lo, hi]`
/// (both always widened to include 0). Bit widths 2..=16 are accepted so that sub-8-bit work
/// reuses the same calibration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct QScheme {
    bits: u8,
    signed: bool,
    symmetric: bool,
}

impl QScheme {
    /// int8, zero point 0, grid `[-127, 127]` (weights; symmetric activations).
    pub const INT8_SYMMETRIC: QScheme = QScheme {
        bits: 8,
        signed: true,
        symmetric: true,
    };
    /// int8 over `[-128, 127]` with a free zero point.
    pub const INT8_ASYMMETRIC: QScheme = QScheme {
        bits: 8,
        signed: true,
        symmetric: false,
    };
    /// uint8 over `[0, 255]` with a free zero point (classic activations).
    pub const UINT8_ASYMMETRIC: QScheme = QScheme {
        bits: 8,
        signed: false,
        symmetric: false,
    };
    /// uint8 over `[0, 255]`, zero point 128.
    pub const UINT8_SYMMETRIC: QScheme = QScheme {
        bits: 8,
        signed: false,
        symmetric: true,
    };

    pub fn new(bits: u8, signed: bool, symmetric: bool) -> Result<QScheme, CalibError> {
        if !(2..=16).contains(&bits) {
            return Err(CalibError::Bits(bits));
        }
        Ok(QScheme {
            bits,
            signed,
            symmetric,
        })
    }

    pub fn bits(self) -> u8 {
        self.bits
    }

    pub fn signed(self) -> bool {
        self.signed
    }

    pub fn symmetric(self) -> bool {
        self.symmetric
    }

    /// Smallest grid value.
    pub fn qmin(self) -> i32 {
        match (self.signed, self.symmetric) {
            (false, _) => 0,
            (true, false) => -(1 << (self.bits - 1)),
            (true, true) => -(1 << (self.bits - 1)) + 1,
        }
    }

    /// Largest grid value.
    pub fn qmax(self) -> i32 {
        if self.signed {
            (1 << (self.bits - 1)) - 1
        } else {
            (1 << self.bits) - 1
        }
    }

    /// Number of grid values, `qmax - qmin + 1` (256 for int8 asymmetric, 255 symmetric).
    pub fn levels(self) -> u32 {
        (self.qmax() - self.qmin()) as u32 + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grids() {
        let s = QScheme::INT8_SYMMETRIC;
        assert_eq!((s.qmin(), s.qmax(), s.levels()), (-127, 127, 255));
        let s = QScheme::INT8_ASYMMETRIC;
        assert_eq!((s.qmin(), s.qmax(), s.levels()), (-128, 127, 256));
        let s = QScheme::UINT8_ASYMMETRIC;
        assert_eq!((s.qmin(), s.qmax(), s.levels()), (0, 255, 256));
        let s = QScheme::new(4, true, true).unwrap();
        assert_eq!((s.qmin(), s.qmax()), (-7, 7));
        let s = QScheme::new(2, true, true).unwrap();
        assert_eq!((s.qmin(), s.qmax()), (-1, 1));
        let s = QScheme::new(16, false, false).unwrap();
        assert_eq!((s.qmin(), s.qmax()), (0, 65535));
        assert_eq!(QScheme::new(1, true, true), Err(CalibError::Bits(1)));
        assert_eq!(QScheme::new(17, false, false), Err(CalibError::Bits(17)));
    }
}

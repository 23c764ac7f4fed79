//! Packed storage of sub-byte weights.
//!
//! # Layout contract
//! A [`PackedWeights`] holds a `[rows × cols]` matrix, one row per output channel (for a
//! convolution: `[OC, C/groups · KH · KW]`, the ONNX weight order flattened per output channel).
//! * Every row starts on a byte boundary and takes `row_bytes = ceil(cols · bits / 8)` bytes; row
//!   `r` is `bytes[r · row_bytes .. (r + 1) · row_bytes]`.
//! * Element `c` of a row sits in byte `c · bits / 8`, at bit offset `(c · bits) % 8`, least
//!   significant bits first. For INT4 this is ONNX's order: element `2i` in bits 0–3 and `2i + 1`
//!   in bits 4–7 of byte `i`; a one-row matrix is exactly ONNX's flat INT4 packing.
//! * Codes: [`LowBitFormat::Int4`] and [`LowBitFormat::Int2`] are two's complement (`[-8, 7]`,
//!   `[-2, 1]`); [`LowBitFormat::Ternary`] is stored as INT2 with values `{-1, 0, 1}` (code `0b10`
//!   is invalid); [`LowBitFormat::Binary`] is one bit, `1` meaning `+1` and `0` meaning `-1`.
//! * Bits past the end of a row (odd nibble counts, partial bytes) are zero.
//!
//! Weights are symmetric (zero point 0). Each matrix also keeps its row sums `Σ_c w[r][c]`, which
//! the kernels use to apply the activation zero point once per row.

use super::LowBitError;
use crate::int8::checked_product;

/// A sub-byte weight format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LowBitFormat {
    /// Signed 4-bit, `[-8, 7]`, two per byte.
    Int4,
    /// Signed 2-bit, `[-2, 1]`, four per byte.
    Int2,
    /// `{-1, 0, 1}` stored as INT2, four per byte.
    Ternary,
    /// `{-1, +1}`, eight per byte; bit 1 is `+1`.
    Binary,
    /// Signed 8-bit, `[-128, 127]`, one per byte: int8 weights for the A16 kernels (the A8
    /// kernels refuse it; int8 weights with 8-bit activations run [`crate::int8`]).
    Int8,
}

impl LowBitFormat {
    /// Bits per element.
    pub const fn bits(self) -> usize {
        match self {
            LowBitFormat::Int8 => 8,
            LowBitFormat::Int4 => 4,
            LowBitFormat::Int2 | LowBitFormat::Ternary => 2,
            LowBitFormat::Binary => 1,
        }
    }

    /// Smallest and largest value (binary excludes 0 in between).
    pub const fn range(self) -> (i8, i8) {
        match self {
            LowBitFormat::Int8 => (-128, 127),
            LowBitFormat::Int4 => (-8, 7),
            LowBitFormat::Int2 => (-2, 1),
            LowBitFormat::Ternary | LowBitFormat::Binary => (-1, 1),
        }
    }

    /// Whether `v` is a value of this format.
    pub const fn contains(self, v: i8) -> bool {
        let (lo, hi) = self.range();
        v >= lo && v <= hi && !(matches!(self, LowBitFormat::Binary) && v == 0)
    }

    /// Bytes of one packed row of `cols` elements.
    pub fn row_bytes(self, cols: usize) -> Result<usize, LowBitError> {
        Ok(checked_product("packed row", &[cols, self.bits()])?.div_ceil(8))
    }

    /// The code of `v` (validated by the caller), in the low `bits` bits.
    #[inline(always)]
    fn encode(self, v: i8) -> u8 {
        match self {
            LowBitFormat::Binary => u8::from(v > 0),
            LowBitFormat::Int8 => v as u8,
            _ => (v as u8) & ((1u8 << self.bits()) - 1),
        }
    }
}

impl std::fmt::Display for LowBitFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LowBitFormat::Int4 => "int4",
            LowBitFormat::Int2 => "int2",
            LowBitFormat::Ternary => "ternary",
            LowBitFormat::Binary => "binary",
            LowBitFormat::Int8 => "int8",
        })
    }
}

/// Packs `values` as one row (the flat stream: ONNX INT4 order for [`LowBitFormat::Int4`]).
pub fn pack_values(format: LowBitFormat, values: &[i8]) -> Result<Vec<u8>, LowBitError> {
    let mut out = vec![0u8; format.row_bytes(values.len())?];
    pack_row(format, values, 0, &mut out)?;
    Ok(out)
}

/// Unpacks the first `len` values of a flat stream; `bytes` must be exactly
/// `format.row_bytes(len)` long. Pad bits are ignored.
pub fn unpack_values(
    format: LowBitFormat,
    bytes: &[u8],
    len: usize,
) -> Result<Vec<i8>, LowBitError> {
    crate::int8::check_len("packed bytes", bytes.len(), format.row_bytes(len)?)?;
    check_codes(format, bytes, len, 0)?;
    let mut out = vec![0i8; len];
    unpack_row(format, bytes, &mut out);
    Ok(out)
}

/// Writes the codes of `values` into `dst` (zeroed, `row_bytes` long); `index0` names the first
/// value in errors.
fn pack_row(
    format: LowBitFormat,
    values: &[i8],
    index0: usize,
    dst: &mut [u8],
) -> Result<(), LowBitError> {
    let bits = format.bits();
    for (c, &v) in values.iter().enumerate() {
        if !format.contains(v) {
            return Err(LowBitError::ValueOutOfRange {
                format,
                index: index0 + c,
                value: v,
            });
        }
        dst[c * bits / 8] |= format.encode(v) << ((c * bits) % 8);
    }
    Ok(())
}

/// Decodes `out.len()` values from a packed row (`src` holds at least that many codes).
///
/// One loop per format, each element a shift pair on its byte (sign extension by arithmetic
/// shift), so the loops vectorize.
#[inline]
pub(crate) fn unpack_row(format: LowBitFormat, src: &[u8], out: &mut [i8]) {
    match format {
        LowBitFormat::Int8 => {
            for (o, &b) in out.iter_mut().zip(src) {
                *o = b as i8;
            }
        }
        LowBitFormat::Int4 => {
            for (o, &b) in out.chunks_mut(2).zip(src) {
                o[0] = ((b << 4) as i8) >> 4;
                if let Some(hi) = o.get_mut(1) {
                    *hi = (b as i8) >> 4;
                }
            }
        }
        LowBitFormat::Int2 | LowBitFormat::Ternary => {
            for (o, &b) in out.chunks_mut(4).zip(src) {
                for (t, v) in o.iter_mut().enumerate() {
                    *v = ((b << (6 - 2 * t)) as i8) >> 6;
                }
            }
        }
        LowBitFormat::Binary => {
            for (o, &b) in out.chunks_mut(8).zip(src) {
                for (t, v) in o.iter_mut().enumerate() {
                    *v = (((b >> t) & 1) as i8) * 2 - 1;
                }
            }
        }
    }
}

/// Rejects ternary's invalid code `0b10` among the first `len` codes of `src`.
fn check_codes(
    format: LowBitFormat,
    src: &[u8],
    len: usize,
    index0: usize,
) -> Result<(), LowBitError> {
    if format != LowBitFormat::Ternary {
        return Ok(());
    }
    for c in 0..len {
        if (src[c / 4] >> (2 * (c % 4))) & 3 == 0b10 {
            return Err(LowBitError::BadCode {
                format,
                index: index0 + c,
            });
        }
    }
    Ok(())
}

/// Clears the bits past `cols` elements in a row.
fn clear_padding(format: LowBitFormat, cols: usize, row: &mut [u8]) {
    let used = cols * format.bits();
    if !used.is_multiple_of(8) {
        if let Some(last) = row.get_mut(used / 8) {
            *last &= (1u8 << (used % 8)) - 1;
        }
    }
}

/// A `[rows × cols]` weight matrix in packed storage (layout in the module doc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackedWeights {
    format: LowBitFormat,
    rows: usize,
    cols: usize,
    row_bytes: usize,
    data: Vec<u8>,
    row_sums: Vec<i32>,
}

impl PackedWeights {
    /// Packs row-major `[rows × cols]` values; an out-of-range value is an error naming its index.
    pub fn pack(
        format: LowBitFormat,
        rows: usize,
        cols: usize,
        values: &[i8],
    ) -> Result<Self, LowBitError> {
        crate::int8::check_len(
            "weights",
            values.len(),
            checked_product("weights", &[rows, cols])?,
        )?;
        let row_bytes = format.row_bytes(cols)?;
        let mut data = vec![0u8; checked_product("packed weights", &[rows, row_bytes])?];
        if row_bytes > 0 {
            for (r, dst) in data.chunks_exact_mut(row_bytes).enumerate() {
                pack_row(format, &values[r * cols..(r + 1) * cols], r * cols, dst)?;
            }
        }
        Ok(Self::with_sums(format, rows, cols, row_bytes, data))
    }

    /// Adopts bytes already in the layout (e.g. from a file): `bytes.len()` must be
    /// `rows · row_bytes`; pad bits are cleared; an invalid ternary code is an error.
    pub fn from_bytes(
        format: LowBitFormat,
        rows: usize,
        cols: usize,
        mut bytes: Vec<u8>,
    ) -> Result<Self, LowBitError> {
        let row_bytes = format.row_bytes(cols)?;
        let len = checked_product("packed weights", &[rows, row_bytes])?;
        crate::int8::check_len("packed bytes", bytes.len(), len)?;
        if row_bytes > 0 {
            for (r, row) in bytes.chunks_exact_mut(row_bytes).enumerate() {
                check_codes(format, row, cols, r * cols)?;
                clear_padding(format, cols, row);
            }
        }
        Ok(Self::with_sums(format, rows, cols, row_bytes, bytes))
    }

    fn with_sums(
        format: LowBitFormat,
        rows: usize,
        cols: usize,
        row_bytes: usize,
        data: Vec<u8>,
    ) -> Self {
        let mut w = Self {
            format,
            rows,
            cols,
            row_bytes,
            data,
            row_sums: Vec::new(),
        };
        let mut buf = vec![0i8; cols];
        w.row_sums = (0..rows)
            .map(|r| {
                w.unpack_row_into(r, &mut buf);
                buf.iter().map(|&v| i32::from(v)).sum()
            })
            .collect();
        w
    }

    /// The format.
    pub fn format(&self) -> LowBitFormat {
        self.format
    }

    /// Rows (output channels).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Elements per row (the reduction length).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Bytes per packed row.
    pub fn row_bytes(&self) -> usize {
        self.row_bytes
    }

    /// The packed bytes, `rows · row_bytes` long.
    pub fn bytes(&self) -> &[u8] {
        &self.data
    }

    /// The packed bytes of row `r` (`r < rows`).
    pub fn row(&self, r: usize) -> &[u8] {
        &self.data[r * self.row_bytes..(r + 1) * self.row_bytes]
    }

    /// `Σ_c w[r][c]` for every row.
    pub fn row_sums(&self) -> &[i32] {
        &self.row_sums
    }

    /// Element `(r, c)`; `None` outside the matrix.
    pub fn get(&self, r: usize, c: usize) -> Option<i8> {
        if r >= self.rows || c >= self.cols {
            return None;
        }
        let mut v = [0i8];
        let bits = self.format.bits();
        let byte = self.row(r)[c * bits / 8] >> ((c * bits) % 8);
        unpack_row(self.format, &[byte], &mut v);
        Some(v[0])
    }

    /// Decodes row `r` into `out[..cols]` (`r < rows`, `out.len() ≥ cols`).
    pub fn unpack_row_into(&self, r: usize, out: &mut [i8]) {
        unpack_row(self.format, self.row(r), &mut out[..self.cols]);
    }

    /// All values, row-major `[rows × cols]`.
    pub fn unpack(&self) -> Vec<i8> {
        let mut out = vec![0i8; self.rows * self.cols];
        if self.cols > 0 {
            for (r, dst) in out.chunks_exact_mut(self.cols).enumerate() {
                self.unpack_row_into(r, dst);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;

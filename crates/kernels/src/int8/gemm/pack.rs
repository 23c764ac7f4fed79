//! Packed operand layouts of the int8 GEMM microkernel.
//!
//! Both operands are stored as `i16` pairs along K so that one 32-bit lane holds `(k, k+1)`, the
//! shape `vpmaddwd` multiplies and pair-sums. Odd K is padded with a zero pair element; rows and
//! columns past the matrix edge are zero. Zero padding contributes nothing to the accumulators.

use super::{MR, NR};
use crate::int8::{checked_product, Int8Error, QuantElem};

/// Two `i16` in one `i32` lane, `lo` in the low half.
#[inline(always)]
fn pair(lo: i16, hi: i16) -> i32 {
    (u32::from(lo as u16) | (u32::from(hi as u16) << 16)) as i32
}

/// Weights `[M × K]` (row-major `i8`) packed into panels of [`MR`] rows: for panel `p`, k-pair
/// `j`, row `r`, word `(p·kp2 + j)·MR + r` holds `(w[p·MR+r][2j], w[p·MR+r][2j+1])`.
#[derive(Debug, Clone, PartialEq)]
pub struct PackedWeights {
    m: usize,
    k: usize,
    kp2: usize,
    data: Vec<i32>,
}

impl PackedWeights {
    /// Packs row-major `[m × k]` weights (offline).
    pub fn new(m: usize, k: usize, w: &[i8]) -> Result<Self, Int8Error> {
        crate::int8::check_len("weights", w.len(), checked_product("weights", &[m, k])?)?;
        let kp2 = k.div_ceil(2);
        let panels = m.div_ceil(MR);
        let mut data = vec![0i32; checked_product("packed weights", &[panels, kp2, MR])?];
        for row in 0..m {
            let (p, r) = (row / MR, row % MR);
            let src = &w[row * k..(row + 1) * k];
            for j in 0..kp2 {
                let lo = i16::from(src[2 * j]);
                let hi = src.get(2 * j + 1).map_or(0, |&v| i16::from(v));
                data[(p * kp2 + j) * MR + r] = pair(lo, hi);
            }
        }
        Ok(Self { m, k, kp2, data })
    }

    /// Rows (output channels).
    pub fn m(&self) -> usize {
        self.m
    }

    /// Reduction length.
    pub fn k(&self) -> usize {
        self.k
    }

    pub(crate) fn kp2(&self) -> usize {
        self.kp2
    }

    /// The words of row panel `p`.
    pub(crate) fn panel(&self, p: usize) -> &[i32] {
        &self.data[p * self.kp2 * MR..(p + 1) * self.kp2 * MR]
    }
}

/// Activations `[K × N]` with the zero point already subtracted, packed into panels of [`NR`]
/// columns: element `(k, n)` lives at `((n/NR)·kp2 + k/2)·2·NR + 2·(n%NR) + k%2`.
///
/// Values must lie in `[-255, 255]` (an 8-bit value minus an 8-bit zero point); then no `i16`
/// product pair can reach the single `vpmaddwd` overflow case.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PackedActs {
    n: usize,
    kp2: usize,
    data: Vec<i16>,
}

impl PackedActs {
    /// All-zero packed activations of `[k × n]`.
    pub(crate) fn zeros(k: usize, n: usize) -> Result<Self, Int8Error> {
        let kp2 = k.div_ceil(2);
        let len = checked_product("packed activations", &[n.div_ceil(NR), kp2, 2 * NR])?;
        Ok(Self {
            n,
            kp2,
            data: vec![0; len],
        })
    }

    /// Packs row-major `[k × n]` activations, subtracting `zero_point`.
    pub(crate) fn from_matrix<T: QuantElem>(
        k: usize,
        n: usize,
        x: &[T],
        zero_point: i32,
    ) -> Result<Self, Int8Error> {
        let mut p = Self::zeros(k, n)?;
        for kk in 0..k {
            let row = &x[kk * n..(kk + 1) * n];
            p.write_row(kk, |col| (row[col].to_i32() - zero_point) as i16);
        }
        Ok(p)
    }

    /// Sets row `kk` to `f(col)` for every column.
    #[inline]
    pub(crate) fn write_row(&mut self, kk: usize, mut f: impl FnMut(usize) -> i16) {
        let panel_len = self.kp2 * 2 * NR;
        let base = (kk / 2) * 2 * NR + kk % 2;
        for (pi, panel) in self.data.chunks_exact_mut(panel_len).enumerate() {
            let col0 = pi * NR;
            let cols = NR.min(self.n - col0);
            let dst = &mut panel[base..];
            for c in 0..cols {
                dst[2 * c] = f(col0 + c);
            }
        }
    }

    pub(crate) fn n(&self) -> usize {
        self.n
    }

    /// The elements of column panel `p`.
    pub(crate) fn panel(&self, p: usize) -> &[i16] {
        let len = self.kp2 * 2 * NR;
        &self.data[p * len..(p + 1) * len]
    }
}

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
        let mut rows = vec![0i16; 2 * n];
        let (r0, r1) = rows.split_at_mut(n);
        for j in 0..p.kp2 {
            widen_row(&x[2 * j * n..(2 * j + 1) * n], zero_point, r0);
            if 2 * j + 1 < k {
                widen_row(&x[(2 * j + 1) * n..(2 * j + 2) * n], zero_point, r1);
            } else {
                r1.fill(0);
            }
            p.write_pair(j, r0, r1);
        }
        Ok(p)
    }

    /// Sets rows `2j` and `2j + 1` to `r0` and `r1` (each of length `n`).
    pub(crate) fn write_pair(&mut self, j: usize, r0: &[i16], r1: &[i16]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 was detected.
            return unsafe { self.write_pair_avx2(j, r0, r1) };
        }
        self.write_pair_body(j, r0, r1)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn write_pair_avx2(&mut self, j: usize, r0: &[i16], r1: &[i16]) {
        self.write_pair_body(j, r0, r1)
    }

    #[inline(always)]
    fn write_pair_body(&mut self, j: usize, r0: &[i16], r1: &[i16]) {
        let panel_len = self.kp2 * 2 * NR;
        let base = j * 2 * NR;
        for ((panel, a), b) in self
            .data
            .chunks_exact_mut(panel_len)
            .zip(r0.chunks(NR))
            .zip(r1.chunks(NR))
        {
            for ((d, &x0), &x1) in panel[base..base + 2 * NR].chunks_exact_mut(2).zip(a).zip(b) {
                d[0] = x0;
                d[1] = x1;
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

/// `dst[i] = src[i] − zero_point` as `i16` (in `[-255, 255]` for 8-bit values and zero points).
#[inline]
pub(crate) fn widen_row<T: QuantElem>(src: &[T], zero_point: i32, dst: &mut [i16]) {
    for (d, &v) in dst.iter_mut().zip(src) {
        *d = (v.to_i32() - zero_point) as i16;
    }
}

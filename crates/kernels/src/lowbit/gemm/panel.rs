//! Operand layouts of the low-bit microkernels.
//!
//! * A8 activations (`u8`, stored values): column panels of [`NR8`]; element `(k, c)` is byte
//!   `k % 4` of word `((c / NR8) · kq + k / 4) · NR8 + c % NR8`, `kq = ceil(K / 4)` — one 32-byte vector
//!   holds 4 consecutive K values of 8 columns, the operand shape of `vpmaddubsw`.
//! * A16 activations (`i16`): column panels of [`NR16`]; element `(k, c)` at
//!   `((c / NR16) · kp2 + k / 2) · 32 + (c % NR16) · 2 + k % 2` — the int8 kernel's layout.
//! * A weight panel: [`MR`] rows decoded from packed storage; word `j · MR + r` holds row `r`'s
//!   K values `4j..4j+4` as `i8` (A8) or `2j, 2j+1` as `i16` (A16), low element first.
//!
//! Padding (K past the end, columns past N, rows past M) is zero and adds nothing.

use super::{kernel, MR, NR16, NR8};
use crate::int8::checked_product;
use crate::int8::gemm::Isa;
use crate::lowbit::{LowBitError, PackedWeights};

/// Packed activations of a `[K × N]` matrix, in stored values.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Acts {
    /// One `u32` per (quad, column): four `u8`, the lowest K first.
    A8 { n: usize, kq: usize, data: Vec<u32> },
    A16 {
        n: usize,
        kp2: usize,
        data: Vec<i16>,
    },
}

impl Acts {
    /// All-zero packed activations of `[k × n]`.
    pub(crate) fn zeros(a8: bool, k: usize, n: usize) -> Result<Self, LowBitError> {
        Ok(if a8 {
            let kq = k.div_ceil(4);
            let len = checked_product("packed activations", &[n.div_ceil(NR8), kq, NR8])?;
            Acts::A8 {
                n,
                kq,
                data: vec![0; len],
            }
        } else {
            let kp2 = k.div_ceil(2);
            let len = checked_product("packed activations", &[n.div_ceil(NR16), kp2, 2 * NR16])?;
            Acts::A16 {
                n,
                kp2,
                data: vec![0; len],
            }
        })
    }

    pub(crate) fn n(&self) -> usize {
        match self {
            Acts::A8 { n, .. } | Acts::A16 { n, .. } => *n,
        }
    }

    pub(crate) fn is_a8(&self) -> bool {
        matches!(self, Acts::A8 { .. })
    }

    /// Rows per group: 4 (A8 quads) or 2 (A16 pairs).
    pub(crate) fn group(&self) -> usize {
        if self.is_a8() {
            4
        } else {
            2
        }
    }

    /// Number of groups along K.
    pub(crate) fn groups(&self) -> usize {
        match self {
            Acts::A8 { kq, .. } => *kq,
            Acts::A16 { kp2, .. } => *kp2,
        }
    }

    /// Sets the rows of group `j` (K rows `j·g .. j·g + g`, `g` = [`Self::group`]) from `rows`,
    /// `g` rows of `n` stored values one after another (in `0..=255` for A8).
    pub(crate) fn write_group(&mut self, j: usize, rows: &[i16]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 was detected.
            return unsafe { self.write_group_avx2(j, rows) };
        }
        self.write_group_body(j, rows)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn write_group_avx2(&mut self, j: usize, rows: &[i16]) {
        self.write_group_body(j, rows)
    }

    #[inline(always)]
    fn write_group_body(&mut self, j: usize, rows: &[i16]) {
        match self {
            Acts::A8 { n, kq, data } => {
                let n = *n;
                let (r0, rest) = rows.split_at(n);
                let (r1, rest) = rest.split_at(n);
                let (r2, r3) = rest.split_at(n);
                for (p, panel) in data.chunks_exact_mut(*kq * NR8).enumerate() {
                    let c0 = p * NR8;
                    let cols = NR8.min(n - c0);
                    let dst = &mut panel[j * NR8..j * NR8 + cols];
                    let cs = c0..c0 + cols;
                    let zipped = r0[cs.clone()]
                        .iter()
                        .zip(&r1[cs.clone()])
                        .zip(&r2[cs.clone()])
                        .zip(&r3[cs]);
                    for (d, (((&a, &b), &c), &e)) in dst.iter_mut().zip(zipped) {
                        *d = u32::from(a as u8)
                            | u32::from(b as u8) << 8
                            | u32::from(c as u8) << 16
                            | u32::from(e as u8) << 24;
                    }
                }
            }
            Acts::A16 { n, kp2, data } => {
                let n = *n;
                let (r0, r1) = rows.split_at(n);
                for (p, panel) in data.chunks_exact_mut(*kp2 * 2 * NR16).enumerate() {
                    let c0 = p * NR16;
                    let cols = NR16.min(n - c0);
                    let dst = &mut panel[j * 2 * NR16..j * 2 * NR16 + 2 * cols];
                    for (c, d) in dst.chunks_exact_mut(2).enumerate() {
                        d[0] = r0[c0 + c];
                        d[1] = r1[c0 + c];
                    }
                }
            }
        }
    }

    /// `acc[r · n + c] = Σ_k panel[r][k] · act[k][c]` for the [`MR`] rows of `panel`.
    pub(crate) fn multiply(&self, isa: Isa, panel: &WeightPanel, acc: &mut [i32]) {
        if panel.words.is_empty() {
            // K = 0: empty sums.
            acc.fill(0);
            return;
        }
        match self {
            Acts::A8 { n, kq, data } => {
                let n = *n;
                let panel_len = *kq * NR8;
                for (cp, b) in data.chunks_exact(panel_len).enumerate() {
                    let tile = kernel::run8(isa, *kq, &panel.words, b);
                    let (c0, cols) = (cp * NR8, NR8.min(n - cp * NR8));
                    for (r, t) in tile.iter().enumerate() {
                        acc[r * n + c0..r * n + c0 + cols].copy_from_slice(&t[..cols]);
                    }
                }
            }
            Acts::A16 { n, kp2, data } => {
                let n = *n;
                let panel_len = *kp2 * 2 * NR16;
                for (cp, b) in data.chunks_exact(panel_len).enumerate() {
                    let tile = kernel::run16(isa, *kp2, &panel.words, b);
                    let (c0, cols) = (cp * NR16, NR16.min(n - cp * NR16));
                    for (r, t) in tile.iter().enumerate() {
                        acc[r * n + c0..r * n + c0 + cols].copy_from_slice(&t[..cols]);
                    }
                }
            }
        }
    }
}

/// [`MR`] weight rows decoded for one activation kind (layout in the module doc).
#[derive(Debug, Clone)]
pub(crate) struct WeightPanel {
    a8: bool,
    words: Vec<i32>,
    buf: Vec<i8>,
}

impl WeightPanel {
    /// Scratch for rows of `k` values (bounded by the weights already in memory).
    pub(crate) fn new(a8: bool, k: usize) -> Self {
        let per_word = if a8 { 4 } else { 2 };
        let groups = k.div_ceil(per_word);
        Self {
            a8,
            words: vec![0; groups * MR],
            buf: vec![0; groups * per_word],
        }
    }

    /// Decodes rows `p0..p0 + count` (`count ≤ MR`) of `w`; the remaining rows are zero.
    pub(crate) fn load(&mut self, w: &PackedWeights, p0: usize, count: usize) {
        for r in 0..MR {
            if r < count {
                w.unpack_row_into(p0 + r, &mut self.buf);
            } else {
                self.buf.fill(0);
            }
            if self.a8 {
                for (j, q) in self.buf.chunks_exact(4).enumerate() {
                    self.words[j * MR + r] =
                        i32::from_le_bytes([q[0] as u8, q[1] as u8, q[2] as u8, q[3] as u8]);
                }
            } else {
                for (j, q) in self.buf.chunks_exact(2).enumerate() {
                    let (lo, hi) = (i16::from(q[0]) as u16, i16::from(q[1]) as u16);
                    self.words[j * MR + r] = (u32::from(lo) | (u32::from(hi) << 16)) as i32;
                }
            }
        }
    }
}

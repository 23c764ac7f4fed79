//! The `MR × NR` microkernels over packed operands, in wrapping `i32` arithmetic.
//!
//! * [`run8`]: `acc[r][c] = Σ_j Σ_t w[j][r][t] · b[j][c][t]` with `i8` weights of magnitude at
//!   most 8 and `u8` activations. The AVX2 kernel multiplies with `vpmaddubsw` and adds up to
//!   [`I16_DEPTH`] of its results in `i16` before widening with `vpmaddwd` by ones: every partial
//!   sum is at most `I16_DEPTH · 2 · 255 · 8 = 32640 < 2^15` in magnitude, so nothing saturates and
//!   the result is the exact sum, as in the scalar kernel.
//! * [`run16`]: `vpmaddwd` on `i16` pairs, the int8 kernel's arithmetic; with `|w| ≤ 8` a pair sum
//!   is at most `2^19`, so it is exact too.

use super::{MR, NR16, NR8};
use crate::int8::gemm::Isa;

/// `vpmaddubsw` results summed in `i16` before widening.
pub(crate) const I16_DEPTH: usize = 8;

/// A tile of A8 accumulators.
pub(crate) type Tile8 = [[i32; NR8]; MR];
/// A tile of A16 accumulators.
pub(crate) type Tile16 = [[i32; NR16]; MR];

/// Runs the A8 microkernel on `kq·MR` weight words and a `kq·NR8`-word activation panel.
#[inline]
pub(crate) fn run8(isa: Isa, kq: usize, a: &[i32], b: &[u32]) -> Tile8 {
    assert!(a.len() >= kq * MR && b.len() >= kq * NR8);
    match isa {
        Isa::Scalar => scalar8(kq, a, b),
        // SAFETY: `Avx2` is only produced after the runtime check; lengths asserted above.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { avx2_8(kq, a, b) },
    }
}

/// Runs the A16 microkernel on `kp2·MR` weight words and a `kp2·32`-element activation panel.
#[inline]
pub(crate) fn run16(isa: Isa, kp2: usize, a: &[i32], b: &[i16]) -> Tile16 {
    assert!(a.len() >= kp2 * MR && b.len() >= kp2 * 2 * NR16);
    match isa {
        Isa::Scalar => scalar16(kp2, a, b),
        // SAFETY: as in `run8`.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { avx2_16(kp2, a, b) },
    }
}

fn scalar8(kq: usize, a: &[i32], b: &[u32]) -> Tile8 {
    let mut acc = [[0i32; NR8]; MR];
    for j in 0..kq {
        let bq = &b[j * NR8..(j + 1) * NR8];
        for (r, &word) in a[j * MR..(j + 1) * MR].iter().enumerate() {
            let wq = word.to_le_bytes().map(|v| i32::from(v as i8));
            for (c, xw) in bq.iter().enumerate() {
                let x = xw.to_le_bytes();
                let s: i32 = (0..4).map(|t| wq[t] * i32::from(x[t])).sum();
                acc[r][c] = acc[r][c].wrapping_add(s);
            }
        }
    }
    acc
}

fn scalar16(kp2: usize, a: &[i32], b: &[i16]) -> Tile16 {
    let mut acc = [[0i32; NR16]; MR];
    for j in 0..kp2 {
        let bw = &b[j * 2 * NR16..(j + 1) * 2 * NR16];
        for (r, &word) in a[j * MR..(j + 1) * MR].iter().enumerate() {
            let (a0, a1) = (i32::from(word as i16), i32::from((word >> 16) as i16));
            for c in 0..NR16 {
                let s = a0 * i32::from(bw[2 * c]) + a1 * i32::from(bw[2 * c + 1]);
                acc[r][c] = acc[r][c].wrapping_add(s);
            }
        }
    }
    acc
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn avx2_8(kq: usize, a: &[i32], b: &[u32]) -> Tile8 {
    use std::arch::x86_64::*;
    const _: () = assert!(MR == 4 && NR8 == 8);
    let (ap, bp) = (a.as_ptr(), b.as_ptr() as *const __m256i);
    let ones = _mm256_set1_epi16(1);
    let mut acc32 = [_mm256_setzero_si256(); MR];
    let mut j = 0;
    while j < kq {
        let end = kq.min(j + I16_DEPTH);
        let mut acc16 = [_mm256_setzero_si256(); MR];
        while j < end {
            // SAFETY: `j < kq`; the caller checked `kq·MR` words and `kq` vectors.
            let bv = unsafe { _mm256_loadu_si256(bp.add(j)) };
            for (r, s) in acc16.iter_mut().enumerate() {
                // SAFETY: as above.
                let av = _mm256_set1_epi32(unsafe { *ap.add(j * MR + r) });
                *s = _mm256_add_epi16(*s, _mm256_maddubs_epi16(bv, av));
            }
            j += 1;
        }
        for (d, s) in acc32.iter_mut().zip(&acc16) {
            *d = _mm256_add_epi32(*d, _mm256_madd_epi16(*s, ones));
        }
    }
    let mut acc = [[0i32; NR8]; MR];
    for (dst, v) in acc.iter_mut().zip(&acc32) {
        // SAFETY: each row holds 8 i32 = one 256-bit store.
        unsafe { _mm256_storeu_si256(dst.as_mut_ptr() as *mut __m256i, *v) };
    }
    acc
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn avx2_16(kp2: usize, a: &[i32], b: &[i16]) -> Tile16 {
    use std::arch::x86_64::*;
    const _: () = assert!(MR == 4 && NR16 == 16);
    let (a, b) = (a.as_ptr(), b.as_ptr());
    let mut c = [[_mm256_setzero_si256(); 2]; MR];
    for j in 0..kp2 {
        // SAFETY: the caller checked `kp2·MR` words of `a` and `kp2·2·NR16` elements of `b`.
        let (b0, b1, ap) = unsafe {
            let bp = b.add(j * 2 * NR16) as *const __m256i;
            (
                _mm256_loadu_si256(bp),
                _mm256_loadu_si256(bp.add(1)),
                a.add(j * MR),
            )
        };
        for (r, cr) in c.iter_mut().enumerate() {
            // SAFETY: as above.
            let av = _mm256_set1_epi32(unsafe { *ap.add(r) });
            cr[0] = _mm256_add_epi32(cr[0], _mm256_madd_epi16(av, b0));
            cr[1] = _mm256_add_epi32(cr[1], _mm256_madd_epi16(av, b1));
        }
    }
    let mut acc = [[0i32; NR16]; MR];
    for (dst, cr) in acc.iter_mut().zip(&c) {
        // SAFETY: each row holds 16 i32 = two 256-bit stores.
        unsafe {
            let p = dst.as_mut_ptr() as *mut __m256i;
            _mm256_storeu_si256(p, cr[0]);
            _mm256_storeu_si256(p.add(1), cr[1]);
        }
    }
    acc
}

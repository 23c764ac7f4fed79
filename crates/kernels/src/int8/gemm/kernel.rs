//! The `MR × NR` microkernels over packed operands: `acc[r][c] = Σ_j madd(a[j][r], b[j][c])`, in
//! wrapping `i32` arithmetic. `vpmaddwd` computes each pair sum exactly modulo 2^32, so the AVX2
//! and scalar kernels give the same bits for any input.

use super::{MR, NR};

/// A tile of accumulators.
pub(crate) type Tile = [[i32; NR]; MR];

/// Which microkernel runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Isa {
    /// Portable loops.
    Scalar,
    /// `vpmaddwd`/`vpaddd` on 256-bit vectors.
    #[cfg(target_arch = "x86_64")]
    Avx2,
}

impl Isa {
    /// The best microkernel this CPU runs.
    pub(crate) fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            return Isa::Avx2;
        }
        Isa::Scalar
    }

    /// Every microkernel this CPU runs (for tests).
    #[cfg(test)]
    pub(crate) fn available() -> Vec<Self> {
        let mut v = vec![Isa::Scalar];
        if Self::detect() != Isa::Scalar {
            v.push(Self::detect());
        }
        v
    }
}

/// Runs the microkernel of `isa` on one A panel (`kp2·MR` words) and one B panel (`kp2·2·NR`).
#[inline]
pub(crate) fn run(isa: Isa, kp2: usize, a: &[i32], b: &[i16]) -> Tile {
    assert!(a.len() >= kp2 * MR && b.len() >= kp2 * 2 * NR);
    match isa {
        Isa::Scalar => scalar(kp2, a, b),
        // SAFETY: `Avx2` is only produced by `detect` after the runtime check; the lengths were
        // asserted above.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { avx2(kp2, a, b) },
    }
}

fn scalar(kp2: usize, a: &[i32], b: &[i16]) -> Tile {
    let mut acc = [[0i32; NR]; MR];
    for j in 0..kp2 {
        let aw = &a[j * MR..(j + 1) * MR];
        let bw = &b[j * 2 * NR..(j + 1) * 2 * NR];
        for (r, &word) in aw.iter().enumerate() {
            let (a0, a1) = (i32::from(word as i16), i32::from((word >> 16) as i16));
            for c in 0..NR {
                let p0 = a0.wrapping_mul(i32::from(bw[2 * c]));
                let p1 = a1.wrapping_mul(i32::from(bw[2 * c + 1]));
                acc[r][c] = acc[r][c].wrapping_add(p0.wrapping_add(p1));
            }
        }
    }
    acc
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn avx2(kp2: usize, a: &[i32], b: &[i16]) -> Tile {
    use std::arch::x86_64::*;
    const _: () = assert!(MR == 4 && NR == 16);
    let (a, b) = (a.as_ptr(), b.as_ptr());
    let mut c = [[_mm256_setzero_si256(); 2]; MR];
    for j in 0..kp2 {
        // SAFETY: the caller checked `kp2·MR` words of `a` and `kp2·2·NR` elements of `b`.
        let (b0, b1, ap) = unsafe {
            let bp = b.add(j * 2 * NR) as *const __m256i;
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
    let mut acc = [[0i32; NR]; MR];
    for (dst, cr) in acc.iter_mut().zip(&c) {
        // SAFETY: each row of `acc` holds 16 i32 = two 256-bit stores.
        unsafe {
            let p = dst.as_mut_ptr() as *mut __m256i;
            _mm256_storeu_si256(p, cr[0]);
            _mm256_storeu_si256(p.add(1), cr[1]);
        }
    }
    acc
}

//! AVX2 fixed-point requantization of 8 lanes, bit-exact with the scalar pipeline for `shift ≤ 0`
//! (no left shift) and `m0 ≥ 0`, which [`super::QuantizedMultiplier::from_real`] guarantees.
//!
//! With `m0 ≥ 0`, gemmlowp's doubling high mul equals `floor((a·m0 + 2^30) / 2^31)`: for `a < 0` the
//! negative nudge `1 − 2^30` and the truncation toward zero (`+ 2^31 − 1` before an arithmetic
//! shift) add up to the same `+ 2^30`. The low 32 bits of a 64-bit shift right by 31 do not depend
//! on whether the shift is logical or arithmetic, so `vpsrlq` serves.

use std::arch::x86_64::*;

/// `out[i] = clamp(mbqm(acc[i] + bias, m0, −right) + zp, lo, hi)` for `acc.len()` a multiple of 8
/// handled here; returns how many elements were written.
///
/// # Safety
/// The CPU must support AVX2; `out.len() ≥ acc.len()`.
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn requantize_row(
    acc: &[i32],
    bias: i32,
    m0: i32,
    right: u32,
    zp: i32,
    lo: i32,
    hi: i32,
    out: &mut [i32],
) -> usize {
    debug_assert!(m0 >= 0 && right <= 31 && out.len() >= acc.len());
    let bias_v = _mm256_set1_epi32(bias);
    let m = _mm256_set1_epi32(m0);
    let nudge = _mm256_set1_epi64x(1 << 30);
    let count = _mm_cvtsi32_si128(right as i32);
    let mask = _mm256_set1_epi32(((1i64 << right) - 1) as i32);
    let half = _mm256_set1_epi32((((1i64 << right) - 1) >> 1) as i32);
    let (lo_v, hi_v, zp_v) = (
        _mm256_set1_epi32(lo - zp),
        _mm256_set1_epi32(hi - zp),
        _mm256_set1_epi32(zp),
    );
    let n = acc.len() / 8 * 8;
    for i in (0..n).step_by(8) {
        // SAFETY: `i + 8 ≤ n ≤ acc.len() ≤ out.len()`.
        let a = unsafe { _mm256_loadu_si256(acc.as_ptr().add(i) as *const __m256i) };
        let a = _mm256_add_epi32(a, bias_v);
        // Doubling high mul, even and odd lanes.
        let even = _mm256_srli_epi64(_mm256_add_epi64(_mm256_mul_epi32(a, m), nudge), 31);
        let odd_a = _mm256_srli_epi64(a, 32);
        let odd = _mm256_srli_epi64(_mm256_add_epi64(_mm256_mul_epi32(odd_a, m), nudge), 31);
        let x = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0b1010_1010);
        // Rounding divide by 2^right, ties away from zero.
        let rem = _mm256_and_si256(x, mask);
        let threshold = _mm256_sub_epi32(half, _mm256_srai_epi32(x, 31));
        let up = _mm256_cmpgt_epi32(rem, threshold);
        let q = _mm256_sub_epi32(_mm256_sra_epi32(x, count), up);
        // Clamp relative to the zero point, then add it (cannot overflow).
        let v = _mm256_add_epi32(_mm256_min_epi32(_mm256_max_epi32(q, lo_v), hi_v), zp_v);
        // SAFETY: as above.
        unsafe { _mm256_storeu_si256(out.as_mut_ptr().add(i) as *mut __m256i, v) };
    }
    n
}

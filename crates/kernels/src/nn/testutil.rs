//! Helpers shared by the kernels' tests.

/// `n` deterministic pseudo-random values in `[-1, 1)` from `seed` (an xorshift stream).
pub(crate) fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// The float tolerance for sums of `k` products: `max|v| · ε · 64 · √k` (at least 1 for `max|v|`).
pub(crate) fn tolerance(reference: &[f32], k: usize) -> f32 {
    let max = reference.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    max * f32::EPSILON * 64.0 * (k.max(1) as f32).sqrt()
}

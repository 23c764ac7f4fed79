//! Test helpers: deterministic data from a seed, random output stages, mismatch reporting.

use super::{output_stage_i16, ActElem, LowBitFormat, OutElem, PackedWeights};
use crate::int8::requant::{Multipliers, OutputStage, QuantizedMultiplier, RoundingMode};

/// SplitMix64: deterministic data from a seed proptest chooses.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub(crate) fn range(&mut self, lo: i32, hi: i32) -> i32 {
        let span = (i64::from(hi) - i64::from(lo) + 1) as u64;
        (i64::from(lo) + (self.next_u64() % span) as i64) as i32
    }

    /// `n` activations over the whole range of `A`.
    pub(crate) fn acts<A: ActElem + TryFrom<i32>>(&mut self, n: usize) -> Vec<A> {
        (0..n)
            .map(|_| A::try_from(self.range(A::MIN, A::MAX)).unwrap_or_default())
            .collect()
    }

    /// `n` values of `format`, uniform over its values.
    pub(crate) fn values(&mut self, format: LowBitFormat, n: usize) -> Vec<i8> {
        let (lo, hi) = format.range();
        (0..n)
            .map(|_| loop {
                let v = self.range(lo.into(), hi.into()) as i8;
                if format.contains(v) {
                    break v;
                }
            })
            .collect()
    }

    /// Packed `[rows × cols]` weights with their unpacked values.
    pub(crate) fn weights(
        &mut self,
        format: LowBitFormat,
        rows: usize,
        cols: usize,
    ) -> (PackedWeights, Vec<i8>) {
        let v = self.values(format, rows * cols);
        (PackedWeights::pack(format, rows, cols, &v).unwrap(), v)
    }

    /// `n` values in `lo..=hi`.
    pub(crate) fn ints(&mut self, n: usize, lo: i32, hi: i32) -> Vec<i32> {
        (0..n).map(|_| self.range(lo, hi)).collect()
    }

    /// A real multiplier log-uniform in `[2^lo_exp, 2^hi_exp)`.
    pub(crate) fn multiplier(&mut self, lo_exp: i32, hi_exp: i32) -> f64 {
        let u = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        2f64.powf(f64::from(lo_exp) + u * f64::from(hi_exp - lo_exp))
    }
}

/// `log2` of the largest magnitude of a type's range (8 for `u8`, 15 for `i16`).
fn log2_span(min: i32, max: i32) -> i32 {
    (i64::from(max) - i64::from(min)).max(1).ilog2() as i32
}

/// A random per-channel (or shared) stage scaled so that typical outputs of a length-`k`
/// reduction of `A` values by `format` weights land inside `U`'s range rather than saturating.
pub(crate) fn random_stage<A: ActElem, U: OutElem>(
    rng: &mut Rng,
    format: LowBitFormat,
    channels: usize,
    k: usize,
    mode: RoundingMode,
) -> OutputStage {
    let n = if rng.range(0, 1) == 0 {
        1
    } else {
        channels.max(1)
    };
    let w_bits = format.bits() as i32 - 1;
    let centre = log2_span(U::MIN, U::MAX)
        - 1
        - w_bits
        - log2_span(A::MIN, A::MAX)
        - (k.max(1).ilog2() as i32) / 2
        + 1;
    let reals: Vec<f64> = (0..n)
        .map(|_| rng.multiplier(centre - 4, centre + 2))
        .collect();
    let multipliers = match mode {
        RoundingMode::FixedPoint => Multipliers::FixedPoint(
            reals
                .iter()
                .map(|&m| QuantizedMultiplier::from_real(m).unwrap())
                .collect(),
        ),
        RoundingMode::FloatHalfEven => {
            Multipliers::FloatHalfEven(reals.iter().map(|&m| m as f32).collect())
        }
        RoundingMode::SoftFloat => Multipliers::SoftFloat(
            reals
                .iter()
                .map(|&m| crate::int8::requant::soft_float_scale(m as f32).unwrap())
                .collect(),
        ),
    };
    let zp = rng.range(U::MIN, U::MAX);
    let (lo, hi) = if rng.range(0, 1) == 0 {
        (U::MIN, U::MAX)
    } else {
        (rng.range(U::MIN, zp), rng.range(zp, U::MAX))
    };
    if U::MAX > 255 {
        output_stage_i16(multipliers, zp, lo, hi).unwrap()
    } else if U::MIN < 0 {
        OutputStage::new::<i8>(multipliers, zp, lo, hi).unwrap()
    } else {
        OutputStage::new::<u8>(multipliers, zp, lo, hi).unwrap()
    }
}

/// Index of the first difference of two slices, with both values.
pub(crate) fn first_mismatch<T: PartialEq + Copy>(a: &[T], b: &[T]) -> Option<(usize, T, T)> {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .map(|i| (i, a[i], b[i]))
}

/// Every format.
pub(crate) const FORMATS: [LowBitFormat; 4] = [
    LowBitFormat::Int4,
    LowBitFormat::Int2,
    LowBitFormat::Ternary,
    LowBitFormat::Binary,
];

//! Int8 softmax over the last axis by lookup table (integer-only at run time).
//!
//! Softmax is shift-invariant, so only `d = max − x` (in `0..=255`) matters. Offline, with input
//! scale `s_x`: `E[d] = round(2^23 · exp(−s_x · d))` (so `E[0] = 2^23`), and `1 / s_y` as a
//! [`QuantizedMultiplier`] `m0 · 2^(shift−31)`. Per row of length `L`:
//! ```text
//! S = Σ_i E[max − x_i]                               (u64)
//! out_i = clamp(zy + round(E[d_i] · m0 · 2^shift / (S · 2^31)), qmin, qmax)   (u128, ties up)
//! ```
//! The division rounds by [`div_round_half_up`], the one rounding function of the integer softmax
//! kernels (this one and [`crate::int16::softmax`]).
//! i.e. `zy + round(p_i / s_y)` with `p_i` from the table. The table's relative error (2^-24) and the
//! multiplier's (2^-31) keep the result within 1 of the exactly rounded quantized softmax (tested
//! against f64). There is no separate optimized twin: the table method is already one pass to sum
//! and one to divide. The usual output quantization is `s_y = 1/256` with `zy = −128` (i8) or `0`
//! (u8).

use super::requant::{activation_range, check_scale, Activation, QuantizedMultiplier};
use super::{check_len, checked_product, Int8Error, QParams, QuantElem};
use std::marker::PhantomData;

/// Fixed-point bits of the exponential table.
const TABLE_BITS: u32 = 23;

/// Parameters of a table-driven softmax from `T` logits to `U` probabilities.
#[derive(Debug, Clone, PartialEq)]
pub struct SoftmaxParams<T, U> {
    table: Vec<u32>,
    inv_out: QuantizedMultiplier,
    zero_point: i32,
    qmin: i32,
    qmax: i32,
    _types: PhantomData<(T, U)>,
}

impl<T: QuantElem, U: QuantElem> SoftmaxParams<T, U> {
    /// Derives the table and output multiplier offline. The input zero point does not matter.
    pub fn new(x_scale: f32, out: QParams) -> Result<Self, Int8Error> {
        check_scale("input", x_scale)?;
        let (qmin, qmax) = activation_range::<U>(Activation::None, out.scale, out.zero_point)?;
        let span = (T::MAX - T::MIN) as u32;
        let table = (0..=span)
            .map(|d| {
                ((-f64::from(x_scale) * f64::from(d)).exp() * f64::from(1u32 << TABLE_BITS)).round()
                    as u32
            })
            .collect();
        Ok(Self {
            table,
            inv_out: QuantizedMultiplier::from_real(1.0 / f64::from(out.scale))?,
            zero_point: out.zero_point,
            qmin,
            qmax,
            _types: PhantomData,
        })
    }
}

/// `num / den` rounded to nearest, ties up (`⌊(num + ⌊den/2⌋) / den⌋`; with an odd `den` there
/// are no ties). `den` must be positive.
#[inline(always)]
pub fn div_round_half_up(num: u128, den: u128) -> u128 {
    (num + den / 2) / den
}

/// Softmax of each row of `x` (`[rows × len]`) into `out`.
pub fn softmax<T: QuantElem, U: QuantElem>(
    p: &SoftmaxParams<T, U>,
    rows: usize,
    len: usize,
    x: &[T],
    out: &mut [U],
) -> Result<(), Int8Error> {
    let n = checked_product("softmax", &[rows, len])?;
    check_len("input", x.len(), n)?;
    check_len("output", out.len(), n)?;
    let (m0, shift) = (u128::from(p.inv_out.m0 as u32), p.inv_out.shift);
    for (xr, or) in x
        .chunks_exact(len.max(1))
        .zip(out.chunks_exact_mut(len.max(1)))
    {
        let max = xr.iter().map(|v| v.to_i32()).max().unwrap_or(0);
        let e = |v: T| u128::from(p.table[(max - v.to_i32()) as usize]);
        let sum: u128 = xr.iter().map(|&v| e(v)).sum();
        // value = E·m0·2^shift / (S·2^31), computed as num/den with both sides non-negative.
        let (num_shift, den_shift) = if shift >= 0 {
            (shift as u32, 31)
        } else {
            (0, 31 + (-shift) as u32)
        };
        let den = sum << den_shift;
        for (o, &v) in or.iter_mut().zip(xr) {
            let num = (e(v) * m0) << num_shift;
            let q = div_round_half_up(num, den) as i64;
            *o = U::saturate(
                (q + i64::from(p.zero_point)).clamp(p.qmin.into(), p.qmax.into()) as i32,
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::int8::testutil::Rng;
    use proptest::prelude::*;

    fn check<T: QuantElem, U: QuantElem>(
        len: usize,
        seed: u64,
        out: QParams,
    ) -> Result<(), String> {
        let mut rng = Rng::new(seed);
        let x_scale = rng.multiplier(-7, 0) as f32;
        let p = SoftmaxParams::<T, U>::new(x_scale, out).unwrap();
        let x = rng.quant::<T>(2 * len);
        let mut got = vec![U::default(); 2 * len];
        softmax(&p, 2, len, &x, &mut got).map_err(|e| e.to_string())?;
        for r in 0..2 {
            let row = &x[r * len..(r + 1) * len];
            let max = row.iter().map(|v| v.to_i32()).max().unwrap();
            let exps: Vec<f64> = row
                .iter()
                .map(|v| (f64::from(x_scale) * f64::from(v.to_i32() - max)).exp())
                .collect();
            let s: f64 = exps.iter().sum();
            for (i, e) in exps.iter().enumerate() {
                let want = (e / s / f64::from(out.scale)).round() + f64::from(out.zero_point);
                let want = want.clamp(f64::from(U::MIN), f64::from(U::MAX));
                let g = got[r * len + i].to_i32();
                if (f64::from(g) - want).abs() > 1.0 {
                    return Err(format!("softmax len={len} x_scale={x_scale} out={out:?} seed={seed} row={r} i={i}: got {g} want {want}"));
                }
            }
        }
        Ok(())
    }

    #[test]
    fn kws_output_layer() {
        for seed in 0..50 {
            check::<i8, i8>(
                12,
                seed,
                QParams {
                    scale: 1.0 / 256.0,
                    zero_point: -128,
                },
            )
            .unwrap();
            check::<u8, u8>(
                12,
                seed,
                QParams {
                    scale: 1.0 / 256.0,
                    zero_point: 0,
                },
            )
            .unwrap();
        }
    }

    #[test]
    fn uniform_row_is_uniform() {
        let p = SoftmaxParams::<i8, u8>::new(
            0.1,
            QParams {
                scale: 1.0 / 256.0,
                zero_point: 0,
            },
        )
        .unwrap();
        let mut out = [0u8; 4];
        softmax(&p, 1, 4, &[5i8; 4], &mut out).unwrap();
        assert_eq!(out, [64; 4]);
        let mut one = [0u8; 1];
        softmax(&p, 1, 1, &[-7i8], &mut one).unwrap();
        assert_eq!(one, [255], "probability 1 saturates at 255/256");
        assert!(softmax(&p, 2, 4, &[5i8; 4], &mut out).is_err());
    }

    proptest! {
        #[test]
        fn within_one_of_exact(len in 1usize..300, seed in any::<u64>(), s_exp in -12i32..=-2, zp in -128i32..=127) {
            let out = QParams { scale: 2f32.powi(s_exp), zero_point: zp };
            if let Err(e) = check::<i8, i8>(len, seed, out) {
                prop_assert!(false, "{}", e);
            }
        }
    }
}

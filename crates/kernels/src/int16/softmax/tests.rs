//! The kernel against its f64 twin and the float softmax, over random row lengths (1, odd, either
//! side of the 256-entry table digit), input scales, output types and parameters.

use super::reference;
use super::*;
use crate::lowbit::testutil::Rng;
use proptest::prelude::*;

/// Logits of `T` whose spread `max − x` covers about `reach / s` (so `s·d` spans `0..reach`),
/// centred at a random value, clamped to the type.
fn logits<T: ActElem + TryFrom<i32>>(rng: &mut Rng, n: usize, x_scale: f32, reach: f64) -> Vec<T> {
    let span = ((reach / f64::from(x_scale)).ceil() as i64).clamp(1, i64::from(T::MAX - T::MIN));
    let centre = rng.range(T::MIN, T::MAX);
    (0..n)
        .map(|_| {
            let v = i64::from(centre) + i64::from(rng.range(0, span as i32)) - span / 2;
            T::try_from(v.clamp(T::MIN.into(), T::MAX.into()) as i32).unwrap_or_default()
        })
        .collect()
}

/// Runs kernel and twin on `rows × len` and checks the documented bound against the float
/// softmax and `|kernel − twin| ≤ 1`; returns the number of elements where they differ.
fn check<T: ActElem + TryFrom<i32>, U: OutElem>(
    x: &[T],
    rows: usize,
    len: usize,
    x_scale: f32,
    out: QParams,
) -> Result<usize, String> {
    let ctx = format!("len={len} x_scale={x_scale} out={out:?}");
    let p = SoftmaxParams::<T, U>::new(x_scale, out).map_err(|e| format!("{ctx}: {e}"))?;
    let mut got = vec![U::default(); rows * len];
    softmax(&p, rows, len, x, &mut got).map_err(|e| format!("{ctx}: {e}"))?;
    let mut twin = vec![U::default(); rows * len];
    reference::softmax(x_scale, out, rows, len, x, &mut twin).map_err(|e| e.to_string())?;
    let bound = 0.5 + error_bound(len, out.scale) + 1e-6;
    let (lo, hi) = (f64::from(U::MIN), f64::from(U::MAX));
    let mut differ = 0;
    for r in 0..rows {
        let exact = reference::exact(x_scale, &x[r * len..(r + 1) * len]);
        for (i, p) in exact.iter().enumerate() {
            let k = r * len + i;
            let ideal = (p / f64::from(out.scale) + f64::from(out.zero_point)).clamp(lo, hi);
            let (g, t) = (got[k].to_i32(), twin[k].to_i32());
            if (f64::from(g) - ideal).abs() > bound || (g - t).abs() > 1 {
                return Err(format!(
                    "{ctx} row={r} i={i}: kernel {g}, twin {t}, float {ideal} (bound ±{bound})"
                ));
            }
            differ += usize::from(g != t);
        }
    }
    Ok(differ)
}

/// Random data and parameters for `U`: zero point anywhere in `U`, output scale `2^-k` for the
/// type's width or a non-power-of-two one.
fn random_case<T: ActElem + TryFrom<i32>, U: OutElem>(
    len: usize,
    seed: u64,
) -> Result<usize, String> {
    let mut rng = Rng::new(seed);
    let rows = rng.range(1, 3) as usize;
    let x_scale = 2f64.powf(f64::from(rng.range(-1400, -100)) / 100.0) as f32;
    let reach = f64::from(rng.range(1, 40));
    let x = logits::<T>(&mut rng, rows * len, x_scale, reach);
    let bits = if U::MAX - U::MIN > 255 { 16 } else { 8 };
    let scale = if rng.range(0, 1) == 0 {
        2f32.powi(-bits)
    } else {
        (rng.range(1, 1000) as f32 / 1000.0 + 1.0) * 2f32.powi(-bits)
    };
    let zero_point = rng.range(U::MIN, U::MAX);
    check::<T, U>(&x, rows, len, x_scale, QParams { scale, zero_point })
}

#[test]
fn table_digits_are_within_three_halves_of_exp() {
    for x_scale in [1e-5f32, 6.0e-4, 0.01, 0.3] {
        let p = SoftmaxParams::<i16, i16>::new(
            x_scale,
            QParams {
                scale: 1.0 / 65536.0,
                zero_point: -32768,
            },
        )
        .unwrap();
        assert_eq!(p.exp(0), 1 << 30);
        for d in [1u32, 255, 256, 257, 511, 512, 4095, 32768, 65534, 65535] {
            let want = (-f64::from(x_scale) * f64::from(d)).exp() * f64::from(1u32 << 30);
            let got = p.exp(d) as f64;
            assert!(
                (got - want).abs() <= 1.5,
                "s={x_scale} d={d}: {got} vs {want}"
            );
        }
    }
}

#[test]
fn kws_output_layer_shape_and_parameters() {
    // The W4A16 KWS model: 12 logits, s_x ≈ 6.0e-4 with zero point 8324, s_y = 2^-16, zy = −32768.
    let out = QParams {
        scale: 1.0 / 65536.0,
        zero_point: -32768,
    };
    let mut differ = 0;
    for seed in 0..200 {
        let mut rng = Rng::new(seed);
        let x = logits::<i16>(&mut rng, 12, 6.0e-4, 20.0);
        differ += check::<i16, i16>(&x, 1, 12, 6.0e-4, out).unwrap();
    }
    // β ≈ 0.0016 step: the kernel differs from the exactly rounded result only near ties.
    assert!(
        differ <= 10,
        "{differ} of 2400 outputs differ from the twin"
    );
}

#[test]
fn known_rows() {
    let out = QParams {
        scale: 1.0 / 65536.0,
        zero_point: -32768,
    };
    let p = SoftmaxParams::<i16, i16>::new(0.01, out).unwrap();
    let mut y = [0i16; 4];
    softmax(&p, 1, 4, &[1234i16; 4], &mut y).unwrap();
    assert_eq!(y, [-16384; 4], "a uniform row of 4 is 1/4 each");
    let mut one = [0i16; 1];
    softmax(&p, 1, 1, &[-32768i16], &mut one).unwrap();
    assert_eq!(one, [32767], "probability 1 saturates at 65535/65536");
    // The extremes of i16: exp(−0.01 · 65535) underflows to 0.
    let mut two = [0i16; 2];
    softmax(&p, 1, 2, &[i16::MIN, i16::MAX], &mut two).unwrap();
    assert_eq!(two, [-32768, 32767]);
    let q8 = SoftmaxParams::<i16, u8>::new(
        0.01,
        QParams {
            scale: 1.0 / 256.0,
            zero_point: 0,
        },
    )
    .unwrap();
    let mut y8 = [0u8; 4];
    softmax(&q8, 2, 2, &[0i16, 0, 0, 69], &mut y8).unwrap();
    // exp(−0.69) = 0.50158: 1/1.50158 = 0.66597 → 170.49 → 170; 0.33403 → 85.51 → 86.
    assert_eq!(y8, [128, 128, 86, 170]);
}

#[test]
fn bad_parameters_and_lengths_are_errors() {
    let out = QParams {
        scale: 1.0 / 65536.0,
        zero_point: 0,
    };
    assert!(SoftmaxParams::<i16, i16>::new(0.0, out).is_err());
    assert!(SoftmaxParams::<i16, i16>::new(f32::NAN, out).is_err());
    let tiny = QParams {
        scale: 1e-12,
        zero_point: 0,
    };
    assert!(SoftmaxParams::<i16, i16>::new(0.1, tiny).is_err());
    let wide_zp = QParams {
        scale: 1.0 / 256.0,
        zero_point: 300,
    };
    assert!(SoftmaxParams::<i16, i8>::new(0.1, wide_zp).is_err());
    let p = SoftmaxParams::<i16, i16>::new(0.1, out).unwrap();
    let mut y = [0i16; 4];
    assert!(softmax(&p, 2, 3, &[0i16; 4], &mut y).is_err());
    assert!(softmax(&p, usize::MAX, 2, &[0i16; 4], &mut y).is_err());
    assert!(softmax(&p, 0, 5, &[], &mut []).is_ok());
    // A huge output scale maps every probability to the zero point's neighbourhood.
    let coarse = SoftmaxParams::<i16, i16>::new(
        0.1,
        QParams {
            scale: 1e9,
            zero_point: 7,
        },
    )
    .unwrap();
    let mut c = [0i16; 3];
    softmax(&coarse, 1, 3, &[1i16, 2, 3], &mut c).unwrap();
    assert_eq!(c, [7; 3]);
}

#[test]
fn row_lengths_at_the_edges() {
    for len in [1, 2, 3, 7, 255, 256, 257, 511, 513, 4097] {
        for seed in 0..4 {
            random_case::<i16, i16>(len, seed).unwrap();
            random_case::<i16, i8>(len, seed).unwrap();
        }
    }
}

proptest! {
    #[test]
    fn i16_to_i16_within_bound(len in 1usize..600, seed in any::<u64>()) {
        if let Err(e) = random_case::<i16, i16>(len, seed) { prop_assert!(false, "{}", e); }
    }

    #[test]
    fn i16_to_8_bit_within_bound(len in 1usize..600, seed in any::<u64>()) {
        if let Err(e) = random_case::<i16, i8>(len, seed) { prop_assert!(false, "{}", e); }
        if let Err(e) = random_case::<i16, u8>(len, seed) { prop_assert!(false, "{}", e); }
    }

    #[test]
    fn eight_bit_to_i16_within_bound(len in 1usize..600, seed in any::<u64>()) {
        if let Err(e) = random_case::<i8, i16>(len, seed) { prop_assert!(false, "{}", e); }
        if let Err(e) = random_case::<u8, i16>(len, seed) { prop_assert!(false, "{}", e); }
    }
}

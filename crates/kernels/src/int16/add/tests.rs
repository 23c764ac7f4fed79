use super::*;
use crate::int8::requant::multiply_by_quantized_multiplier;
use crate::lowbit::testutil::{first_mismatch, Rng};
use proptest::prelude::*;

/// Element types usable on both sides: generated through `OutElem::narrow`.
trait Elem: ActElem + OutElem {}
impl<T: ActElem + OutElem> Elem for T {}

fn values<T: Elem>(rng: &mut Rng, n: usize) -> Vec<T> {
    // Mostly uniform, with the type's extremes mixed in.
    (0..n)
        .map(|_| match rng.range(0, 7) {
            0 => <T as OutElem>::narrow(<T as OutElem>::MIN),
            1 => <T as OutElem>::narrow(<T as OutElem>::MAX),
            _ => <T as OutElem>::narrow(rng.range(<T as OutElem>::MIN, <T as OutElem>::MAX)),
        })
        .collect()
}

/// A zero point anywhere in `T`'s range, its edges half the time.
fn zero_point<T: Elem>(rng: &mut Rng) -> i32 {
    let (lo, hi) = (<T as OutElem>::MIN, <T as OutElem>::MAX);
    match rng.range(0, 3) {
        0 => lo,
        1 => hi,
        _ => rng.range(lo, hi),
    }
}

fn random_params<A: Elem, B: Elem, U: Elem>(rng: &mut Rng) -> AddParams<A, B, U> {
    // Scales over 12 octaves; the output scale near the inputs' so outputs are not all clamped.
    let sa = rng.multiplier(-14, -2) as f32;
    let sb = rng.multiplier(-14, -2) as f32;
    let so = (f64::from(sa.max(sb)) * rng.multiplier(-3, 9)) as f32;
    let q = |scale, zero_point| QParams { scale, zero_point };
    let (za, zb, zo) = (
        zero_point::<A>(rng),
        zero_point::<B>(rng),
        zero_point::<U>(rng),
    );
    let clamp = match rng.range(0, 2) {
        0 => None,
        _ => Some((zo, <U as OutElem>::MAX)),
    };
    AddParams::new(q(sa, za), q(sb, zb), q(so, zo), clamp).unwrap()
}

fn check<A: Elem, B: Elem, U: Elem>(len: usize, seed: u64) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    let p = random_params::<A, B, U>(&mut rng);
    for (la, lb) in [(len, len), (1, len), (len, 1), (1, 1)] {
        let (a, b) = (values::<A>(&mut rng, la), values::<B>(&mut rng, lb));
        let (mut want, mut got) = (vec![U::default(); len], vec![U::default(); len]);
        reference::add(&p, &a, &b, &mut want).map_err(|e| e.to_string())?;
        add(&p, &a, &b, &mut got).map_err(|e| e.to_string())?;
        if let Some((i, x, y)) = first_mismatch(&want, &got) {
            return Err(format!(
                "add len={len} a_len={la} b_len={lb} A={} B={} U={} params={p:?} seed={seed}: \
                 at {i} reference={x:?} optimized={y:?}",
                std::any::type_name::<A>(),
                std::any::type_name::<B>(),
                std::any::type_name::<U>()
            ));
        }
    }
    Ok(())
}

/// Every mix with a 16-bit tensor, plus two mixed 8-bit ones.
fn check_all(len: usize, seed: u64) -> Result<(), String> {
    check::<i16, i16, i16>(len, seed)?;
    check::<i16, i16, i8>(len, seed ^ 1)?;
    check::<i16, i16, u8>(len, seed ^ 2)?;
    check::<i8, i8, i16>(len, seed ^ 3)?;
    check::<u8, u8, i16>(len, seed ^ 4)?;
    check::<i16, i8, i16>(len, seed ^ 5)?;
    check::<u8, i16, i8>(len, seed ^ 6)?;
    check::<u8, i8, u8>(len, seed ^ 7)?;
    check::<i8, u8, i8>(len, seed ^ 8)
}

#[test]
fn fixed_lengths_match_reference() {
    for len in [1, 2, 3, 7, 255, 256, 257, 1000] {
        for seed in 0..6 {
            check_all(len, seed).unwrap();
        }
    }
}

#[test]
fn headroom_holds_at_the_extremes() {
    // The largest |a − za| (65 535) with equal scales (M_a = M_b = 1/2, the largest) on both
    // inputs: the reference checks every intermediate in i128 and errs on overflow.
    let q = |zero_point| QParams {
        scale: 1.0,
        zero_point,
    };
    for (za, x) in [(-32768, i16::MAX), (32767, i16::MIN)] {
        let p = AddParams::<i16, i16, i16>::new(q(za), q(za), q(0), None).unwrap();
        let shifted = i64::from(i32::from(x) - za) << LEFT_SHIFT;
        assert!(shifted.abs() < i64::from(i32::MAX), "pre-shift {shifted}");
        let (mut want, mut got) = ([0i16], [0i16]);
        reference::add(&p, &[x], &[x], &mut want).unwrap();
        add(&p, &[x], &[x], &mut got).unwrap();
        assert_eq!(want, got);
        // 2 · 65 535 in steps of 1 saturates at the i16 bound of the sum's sign.
        assert_eq!(got[0], if x > 0 { i16::MAX } else { i16::MIN });
        // The rescaled sum's bound of the module docs.
        let sa =
            multiply_by_quantized_multiplier((i32::from(x) - za) << LEFT_SHIFT, p.rescale.a_mult);
        assert!(2 * i64::from(sa).abs() <= 2_147_450_882);
    }
}

#[test]
fn add_is_close_to_real_sum() {
    let mut rng = Rng::new(5);
    for _ in 0..200 {
        let p = random_params::<i16, i16, i16>(&mut rng);
        let (a, b) = (values::<i16>(&mut rng, 64), values::<i16>(&mut rng, 64));
        let mut out = vec![0i16; 64];
        add(&p, &a, &b, &mut out).unwrap();
        for i in 0..64 {
            p.rescale
                .assert_close_to_real_sum(a[i].into(), b[i].into(), out[i].into());
        }
    }
}

#[test]
fn known_values() {
    // 16-bit: (1000 − 0)·2^-10 + (−600 − 200)·2^-9 = 0.9765625 − 1.5625 → /2^-12 = −2400.
    let q = |scale, zero_point| QParams { scale, zero_point };
    let p = AddParams::<i16, i16, i16>::new(
        q(2f32.powi(-10), 0),
        q(2f32.powi(-9), 200),
        q(2f32.powi(-12), 5),
        None,
    )
    .unwrap();
    let mut out = [0i16];
    add(&p, &[1000], &[-600], &mut out).unwrap();
    assert_eq!(out, [-2400 + 5]);
    // i8 + i16 into u8 with a ReLU clamp at the zero point.
    let p =
        AddParams::<i8, i16, u8>::new(q(0.5, 0), q(0.25, 0), q(1.0, 10), Some((10, 255))).unwrap();
    let mut out = [0u8; 2];
    add(&p, &[4, -100], &[8], &mut out).unwrap();
    assert_eq!(out, [2 + 2 + 10, 10]);
}

#[test]
fn bad_arguments_are_errors() {
    let q = |scale, zero_point| QParams { scale, zero_point };
    let new = |a, b, o| AddParams::<i16, u8, i8>::new(a, b, o, None);
    assert!(new(q(0.0, 0), q(0.5, 0), q(1.0, 0)).is_err());
    assert!(new(q(0.5, 40000), q(0.5, 0), q(1.0, 0)).is_err());
    assert!(new(q(0.5, 0), q(0.5, -1), q(1.0, 0)).is_err());
    assert!(new(q(0.5, 0), q(0.5, 0), q(1.0, 128)).is_err());
    assert!(AddParams::<i16, u8, i8>::new(q(1.0, 0), q(1.0, 0), q(1.0, 0), Some((5, 4))).is_err());
    let p = new(q(0.5, 0), q(0.5, 0), q(1.0, 0)).unwrap();
    assert!(add(&p, &[1, 2], &[1, 2, 3], &mut [0; 3]).is_err());
    assert!(reference::add(&p, &[1, 2, 3], &[1, 2], &mut [0; 3]).is_err());
    assert!(add(&p, &[1], &[1], &mut [0; 3]).is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_lengths_match_reference(
        len in prop_oneof![1usize..=40, 41usize..3000],
        seed in any::<u64>(),
    ) {
        if let Err(e) = check_all(len, seed) {
            prop_assert!(false, "{}", e);
        }
    }
}

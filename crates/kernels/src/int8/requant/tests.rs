use super::*;
use crate::int8::testutil::Rng;
use proptest::prelude::*;

const EDGES: [i32; 11] = [
    i32::MIN,
    i32::MIN + 1,
    -(1 << 30),
    -(1 << 30) - 1,
    -1,
    0,
    1,
    1 << 30,
    (1 << 30) + 1,
    i32::MAX - 1,
    i32::MAX,
];

#[test]
fn srdhm_matches_exact_twin_on_edges() {
    for &a in &EDGES {
        for &b in &EDGES {
            assert_eq!(
                saturating_rounding_doubling_high_mul(a, b),
                reference::saturating_rounding_doubling_high_mul(a, b),
                "a={a} b={b}"
            );
        }
    }
    assert_eq!(
        saturating_rounding_doubling_high_mul(i32::MIN, i32::MIN),
        i32::MAX
    );
}

#[test]
fn srdhm_ties_go_toward_plus_infinity() {
    // a·b = ±2^30 is exactly half of 2^31.
    assert_eq!(saturating_rounding_doubling_high_mul(1 << 15, 1 << 15), 1);
    assert_eq!(
        saturating_rounding_doubling_high_mul(-(1 << 15), 1 << 15),
        0
    );
    // 3·2^30 / 2^31 = 1.5
    assert_eq!(saturating_rounding_doubling_high_mul(3, 1 << 30), 2);
    assert_eq!(saturating_rounding_doubling_high_mul(-3, 1 << 30), -1);
}

#[test]
fn rdbp_ties_go_away_from_zero() {
    assert_eq!(rounding_divide_by_pot(3, 1), 2);
    assert_eq!(rounding_divide_by_pot(-3, 1), -2);
    assert_eq!(rounding_divide_by_pot(5, 2), 1);
    assert_eq!(rounding_divide_by_pot(-6, 2), -2);
    assert_eq!(rounding_divide_by_pot(i32::MIN, 31), -1);
    assert_eq!(rounding_divide_by_pot(i32::MAX, 31), 1);
    for &x in &EDGES {
        for e in 0..=31 {
            assert_eq!(
                rounding_divide_by_pot(x, e),
                reference::rounding_divide_by_pot(x, e),
                "x={x} e={e}"
            );
        }
    }
}

#[test]
fn from_real_known_values() {
    let q = |m| QuantizedMultiplier::from_real(m).unwrap();
    assert_eq!(
        q(0.5),
        QuantizedMultiplier {
            m0: 1 << 30,
            shift: 0
        }
    );
    assert_eq!(
        q(1.0),
        QuantizedMultiplier {
            m0: 1 << 30,
            shift: 1
        }
    );
    assert_eq!(
        q(0.25),
        QuantizedMultiplier {
            m0: 1 << 30,
            shift: -1
        }
    );
    assert_eq!(
        q(0.75),
        QuantizedMultiplier {
            m0: 3 << 29,
            shift: 0
        }
    );
    assert_eq!(q(0.0), QuantizedMultiplier::ZERO);
    assert_eq!(q(1e-12), QuantizedMultiplier::ZERO);
    // Just below 1 rounds up to exactly 1.
    assert_eq!(
        q(1.0 - 1e-12),
        QuantizedMultiplier {
            m0: 1 << 30,
            shift: 1
        }
    );
    assert!(QuantizedMultiplier::from_real(-0.1).is_err());
    assert!(QuantizedMultiplier::from_real(f64::NAN).is_err());
    assert!(QuantizedMultiplier::from_real(2f64.powi(31)).is_err());
    assert!(QuantizedMultiplier::from_real(2f64.powi(31) - 1e-3).is_err());
    assert!(QuantizedMultiplier::from_real(2f64.powi(30) * 1.5).is_ok());
}

#[test]
fn float_mode_differs_from_fixed_point_on_ties_only_by_one() {
    let fixed = |m: f64| {
        OutputStage::new::<i8>(
            Multipliers::FixedPoint(vec![QuantizedMultiplier::from_real(m).unwrap()]),
            0,
            -128,
            127,
        )
        .unwrap()
    };
    let float =
        |m: f32| OutputStage::new::<i8>(Multipliers::FloatHalfEven(vec![m]), 0, -128, 127).unwrap();
    // M = 1/2 (right shift 0): only the doubling high mul rounds, ties toward +inf.
    assert_eq!(fixed(0.5).requantize(5, 0), 3);
    assert_eq!(fixed(0.5).requantize(-5, 0), -2);
    // M = 1/4 (right shift 1): the divide by 2 rounds ties away from zero.
    assert_eq!(fixed(0.25).requantize(10, 0), 3);
    assert_eq!(fixed(0.25).requantize(-2, 0), -1);
    assert_eq!(fixed(0.25).requantize(-6, 0), -2);
    // ORT's mode: ties to even.
    assert_eq!(float(0.5).requantize(5, 0), 2);
    assert_eq!(float(0.5).requantize(-5, 0), -2);
    assert_eq!(float(0.5).requantize(7, 0), 4);
    assert_eq!(float(0.25).requantize(10, 0), 2);
    assert_eq!(float(0.25).requantize(-2, 0), 0);
}

#[test]
fn zero_point_and_clamp_apply_after_rescale() {
    let st = OutputStage::new::<u8>(
        Multipliers::FixedPoint(vec![QuantizedMultiplier::from_real(0.25).unwrap()]),
        10,
        10,
        200,
    )
    .unwrap();
    assert_eq!(st.requantize(40, 0), 20);
    assert_eq!(st.requantize(-40, 0), 10); // ReLU: clamped at the zero point
    assert_eq!(st.requantize(i32::MAX, 0), 200);
    assert_eq!(st.requantize_to::<u8>(i32::MIN, 0), 10);
}

#[test]
fn activation_ranges() {
    assert_eq!(
        activation_range::<i8>(Activation::None, 0.1, 3).unwrap(),
        (-128, 127)
    );
    assert_eq!(
        activation_range::<i8>(Activation::Relu, 0.1, 3).unwrap(),
        (3, 127)
    );
    assert_eq!(
        activation_range::<i8>(Activation::Relu6, 0.1, -128).unwrap(),
        (-128, -68)
    );
    assert_eq!(
        activation_range::<u8>(Activation::Relu6, 0.01, 0).unwrap(),
        (0, 255)
    );
    assert!(activation_range::<u8>(Activation::Relu, 0.0, 0).is_err());
    assert!(activation_range::<u8>(Activation::Relu, 0.1, 300).is_err());
}

#[test]
fn bad_stages_are_errors() {
    let m = || Multipliers::FixedPoint(vec![QuantizedMultiplier::ZERO]);
    assert!(OutputStage::new::<i8>(m(), 0, 5, 4).is_err());
    assert!(OutputStage::new::<i8>(m(), 200, -128, 127).is_err());
    assert!(OutputStage::new::<u8>(m(), 0, -1, 127).is_err());
    assert!(OutputStage::new::<u8>(Multipliers::FixedPoint(vec![]), 0, 0, 255).is_err());
    let st = OutputStage::new::<u8>(m(), 0, 0, 255).unwrap();
    assert!(st.check_channels(7).is_ok());
    let two = Multipliers::FixedPoint(vec![QuantizedMultiplier::ZERO; 2]);
    let st = OutputStage::new::<u8>(two, 0, 0, 255).unwrap();
    assert!(st.check_channels(3).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn srdhm_matches_exact_twin(a in any::<i32>(), b in any::<i32>()) {
        prop_assert_eq!(
            saturating_rounding_doubling_high_mul(a, b),
            reference::saturating_rounding_doubling_high_mul(a, b)
        );
    }

    #[test]
    fn rdbp_matches_exact_twin(x in any::<i32>(), e in 0u32..=31) {
        prop_assert_eq!(rounding_divide_by_pot(x, e), reference::rounding_divide_by_pot(x, e));
    }

    #[test]
    fn from_real_is_normalized_and_accurate(seed in any::<u64>()) {
        let m = Rng::new(seed).multiplier(-31, 31);
        let q = QuantizedMultiplier::from_real(m).unwrap();
        prop_assert!((1 << 30..=i32::MAX).contains(&q.m0), "m={} q={:?}", m, q);
        prop_assert!((-31..=31).contains(&q.shift));
        prop_assert!(((q.to_real() - m) / m).abs() <= 2f64.powi(-31), "m={} q={:?}", m, q);
    }

    #[test]
    fn mbqm_matches_twin_and_is_within_one_of_exact(x in any::<i32>(), seed in any::<u64>()) {
        let m = Rng::new(seed).multiplier(-20, 3);
        let q = QuantizedMultiplier::from_real(m).unwrap();
        let got = multiply_by_quantized_multiplier(x, q);
        prop_assert_eq!(got, reference::multiply_by_quantized_multiplier(x, q));
        // Beyond this the documented left-shift saturation applies.
        prop_assume!(i32::try_from(i64::from(x) << q.shift.max(0)).is_ok());
        let exact = (f64::from(x) * q.to_real())
            .clamp(f64::from(i32::MIN), f64::from(i32::MAX));
        prop_assert!((f64::from(got) - exact).abs() <= 1.0, "x={} m={} got={}", x, m, got);
    }

    #[test]
    fn float_and_fixed_modes_agree_within_one(acc in -(1i32 << 24)..(1 << 24), seed in any::<u64>(), zp in -128i32..=127) {
        let m = Rng::new(seed).multiplier(-16, 0) as f32;
        let fixed = OutputStage::new::<i8>(
            Multipliers::FixedPoint(vec![QuantizedMultiplier::from_real(m.into()).unwrap()]),
            zp, -128, 127).unwrap();
        let float = OutputStage::new::<i8>(Multipliers::FloatHalfEven(vec![m]), zp, -128, 127).unwrap();
        let (a, b) = (fixed.requantize(acc, 0), float.requantize(acc, 0));
        prop_assert!((a - b).abs() <= 1, "acc={} m={} zp={} fixed={} float={}", acc, m, zp, a, b);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn requantize_row_equals_per_element(
        len in 0usize..200,
        seed in any::<u64>(),
        mode in 0u8..3,
        lo_exp in -31i32..=3,
    ) {
        let mut rng = Rng::new(seed);
        let reals: Vec<f64> = (0..3).map(|_| rng.multiplier(lo_exp, lo_exp + 3)).collect();
        let floats = || Multipliers::FloatHalfEven(reals.iter().map(|&m| m as f32).collect());
        let mult = match mode {
            0 => floats(),
            1 => Multipliers::SoftFloat(reals.iter().map(|&m| super::soft_float_scale(m as f32).unwrap()).collect()),
            _ => Multipliers::FixedPoint(reals.iter().map(|&m| QuantizedMultiplier::from_real(m).unwrap()).collect()),
        };
        let zp = rng.range(-128, 127);
        let (lo, hi) = if rng.range(0, 1) == 0 { (-128, 127) } else { (rng.range(-128, zp), rng.range(zp, 127)) };
        let st = OutputStage::new::<i8>(mult, zp, lo, hi).unwrap();
        // Soft float must equal its twin, the f32 computation.
        let twin = if mode == 1 { OutputStage::new::<i8>(floats(), zp, lo, hi).unwrap() } else { st.clone() };
        // Accumulators of every magnitude, extremes included.
        let acc: Vec<i32> = (0..len)
            .map(|_| match rng.range(0, 3) {
                0 => rng.range(i32::MIN, i32::MAX),
                1 => rng.range(-300, 300),
                2 => [i32::MIN, i32::MAX, -1, 0][rng.range(0, 3) as usize],
                _ => rng.range(-(1 << 20), 1 << 20),
            })
            .collect();
        // Mostly small biases, so that outputs are not all clamped.
        let bias = match rng.range(0, 2) {
            0 => 0,
            1 => rng.range(-1000, 1000),
            _ => rng.range(-(1 << 24), 1 << 24),
        };
        let ch = rng.range(0, 2) as usize;
        let mut row = vec![0i8; len];
        st.requantize_row(&acc, bias, ch, &mut row);
        for (i, (&a, &got)) in acc.iter().zip(&row).enumerate() {
            let want: i8 = twin.requantize_to(a.wrapping_add(bias), ch);
            prop_assert_eq!(got, want, "i={} acc={} bias={} stage={:?}", i, a, bias, st);
            let one: i8 = st.requantize_to(a.wrapping_add(bias), ch);
            prop_assert_eq!(one, want, "per element: i={} acc={} stage={:?}", i, a, st);
        }
    }
}

#[test]
fn requantize_row_rounds_negative_ties_away_from_zero() {
    let st = OutputStage::new::<i8>(
        Multipliers::FixedPoint(vec![QuantizedMultiplier::from_real(0.25).unwrap()]),
        0,
        -128,
        127,
    )
    .unwrap();
    let acc = [-2i32, -6, 10, 2, -2, -6, 10, 2, -2];
    let mut row = [0i8; 9];
    st.requantize_row(&acc, 0, 0, &mut row);
    assert_eq!(row, [-1, -2, 3, 1, -1, -2, 3, 1, -1]);
}

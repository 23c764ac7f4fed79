use super::*;
use crate::int8::requant::{Multipliers, QuantizedMultiplier, RoundingMode};
use crate::int8::QuantElem;
use crate::lowbit::cases;
use crate::lowbit::testutil::{first_mismatch, random_stage, Rng, FORMATS};
use crate::lowbit::LowBitFormat;
use proptest::prelude::*;

/// Reference vs optimized (every microkernel) on one case; the error names the case.
fn check<A: ActElem + TryFrom<i32>, U: OutElem>(
    format: LowBitFormat,
    (m, n, k): (usize, usize, usize),
    seed: u64,
    mode: RoundingMode,
) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    let (w, _) = rng.weights(format, m, k);
    let x = rng.acts::<A>(k * n);
    let zx = rng.range(A::MIN, A::MAX);
    let bias = (rng.range(0, 3) != 0).then(|| rng.ints(m, -(1 << 12), 1 << 12));
    let stage = random_stage::<A, U>(&mut rng, format, m, k, mode);
    let ctx = format!(
        "gemm M×N×K={m}×{n}×{k} {format} tile={MR}×{NR8}|{NR16} A={} U={} x_zp={zx} y_zp={} mode={mode:?} seed={seed}",
        std::any::type_name::<A>(),
        std::any::type_name::<U>(),
        stage.zero_point(),
    );
    let mut want = vec![U::default(); m * n];
    reference::gemm(&w, n, &x, zx, bias.as_deref(), &stage, &mut want)
        .map_err(|e| format!("{ctx}: {e}"))?;
    for isa in Isa::available() {
        let mut got = vec![U::default(); m * n];
        gemm_with(isa, &w, n, &x, zx, bias.as_deref(), &stage, &mut got)
            .map_err(|e| format!("{ctx}: {e}"))?;
        if let Some((i, a, b)) = first_mismatch(&want, &got) {
            return Err(format!(
                "{ctx} isa={isa:?}: at (m={}, n={}) reference={a:?} optimized={b:?}",
                i / n.max(1),
                i % n.max(1)
            ));
        }
    }
    Ok(())
}

/// Packed GEMM vs the int8 GEMM on the same (unpacked) weights: the engine's equivalence.
fn check_int8_equivalence<A: ActElem + QuantElem + TryFrom<i32>, U: OutElem + QuantElem>(
    format: LowBitFormat,
    (m, n, k): (usize, usize, usize),
    seed: u64,
) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    let (w, wv) = rng.weights(format, m, k);
    let x = rng.acts::<A>(k * n);
    let zx = rng.range(<A as ActElem>::MIN, <A as ActElem>::MAX);
    let bias = (rng.range(0, 3) != 0).then(|| rng.ints(m, -(1 << 12), 1 << 12));
    let stage = random_stage::<A, U>(&mut rng, format, m, k, RoundingMode::FixedPoint);
    let (mut want, mut got) = (vec![U::default(); m * n], vec![U::default(); m * n]);
    let shape = crate::int8::gemm::GemmShape { m, n, k };
    crate::int8::gemm::gemm(shape, &wv, &x, zx, bias.as_deref(), &stage, &mut want)
        .map_err(|e| e.to_string())?;
    gemm(&w, n, &x, zx, bias.as_deref(), &stage, &mut got).map_err(|e| e.to_string())?;
    match first_mismatch(&want, &got) {
        None => Ok(()),
        Some((i, a, b)) => Err(format!(
            "{format} M×N×K={m}×{n}×{k} A={} seed={seed}: at {i} int8={a:?} packed={b:?}",
            std::any::type_name::<A>()
        )),
    }
}

fn check_all(shape: (usize, usize, usize), seed: u64) -> Result<(), String> {
    for (i, format) in FORMATS.into_iter().enumerate() {
        let s = seed ^ ((i as u64) << 8);
        check::<u8, i8>(format, shape, s, RoundingMode::FixedPoint)?;
        check::<i8, i8>(format, shape, s ^ 1, RoundingMode::FixedPoint)?;
        check::<i8, u8>(format, shape, s ^ 2, RoundingMode::FloatHalfEven)?;
        check::<u8, u8>(format, shape, s ^ 3, RoundingMode::FloatHalfEven)?;
        check::<i16, i16>(format, shape, s ^ 4, RoundingMode::FixedPoint)?;
        check::<i16, i8>(format, shape, s ^ 5, RoundingMode::FloatHalfEven)?;
        check::<u8, i16>(format, shape, s ^ 6, RoundingMode::FixedPoint)?;
        check::<i16, i16>(format, shape, s ^ 7, RoundingMode::SoftFloat)?;
        check::<i8, i8>(format, shape, s ^ 8, RoundingMode::SoftFloat)?;
        check_int8_equivalence::<u8, u8>(format, shape, s ^ 7)?;
        check_int8_equivalence::<i8, i8>(format, shape, s ^ 8)?;
    }
    // Int8 weights run with i16 activations only (W8A16).
    check::<i16, i16>(
        LowBitFormat::Int8,
        shape,
        seed ^ 0x80,
        RoundingMode::FixedPoint,
    )?;
    check::<i16, i8>(
        LowBitFormat::Int8,
        shape,
        seed ^ 0x81,
        RoundingMode::FloatHalfEven,
    )?;
    Ok(())
}

#[test]
fn table_cases_match_reference_and_int8() {
    for case in cases::gemm_cases() {
        for seed in 0..2 {
            if let Err(e) = check_all(case, seed) {
                panic!("{e}");
            }
        }
    }
}

/// A stage that passes accumulators through unchanged (multiplier 1, no clamp inside `i16`).
fn identity_i16() -> OutputStage {
    let one = QuantizedMultiplier::from_real(1.0).unwrap();
    crate::lowbit::output_stage_i16(Multipliers::FixedPoint(vec![one]), 0, -32768, 32767).unwrap()
}

#[test]
fn extreme_values_do_not_saturate_the_i16_partial_sums() {
    // All weights at one end and all activations at the other: the largest vpmaddubsw pairs and
    // i16 block sums. With a multiplier of 2^-6 the exact result stays inside i16.
    let mult = QuantizedMultiplier::from_real(1.0 / 64.0).unwrap();
    let stage =
        crate::lowbit::output_stage_i16(Multipliers::FixedPoint(vec![mult]), 0, -32768, 32767)
            .unwrap();
    for format in FORMATS {
        let (lo, hi) = format.range();
        for wv in [lo, hi] {
            for (k, n) in [(32, 8), (33, 9), (64, 16), (200, 3)] {
                let w = PackedWeights::pack(format, 5, k, &vec![wv; 5 * k]).unwrap();
                let cases: [(Vec<i8>, i32); 2] =
                    [(vec![127; k * n], -128), (vec![-128; k * n], 127)];
                for (x, zx) in cases {
                    let (mut a, mut b) = (vec![0i16; 5 * n], vec![0i16; 5 * n]);
                    reference::gemm(&w, n, &x, zx, None, &stage, &mut a).unwrap();
                    for isa in Isa::available() {
                        gemm_with(isa, &w, n, &x, zx, None, &stage, &mut b).unwrap();
                        assert_eq!(a, b, "{format} w={wv} k={k} zx={zx} {isa:?}");
                    }
                    let exact = i64::from(wv) * k as i64 * i64::from(i32::from(x[0]) - zx);
                    assert_eq!(
                        i32::from(a[0]),
                        mult.apply(exact as i32),
                        "{format} w={wv} k={k}"
                    );
                }
            }
        }
    }
}

#[test]
fn a16_accumulators_wrap_like_the_reference() {
    // |w·(x − zx)| = 8·65535 per term: 5000 terms overflow i32; every path gives the same bits.
    let (m, n, k) = (2, 3, 5000);
    let w = PackedWeights::pack(LowBitFormat::Int4, m, k, &vec![-8; m * k]).unwrap();
    let x = vec![-32768i16; k * n];
    let stage = identity_i16();
    let (mut a, mut b) = (vec![0i16; m * n], vec![0i16; m * n]);
    reference::gemm(&w, n, &x, 32767, None, &stage, &mut a).unwrap();
    for isa in Isa::available() {
        gemm_with(isa, &w, n, &x, 32767, None, &stage, &mut b).unwrap();
        assert_eq!(a, b, "{isa:?}");
    }
    let wrapped = (-8i64 * -65535 * k as i64) as i32;
    assert_eq!(i32::from(a[0]), wrapped.clamp(-32768, 32767));
}

#[test]
fn bad_arguments_are_errors() {
    let w = PackedWeights::pack(LowBitFormat::Int4, 2, 4, &[0; 8]).unwrap();
    let n = 3;
    let one = OutputStage::new::<i8>(
        Multipliers::FixedPoint(vec![QuantizedMultiplier::ZERO]),
        0,
        -128,
        127,
    )
    .unwrap();
    let three = OutputStage::new::<i8>(
        Multipliers::FixedPoint(vec![QuantizedMultiplier::ZERO; 3]),
        0,
        -128,
        127,
    )
    .unwrap();
    let x = vec![0u8; 12];
    let mut out = vec![0i8; 6];
    assert!(gemm(&w, n, &x, 0, None, &three, &mut out).is_err());
    assert!(gemm(&w, n, &x[..11], 0, None, &one, &mut out).is_err());
    assert!(gemm(&w, n, &x, 0, Some(&[0; 3]), &one, &mut out).is_err());
    assert!(gemm(&w, n, &x, 256, None, &one, &mut out).is_err());
    assert!(reference::gemm(&w, n, &x, -1, None, &one, &mut out).is_err());
    assert!(gemm(&w, n, &x, 0, None, &one, &mut out[..5]).is_err());
    assert!(gemm(&w, n, &[0i16; 12], 32768, None, &one, &mut out).is_err());
    assert!(gemm(&w, usize::MAX, &x, 0, None, &one, &mut out).is_err());
    assert!(gemm(&w, n, &x, 0, Some(&[1, 2]), &one, &mut out).is_ok());
}

#[test]
fn random_stages_leave_most_outputs_unclamped() {
    // The battery above is only sensitive if outputs vary: check the stage scaling does that.
    fn fraction<A: ActElem + TryFrom<i32>, U: OutElem>(format: LowBitFormat) -> (usize, usize) {
        let (mut inside, mut total) = (0, 0);
        for (m, n, k) in [(8, 32, 9), (64, 125, 64), (5, 18, 3001)] {
            for seed in 0..10 {
                let mut rng = Rng::new(seed);
                let (w, _) = rng.weights(format, m, k);
                let x = rng.acts::<A>(k * n);
                let zx = rng.range(A::MIN, A::MAX);
                let stage = random_stage::<A, U>(&mut rng, format, m, k, RoundingMode::FixedPoint);
                let mut out = vec![U::default(); m * n];
                reference::gemm(&w, n, &x, zx, None, &stage, &mut out).unwrap();
                let (lo, hi) = stage.clamp_range();
                inside += out
                    .iter()
                    .filter(|&&v| (lo + 1..hi).contains(&v.to_i32()))
                    .count();
                total += out.len();
            }
        }
        (inside, total)
    }
    for format in FORMATS {
        for (name, (inside, total)) in [
            ("u8→i8", fraction::<u8, i8>(format)),
            ("i16→i16", fraction::<i16, i16>(format)),
        ] {
            assert!(
                inside * 2 > total,
                "{format} {name}: only {inside}/{total} outputs unclamped"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn random_shapes_match_reference_and_int8(
        m in prop_oneof![1usize..=9, 10usize..70],
        n in prop_oneof![1usize..=33, 34usize..140],
        k in prop_oneof![1usize..=40, 41usize..300, 1000usize..3000],
        seed in any::<u64>(),
    ) {
        if let Err(e) = check_all((m, n, k), seed) {
            prop_assert!(false, "{}", e);
        }
    }
}

#[test]
fn int8_weights_with_8_bit_activations_are_refused() {
    let w = PackedWeights::pack(LowBitFormat::Int8, 2, 3, &[-128, 127, 0, 1, 2, 3]).unwrap();
    assert_eq!(w.unpack(), vec![-128, 127, 0, 1, 2, 3]);
    assert_eq!(w.row_sums(), &[-1, 6]);
    let stage = identity_i16();
    let mut out = vec![0i16; 2];
    let err = gemm(&w, 1, &[1u8, 2, 3], 0, None, &stage, &mut out).unwrap_err();
    assert_eq!(err, crate::lowbit::LowBitError::Int8WeightsA8);
    gemm(&w, 1, &[1i16, 2, 3], 0, None, &stage, &mut out).unwrap();
    assert_eq!(out, vec![-128 + 254, 1 + 4 + 9]);
}

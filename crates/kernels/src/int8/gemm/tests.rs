use super::*;
use crate::int8::cases;
use crate::int8::requant::{Multipliers, QuantizedMultiplier, RoundingMode};
use crate::int8::testutil::{first_mismatch, Rng};
use proptest::prelude::*;

/// Random per-channel (or shared) stage scaled so typical outputs of a length-`k` reduction land
/// inside the 8-bit range rather than all saturating.
pub(crate) fn random_stage<U: QuantElem>(
    rng: &mut Rng,
    channels: usize,
    k: usize,
    mode: RoundingMode,
) -> OutputStage {
    let n = if rng.range(0, 1) == 0 {
        1
    } else {
        channels.max(1)
    };
    let centre = -(7 + (k.max(1).ilog2() as i32) / 2);
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
    // Half the time the full range, so that few outputs clamp.
    let (lo, hi) = if rng.range(0, 1) == 0 {
        (U::MIN, U::MAX)
    } else {
        (rng.range(U::MIN, zp), rng.range(zp, U::MAX))
    };
    OutputStage::new::<U>(multipliers, zp, lo, hi).unwrap()
}

/// Reference vs optimized (every available microkernel) on one case; the error names the case.
fn check<T: QuantElem, U: QuantElem>(
    (m, n, k): (usize, usize, usize),
    seed: u64,
    mode: RoundingMode,
) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    let shape = GemmShape { m, n, k };
    let w = rng.weights(m * k, 128);
    let x = rng.quant::<T>(k * n);
    let zx = rng.range(T::MIN, T::MAX);
    let bias = (rng.range(0, 3) != 0).then(|| rng.ints(m, -(1 << 12), 1 << 12));
    let stage = random_stage::<U>(&mut rng, m, k, mode);
    let ctx = format!(
        "gemm {shape} tile={MR}×{NR} T={} U={} x_zp={zx} y_zp={} mult[0]={:?} mode={mode:?} seed={seed}",
        std::any::type_name::<T>(),
        std::any::type_name::<U>(),
        stage.zero_point(),
        match stage.multipliers() {
            Multipliers::FixedPoint(v) => format!("{:?}", v[0]),
            Multipliers::FloatHalfEven(v) => format!("{}", v[0]),
            Multipliers::SoftFloat(v) => format!("{:?}", v[0]),
        }
    );
    let mut want = vec![U::default(); m * n];
    reference::gemm(shape, &w, &x, zx, bias.as_deref(), &stage, &mut want)
        .map_err(|e| e.to_string())?;
    let mut got = vec![U::default(); m * n];
    gemm(shape, &w, &x, zx, bias.as_deref(), &stage, &mut got).map_err(|e| e.to_string())?;
    if let Some((i, a, b)) = first_mismatch(&want, &got) {
        return Err(format!(
            "{ctx}: at (m={}, n={}) reference={a:?} optimized={b:?}",
            i / n.max(1),
            i % n.max(1)
        ));
    }
    let pw = PackedWeights::new(m, k, &w).unwrap();
    let acts = PackedActs::from_matrix(k, n, &x, zx).unwrap();
    for isa in Isa::available() {
        let mut got = vec![U::default(); m * n];
        run_packed(isa, &pw, &acts, bias.as_deref(), &stage, 0, &mut got);
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

fn check_all_types((m, n, k): (usize, usize, usize), seed: u64) -> Result<(), String> {
    for mode in [
        RoundingMode::FixedPoint,
        RoundingMode::FloatHalfEven,
        RoundingMode::SoftFloat,
    ] {
        check::<u8, i8>((m, n, k), seed, mode)?;
        check::<i8, i8>((m, n, k), seed ^ 1, mode)?;
        check::<u8, u8>((m, n, k), seed ^ 2, mode)?;
        check::<i8, u8>((m, n, k), seed ^ 3, mode)?;
    }
    Ok(())
}

#[test]
fn table_cases_match_reference() {
    for case in cases::gemm() {
        for seed in 0..3 {
            if let Err(e) = check_all_types(case, seed) {
                panic!("{e}");
            }
        }
    }
}

#[test]
fn microkernel_tiles_hold_exact_sums() {
    let mut rng = Rng::new(7);
    for (m, n, k) in cases::gemm() {
        let w = rng.weights(m * k, 128);
        let x = rng.quant::<u8>(k * n);
        let zx = rng.range(0, 255);
        let pw = PackedWeights::new(m, k, &w).unwrap();
        let acts = PackedActs::from_matrix(k, n, &x, zx).unwrap();
        for isa in Isa::available() {
            for rp in 0..m.div_ceil(MR) {
                for cp in 0..n.div_ceil(NR) {
                    let tile = kernel::run(isa, pw.kp2(), pw.panel(rp), acts.panel(cp));
                    for (r, tile_row) in tile.iter().enumerate() {
                        for (c, &got) in tile_row.iter().enumerate() {
                            let (i, j) = (rp * MR + r, cp * NR + c);
                            let want: i64 = if i < m && j < n {
                                (0..k)
                                    .map(|kk| {
                                        i64::from(w[i * k + kk])
                                            * i64::from(i32::from(x[kk * n + j]) - zx)
                                    })
                                    .sum()
                            } else {
                                0
                            };
                            assert_eq!(
                                i64::from(got),
                                want,
                                "M×N×K={m}×{n}×{k} isa={isa:?} tile ({rp},{cp}) r={r} c={c}"
                            );
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn wrapping_accumulators_agree_beyond_i32() {
    // K large enough that the true sum overflows i32: every path must still give the same bits.
    let (m, n, k) = (2, 3, 70_000);
    let w = vec![-128i8; m * k];
    let x = vec![0u8; k * n];
    let shape = GemmShape { m, n, k };
    let stage = OutputStage::new::<i8>(
        Multipliers::FixedPoint(vec![QuantizedMultiplier::from_real(1e-7).unwrap()]),
        0,
        -128,
        127,
    )
    .unwrap();
    let (mut a, mut b) = (vec![0i8; m * n], vec![0i8; m * n]);
    reference::gemm(shape, &w, &x, 255, None, &stage, &mut a).unwrap();
    gemm(shape, &w, &x, 255, None, &stage, &mut b).unwrap();
    assert_eq!(a, b);
}

#[test]
fn bad_arguments_are_errors() {
    let shape = GemmShape { m: 2, n: 3, k: 4 };
    let stage = OutputStage::new::<i8>(
        Multipliers::FixedPoint(vec![QuantizedMultiplier::ZERO; 3]),
        0,
        -128,
        127,
    )
    .unwrap();
    let one = OutputStage::new::<i8>(
        Multipliers::FixedPoint(vec![QuantizedMultiplier::ZERO]),
        0,
        -128,
        127,
    )
    .unwrap();
    let (w, x) = (vec![0i8; 8], vec![0u8; 12]);
    let mut out = vec![0i8; 6];
    assert!(
        gemm(shape, &w, &x, 0, None, &stage, &mut out).is_err(),
        "3 multipliers for 2 rows"
    );
    assert!(gemm(shape, &w[..7], &x, 0, None, &one, &mut out).is_err());
    assert!(gemm(shape, &w, &x[..11], 0, None, &one, &mut out).is_err());
    assert!(gemm(shape, &w, &x, 0, Some(&[0; 3]), &one, &mut out).is_err());
    assert!(gemm(shape, &w, &x, 256, None, &one, &mut out).is_err());
    assert!(reference::gemm(shape, &w, &x, -1, None, &one, &mut out).is_err());
    assert!(gemm(shape, &w, &x, 0, None, &one, &mut out[..5]).is_err());
    let huge = GemmShape {
        m: usize::MAX,
        n: 2,
        k: 2,
    };
    assert!(gemm(huge, &w, &x, 0, None, &one, &mut out).is_err());
    assert!(gemm(shape, &w, &x, 0, Some(&[1, 2]), &one, &mut out).is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_shapes_match_reference(
        m in prop_oneof![1usize..=9, 10usize..70],
        n in prop_oneof![1usize..=33, 34usize..140],
        k in prop_oneof![1usize..=17, 18usize..300, 1000usize..3000],
        seed in any::<u64>(),
    ) {
        if let Err(e) = check_all_types((m, n, k), seed) {
            prop_assert!(false, "{}", e);
        }
    }
}

#[test]
fn random_stages_leave_most_outputs_unclamped() {
    // The battery above is only sensitive if outputs vary: check the stage scaling does that.
    for (m, n, k) in [(8, 32, 9), (64, 125, 64), (5, 18, 3001)] {
        let mut inside = 0usize;
        let mut total = 0usize;
        for seed in 0..20 {
            let mut rng = Rng::new(seed);
            let w = rng.weights(m * k, 127);
            let x = rng.quant::<u8>(k * n);
            let zx = rng.range(0, 255);
            let stage = random_stage::<i8>(&mut rng, m, k, RoundingMode::FixedPoint);
            let mut out = vec![0i8; m * n];
            reference::gemm(GemmShape { m, n, k }, &w, &x, zx, None, &stage, &mut out).unwrap();
            let (lo, hi) = stage.clamp_range();
            inside += out
                .iter()
                .filter(|&&v| (lo + 1..hi).contains(&i32::from(v)))
                .count();
            total += out.len();
        }
        assert!(
            inside * 2 > total,
            "M×N×K={m}×{n}×{k}: only {inside}/{total} outputs unclamped"
        );
    }
}

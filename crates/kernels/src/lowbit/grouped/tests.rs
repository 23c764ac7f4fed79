use super::*;
use crate::lowbit::cases;
use crate::lowbit::testutil::{first_mismatch, Rng, FORMATS};
use crate::lowbit::LowBitFormat;
use proptest::prelude::*;

/// Group sizes tried on every shape: 1, odd, the tile edge, the CLI's sizes, whole and beyond K.
fn group_sizes(k: usize) -> Vec<usize> {
    let mut v = vec![1, 3, 4, 32, 64, 128, k.max(1), k + 5];
    v.sort_unstable();
    v.dedup();
    v
}

/// Random real parameters of a layer: weight scales `[m × groups]`, bias and its scales, output
/// zero point and clamp.
pub(super) struct Params {
    pub ws: Vec<f32>,
    pub bias: Option<Vec<i32>>,
    pub bs: Vec<f32>,
    pub zp: i32,
    pub clamp: (i32, i32),
}

impl Params {
    /// Scales varying per group.
    pub fn random<U: OutElem>(rng: &mut Rng, m: usize, groups: usize) -> Self {
        let ws: Vec<f32> = (0..m * groups)
            .map(|_| rng.multiplier(-3, 3) as f32)
            .collect();
        let bias = (rng.range(0, 2) != 0).then(|| rng.ints(m, -(1 << 12), 1 << 12));
        let bs: Vec<f32> = (0..m).map(|_| rng.multiplier(-8, -4) as f32).collect();
        let zp = rng.range(U::MIN, U::MAX);
        let clamp = if rng.range(0, 1) == 0 {
            (U::MIN, U::MAX)
        } else {
            (zp, U::MAX)
        };
        Params {
            ws,
            bias,
            bs,
            zp,
            clamp,
        }
    }

    /// The scales: output steps of about one accumulator of sqrt(gs) random terms of `A`.
    pub fn scales<A: ActElem>(&self, gs: usize) -> GroupedScales<'_> {
        let x = 0.02f32;
        GroupedScales {
            x,
            w: &self.ws,
            y: x * (gs as f32).sqrt() * if A::A8 { 40.0 } else { 8000.0 },
            bias: &self.bs,
        }
    }
}

/// A random layer of `format` for activations `A` with outputs in `U`'s range.
fn layer<A: ActElem, U: OutElem>(
    rng: &mut Rng,
    format: LowBitFormat,
    (m, k): (usize, usize),
    gs: usize,
) -> GroupedGemm {
    let (w, _) = rng.weights(format, m, k);
    let groups = k.div_ceil(gs).max(1);
    let p = Params::random::<U>(rng, m, groups);
    GroupedGemm::new::<A>(w, gs, p.bias.as_deref(), p.scales::<A>(gs), p.zp, p.clamp).unwrap()
}

fn check<A: ActElem + TryFrom<i32>, U: OutElem>(
    format: LowBitFormat,
    (m, n, k): (usize, usize, usize),
    gs: usize,
    seed: u64,
) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    let l = layer::<A, U>(&mut rng, format, (m, k), gs);
    let x = rng.acts::<A>(k * n);
    let zx = rng.range(A::MIN, A::MAX);
    let ctx = format!(
        "grouped M×N×K={m}×{n}×{k} gs={gs} {format} A={} U={} zx={zx} seed={seed}",
        std::any::type_name::<A>(),
        std::any::type_name::<U>()
    );
    let mut want = vec![U::default(); m * n];
    reference::gemm(&l, n, &x, zx, &mut want).map_err(|e| format!("{ctx}: {e}"))?;
    for isa in Isa::available() {
        let mut got = vec![U::default(); m * n];
        l.run_with(isa, n, &x, zx, &mut got)
            .map_err(|e| format!("{ctx}: {e}"))?;
        if let Some((i, a, b)) = first_mismatch(&want, &got) {
            return Err(format!(
                "{ctx} isa={isa:?}: at {i} reference={a:?} optimized={b:?}"
            ));
        }
    }
    Ok(())
}

fn check_all((m, n, k): (usize, usize, usize), seed: u64) -> Result<(), String> {
    for (i, format) in FORMATS.into_iter().enumerate() {
        for gs in group_sizes(k) {
            let s = seed ^ ((i as u64) << 40) ^ (gs as u64);
            check::<i8, i8>(format, (m, n, k), gs, s)?;
            check::<u8, u8>(format, (m, n, k), gs, s ^ 1)?;
            check::<i16, i16>(format, (m, n, k), gs, s ^ 2)?;
            check::<u8, i16>(format, (m, n, k), gs, s ^ 3)?;
        }
    }
    // Int8 weights with i16 activations: the worst case fits i32 only for K < 256.
    if k < 256 {
        check::<i16, i8>(LowBitFormat::Int8, (m, n, k), 32, seed ^ 4)?;
    }
    Ok(())
}

#[test]
fn table_cases_match_reference() {
    for case in cases::gemm_cases() {
        if let Err(e) = check_all(case, 7) {
            panic!("{e}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn random_shapes_match_reference(
        m in prop_oneof![1usize..=9, 10usize..40],
        n in prop_oneof![1usize..=33, 34usize..80],
        k in prop_oneof![1usize..=40, 41usize..300],
        seed in any::<u64>(),
    ) {
        if let Err(e) = check_all((m, n, k), seed) {
            prop_assert!(false, "{}", e);
        }
    }
}

/// The result is within the documented error of the real-valued formula (before the clamp).
#[test]
fn error_versus_real_formula_is_within_the_documented_bound() {
    let mut rng = Rng::new(11);
    let (m, n, k, gs) = (5, 9, 70, 32);
    let (w, wv) = rng.weights(LowBitFormat::Int4, m, k);
    let groups = k.div_ceil(gs);
    let ws: Vec<f32> = (0..m * groups)
        .map(|_| rng.multiplier(-2, 2) as f32)
        .collect();
    let bias = rng.ints(m, -500, 500);
    let (sx, sy) = (0.05f32, 30.0f32);
    let bs: Vec<f32> = (0..m).map(|_| rng.multiplier(-6, -2) as f32).collect();
    let scales = GroupedScales {
        x: sx,
        w: &ws,
        y: sy,
        bias: &bs,
    };
    let l = GroupedGemm::new::<i16>(w, gs, Some(&bias), scales, 0, (-32768, 32767)).unwrap();
    let x = rng.acts::<i16>(k * n);
    let mut got = vec![0i16; m * n];
    l.run(n, &x, 3, &mut got).unwrap();
    for o in 0..m {
        for j in 0..n {
            let (mut real, mut mass) = (0f64, 0f64);
            for g in 0..groups {
                let acc: i64 = (g * gs..((g + 1) * gs).min(k))
                    .map(|kk| i64::from(wv[o * k + kk]) * (i64::from(x[kk * n + j]) - 3))
                    .sum();
                real += acc as f64 * f64::from(sx) * f64::from(ws[o * groups + g]) / f64::from(sy);
                mass += acc.unsigned_abs() as f64;
            }
            real += f64::from(bias[o]) * f64::from(bs[o]) / f64::from(sy);
            mass += f64::from(bias[o].unsigned_abs());
            let e = l.stage().row_bias_and_exponent(o).1;
            let bound = 0.5 + mass * 2f64.powi(-(e as i32) - 1);
            let y = f64::from(got[o * n + j]);
            assert!(real.abs() < 32000.0, "the test must not clamp: {real}");
            assert!(
                (y - real).abs() <= bound + 1e-9,
                "o={o} j={j}: {y} vs {real} (bound {bound})"
            );
        }
    }
}

#[test]
fn bad_parameters_are_refused() {
    let w = PackedWeights::pack(LowBitFormat::Int4, 1, 2, &[1, -1]).unwrap();
    let s = |w: &'static [f32]| GroupedScales {
        x: 1.0,
        w,
        y: 1.0,
        bias: &[],
    };
    let e = GroupedGemm::new::<u8>(w.clone(), 0, None, s(&[1.0]), 0, (0, 255));
    assert_eq!(e.unwrap_err(), GroupedError::ZeroGroupSize);
    let e = GroupedGemm::new::<u8>(w.clone(), 1, None, s(&[1.0, -1.0]), 0, (0, 255));
    assert!(matches!(e, Err(GroupedError::BadScale { .. })), "{e:?}");
    let e = GroupedGemm::new::<u8>(w.clone(), 1, None, s(&[1.0]), 0, (0, 255));
    assert!(matches!(e, Err(GroupedError::LowBit(_))), "{e:?}");
    let e = GroupedGemm::new::<u8>(w.clone(), 2, None, s(&[1e30]), 0, (0, 255));
    assert!(
        matches!(e, Err(GroupedError::MultiplierTooLarge { .. })),
        "{e:?}"
    );
    // A stage built for u8 outputs refuses to write i8 outside its range.
    let l = GroupedGemm::new::<u8>(w, 2, None, s(&[1.0]), 200, (0, 255)).unwrap();
    let mut out = [0i8; 1];
    assert!(l.run(1, &[1u8, 2], 0, &mut out).is_err());
}

#[test]
fn rounding_divide_by_pot_i64_matches_exact_ties_away_from_zero() {
    use crate::int8::requant::rounding_divide_by_pot_i64 as f;
    assert_eq!(f(5, 1), 3);
    assert_eq!(f(-5, 1), -3);
    assert_eq!(f(-6, 2), -2);
    assert_eq!(f(i64::MAX, 62), 2);
    assert_eq!(f(i64::MIN, 62), -2);
    let mut rng = Rng::new(3);
    for _ in 0..10_000 {
        let x = rng.next_u64() as i64 >> rng.range(0, 60);
        let e = rng.range(0, 62) as u32;
        let want = if e == 0 {
            i128::from(x)
        } else {
            let mag = (i128::from(x).abs() + (1i128 << (e - 1))) >> e;
            if x < 0 {
                -mag
            } else {
                mag
            }
        };
        assert_eq!(i128::from(f(x, e)), want, "x={x} e={e}");
    }
}

use super::*;
use crate::int8::cases::{self, PoolCase};
use crate::int8::testutil::{first_mismatch, Rng};
use proptest::prelude::*;

fn params(c: &PoolCase) -> Pool2dParams {
    Pool2dParams {
        batch: c.batch,
        channels: c.c,
        in_hw: [c.h, c.w],
        kernel: [c.kh, c.kw],
        stride: c.stride,
        dilation: c.dil,
        pads: c.pads,
    }
}

fn random_quant<T: QuantElem, U: QuantElem>(rng: &mut Rng, taps: usize) -> AvgPoolQuant {
    let x_scale = rng.multiplier(-8, -2) as f32;
    let y_scale = if rng.range(0, 1) == 0 {
        x_scale
    } else {
        rng.multiplier(-8, -2) as f32
    };
    let zx = rng.range(T::MIN, T::MAX);
    let zy = rng.range(U::MIN, U::MAX);
    let act = [Activation::None, Activation::Relu][rng.range(0, 1) as usize];
    AvgPoolQuant::new::<T, U>(x_scale, zx, y_scale, zy, taps, rng.range(0, 1) == 1, act).unwrap()
}

fn check<T: QuantElem, U: QuantElem>(p: &Pool2dParams, seed: u64) -> Result<(), String> {
    let [oh, ow] = p.out_hw().map_err(|e| format!("{p}: {e}"))?;
    let mut rng = Rng::new(seed);
    let planes = p.batch * p.channels;
    let x = rng.quant::<T>(planes * p.in_hw[0] * p.in_hw[1]);
    let ctx = |what: &str, i: usize| {
        format!(
            "{what} {p} out={oh}×{ow} T={} U={} seed={seed} at index {i}",
            std::any::type_name::<T>(),
            std::any::type_name::<U>()
        )
    };

    let (mut want, mut got) = (
        vec![T::default(); planes * oh * ow],
        vec![T::default(); planes * oh * ow],
    );
    reference::max_pool(p, &x, &mut want).map_err(|e| e.to_string())?;
    max_pool(p, &x, &mut got).map_err(|e| e.to_string())?;
    if let Some((i, a, b)) = first_mismatch(&want, &got) {
        return Err(format!(
            "{}: reference={a:?} optimized={b:?}",
            ctx("max pool", i)
        ));
    }

    let q = random_quant::<T, U>(&mut rng, p.kernel[0] * p.kernel[1]);
    let (mut want, mut got) = (
        vec![U::default(); planes * oh * ow],
        vec![U::default(); planes * oh * ow],
    );
    reference::avg_pool(p, &x, &q, &mut want).map_err(|e| e.to_string())?;
    avg_pool(p, &x, &q, &mut got).map_err(|e| e.to_string())?;
    if let Some((i, a, b)) = first_mismatch(&want, &got) {
        return Err(format!(
            "{} quant={q:?}: reference={a:?} optimized={b:?}",
            ctx("avg pool", i)
        ));
    }

    let taps = p.in_hw[0] * p.in_hw[1];
    let q = random_quant::<T, U>(&mut rng, taps);
    let (mut want, mut got) = (vec![U::default(); planes], vec![U::default(); planes]);
    reference::global_avg_pool(p.batch, p.channels, p.in_hw, &x, &q, &mut want)
        .map_err(|e| e.to_string())?;
    global_avg_pool(p.batch, p.channels, p.in_hw, &x, &q, &mut got).map_err(|e| e.to_string())?;
    if let Some((i, a, b)) = first_mismatch(&want, &got) {
        return Err(format!(
            "{} quant={q:?}: reference={a:?} optimized={b:?}",
            ctx("global avg pool", i)
        ));
    }
    Ok(())
}

/// The staged average pool against its reference twin and against the depthwise convolution
/// with unit weights it replaces (one shared or per-channel multipliers).
fn check_staged<T: QuantElem, U: QuantElem>(p: &Pool2dParams, seed: u64) -> Result<(), String> {
    use crate::int8::conv::reference as conv_ref;
    use crate::int8::requant::Multipliers;
    let [oh, ow] = p.out_hw().map_err(|e| format!("{p}: {e}"))?;
    let mut rng = Rng::new(seed);
    let planes = p.batch * p.channels;
    let data = rng.quant::<T>(planes * p.in_hw[0] * p.in_hw[1]);
    let x = QInput {
        data: &data,
        zero_point: rng.range(T::MIN, T::MAX),
    };
    let n_mult = if rng.range(0, 1) == 0 { 1 } else { p.channels };
    let m = (0..n_mult)
        .map(|_| rng.multiplier(-12, -1))
        .map(QuantizedMultiplier::from_real)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let (a, b) = (rng.range(U::MIN, U::MAX), rng.range(U::MIN, U::MAX));
    let stage = OutputStage::new::<U>(
        Multipliers::FixedPoint(m),
        rng.range(U::MIN, U::MAX),
        a.min(b),
        a.max(b),
    )
    .map_err(|e| e.to_string())?;
    let n = planes * oh * ow;
    let (mut want, mut got, mut conv) = (
        vec![U::default(); n],
        vec![U::default(); n],
        vec![U::default(); n],
    );
    reference::avg_pool_staged(p, x, &stage, &mut want).map_err(|e| e.to_string())?;
    avg_pool_staged(p, x, &stage, &mut got).map_err(|e| e.to_string())?;
    let geometry = p.as_depthwise_conv();
    let ones = vec![1i8; p.channels * p.kernel[0] * p.kernel[1]];
    conv_ref::conv2d(&geometry, x, &ones, None, &stage, &mut conv).map_err(|e| e.to_string())?;
    let ctx = format!(
        "staged avg pool {p} T={} U={} seed={seed} stage={stage:?}",
        std::any::type_name::<T>(),
        std::any::type_name::<U>()
    );
    if let Some((i, a, b)) = first_mismatch(&want, &got) {
        return Err(format!("{ctx} at {i}: reference={a:?} optimized={b:?}"));
    }
    if let Some((i, a, b)) = first_mismatch(&conv, &want) {
        return Err(format!(
            "{ctx} at {i}: unit-weight conv={a:?} reference={b:?}"
        ));
    }
    Ok(())
}

fn check_all(p: &Pool2dParams, seed: u64) -> Result<(), String> {
    check::<u8, u8>(p, seed)?;
    check::<i8, i8>(p, seed ^ 1)?;
    check::<u8, i8>(p, seed ^ 2)?;
    check_staged::<u8, u8>(p, seed ^ 3)?;
    check_staged::<i8, i8>(p, seed ^ 4)?;
    check_staged::<i8, u8>(p, seed ^ 5)
}

#[test]
fn table_cases_match_reference() {
    for case in cases::pool() {
        for seed in 0..4 {
            if let Err(e) = check_all(&params(&case), seed) {
                panic!("{e}");
            }
        }
    }
}

#[test]
fn same_scale_average_rounds_ties_away_from_zero() {
    for (sum, count, want) in [
        (1, 2, 1),
        (-1, 2, -1),
        (3, 2, 2),
        (-3, 2, -2),
        (1, 3, 0),
        (2, 3, 1),
        (-2, 3, -1),
        (0, 5, 0),
    ] {
        assert_eq!(reference::rounded_div(sum, count), want, "{sum}/{count}");
        let q = AvgPoolQuant::new::<i8, i8>(0.1, 0, 0.1, 0, 8, false, Activation::None).unwrap();
        assert_eq!(q.finish(sum, count), want, "{sum}/{count}");
    }
}

#[test]
fn average_is_zero_point_aware_and_counts_pads_on_request() {
    // 1×2 input [zx+4, zx+1], window 1×3 with one pad on the left.
    let p = Pool2dParams {
        batch: 1,
        channels: 1,
        in_hw: [1, 2],
        kernel: [1, 3],
        stride: [1, 1],
        dilation: [1, 1],
        pads: [0, 1, 0, 0],
    };
    let x = [104u8, 101];
    for (include, want) in [(false, 13 + 3), (true, 13 + 2)] {
        // Same scale, zx = 100, zy = 13: average (4+1)/2 = 2.5 → 3; with pad (4+1+0)/3 = 1.67 → 2.
        let q =
            AvgPoolQuant::new::<u8, u8>(0.5, 100, 0.5, 13, 3, include, Activation::None).unwrap();
        let (mut a, mut b) = ([0u8], [0u8]);
        reference::avg_pool(&p, &x, &q, &mut a).unwrap();
        avg_pool(&p, &x, &q, &mut b).unwrap();
        assert_eq!((a[0], b[0]), (want, want), "count_include_pad={include}");
    }
    // Output scale twice the input's: 5 · 1/4 = 1.25, which the fixed-point double rounding takes
    // to 2 (5/2 = 2.5 → 3, then 3/2 = 1.5 → 2), as TFLite's reference does.
    let q = AvgPoolQuant::new::<u8, u8>(0.5, 100, 1.0, 13, 3, false, Activation::None).unwrap();
    let mut a = [0u8];
    avg_pool(&p, &x, &q, &mut a).unwrap();
    assert_eq!(a[0], 13 + 2);
}

#[test]
fn max_pool_ignores_padding() {
    let p = Pool2dParams {
        batch: 1,
        channels: 1,
        in_hw: [2, 2],
        kernel: [3, 3],
        stride: [1, 1],
        dilation: [1, 1],
        pads: [1; 4],
    };
    let x = [-100i8, -90, -80, -120];
    let (mut a, mut b) = ([0i8; 4], [0i8; 4]);
    reference::max_pool(&p, &x, &mut a).unwrap();
    max_pool(&p, &x, &mut b).unwrap();
    assert_eq!(a, [-80; 4]);
    assert_eq!(b, a);
}

#[test]
fn bad_parameters_are_errors() {
    let p = Pool2dParams::global(1, 2, [3, 3]);
    let q = AvgPoolQuant::new::<u8, u8>(0.5, 0, 0.25, 0, 4, false, Activation::None).unwrap();
    let x = [0u8; 18];
    assert!(
        avg_pool(&p, &x, &q, &mut [0u8; 2]).is_err(),
        "multiplier table shorter than the window"
    );
    assert!(max_pool(&p, &x[..17], &mut [0u8; 2]).is_err());
    assert!(max_pool(&p, &x, &mut [0u8; 3]).is_err());
    assert!(AvgPoolQuant::new::<u8, u8>(0.0, 0, 0.25, 0, 4, false, Activation::None).is_err());
    assert!(AvgPoolQuant::new::<u8, u8>(0.5, -1, 0.25, 0, 4, false, Activation::None).is_err());
    assert!(
        AvgPoolQuant::new::<u8, u8>(0.5, 0, 0.25, 0, 1 << 30, false, Activation::None).is_err()
    );
    assert!(Pool2dParams {
        stride: [0, 1],
        ..p
    }
    .out_hw()
    .is_err());
}

fn geometry() -> impl Strategy<Value = Pool2dParams> {
    (
        (1usize..=2, 1usize..=3, 1usize..=4, 1usize..=4),
        (1usize..=3, 1usize..=3, 1usize..=2, 1usize..=2),
        proptest::array::uniform4(0usize..3),
        (0usize..7, 0usize..7),
    )
        .prop_map(
            |((batch, channels, kh, kw), (sh, sw, dh, dw), pads, (eh, ew))| {
                let base = |k: usize, d: usize, a: usize, b: usize| {
                    ((k - 1) * d + 1).saturating_sub(a + b).max(1)
                };
                Pool2dParams {
                    batch,
                    channels,
                    in_hw: [
                        base(kh, dh, pads[0], pads[2]) + eh,
                        base(kw, dw, pads[1], pads[3]) + ew,
                    ],
                    kernel: [kh, kw],
                    stride: [sh, sw],
                    dilation: [dh, dw],
                    pads,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn random_geometries_match_reference(p in geometry(), seed in any::<u64>()) {
        if let Err(e) = check_all(&p, seed) {
            prop_assert!(false, "{}", e);
        }
    }
}

/// The fast paths by name: windows covering the whole plane (the KWS 25×5 pool), windows of whole
/// rows (contiguous runs, with and without a row dilation), runs shorter and longer than the
/// summing lanes, and single-element planes.
#[test]
fn whole_plane_and_whole_row_windows_match_reference() {
    let full = |batch, channels, in_hw: [usize; 2], kernel, stride, dilation| Pool2dParams {
        batch,
        channels,
        in_hw,
        kernel,
        stride,
        dilation,
        pads: [0; 4],
    };
    let shapes = [
        full(2, 3, [25, 5], [25, 5], [1, 1], [1, 1]),
        full(1, 2, [1, 1], [1, 1], [1, 1], [1, 1]),
        full(1, 1, [4, 4], [4, 4], [1, 1], [1, 1]),
        full(1, 2, [1, 17], [1, 17], [1, 1], [1, 1]),
        full(3, 1, [3, 11], [3, 11], [2, 2], [1, 1]),
        full(1, 2, [7, 5], [3, 5], [2, 1], [1, 1]),
        full(1, 2, [7, 5], [3, 5], [1, 1], [2, 1]),
        full(1, 1, [9, 33], [2, 33], [3, 1], [1, 1]),
        full(1, 1, [5, 40], [1, 19], [1, 3], [1, 1]),
        full(2, 1, [6, 9], [2, 3], [1, 2], [2, 3]),
    ];
    for p in shapes {
        for seed in 0..6 {
            if let Err(e) = check_all(&p, seed) {
                panic!("{e}");
            }
        }
    }
}

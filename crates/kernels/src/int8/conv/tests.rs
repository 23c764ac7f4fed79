use super::*;
use crate::int8::cases::{self, ConvCase};
use crate::int8::gemm::tests::random_stage;
use crate::int8::requant::RoundingMode;
use crate::int8::testutil::{first_mismatch, Rng};
use proptest::prelude::*;

fn params(c: &ConvCase) -> Conv2dParams {
    Conv2dParams {
        batch: c.batch,
        in_channels: c.c,
        in_hw: [c.h, c.w],
        out_channels: c.oc,
        kernel: [c.kh, c.kw],
        stride: c.stride,
        dilation: c.dil,
        pads: c.pads,
        groups: c.groups,
    }
}

/// Reference vs plan (every microkernel) on one geometry; the error names the case.
fn check<T: QuantElem, U: QuantElem>(
    p: &Conv2dParams,
    seed: u64,
    mode: RoundingMode,
) -> Result<(), String> {
    let d = p.dims().map_err(|e| format!("{p}: {e}"))?;
    let mut rng = Rng::new(seed);
    let x = rng.quant::<T>(d.x_len);
    let zx = rng.range(T::MIN, T::MAX);
    let w = rng.weights(d.w_len, 128);
    let bias = (rng.range(0, 3) != 0).then(|| rng.ints(p.out_channels, -(1 << 12), 1 << 12));
    let stage = random_stage::<U>(&mut rng, p.out_channels, d.k, mode);
    let xin = QInput {
        data: &x,
        zero_point: zx,
    };
    let mut want = vec![U::default(); d.out_len];
    reference::conv2d(p, xin, &w, bias.as_deref(), &stage, &mut want)
        .map_err(|e| format!("{p}: {e}"))?;
    let plan = ConvPlan::new(*p, &w).map_err(|e| e.to_string())?;
    for isa in Isa::available() {
        let mut got = vec![U::default(); d.out_len];
        plan.run_with(isa, xin, bias.as_deref(), &stage, &mut got)
            .map_err(|e| e.to_string())?;
        if let Some((i, a, b)) = first_mismatch(&want, &got) {
            let [oh, ow] = d.out_hw;
            return Err(format!(
                "{p} out={oh}×{ow} depthwise={} isa={isa:?} T={} U={} x_zp={zx} y_zp={} mode={mode:?} seed={seed}: \
                 at (n={}, oc={}, oh={}, ow={}) reference={a:?} optimized={b:?}",
                plan.is_depthwise(),
                std::any::type_name::<T>(),
                std::any::type_name::<U>(),
                stage.zero_point(),
                i / (p.out_channels * oh * ow),
                i / (oh * ow) % p.out_channels,
                i / ow % oh,
                i % ow
            ));
        }
    }
    Ok(())
}

fn check_all(p: &Conv2dParams, seed: u64) -> Result<(), String> {
    check::<u8, i8>(p, seed, RoundingMode::FixedPoint)?;
    check::<i8, i8>(p, seed ^ 1, RoundingMode::FixedPoint)?;
    check::<i8, u8>(p, seed ^ 2, RoundingMode::FloatHalfEven)?;
    check::<u8, u8>(p, seed ^ 3, RoundingMode::FloatHalfEven)?;
    check::<i8, i8>(p, seed ^ 4, RoundingMode::SoftFloat)
}

#[test]
fn table_cases_match_reference() {
    for case in cases::conv() {
        for seed in 0..2 {
            if let Err(e) = check_all(&params(&case), seed) {
                panic!("{e}");
            }
        }
    }
}

#[test]
fn kws_layers_pick_the_intended_path() {
    let kws: Vec<_> = cases::conv()
        .filter(|c| c.c == 64 || c.h == 49)
        .map(|c| params(&c))
        .collect();
    assert_eq!(kws.len(), 3);
    let w = |p: &Conv2dParams| vec![0i8; p.dims().unwrap().w_len];
    let plans: Vec<_> = kws
        .iter()
        .map(|p| ConvPlan::new(*p, &w(p)).unwrap())
        .collect();
    assert_eq!(
        plans.iter().map(ConvPlan::is_depthwise).collect::<Vec<_>>(),
        [false, true, false]
    );
    assert_eq!(kws[0].dims().unwrap().out_hw, [25, 5]);
}

#[test]
fn padding_reads_the_zero_point() {
    // 1×1 input, 3×3 kernel of ones, pad 1: every tap but the centre is padding, so the
    // accumulator is x − zx whatever zx is.
    let p = Conv2dParams {
        batch: 1,
        in_channels: 1,
        in_hw: [1, 1],
        out_channels: 1,
        kernel: [3, 3],
        stride: [1, 1],
        dilation: [1, 1],
        pads: [1; 4],
        groups: 1,
    };
    let stage = crate::int8::requant::OutputStage::new::<i8>(
        crate::int8::requant::Multipliers::FixedPoint(vec![
            crate::int8::requant::QuantizedMultiplier::from_real(1.0).unwrap(),
        ]),
        0,
        -128,
        127,
    )
    .unwrap();
    for zx in [0, 100, 200] {
        let x = [150u8];
        let (mut a, mut b) = ([0i8], [0i8]);
        reference::conv2d(
            &p,
            QInput {
                data: &x,
                zero_point: zx,
            },
            &[1; 9],
            None,
            &stage,
            &mut a,
        )
        .unwrap();
        conv2d(
            &p,
            QInput {
                data: &x,
                zero_point: zx,
            },
            &[1; 9],
            None,
            &stage,
            &mut b,
        )
        .unwrap();
        assert_eq!(a, [i8::saturate(150 - zx)]);
        assert_eq!(b, a);
        let p2 = Conv2dParams { groups: 1, ..p };
        assert!(!ConvPlan::new(p2, &[1; 9]).unwrap().is_depthwise() || p2.in_channels == 1);
    }
}

#[test]
fn bad_geometry_is_an_error() {
    let ok = Conv2dParams {
        batch: 1,
        in_channels: 4,
        in_hw: [5, 5],
        out_channels: 6,
        kernel: [3, 3],
        stride: [1, 1],
        dilation: [1, 1],
        pads: [0; 4],
        groups: 2,
    };
    assert!(ok.dims().is_ok());
    assert!(Conv2dParams { groups: 3, ..ok }.dims().is_err());
    assert!(Conv2dParams { groups: 0, ..ok }.dims().is_err());
    assert!(Conv2dParams {
        stride: [0, 1],
        ..ok
    }
    .dims()
    .is_err());
    assert!(Conv2dParams {
        dilation: [1, 0],
        ..ok
    }
    .dims()
    .is_err());
    assert!(Conv2dParams {
        kernel: [6, 3],
        ..ok
    }
    .dims()
    .is_err());
    assert!(Conv2dParams {
        kernel: [3, 3],
        dilation: [3, 1],
        ..ok
    }
    .dims()
    .is_err());
    assert!(Conv2dParams {
        batch: usize::MAX,
        ..ok
    }
    .dims()
    .is_err());
    assert!(Conv2dParams {
        pads: [usize::MAX; 4],
        ..ok
    }
    .dims()
    .is_err());
    assert!(ConvPlan::new(ok, &[0; 10]).is_err());
    assert!(Conv2dParams {
        in_hw: [0, 5],
        pads: [2; 4],
        ..ok
    }
    .dims()
    .is_err());
    // Zero channels or batch are empty but valid.
    assert!(Conv2dParams { batch: 0, ..ok }.dims().is_ok());
}

fn geometry() -> impl Strategy<Value = Conv2dParams> {
    (
        (1usize..=2, 1usize..=4, 1usize..=5, 0usize..4),
        (1usize..=4, 1usize..=4, 1usize..=3, 1usize..=3),
        (1usize..=2, 1usize..=2, proptest::array::uniform4(0usize..3)),
        (0usize..6, 0usize..6),
    )
        .prop_map(
            |((batch, cg, ocg, gsel), (kh, kw, sh, sw), (dh, dw, pads), (eh, ew))| {
                let groups = [1, 2, 3, 5][gsel];
                let ext = |k: usize, d: usize| (k - 1) * d + 1;
                let base = |k, d, a: usize, b: usize| ext(k, d).saturating_sub(a + b).max(1);
                Conv2dParams {
                    batch,
                    in_channels: groups * cg,
                    in_hw: [
                        base(kh, dh, pads[0], pads[2]) + eh,
                        base(kw, dw, pads[1], pads[3]) + ew,
                    ],
                    out_channels: groups * ocg,
                    kernel: [kh, kw],
                    stride: [sh, sw],
                    dilation: [dh, dw],
                    pads,
                    groups,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn random_geometries_match_reference(p in geometry(), seed in any::<u64>()) {
        if let Err(e) = check_all(&p, seed) {
            prop_assert!(false, "{}", e);
        }
    }

    #[test]
    fn random_depthwise_match_reference(p in geometry(), mult in 1usize..=3, seed in any::<u64>()) {
        let c = p.in_channels;
        let p = Conv2dParams { groups: c, out_channels: c * mult, ..p };
        if let Err(e) = check_all(&p, seed) {
            prop_assert!(false, "{}", e);
        }
    }
}

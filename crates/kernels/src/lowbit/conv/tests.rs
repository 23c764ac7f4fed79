use super::*;
use crate::int8::requant::RoundingMode;
use crate::int8::QuantElem;
use crate::lowbit::cases;
use crate::lowbit::testutil::{first_mismatch, random_stage, Rng, FORMATS};
use crate::lowbit::LowBitFormat;
use proptest::prelude::*;

/// Random data for a geometry: activations, zero point, weights (packed and unpacked), bias.
struct Data<A> {
    x: Vec<A>,
    zx: i32,
    w: PackedWeights,
    wv: Vec<i8>,
    bias: Option<Vec<i32>>,
}

fn data<A: ActElem + TryFrom<i32>>(
    rng: &mut Rng,
    format: LowBitFormat,
    p: &Conv2dParams,
) -> Result<(Data<A>, ConvDims), String> {
    let d = p.dims().map_err(|e| format!("{p}: {e}"))?;
    let x = rng.acts::<A>(d.x_len);
    let zx = rng.range(A::MIN, A::MAX);
    let (w, wv) = rng.weights(format, p.out_channels, d.k);
    let bias = (rng.range(0, 3) != 0).then(|| rng.ints(p.out_channels, -(1 << 12), 1 << 12));
    Ok((Data { x, zx, w, wv, bias }, d))
}

/// Reference vs plan (every microkernel) on one geometry; the error names the case.
fn check<A: ActElem + TryFrom<i32>, U: OutElem>(
    format: LowBitFormat,
    p: &Conv2dParams,
    seed: u64,
    mode: RoundingMode,
) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    let (t, d) = data::<A>(&mut rng, format, p)?;
    let stage = random_stage::<A, U>(&mut rng, format, p.out_channels, d.k, mode);
    let xin = QInput {
        data: &t.x,
        zero_point: t.zx,
    };
    let mut want = vec![U::default(); d.out_len];
    reference::conv2d(p, xin, &t.w, t.bias.as_deref(), &stage, &mut want)
        .map_err(|e| format!("{p}: {e}"))?;
    let plan = LowBitConvPlan::new(*p, t.w.clone()).map_err(|e| e.to_string())?;
    for isa in Isa::available() {
        let mut got = vec![U::default(); d.out_len];
        plan.run_with(isa, xin, t.bias.as_deref(), &stage, &mut got)
            .map_err(|e| e.to_string())?;
        if let Some((i, a, b)) = first_mismatch(&want, &got) {
            let [oh, ow] = d.out_hw;
            return Err(format!(
                "{p} {format} out={oh}×{ow} depthwise={} isa={isa:?} A={} U={} x_zp={} y_zp={} mode={mode:?} seed={seed}: \
                 at (n={}, oc={}, oh={}, ow={}) reference={a:?} optimized={b:?}",
                plan.is_depthwise(),
                std::any::type_name::<A>(),
                std::any::type_name::<U>(),
                t.zx,
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

/// Packed conv vs the int8 conv on the same (unpacked) weights.
fn check_int8_equivalence<A: ActElem + QuantElem + TryFrom<i32>, U: OutElem + QuantElem>(
    format: LowBitFormat,
    p: &Conv2dParams,
    seed: u64,
) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    let (t, d) = data::<A>(&mut rng, format, p)?;
    let stage = random_stage::<A, U>(
        &mut rng,
        format,
        p.out_channels,
        d.k,
        RoundingMode::FixedPoint,
    );
    let xin = QInput {
        data: &t.x,
        zero_point: t.zx,
    };
    let (mut want, mut got) = (vec![U::default(); d.out_len], vec![U::default(); d.out_len]);
    crate::int8::conv::conv2d(p, xin, &t.wv, t.bias.as_deref(), &stage, &mut want)
        .map_err(|e| e.to_string())?;
    conv2d(p, xin, &t.w, t.bias.as_deref(), &stage, &mut got).map_err(|e| e.to_string())?;
    match first_mismatch(&want, &got) {
        None => Ok(()),
        Some((i, a, b)) => Err(format!(
            "{p} {format} A={} seed={seed}: at {i} int8={a:?} packed={b:?}",
            std::any::type_name::<A>()
        )),
    }
}

fn check_all(p: &Conv2dParams, seed: u64) -> Result<(), String> {
    for (i, format) in FORMATS.into_iter().enumerate() {
        let s = seed ^ ((i as u64) << 8);
        check::<u8, i8>(format, p, s, RoundingMode::FixedPoint)?;
        check::<i8, i8>(format, p, s ^ 1, RoundingMode::FixedPoint)?;
        check::<i8, u8>(format, p, s ^ 2, RoundingMode::FloatHalfEven)?;
        check::<i16, i16>(format, p, s ^ 3, RoundingMode::FixedPoint)?;
        check::<i16, u8>(format, p, s ^ 4, RoundingMode::FloatHalfEven)?;
        check::<i16, i16>(format, p, s ^ 5, RoundingMode::SoftFloat)?;
        check_int8_equivalence::<u8, u8>(format, p, s ^ 5)?;
        check_int8_equivalence::<i8, i8>(format, p, s ^ 6)?;
    }
    // Int8 weights run with i16 activations only (W8A16).
    check::<i16, i16>(LowBitFormat::Int8, p, seed ^ 0x80, RoundingMode::FixedPoint)?;
    check::<i16, i8>(
        LowBitFormat::Int8,
        p,
        seed ^ 0x81,
        RoundingMode::FloatHalfEven,
    )?;
    Ok(())
}

#[test]
fn table_cases_match_reference_and_int8() {
    for p in cases::conv_cases() {
        for seed in 0..2 {
            if let Err(e) = check_all(&p, seed) {
                panic!("{e}");
            }
        }
    }
}

#[test]
fn kws_layers_pick_the_intended_path() {
    let kws: Vec<_> = cases::conv_cases()
        .filter(|p| p.in_channels == 64 || p.in_hw[0] == 49)
        .collect();
    assert_eq!(kws.len(), 3);
    let depthwise: Vec<bool> = kws
        .iter()
        .map(|p| {
            let k = p.dims().unwrap().k;
            let w = PackedWeights::pack(
                LowBitFormat::Int4,
                p.out_channels,
                k,
                &vec![0; p.out_channels * k],
            );
            LowBitConvPlan::new(*p, w.unwrap()).unwrap().is_depthwise()
        })
        .collect();
    assert_eq!(depthwise, [false, true, false]);
}

#[test]
fn weights_must_match_the_geometry() {
    let p = Conv2dParams {
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
    let w = |rows, cols| {
        PackedWeights::pack(LowBitFormat::Int2, rows, cols, &vec![0; rows * cols]).unwrap()
    };
    assert!(LowBitConvPlan::new(p, w(6, 18)).is_ok());
    assert!(LowBitConvPlan::new(p, w(6, 36)).is_err());
    assert!(LowBitConvPlan::new(p, w(5, 18)).is_err());
    assert!(LowBitConvPlan::new(Conv2dParams { groups: 3, ..p }, w(6, 18)).is_err());
}

#[test]
fn padding_reads_the_zero_point() {
    // 1×1 input, 3×3 kernel of ones, pad 1: only the centre tap is inside, so acc = x − zx.
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
    let stage = crate::lowbit::output_stage_i16(
        crate::int8::requant::Multipliers::FixedPoint(vec![
            crate::int8::requant::QuantizedMultiplier::from_real(1.0).unwrap(),
        ]),
        0,
        -32768,
        32767,
    )
    .unwrap();
    let w = PackedWeights::pack(LowBitFormat::Binary, 1, 9, &[1; 9]).unwrap();
    for zx in [-30000, 0, 20000] {
        let x = [15000i16];
        let xin = QInput {
            data: &x,
            zero_point: zx,
        };
        let (mut a, mut b) = ([0i16], [0i16]);
        reference::conv2d(&p, xin, &w, None, &stage, &mut a).unwrap();
        conv2d(&p, xin, &w, None, &stage, &mut b).unwrap();
        assert_eq!(i32::from(a[0]), (15000 - zx).clamp(-32768, 32767));
        assert_eq!(b, a);
    }
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
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn random_geometries_match_reference_and_int8(p in geometry(), seed in any::<u64>()) {
        if let Err(e) = check_all(&p, seed) {
            prop_assert!(false, "{}", e);
        }
    }

    #[test]
    fn random_depthwise_match_reference_and_int8(p in geometry(), mult in 1usize..=3, seed in any::<u64>()) {
        let c = p.in_channels;
        let p = Conv2dParams { groups: c, out_channels: c * mult, ..p };
        if let Err(e) = check_all(&p, seed) {
            prop_assert!(false, "{}", e);
        }
    }
}

use super::*;
use crate::lowbit::cases;
use crate::lowbit::grouped::tests::Params;
use crate::lowbit::testutil::{first_mismatch, Rng, FORMATS};
use crate::lowbit::LowBitFormat;
use proptest::prelude::*;

/// Blocks tried on every geometry: 1, odd, not dividing C (a partial last block), C, beyond C.
fn blocks(c: usize) -> Vec<usize> {
    let mut v = vec![1, 2, 3, 5, c.max(1), c + 1];
    v.sort_unstable();
    v.dedup();
    v
}

/// Reference vs every ISA on one geometry, block and type pair; the error names the case.
fn check<A: ActElem + TryFrom<i32>, U: OutElem>(
    format: LowBitFormat,
    p: &Conv2dParams,
    block: usize,
    seed: u64,
) -> Result<(), String> {
    let ctx = format!(
        "{p} B={block} {format} A={} U={} seed={seed}",
        std::any::type_name::<A>(),
        std::any::type_name::<U>()
    );
    let d = p.dims().map_err(|e| format!("{ctx}: {e}"))?;
    let mut rng = Rng::new(seed);
    let (w, _) = rng.weights(format, p.out_channels, d.k);
    let taps = p.kernel[0] * p.kernel[1];
    let groups = p.in_channels.div_ceil(block) * taps;
    let gs = block.min(p.in_channels) * taps;
    let r = Params::random::<U>(&mut rng, p.out_channels, groups);
    let layer = GroupedConv::new::<A>(
        *p,
        w,
        block,
        r.bias.as_deref(),
        r.scales::<A>(gs),
        r.zp,
        r.clamp,
    )
    .map_err(|e| format!("{ctx}: {e}"))?;
    let x = rng.acts::<A>(d.x_len);
    let zx = rng.range(A::MIN, A::MAX);
    let input = || QInput {
        data: &x,
        zero_point: zx,
    };
    let mut want = vec![U::default(); d.out_len];
    reference::conv2d(&layer, input(), &mut want).map_err(|e| format!("{ctx}: {e}"))?;
    for isa in Isa::available() {
        let mut got = vec![U::default(); d.out_len];
        layer
            .run_with(isa, input(), &mut got)
            .map_err(|e| format!("{ctx}: {e}"))?;
        if let Some((i, a, b)) = first_mismatch(&want, &got) {
            return Err(format!(
                "{ctx} zx={zx} isa={isa:?}: at {i} reference={a:?} optimized={b:?}"
            ));
        }
    }
    Ok(())
}

/// Every format, block and activation/output pair on one geometry.
fn check_all(p: &Conv2dParams, seed: u64) -> Result<(), String> {
    for (i, format) in FORMATS.into_iter().enumerate() {
        for block in blocks(p.in_channels) {
            let s = seed ^ ((i as u64) << 40) ^ ((block as u64) << 8);
            check::<i8, i8>(format, p, block, s)?;
            check::<u8, u8>(format, p, block, s ^ 1)?;
            check::<i16, i16>(format, p, block, s ^ 2)?;
            check::<u8, i16>(format, p, block, s ^ 3)?;
        }
    }
    // Int8 weights with i16 activations: the worst case fits i32 only for short reductions.
    let d = p.dims().map_err(|e| e.to_string())?;
    if d.k < 256 {
        check::<i16, i8>(LowBitFormat::Int8, p, 2, seed ^ 4)?;
    }
    Ok(())
}

#[test]
fn table_cases_match_reference() {
    for p in cases::conv_cases().filter(|p| p.groups == 1) {
        if let Err(e) = check_all(&p, 5) {
            panic!("{e}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn random_geometries_match_reference(
        batch in 1usize..=2,
        c in 1usize..=12,
        hw in (1usize..=9, 1usize..=9),
        oc in prop_oneof![1usize..=5, 6usize..=10],
        kernel in (1usize..=5, 1usize..=5),
        stride in (1usize..=3, 1usize..=3),
        dilation in (1usize..=2, 1usize..=2),
        pads in (0usize..=2, 0usize..=2, 0usize..=2, 0usize..=2),
        seed in any::<u64>(),
    ) {
        let p = Conv2dParams {
            batch,
            in_channels: c,
            in_hw: [hw.0, hw.1],
            out_channels: oc,
            kernel: [kernel.0, kernel.1],
            stride: [stride.0, stride.1],
            dilation: [dilation.0, dilation.1],
            pads: [pads.0, pads.1, pads.2, pads.3],
            groups: 1,
        };
        prop_assume!(p.dims().is_ok());
        if let Err(e) = check_all(&p, seed) {
            prop_assert!(false, "{}", e);
        }
    }
}

/// A 1×1 convolution whose blocks divide the channels is the grouped GEMM on each image.
#[test]
fn pointwise_equals_the_grouped_gemm() {
    let p = Conv2dParams {
        batch: 2,
        in_channels: 6,
        in_hw: [3, 5],
        out_channels: 6,
        kernel: [1, 1],
        stride: [1, 1],
        dilation: [1, 1],
        pads: [0; 4],
        groups: 1,
    };
    let mut rng = Rng::new(9);
    let (w, _) = rng.weights(LowBitFormat::Int4, 6, 6);
    let r = Params::random::<u8>(&mut rng, 6, 2);
    let layer =
        GroupedConv::new::<u8>(p, w, 3, r.bias.as_deref(), r.scales::<u8>(3), 0, (0, 255)).unwrap();
    let x = rng.acts::<u8>(2 * 6 * 15);
    let mut got = vec![0u8; 2 * 6 * 15];
    let input = QInput {
        data: &x,
        zero_point: 4,
    };
    layer.run(input, &mut got).unwrap();
    for b in 0..2 {
        let mut want = vec![0u8; 6 * 15];
        super::super::reference::gemm(layer.gemm(), 15, &x[b * 90..(b + 1) * 90], 4, &mut want)
            .unwrap();
        assert_eq!(&got[b * 90..(b + 1) * 90], &want[..], "image {b}");
    }
}

#[test]
fn bad_parameters_are_refused() {
    let p = Conv2dParams {
        batch: 1,
        in_channels: 4,
        in_hw: [3, 3],
        out_channels: 2,
        kernel: [3, 3],
        stride: [1, 1],
        dilation: [1, 1],
        pads: [1; 4],
        groups: 1,
    };
    let w = PackedWeights::pack(LowBitFormat::Int4, 2, 36, &[1; 72]).unwrap();
    let ones = vec![1f32; 64];
    let new = |p: Conv2dParams, block: usize, n: usize| {
        let s = GroupedScales {
            x: 1.0,
            w: &ones[..n],
            y: 1.0,
            bias: &[],
        };
        GroupedConv::new::<u8>(p, w.clone(), block, None, s, 0, (0, 255))
    };
    assert_eq!(new(p, 0, 36).unwrap_err(), GroupedError::ZeroGroupSize);
    // Two blocks of 2 channels and 9 taps need 2 × 2 × 9 scales.
    assert!(new(p, 2, 18).is_err());
    assert!(new(p, 2, 36).is_ok());
    // A partial last block (3 + 1 channels) still has two scales per row and tap.
    assert!(new(p, 3, 36).is_ok());
    assert!(new(Conv2dParams { groups: 2, ..p }, 2, 36).is_err());
    assert!(new(
        Conv2dParams {
            in_channels: 5,
            ..p
        },
        2,
        54
    )
    .is_err());
    let l = new(p, 2, 36).unwrap();
    let mut out = [0u8; 18];
    let x = [0u8; 36];
    let short = QInput {
        data: &x[..35],
        zero_point: 0,
    };
    assert!(l.run(short, &mut out).is_err());
    let bad_zp = QInput {
        data: &x,
        zero_point: 300,
    };
    assert!(l.run(bad_zp, &mut out).is_err());
}

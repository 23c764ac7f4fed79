//! Sub-8-bit weights and 16-bit activations on a small synthetic graph: stored types and values,
//! group-wise (blocked) scales, opset 21, the ONNX round trip, what the integer lowering accepts
//! (int4 per channel; group-wise on MatMul) and refuses with the reason (group-wise 3×3 Conv, int16),
//! and determinism.
mod quantize_util;

use mw_compress::quantize::{quantize, ActivationType, QuantizeConfig, WeightFormat};
use mw_ir::passes::{integer_only, lower_qdq};
use mw_ir::{DType, Graph, Limits};
use mw_tensor::Tensor;
use quantize_util::{batches, small_cnn};

fn run(cfg: &QuantizeConfig) -> Graph {
    let cfg = QuantizeConfig {
        measure: false,
        ..cfg.clone()
    };
    quantize(small_cnn(7), batches(11, 4, 16, &[2, 8, 8]), &cfg)
        .expect("quantizes")
        .0
}

fn konst<'a>(g: &'a Graph, name: &str) -> &'a Tensor {
    let id = g.find_value(name).unwrap_or_else(|| panic!("no {name}"));
    g.value(id).konst.as_deref().unwrap()
}

fn values(t: &Tensor) -> Vec<i64> {
    t.to_i64_vec().unwrap()
}

fn w4(activations: ActivationType, group_size: Option<usize>) -> QuantizeConfig {
    QuantizeConfig {
        weights: WeightFormat::Int4,
        activations,
        group_size,
        ..Default::default()
    }
}

#[test]
fn w4a8_per_channel_is_int4_and_lowers_to_integer_ops() {
    let g = run(&w4(ActivationType::Int8, None));
    assert!(g.meta.opset >= 21);
    for w in ["w1_q", "w2_q", "w3_q"] {
        let t = konst(&g, w);
        assert_eq!(t.dtype(), DType::I4, "{w}");
        assert!(values(t).iter().all(|v| (-7..=7).contains(v)), "{w}");
        assert!(values(t).iter().any(|v| v.abs() == 7), "{w}");
    }
    assert_eq!(konst(&g, "w1_zp").dtype(), DType::I4);
    assert_eq!(konst(&g, "w1_scale").shape(), &[8]);
    // Export → import keeps the int4 values (packed two per byte on disk).
    let bytes = mw_onnx::to_bytes(&g).unwrap();
    let back = mw_onnx::load_bytes(&bytes, None, &Limits::default()).unwrap();
    for w in ["w1_q", "w2_q", "w3_q", "w1_zp"] {
        assert_eq!(konst(&back, w), konst(&g, w), "{w}");
    }
    let (lowered, report) = lower_qdq(&g).unwrap();
    let lint = integer_only(&lowered, Some(&report)).unwrap();
    assert!(lint.is_integer_only(), "{:?}", lint.float_ops);
}

#[test]
fn group_wise_scales_are_blocked_and_every_layer_lowers() {
    let g = run(&w4(ActivationType::Int8, Some(4)));
    // conv1 [8, 2, 3, 3]: one group of the 2 input channels per tap; blocked along axis 1.
    assert_eq!(konst(&g, "w1_scale").shape(), &[8, 1, 3, 3]);
    assert_eq!(konst(&g, "w1_zp").shape(), &[8, 1, 3, 3]);
    let dq = g
        .nodes
        .iter()
        .find(|n| n.name == "w1_DequantizeLinear")
        .unwrap();
    assert_eq!(dq.op.attrs().int("block_size").unwrap(), Some(4));
    assert_eq!(dq.op.attrs().int("axis").unwrap(), Some(1));
    // Depthwise conv2 [8, 1, 3, 3] stays per channel; fc [8, 5] groups along K: [2, 5].
    assert_eq!(konst(&g, "w2_scale").shape(), &[8]);
    assert_eq!(konst(&g, "w3_scale").shape(), &[2, 5]);
    let (lowered, report) = lower_qdq(&g).unwrap();
    let lint = integer_only(&lowered, Some(&report)).unwrap();
    // Every layer lowers: the blocked 3×3 conv1 and the blocked MatMul to MwQGroupedGemm, the
    // per-channel depthwise conv2 to the low-bit conv.
    assert!(lint.is_integer_only(), "{:?}", lint.float_ops);
    let grouped = lowered
        .nodes
        .iter()
        .filter(|n| n.op.op_type() == "MwQGroupedGemm")
        .count();
    assert_eq!(grouped, 2);
    // The blocked model runs in the float engine, and the lowered one close to it.
    let x = batches(3, 1, 8, &[2, 8, 8]);
    let plan = mw_exec::Plan::new(g, Limits::default()).unwrap();
    let y = plan.run(x.clone()).unwrap();
    assert_eq!(y[0].shape(), &[8, 5]);
    let lowered_plan = mw_exec::Plan::new(lowered, Limits::default()).unwrap();
    let z = lowered_plan.run(x).unwrap();
    let (a, b) = (
        y[0].as_slice::<f32>().unwrap(),
        z[0].as_slice::<f32>().unwrap(),
    );
    let worst = a
        .iter()
        .zip(b)
        .map(|(p, q)| (p - q).abs())
        .fold(0f32, f32::max);
    assert!(worst <= 0.02, "largest probability difference {worst}");
}

#[test]
fn binary_and_ternary_values() {
    let g = run(&QuantizeConfig {
        weights: WeightFormat::Binary,
        ..Default::default()
    });
    let w3 = konst(&g, "w3_q");
    assert_eq!(w3.dtype(), DType::I4);
    assert!(values(w3).iter().all(|v| *v == 1 || *v == -1));
    // Binary scale = mean |w| per output channel (axis 1 of the MatMul weight [8, 5]).
    let f = small_cnn(7);
    let w = konst(&f, "w3").as_slice::<f32>().unwrap().to_vec();
    let s = konst(&g, "w3_scale").as_slice::<f32>().unwrap();
    for n in 0..5 {
        let mean = (0..8).map(|k| w[k * 5 + n].abs() as f64).sum::<f64>() / 8.0;
        assert!((s[n] as f64 - mean).abs() < 1e-6, "{n}");
    }
    let g = run(&QuantizeConfig {
        weights: WeightFormat::Int2,
        ..Default::default()
    });
    let v = values(konst(&g, "w1_q"));
    assert!(v.iter().all(|v| (-1..=1).contains(v)));
    assert!(v.contains(&0) && v.contains(&1) && v.contains(&-1));
}

#[test]
fn int16_activations_are_quantized_and_lowered_to_integer_ops() {
    let g = run(&w4(ActivationType::Int16, None));
    assert_eq!(konst(&g, "x_zp").dtype(), DType::I16);
    let (lowered, report) = lower_qdq(&g).unwrap();
    let lint = integer_only(&lowered, Some(&report)).unwrap();
    assert!(
        lint.float_ops.iter().all(|f| f.node != "conv1"),
        "conv1 must run in integers: {:?}",
        lint.float_ops
    );
    assert!(
        lowered
            .nodes
            .iter()
            .any(|n| n.op.op_type().contains("QLinearConv")),
        "an integer convolution"
    );
}

#[test]
fn deterministic_bytes() {
    let cfg = w4(ActivationType::Int8, Some(4));
    let a = mw_onnx::to_bytes(&run(&cfg)).unwrap();
    let b = mw_onnx::to_bytes(&run(&cfg)).unwrap();
    assert_eq!(a, b);
}

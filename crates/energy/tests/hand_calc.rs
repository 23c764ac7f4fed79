//! The cost model against hand calculation on `horowitz-45nm` (figures: Horowitz, ISSCC 2014).
mod common;

use mw_energy::{
    evaluate, ModelWorkload, Options, Precision, Profile, ResidencyPolicy, WeightHome,
};

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(1e-300)
}

fn horowitz() -> Profile {
    Profile::builtin("horowitz-45nm").unwrap()
}

fn opts(residency: ResidencyPolicy) -> Options {
    Options {
        residency,
        ..Options::default()
    }
}

/// fp32 3x3 conv, 16 → 32 channels on 8x8 (pads 1), by hand on the 12 x 14 weight-stationary
/// array: G = 1, P = 64, K = 144, N = 32; t(K,12) = 12, t(N,14) = 3.
#[test]
fn one_float_conv_layer_matches_hand_calculation() {
    let w = ModelWorkload::from_graph(&common::float_conv(16, 32, 3, 8, 1)).unwrap();
    assert_eq!(w.layers.len(), 1);
    let r = evaluate(&w, &horowitz(), &opts(ResidencyPolicy::Auto)).unwrap();

    let macs = 64.0 * 144.0 * 32.0; // 294,912
    let compute = macs * (3.7 + 0.9); // fp32 mult + fp32 add
    let rf = macs * (32.0 + 32.0 + 32.0) * (2.5 / 64.0);
    let weight_bits = 32.0 * 16.0 * 9.0 * 32.0; // read once (weight-stationary)
    let input_bits = 16.0 * 64.0 * 32.0 * 3.0; // once per column tile
    let output_bits = 32.0 * 64.0 * 32.0;
    let sram = (weight_bits + input_bits + output_bits) * (100.0 / 64.0);
    let window_bits = 64.0 * 144.0 * 3.0 * 32.0; // im2col reads per column tile
    let psum_bits = 2.0 * 2048.0 * 11.0 * 32.0; // 11 extra reduction tiles, 896-psum tile fits 8 KB
    let local = (window_bits + psum_bits) * (10.0 / 64.0);
    let cycles = 12.0 * 3.0 * 64.0; // passes × positions; SRAM needs only 311296 / 256 = 1216
    let seconds = cycles / 200e6;
    let static_pj = 1.0 * seconds * 1e9; // 1 mW
    let total = compute + rf + sram + local + static_pj;

    let l = &r.layers[0];
    assert_eq!(l.precision, "fp32");
    assert_eq!(l.weights_in, WeightHome::Sram);
    assert!(close(l.energy.compute_pj, compute, 1e-12));
    assert!(close(l.energy.register_file_pj, rf, 1e-12));
    assert!(close(l.energy.sram_pj, sram, 1e-12));
    assert!(close(l.energy.local_buffer_pj, local, 1e-12));
    assert!(close(l.cycles, cycles, 1e-12), "{} vs {cycles}", l.cycles);
    assert!(
        close(r.energy_per_inference_uj, total * 1e-6, 1e-9),
        "{} vs {}",
        r.energy_per_inference_uj,
        total * 1e-6
    );
    assert!(close(r.latency_ms, seconds * 1e3, 1e-9));
    assert_eq!(r.split.dram_pj, 0.0);
}

/// The same layer in int8 QDQ form: int8 × int8 MACs with 32-bit accumulation, requantization
/// per output, weights read as stored int8.
#[test]
fn one_int8_qdq_layer_matches_hand_calculation() {
    let w = ModelWorkload::from_graph(&common::qdq_conv(16, 32, 3, 8, 1, 0)).unwrap();
    assert_eq!(w.layers.len(), 1, "{:?}", w.layers);
    let l = &w.layers[0];
    assert_eq!(l.fused, vec!["Relu", "QuantizeLinear"]);
    assert_eq!(l.weights.as_ref().unwrap().precision, Precision::Int(8));
    assert_eq!(l.activation_precision, Precision::Int(8));
    assert_eq!(l.output_precision, Precision::Int(8));
    assert_eq!(l.requant_ops, 2048);
    let r = evaluate(&w, &horowitz(), &opts(ResidencyPolicy::Auto)).unwrap();

    let macs = 294912.0;
    let compute = macs * (0.2 + 0.1) + 2048.0 * (3.1 + 2.0 * 0.1);
    let rf = macs * (8.0 + 8.0 + 32.0) * (2.5 / 64.0);
    // Weights and the other constants of the layer's nodes read once: int8 weights, 32 f32
    // scales + 32 int8 zero points of the weights, the output scale and zero point. (The input
    // DequantizeLinear's scale belongs to the producer of `x`.)
    let params = 32.0 * 32.0 + 32.0 * 8.0 + 32.0 + 8.0;
    assert_eq!(l.param_bits as f64, params);
    let weight_bits = 4608.0 * 8.0 + params;
    let act_bits = 16.0 * 64.0 * 8.0 * 3.0 + 2048.0 * 8.0;
    let sram = (weight_bits + act_bits) * (100.0 / 64.0);
    let local = (64.0 * 144.0 * 3.0 * 8.0 + 2.0 * 2048.0 * 11.0 * 32.0) * (10.0 / 64.0);
    let seconds = 2304.0 / 200e6;
    let total = compute + rf + sram + local + seconds * 1e9;
    assert!(close(r.layers[0].energy.compute_pj, compute, 1e-12));
    assert!(
        close(r.energy_per_inference_uj, total * 1e-6, 1e-9),
        "{} vs {}",
        r.energy_per_inference_uj,
        total * 1e-6
    );
}

#[test]
fn weights_moved_to_dram_change_energy_by_the_profiles_ratio() {
    let w = ModelWorkload::from_graph(&common::float_conv(16, 32, 3, 8, 1)).unwrap();
    let p = horowitz();
    let sram = evaluate(&w, &p, &opts(ResidencyPolicy::Sram)).unwrap();
    let dram = evaluate(&w, &p, &opts(ResidencyPolicy::Dram)).unwrap();
    let (ls, ld) = (&sram.layers[0], &dram.layers[0]);
    assert_eq!(
        (ls.weights_in, ld.weights_in),
        (WeightHome::Sram, WeightHome::Dram)
    );
    let bits = 147456.0;
    assert_eq!(ls.traffic.weight_sram_bits, bits);
    assert_eq!(ld.traffic.weight_dram_bits, bits);
    assert_eq!(ld.traffic.weight_sram_bits, 0.0);
    let (e_sram, e_dram) = (100.0 / 64.0, 1300.0 / 64.0);
    // Weight energy goes from bits × SRAM pJ/bit to bits × DRAM pJ/bit: × 13 exactly.
    let weight_sram_pj = ls.traffic.weight_sram_bits * e_sram;
    let weight_dram_pj = ld.energy.dram_pj;
    assert!(close(
        weight_dram_pj / weight_sram_pj,
        e_dram / e_sram,
        1e-12
    ));
    assert!(close(e_dram / e_sram, 13.0, 1e-15));
    // DRAM time (18 KB at 12.8 GB/s = 1.44 µs) hides under compute (11.52 µs): static unchanged,
    // so the whole difference is the weights' change of level.
    assert!(close(ls.latency_ms, ld.latency_ms, 1e-12));
    let delta = dram.energy_per_inference_uj - sram.energy_per_inference_uj;
    assert!(
        close(delta, bits * (e_dram - e_sram) * 1e-6, 1e-9),
        "{delta}"
    );
}

#[test]
fn output_stationary_refetches_weights_from_dram_per_position_tile() {
    let text = include_str!("../profiles/horowitz-45nm.toml").replace(
        "dataflow = \"weight-stationary\"",
        "dataflow = \"output-stationary\"",
    );
    let p = Profile::from_toml_str(&text, "os.toml").unwrap();
    let w = ModelWorkload::from_graph(&common::float_conv(16, 32, 3, 8, 1)).unwrap();
    let r = evaluate(&w, &p, &opts(ResidencyPolicy::Dram)).unwrap();
    let l = &r.layers[0];
    let t = l.tiling.as_ref().unwrap();
    assert_eq!(t.weight_fetches, 6.0); // ceil(64 positions / 12 rows)
    assert_eq!(l.traffic.weight_dram_bits, 147456.0 * 6.0);
    assert!(close(
        l.energy.dram_pj,
        147456.0 * 6.0 * 1300.0 / 64.0,
        1e-12
    ));
}

#[test]
fn halving_weight_bits_halves_weight_traffic_exactly() {
    let mut w = ModelWorkload::from_graph(&common::qdq_conv(16, 32, 3, 8, 1, 0)).unwrap();
    let p = horowitz();
    let params = w.layers[0].param_bits as f64;
    let at = |w: &ModelWorkload, policy| {
        let r = evaluate(w, &p, &opts(policy)).unwrap();
        let l = &r.layers[0];
        (
            l.traffic.weight_sram_bits - params,
            l.traffic.weight_dram_bits - params,
        )
    };
    let (s8, _) = at(&w, ResidencyPolicy::Sram);
    let (_, d8) = at(&w, ResidencyPolicy::Dram);
    // Pack the weights to 4 bits through the stored-format interface.
    let wt = w.layers[0].weights.as_mut().unwrap();
    wt.precision = Precision::Int(4);
    wt.stored_bits = wt.elements * 4;
    let (s4, _) = at(&w, ResidencyPolicy::Sram);
    let (_, d4) = at(&w, ResidencyPolicy::Dram);
    assert_eq!(s8, 4608.0 * 8.0);
    assert_eq!(s4 * 2.0, s8);
    assert_eq!(d4 * 2.0, d8);
    // A format that stores 4-bit weights in 5 bits on average (an entropy code, say) is counted
    // as stored.
    w.layers[0].weights.as_mut().unwrap().stored_bits = 4608 * 5;
    let (s5, _) = at(&w, ResidencyPolicy::Sram);
    assert_eq!(s5, 4608.0 * 5.0);
}

#[test]
fn zero_weights_are_counted_and_skipped_only_where_supported() {
    let g = common::qdq_conv(16, 32, 3, 8, 1, 4);
    let w = ModelWorkload::from_graph(&g).unwrap();
    let wt = w.layers[0].weights.as_ref().unwrap();
    // Every 4th weight is zero, and a few more round to zero in int8.
    let quantized_zeros = common::weights_f32(4608, 4)
        .iter()
        .filter(|v| (**v * 127.0).round() as i8 == 0)
        .count() as u64;
    assert!(quantized_zeros > 4608 / 4);
    assert_eq!(wt.zeros, quantized_zeros);
    let density = 1.0 - quantized_zeros as f64 / 4608.0;
    let phone = Profile::builtin("phone-soc").unwrap(); // NPU skips zero weights
    let r = evaluate(&w, &phone, &Options::default()).unwrap();
    assert_eq!(r.layers[0].unit, "npu");
    assert!(close(r.layers[0].effective_macs, 294912.0 * density, 1e-12));
    let r = evaluate(&w, &horowitz(), &Options::default()).unwrap();
    assert_eq!(r.layers[0].effective_macs, 294912.0);
}

#[test]
fn average_power_includes_idle_time_and_the_verdict_follows() {
    let w = ModelWorkload::from_graph(&common::float_conv(16, 32, 3, 8, 1)).unwrap();
    let p = horowitz();
    let base = evaluate(&w, &p, &Options::default()).unwrap();
    let r = evaluate(
        &w,
        &p,
        &Options {
            rate_hz: Some(1000.0),
            budget_mw: Some(10.0),
            ..Options::default()
        },
    )
    .unwrap();
    let e = base.energy_per_inference_uj * 1e-6;
    let t = base.latency_ms * 1e-3;
    let expected = 1000.0 * e * 1e3 + (1.0 - 1000.0 * t) * 1.0; // idle 1 mW
    assert!(close(r.power_mw.unwrap(), expected, 1e-12));
    assert!(matches!(r.verdict, Some(mw_energy::Verdict::Fits { .. })));
    let r = evaluate(
        &w,
        &p,
        &Options {
            rate_hz: Some(1000.0),
            budget_mw: Some(1.0),
            ..Options::default()
        },
    )
    .unwrap();
    assert!(matches!(
        r.verdict,
        Some(mw_energy::Verdict::OverBudget { .. })
    ));
    let r = evaluate(
        &w,
        &p,
        &Options {
            rate_hz: Some(1e6),
            budget_mw: Some(1e9),
            ..Options::default()
        },
    )
    .unwrap();
    assert!(matches!(
        r.verdict,
        Some(mw_energy::Verdict::CannotSustain { .. })
    ));
    assert!(evaluate(
        &w,
        &p,
        &Options {
            budget_mw: Some(1.0),
            ..Options::default()
        }
    )
    .is_err());
}

#[test]
fn fallbacks_are_listed_and_pay_for_transfers() {
    // An int8 conv followed by a softmax: ndp120's NPU runs no Softmax, the DSP does.
    let mut g = common::qdq_conv(16, 32, 3, 8, 1, 0);
    let q = *g.outputs.first().unwrap();
    g.outputs.clear();
    let mut b = common::G { g };
    let s = b.konst("s2", mw_ir::Tensor::scalar(0.1f32));
    let z = b.konst("z2", mw_ir::Tensor::scalar(-128i8));
    let dq = b.node("y_dq", "DequantizeLinear", mw_ir::Attrs::new(), &[q, s, z]);
    let sm = b.node("softmax", "Softmax", mw_ir::Attrs::new(), &[dq]);
    let g = b.output(sm);
    let w = ModelWorkload::from_graph(&g).unwrap();
    assert_eq!(w.layers.len(), 2);
    let p = Profile::builtin("ndp120").unwrap();
    let r = evaluate(&w, &p, &Options::default()).unwrap();
    assert_eq!(r.layers[0].unit, "npu");
    assert_eq!(r.layers[1].unit, "dsp");
    assert_eq!(r.fallbacks.len(), 1);
    assert_eq!(r.fallbacks[0].layer, "softmax");
    assert!(
        r.fallbacks[0].reason.contains("does not run `Softmax`"),
        "{}",
        r.fallbacks[0].reason
    );
    let t = p.transfer("npu", "dsp").unwrap();
    let bytes = 2048.0; // the int8 conv output
    assert_eq!(r.layers[1].traffic.transfer_bits, bytes * 8.0);
    assert!(close(
        r.layers[1].energy.transfer_pj,
        bytes * t.energy_pj_per_byte.value,
        1e-12
    ));
    assert_eq!(r.split.transfer_pj, r.layers[1].energy.transfer_pj);
}

#[test]
fn reports_serialize_with_the_documented_keys() {
    let w = ModelWorkload::from_graph(&common::float_conv(4, 4, 3, 5, 1)).unwrap();
    let r = evaluate(
        &w,
        &horowitz(),
        &Options {
            rate_hz: Some(10.0),
            budget_mw: Some(10.0),
            ..Options::default()
        },
    )
    .unwrap();
    let v = serde_json::to_value(&r).unwrap();
    for key in [
        "energy_per_inference_uj",
        "latency_ms",
        "power_mw",
        "layers",
        "fallbacks",
        "split",
        "residency",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    assert_eq!(v["layers"][0]["weights_in"], "sram");
    assert_eq!(v["verdict"]["verdict"], "fits");
    assert!(r.table().contains("energy per inference"));
}

#[test]
fn a_layer_no_unit_runs_is_a_typed_error_naming_it() {
    let text = include_str!("../profiles/ndp120.toml");
    let npu_only = &text[..text.find("[[units]]\nname = \"dsp\"").unwrap()];
    let p = Profile::from_toml_str(npu_only, "npu-only.toml").unwrap();
    let w = ModelWorkload::from_graph(&common::float_conv(4, 4, 3, 5, 1)).unwrap();
    match evaluate(&w, &p, &Options::default()) {
        Err(mw_energy::EnergyError::Unplaceable { layer, reason }) => {
            assert_eq!(layer, "conv");
            assert!(reason.contains("no fp32 MACs"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

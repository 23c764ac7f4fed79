//! KWS DS-CNN (MLPerf Tiny) on every built-in profile: structure checks (skips without
//! ../shared). The plausibility against MLPerf Tiny measurements is
//! `crates/cli/tests/energy_plausibility.rs`.

use mw_energy::{
    evaluate, EnergyReport, ModelWorkload, Options, Precision, Profile, ResidencyPolicy,
};

fn workload(rel: &str, test: &str) -> Option<ModelWorkload> {
    let path = mw_testkit::shared_or_skip(test, rel)?;
    let graph = mw_onnx::load(&path, &Default::default()).unwrap();
    Some(ModelWorkload::from_graph(&graph).unwrap())
}

fn run(w: &ModelWorkload, name: &str, residency: ResidencyPolicy) -> EnergyReport {
    let options = Options {
        residency,
        rate_hz: Some(10.0),
        budget_mw: Some(10.0),
    };
    evaluate(w, &Profile::builtin(name).unwrap(), &options).unwrap()
}

#[test]
fn kws_workloads_have_the_models_layers_and_widths() {
    let Some(float) = workload("models/mlperf-tiny/kws_dscnn_float32.onnx", "kws_workloads") else {
        return;
    };
    let Some(int8) = workload(
        "models/mlperf-tiny/kws_dscnn_int8_qdq.onnx",
        "kws_workloads",
    ) else {
        return;
    };
    // 5 convs + 4 depthwise convs + pool + dense + softmax; 2.66 M MACs (shared/README.md).
    for w in [&float, &int8] {
        assert_eq!(
            w.layers.len(),
            12,
            "{:?}",
            w.layers.iter().map(|l| &l.op_type).collect::<Vec<_>>()
        );
        assert_eq!(w.macs(), 2_656_768);
    }
    assert_eq!(float.weight_stored_bits(), 22_016 * 32);
    assert_eq!(int8.weight_stored_bits(), 22_016 * 8);
    for l in int8.layers.iter().filter(|l| l.is_mac()) {
        assert_eq!(
            l.weights.as_ref().unwrap().precision,
            Precision::Int(8),
            "{}",
            l.name
        );
        assert_eq!(l.activation_precision, Precision::Int(8), "{}", l.name);
        assert!(l.requant_ops > 0, "{}", l.name);
    }
    for l in float.layers.iter().filter(|l| l.is_mac()) {
        assert_eq!(l.required_precision(), Precision::Fp(32), "{}", l.name);
    }
    // Activations: int8 peak is a quarter of the float peak.
    assert_eq!(int8.peak_activation_bits * 4, float.peak_activation_bits);
}

#[test]
fn kws_energy_on_every_profile_and_plausibility() {
    let Some(float) = workload("models/mlperf-tiny/kws_dscnn_float32.onnx", "kws_energy") else {
        return;
    };
    let Some(int8) = workload("models/mlperf-tiny/kws_dscnn_int8_qdq.onnx", "kws_energy") else {
        return;
    };
    for name in Profile::builtin_names() {
        for (label, w) in [("fp32", &float), ("int8", &int8)] {
            let r = run(w, name, ResidencyPolicy::Auto);
            println!(
                "{name:<14} {label}: {:>10.3} µJ  {:>9.4} ms  {:>8.4} mW at 10/s  fallbacks {}",
                r.energy_per_inference_uj,
                r.latency_ms,
                r.power_mw.unwrap(),
                r.fallbacks.len()
            );
            assert!(r.energy_per_inference_uj > 0.0 && r.latency_ms > 0.0);
        }
        let (f, q) = (
            run(&float, name, ResidencyPolicy::Auto),
            run(&int8, name, ResidencyPolicy::Auto),
        );
        let p = Profile::builtin(name).unwrap();
        if p.units[0].software_kernel.is_some() {
            // Software kernels cost the same cycles per MAC at any precision (the reference
            // loops are dominated by index arithmetic, not the multiply): INT8 saves nothing
            // but pays its extra quantize layers, which stay a small share.
            assert!(
                q.energy_per_inference_uj < 1.05 * f.energy_per_inference_uj,
                "{name}"
            );
        } else {
            // INT8 never costs more than FP32 on hardware whose MACs narrow with the width.
            assert!(
                q.energy_per_inference_uj < f.energy_per_inference_uj,
                "{name}"
            );
        }
    }

    // horowitz-45nm: the article's claims.
    let f = run(&float, "horowitz-45nm", ResidencyPolicy::Auto);
    let q = run(&int8, "horowitz-45nm", ResidencyPolicy::Auto);
    let qd = run(&int8, "horowitz-45nm", ResidencyPolicy::Dram);
    println!("horowitz-45nm: INT8 {:.3} µJ vs FP32 {:.3} µJ ({:.2}x); INT8 data movement {:.1} %; DRAM-streamed {:.3} µJ ({:.2}x resident)",
        q.energy_per_inference_uj, f.energy_per_inference_uj, f.energy_per_inference_uj / q.energy_per_inference_uj,
        100.0 * q.data_movement_share, qd.energy_per_inference_uj, qd.energy_per_inference_uj / q.energy_per_inference_uj);
    assert!(f.fallbacks.is_empty() && q.fallbacks.is_empty());
    assert!(
        q.data_movement_share > 0.5,
        "moving data dominates at 45 nm"
    );
    assert!(
        qd.energy_per_inference_uj > q.energy_per_inference_uj,
        "DRAM streaming costs more"
    );

    // Placement: on ndp120 the int8 model runs on the NPU but for the softmax.
    let n = run(&int8, "ndp120", ResidencyPolicy::Auto);
    assert_eq!(n.fallbacks.len(), 1);
    assert_eq!(n.fallbacks[0].op_type, "Softmax");
    assert_eq!(n.fallbacks[0].unit, "dsp");
}

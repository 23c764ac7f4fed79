//! Energy of the MLPerf Tiny KWS DS-CNN (float and INT8) on every built-in profile.
//!
//! `cargo run -p mw-energy --release --example kws_energy [-- --layers]`. Needs `../shared` (the
//! real models beside the project root, or `$MILLIWATT_SHARED`).
use mw_energy::{evaluate, EnergyReport, ModelWorkload, Options, Profile, ResidencyPolicy};
use std::path::{Path, PathBuf};

fn shared() -> Option<PathBuf> {
    let dir = std::env::var_os("MILLIWATT_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    dir.join("models/mlperf-tiny").is_dir().then_some(dir)
}

fn load(path: &Path) -> ModelWorkload {
    let graph = mw_onnx::load(path, &Default::default()).expect("model loads");
    ModelWorkload::from_graph(&graph).expect("workload")
}

fn run(w: &ModelWorkload, p: &Profile, residency: ResidencyPolicy) -> EnergyReport {
    let options = Options {
        residency,
        rate_hz: Some(10.0),
        budget_mw: Some(10.0),
    };
    evaluate(w, p, &options).expect("evaluates")
}

fn main() {
    let Some(shared) = shared() else {
        eprintln!("needs ../shared/models/mlperf-tiny/kws_dscnn_{{float32,int8_qdq}}.onnx beside the project root (or set MILLIWATT_SHARED)");
        std::process::exit(2);
    };
    let layers = std::env::args().any(|a| a == "--layers");
    let dir = shared.join("models/mlperf-tiny");
    let float = load(&dir.join("kws_dscnn_float32.onnx"));
    let int8 = load(&dir.join("kws_dscnn_int8_qdq.onnx"));
    println!(
        "KWS DS-CNN: {} MACs; weights float {:.0} B, int8 {:.0} B",
        float.macs(),
        float.weight_stored_bits() as f64 / 8.0,
        int8.weight_stored_bits() as f64 / 8.0
    );
    println!();
    println!(
        "{:<14} {:>6} {:>12} {:>11} {:>12} {:>12} {:>9}  fallbacks",
        "profile", "model", "µJ/inference", "latency ms", "mW at 10/s", "vs 10 mW", "moving %"
    );
    for name in Profile::builtin_names() {
        let p = Profile::builtin(name).expect("built-in");
        for (label, w) in [("fp32", &float), ("int8", &int8)] {
            let r = run(w, &p, ResidencyPolicy::Auto);
            let verdict = match &r.verdict {
                Some(mw_energy::Verdict::Fits { .. }) => "fits",
                Some(mw_energy::Verdict::OverBudget { .. }) => "over",
                Some(mw_energy::Verdict::CannotSustain { .. }) => "too slow",
                None => "-",
            };
            let fb: Vec<String> = r
                .fallbacks
                .iter()
                .map(|f| format!("{}→{}", f.op_type, f.unit))
                .collect();
            println!(
                "{:<14} {:>6} {:>12.3} {:>11.4} {:>12.4} {:>12} {:>9.1}  {}",
                name,
                label,
                r.energy_per_inference_uj,
                r.latency_ms,
                r.power_mw.unwrap_or(0.0),
                verdict,
                100.0 * r.data_movement_share,
                dedup(&fb)
            );
            if layers {
                println!("{}", r.table());
            }
        }
    }
    println!();
    plausibility(&int8);
    println!();
    horowitz_claims(&float, &int8);
}

fn dedup(v: &[String]) -> String {
    let mut out: Vec<&String> = Vec::new();
    for s in v {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out.iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn plausibility(int8: &ModelWorkload) {
    println!("Plausibility against MLPerf Tiny measurements (INT8 KWS; target: within 2x):");
    let ndp = run(
        int8,
        &Profile::builtin("ndp120").unwrap(),
        ResidencyPolicy::Auto,
    );
    let m4 = run(
        int8,
        &Profile::builtin("cortex-m4").unwrap(),
        ResidencyPolicy::Auto,
    );
    let line = |what: &str, model: f64, measured: f64| {
        let ratio = model / measured;
        let ok = (0.5..=2.0).contains(&ratio);
        println!(
            "  {what:<34} model {model:>10.3}  measured {measured:>9.1}  ratio {ratio:>6.3}  {}",
            if ok { "within 2x" } else { "NOT within 2x" }
        );
    };
    line("ndp120 µJ/inference", ndp.energy_per_inference_uj, 31.5);
    line("cortex-m4 µJ/inference", m4.energy_per_inference_uj, 7374.0);
    line("cortex-m4 latency ms", m4.latency_ms, 182.0);
    // The same chip under other software stacks: TFLM's portable reference kernels (an upper
    // bound) and a single CMSIS-NN utilization figure from a Cortex-M7 paper (a lower bound).
    for name in ["cortex-m4-tflm-ref", "cortex-m4-cmsis"] {
        let r = run(
            int8,
            &Profile::builtin(name).unwrap(),
            ResidencyPolicy::Auto,
        );
        line(
            &format!("{name} µJ/inference"),
            r.energy_per_inference_uj,
            7374.0,
        );
        line(&format!("{name} latency ms"), r.latency_ms, 182.0);
    }
}

fn horowitz_claims(float: &ModelWorkload, int8: &ModelWorkload) {
    let p = Profile::builtin("horowitz-45nm").unwrap();
    let f = run(float, &p, ResidencyPolicy::Auto);
    let q = run(int8, &p, ResidencyPolicy::Auto);
    let qd = run(int8, &p, ResidencyPolicy::Dram);
    let fd = run(float, &p, ResidencyPolicy::Dram);
    println!("horowitz-45nm, KWS DS-CNN:");
    println!(
        "  INT8 vs FP32 energy per inference: {:.3} µJ vs {:.3} µJ: {:.2}x less",
        q.energy_per_inference_uj,
        f.energy_per_inference_uj,
        f.energy_per_inference_uj / q.energy_per_inference_uj
    );
    for (label, r) in [("FP32", &f), ("INT8", &q)] {
        let s = &r.split;
        let dynamic = s.compute_pj + s.data_movement_pj();
        println!("  {label}: moving data {:.1} % of dynamic energy (compute {:.3} µJ, register file {:.3}, local buffer {:.3}, SRAM {:.3}, DRAM {:.3}); static {:.3} µJ",
            100.0 * s.data_movement_pj() / dynamic, s.compute_pj * 1e-6, s.register_file_pj * 1e-6, s.local_buffer_pj * 1e-6, s.sram_pj * 1e-6, s.dram_pj * 1e-6, s.static_pj * 1e-6);
    }
    println!(
        "  INT8 weights SRAM-resident {:.3} µJ vs DRAM-streamed {:.3} µJ: {:.2}x",
        q.energy_per_inference_uj,
        qd.energy_per_inference_uj,
        qd.energy_per_inference_uj / q.energy_per_inference_uj
    );
    println!(
        "  FP32 weights SRAM-resident {:.3} µJ vs DRAM-streamed {:.3} µJ: {:.2}x",
        f.energy_per_inference_uj,
        fd.energy_per_inference_uj,
        fd.energy_per_inference_uj / f.energy_per_inference_uj
    );
}

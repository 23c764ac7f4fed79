//! The energy model against published MLPerf Tiny measurements of the KWS DS-CNN INT8 model
//! (the imported `kws_dscnn_int8_qdq.onnx`, MLPerf's own int8 quantization):
//!
//! * Syntiant NDP120 (v1.0, closed/syntiant, 9120 board at 0.9 V / 30.7 MHz): 31.5 µJ,
//!   4.37 ms (228.98 inferences/s in the performance run) — profile `ndp120`;
//! * NUCLEO-L4R5ZI reference (v0.5, closed/reference): 7,374 µJ, 181.9 ms — profile `cortex-m4`
//!   (TFLM 2.3.1 with CMSIS-NN kernels, as the reference ran), with `cortex-m4-tflm-ref` (TFLM
//!   portable reference kernels) and `cortex-m4-cmsis` (one CMSIS-NN utilization) printed beside.
//!
//! The target is "within 2x", with parameters cited, not tuned to these numbers. `cortex-m4`'s
//! time comes from CMSIS-NN kernel cycles and its run power from the same firmware's AD/IC/VWW
//! runs on the board; `ndp120`'s two unpublished figures (NPU utilization and active power) are
//! calibrated on Syntiant's IC and VWW results (`tests/mlperf_heldout.rs`). Neither uses the KWS
//! measurement, so this is an out-of-sample check. The test prints every ratio, asserts the two
//! targets, the reference-kernel profile above the measurement, and equal run power across the
//! three Cortex-M4 profiles.
mod energy_common;

use energy_common::energy;

const NDP120_UJ: f64 = 31.5;
const NDP120_MS: f64 = 4.37;
const L4R5_UJ: f64 = 7374.0;
const L4R5_MS: f64 = 181.9;

fn show(what: &str, model: f64, measured: f64) -> f64 {
    let ratio = model / measured;
    let verdict = if (0.5..=2.0).contains(&ratio) {
        "within 2x"
    } else {
        "NOT within 2x"
    };
    println!(
        "{what:<26} model {model:>10.3}  measured {measured:>8.1}  ratio {ratio:>7.3}  {verdict}"
    );
    ratio
}

#[test]
fn kws_int8_against_mlperf_tiny_measurements() {
    let Some(model) = mw_testkit::shared_or_skip(
        "kws_int8_against_mlperf_tiny_measurements",
        "models/mlperf-tiny/kws_dscnn_int8_qdq.onnx",
    ) else {
        return;
    };
    let (ndp_uj, ndp_ms) = energy(&model, "ndp120");
    let (m4_uj, m4_ms) = energy(&model, "cortex-m4");
    let (ref_uj, ref_ms) = energy(&model, "cortex-m4-tflm-ref");
    let (simd_uj, simd_ms) = energy(&model, "cortex-m4-cmsis");
    let ndp = show("ndp120 µJ", ndp_uj, NDP120_UJ);
    let ndp_t = show("ndp120 ms", ndp_ms, NDP120_MS);
    let m4_e = show("cortex-m4 µJ", m4_uj, L4R5_UJ);
    let m4_t = show("cortex-m4 ms", m4_ms, L4R5_MS);
    show("cortex-m4-tflm-ref µJ", ref_uj, L4R5_UJ);
    show("cortex-m4-tflm-ref ms", ref_ms, L4R5_MS);
    show("cortex-m4-cmsis µJ", simd_uj, L4R5_UJ);
    show("cortex-m4-cmsis ms", simd_ms, L4R5_MS);

    // The build the reference ran (TFLM 2.3.1 + CMSIS-NN) is within 2x in time and energy.
    assert!((0.5..=2.0).contains(&m4_t), "cortex-m4: {m4_ms} ms");
    assert!((0.5..=2.0).contains(&m4_e), "cortex-m4: {m4_uj} µJ");
    // The portable reference kernels as compiled are slower than the measured run.
    assert!(
        L4R5_MS < ref_ms && L4R5_UJ < ref_uj,
        "{ref_ms} ms, {ref_uj} µJ"
    );
    // Same chip, same run power: energy follows time.
    assert!(((ref_uj / ref_ms) / (simd_uj / simd_ms) - 1.0).abs() < 1e-9);
    assert!(((m4_uj / m4_ms) / (simd_uj / simd_ms) - 1.0).abs() < 1e-9);
    assert!(
        (0.5..=2.0).contains(&ndp) && (0.5..=2.0).contains(&ndp_t),
        "ndp120: {ndp_uj} µJ, {ndp_ms} ms vs {NDP120_UJ} µJ, {NDP120_MS} ms"
    );
}

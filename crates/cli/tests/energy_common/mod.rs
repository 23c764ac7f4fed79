//! Shared by the tests that compare `milliwatt energy` with MLPerf Tiny measurements.
use std::path::Path;
use std::process::Command;

/// (µJ per inference, latency ms) of `model` on the profile `hw`, from `milliwatt energy --json`.
pub fn energy(model: &Path, hw: &str) -> (f64, f64) {
    let out = Command::new(env!("CARGO_BIN_EXE_milliwatt"))
        .args(["energy", model.to_str().unwrap(), "--hw", hw, "--json"])
        .output()
        .expect("binary runs");
    assert!(
        out.status.success(),
        "{hw}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    (
        v["energy_per_inference_uj"].as_f64().unwrap(),
        v["latency_ms"].as_f64().unwrap(),
    )
}

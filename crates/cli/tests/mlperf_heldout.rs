//! The profiles against MLPerf Tiny workloads other than keyword spotting.
//!
//! `ndp120`'s NPU utilization and active power are not published; they are calibrated on
//! Syntiant's MLPerf Tiny v1.0 image-classification and visual-wake-words results
//! (`tools/ndp120-calibration`). This test rebuilds the two reference networks, reruns the
//! calibration against the built binary and checks that the built-in profile carries exactly the
//! derived figures, so they cannot drift from their derivation. It also prints `cortex-m4`
//! against the v0.5 reference firmware's IC and VWW runs on the NUCLEO-L4R5ZI: out of sample for
//! that profile's time (kernel cycles), in sample for its run power (taken from these runs' power).
mod energy_common;

use energy_common::energy;
use mw_energy::Profile;
use std::path::{Path, PathBuf};
use std::process::Command;

/// MLPerf Tiny v0.5, closed/reference/results/Nucleo-L4R5ZI/{ic,vww}/energy: median µJ per
/// inference and ms per inference of the energy run.
const L4R5_IC: (f64, f64) = (29_207.0, 704.2);
const L4R5_VWW: (f64, f64) = (24_312.6, 603.0);

fn scratch() -> PathBuf {
    let d = std::env::temp_dir().join(format!("mw-heldout-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn python(py: &Path, args: &[&str]) -> String {
    let out = Command::new(py).args(args).output().expect("python runs");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs()
}

#[test]
fn ndp120_calibration_is_reproduced_and_cortex_m4_is_shown_on_ic_and_vww() {
    let Some(py) = mw_testkit::python_or_skip("ndp120_calibration") else {
        return;
    };
    let root = mw_testkit::workspace_root();
    let tools = root.join("tools/ndp120-calibration");
    let dir = scratch();
    python(
        &py,
        &[
            tools.join("models.py").to_str().unwrap(),
            dir.to_str().unwrap(),
        ],
    );
    let json = python(
        &py,
        &[
            tools.join("calibrate.py").to_str().unwrap(),
            env!("CARGO_BIN_EXE_milliwatt"),
            root.join("crates/energy/profiles/ndp120.toml")
                .to_str()
                .unwrap(),
            dir.to_str().unwrap(),
        ],
    );
    let derived: serde_json::Value = serde_json::from_str(&json).unwrap();
    println!("{json}");

    let p = Profile::builtin("ndp120").unwrap();
    let npu = &p.units[0];
    let utilization = derived["utilization"].as_f64().unwrap();
    let active = derived["active_power_mw"].as_f64().unwrap();
    assert!(
        close(npu.mac_array.utilization.value, utilization),
        "profile utilization {} vs derived {utilization}",
        npu.mac_array.utilization.value
    );
    let profile_active = npu
        .active_power_mw
        .as_ref()
        .expect("npu active power")
        .value;
    assert!(
        close(profile_active, active),
        "profile active power {profile_active} vs derived {active}"
    );
    // One utilization and one power fit both workloads to within 10 %.
    for w in derived["workloads"].as_object().unwrap().values() {
        let e = w["calibrated_uj"].as_f64().unwrap() / w["measured_uj"].as_f64().unwrap();
        let t = w["calibrated_ms"].as_f64().unwrap() / w["measured_ms"].as_f64().unwrap();
        assert!((0.9..=1.1).contains(&e) && (0.9..=1.1).contains(&t), "{w}");
    }

    for (name, (uj, ms)) in [
        ("ic_resnet8_int8_qdq.onnx", L4R5_IC),
        ("vww_mobilenetv1_025_int8_qdq.onnx", L4R5_VWW),
    ] {
        let (m_uj, m_ms) = energy(&dir.join(name), "cortex-m4");
        println!(
            "cortex-m4 {name:<36} {m_uj:>9.1} µJ ({:.2}x of {uj})  {m_ms:>7.1} ms ({:.2}x of {ms})",
            m_uj / uj,
            m_ms / ms
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

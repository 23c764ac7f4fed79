//! Exported models are valid ONNX: `onnx.checker.check_model(full_check=True)` accepts them and
//! ONNX Runtime runs them with the original's results. Also the KWS model's round trip.
//!
//! Needs a Python with onnx + onnxruntime (`mw_testkit::python_or_skip`) and, for the KWS tests,
//! `../shared`; each test skips with a message when they are absent. The KWS tests also skip,
//! naming the ops, while some op of the KWS model is not registered in `mw_ir`.
mod common;

use common::*;
use mw_ir::{Graph, Limits};
use mw_onnx::OnnxError;
use prost::Message;
use std::path::Path;
use std::process::Command;

const KWS: &str = "models/mlperf-tiny/kws_dscnn_float32.onnx";

/// Runs `script` with `args`; panics with its output unless it exits 0 and prints `ok`.
fn python(py: &Path, script: &str, args: &[&Path]) {
    let out = Command::new(py)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.lines().last() == Some("ok"),
        "python failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
}

const CHECK_RELU: &str = r#"
import sys, numpy as np, onnx, onnxruntime as ort
onnx.checker.check_model(sys.argv[1], full_check=True)
s = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
x = np.array([[-1.0, 2.0, -3.0], [4.0, -5.0, 6.0]], dtype=np.float32)
y, z = s.run(None, {"x": x})
assert np.array_equal(y, np.maximum(x, 0)), y
assert np.array_equal(z, np.array([0.0, 0.5, 0.0, 2.0], dtype=np.float32)), z
print("ok")
"#;

#[test]
fn an_exported_relu_model_passes_the_checker_and_runs_in_onnxruntime() {
    let Some(py) = mw_testkit::python_or_skip("onnxruntime relu export") else {
        return;
    };
    let g = mw_onnx::load_bytes(&bytes_of(&relu_model()), None, &Limits::default()).unwrap();
    let dir = TempDir::new("ort-relu");
    let p = dir.path().join("relu.onnx");
    mw_onnx::save(&g, &p).unwrap();
    python(&py, CHECK_RELU, &[&p]);
}

/// The imported KWS model, or `None` after printing why the test skips.
fn kws_or_skip(test: &str) -> Option<(std::path::PathBuf, Graph)> {
    let path = mw_testkit::shared_or_skip(test, KWS)?;
    match mw_onnx::load(&path, &Limits::default()) {
        Ok(g) => Some((path, g)),
        Err(OnnxError::Ir { source, .. })
            if matches!(*source, mw_ir::IrError::UnsupportedOp { .. }) =>
        {
            eprintln!(
                "SKIP {test}: the KWS model's ops {:?} are not all registered in mw_ir yet",
                missing_ops(&path)
            );
            None
        }
        Err(e) => panic!("{e}"),
    }
}

fn missing_ops(path: &Path) -> Vec<String> {
    let m = mw_onnx::proto::ModelProto::decode(std::fs::read(path).unwrap().as_slice()).unwrap();
    let mut ops: Vec<String> = m
        .graph
        .unwrap()
        .node
        .into_iter()
        .filter_map(|n| n.op_type)
        .collect();
    ops.sort();
    ops.dedup();
    ops.retain(|op| !mw_ir::is_supported(op));
    ops
}

#[test]
fn kws_import_keeps_the_interface_and_weights() {
    let Some((_, g)) = kws_or_skip("kws import") else {
        return;
    };
    let x = g.value(g.inputs[0]);
    assert_eq!(x.name, "input_1");
    assert_eq!(x.dtype, Some(mw_ir::DType::F32));
    let dims = x.shape.clone().unwrap();
    assert_eq!(dims.len(), 4);
    assert_eq!(
        dims[1..],
        [
            mw_ir::Dim::Fixed(49),
            mw_ir::Dim::Fixed(10),
            mw_ir::Dim::Fixed(1)
        ]
    );
    assert_eq!(g.value(g.outputs[0]).name, "dense");
    assert_eq!(g.nodes.len(), 24);
    let params: usize = g
        .initializers()
        .iter()
        .map(|&id| g.value(id).konst.as_ref().unwrap().len())
        .sum();
    // 22.6k parameters, plus the few integers of the Reshape shapes.
    assert!((22_000..23_500).contains(&params), "{params}");
    assert_eq!(g.meta.opset, 13);
    assert_eq!(g.meta.other_opsets, [("ai.onnx.ml".to_string(), 2)]);
}

#[test]
fn kws_round_trip_gives_an_equal_graph() {
    let Some((_, g1)) = kws_or_skip("kws round trip") else {
        return;
    };
    let bytes = mw_onnx::to_bytes(&g1).unwrap();
    let g2 = mw_onnx::load_bytes(&bytes, None, &Limits::default()).unwrap();
    assert_eq!(summary(&g1), summary(&g2));
    assert_eq!(g1.meta, g2.meta);
}

const CHECK_KWS: &str = r#"
import sys, numpy as np, onnx, onnxruntime as ort
original, exported = sys.argv[1], sys.argv[2]
onnx.checker.check_model(exported, full_check=True)
x = np.random.default_rng(0).standard_normal((3, 49, 10, 1)).astype(np.float32)
def run(p):
    s = ort.InferenceSession(p, providers=["CPUExecutionProvider"])
    return s.run(None, {"input_1": x})[0]
a, b = run(original), run(exported)
assert a.shape == b.shape == (3, 12), (a.shape, b.shape)
assert np.array_equal(a, b), np.abs(a - b).max()
print("ok")
"#;

#[test]
fn the_exported_kws_model_passes_the_checker_and_matches_onnxruntime() {
    let Some(py) = mw_testkit::python_or_skip("kws export under onnxruntime") else {
        return;
    };
    let Some((original, g)) = kws_or_skip("kws export under onnxruntime") else {
        return;
    };
    let dir = TempDir::new("ort-kws");
    let p = dir.path().join("kws.onnx");
    mw_onnx::save(&g, &p).unwrap();
    python(&py, CHECK_KWS, &[&original, &p]);
}

//! Import → export → import round trips and atomic saving.
mod common;

use common::*;
use mw_ir::{Dim, Limits};
use mw_onnx::proto::ModelProto;
use mw_onnx::{load, load_bytes, save, to_bytes, OnnxError};
use prost::Message;

fn load_model(m: &ModelProto) -> mw_ir::Graph {
    load_bytes(&bytes_of(m), None, &Limits::default()).unwrap()
}

#[test]
fn import_keeps_declared_types_constants_and_meta() {
    let g = load_model(&relu_model());
    let x = g.value(g.inputs[0]);
    assert_eq!(x.name, "x");
    assert_eq!(x.dtype, Some(mw_ir::DType::F32));
    assert_eq!(x.shape, Some(vec![Dim::Symbol("N".into()), Dim::Fixed(3)]));
    let w = g.value(g.find_value("w").unwrap());
    assert_eq!(
        w.konst.as_ref().unwrap().as_slice::<f32>().unwrap(),
        &[-1.0, 0.5, -0.25, 2.0]
    );
    assert_eq!(g.nodes.len(), 2);
    assert_eq!(g.nodes[0].op.op_type(), "Relu");
    assert_eq!(g.meta.opset, 13);
    assert_eq!(g.meta.ir_version, 8);
    assert_eq!(g.meta.graph_name, "relu_graph");
    assert_eq!(g.meta.producer_name, "mw-onnx tests");
}

#[test]
fn round_trip_gives_an_equal_graph() {
    let mut m = relu_model();
    let gp = m.graph.as_mut().unwrap();
    // Out-of-order nodes, an unknown dimension, an omitted optional input and a declared
    // intermediate value.
    gp.node = vec![
        node("second", "Relu", &["h"], &["y"]),
        node("first", "Relu", &["x", ""], &["h"]),
        node("relu_w", "Relu", &["w"], &["z"]),
    ];
    gp.input = vec![tensor_vi("x", FLOAT, &[D::P("N"), D::Unknown])];
    gp.value_info = vec![tensor_vi("h", FLOAT, &[D::P("N"), D::V(3)])];
    let g1 = load_model(&m);
    assert_eq!(g1.nodes[0].name, "first", "nodes are sorted topologically");
    assert_eq!(g1.nodes[0].inputs.len(), 2);
    assert!(g1.nodes[0].inputs[1].is_none());
    let bytes = to_bytes(&g1).unwrap();
    let g2 = load_bytes(&bytes, None, &Limits::default()).unwrap();
    assert_eq!(summary(&g1), summary(&g2));
    assert_eq!(g1.meta, g2.meta);
    // And the bytes are stable from then on.
    assert_eq!(to_bytes(&g2).unwrap(), bytes);
}

#[test]
fn export_drops_dead_initializers_and_keeps_input_defaults() {
    let mut m = relu_model();
    let gp = m.graph.as_mut().unwrap();
    gp.initializer.push(f32_tensor("unused", &[2], &[1.0, 2.0]));
    gp.initializer
        .push(f32_tensor("x", &[1, 3], &[1.0, -2.0, 3.0]));
    let g = load_model(&m);
    let out = ModelProto::decode(to_bytes(&g).unwrap().as_slice()).unwrap();
    let names: Vec<_> = out
        .graph
        .as_ref()
        .unwrap()
        .initializer
        .iter()
        .map(|t| t.name.clone().unwrap())
        .collect();
    assert_eq!(names, ["w", "x"]);
    let g2 = load_bytes(&out.encode_to_vec(), None, &Limits::default()).unwrap();
    let x = g2.value(g2.inputs[0]);
    assert_eq!(x.name, "x");
    assert!(
        x.konst.is_some(),
        "an input with a default stays an input with a default"
    );
}

#[test]
fn export_without_meta_uses_the_defaults() {
    let mut g = load_model(&relu_model());
    g.meta = Default::default();
    let out = ModelProto::decode(to_bytes(&g).unwrap().as_slice()).unwrap();
    assert_eq!(out.ir_version, Some(mw_onnx::DEFAULT_IR_VERSION));
    assert_eq!(out.opset_import.len(), 1);
    assert_eq!(out.opset_import[0].version, Some(13));
    assert_eq!(out.producer_name.as_deref(), Some("milliwatt"));
}

#[test]
fn export_infers_the_dtype_of_an_undeclared_output() {
    let mut m = relu_model();
    m.graph.as_mut().unwrap().output[0] = mw_onnx::proto::ValueInfoProto {
        name: Some("y".into()),
        ..Default::default()
    };
    let g = load_model(&m);
    assert_eq!(g.value(g.outputs[0]).dtype, None);
    let g2 = load_bytes(&to_bytes(&g).unwrap(), None, &Limits::default()).unwrap();
    assert_eq!(g2.value(g2.outputs[0]).dtype, Some(mw_ir::DType::F32));
}

#[test]
fn export_refuses_a_graph_reading_an_undefined_value() {
    let mut g = load_model(&relu_model());
    let orphan = g.add_value(mw_ir::Value::named("orphan"));
    g.nodes[0].inputs[0] = Some(orphan);
    let e = to_bytes(&g).unwrap_err();
    assert!(
        matches!(&e, OnnxError::Export { reason, .. } if reason.contains("orphan")),
        "{e:?}"
    );
}

#[test]
fn save_then_load_round_trips_and_leaves_no_temporary_file() {
    let dir = TempDir::new("save");
    let g = load_model(&relu_model());
    let p = dir.path().join("model.onnx");
    save(&g, &p).unwrap();
    assert_eq!(dir.entries(), ["model.onnx"]);
    assert_eq!(summary(&load(&p, &Limits::default()).unwrap()), summary(&g));
}

#[test]
fn save_over_an_existing_file_replaces_it_whole() {
    let dir = TempDir::new("save-over");
    let p = dir.path().join("model.onnx");
    std::fs::write(&p, vec![0xAB; 1 << 16]).unwrap();
    let g = load_model(&relu_model());
    save(&g, &p).unwrap();
    let written = std::fs::read(&p).unwrap();
    assert_eq!(written, to_bytes(&g).unwrap());
    assert_eq!(dir.entries(), ["model.onnx"]);
}

#[test]
fn save_into_a_missing_folder_fails_without_leaving_files() {
    let dir = TempDir::new("save-missing");
    let p = dir.path().join("no/such/folder/model.onnx");
    let g = load_model(&relu_model());
    let e = save(&g, &p).unwrap_err();
    assert!(matches!(e, OnnxError::Io { .. }), "{e:?}");
    assert_eq!(e.file(), p.display().to_string());
    assert!(dir.entries().is_empty(), "{:?}", dir.entries());
}

#[test]
fn save_onto_a_folder_fails_and_removes_its_temporary_file() {
    let dir = TempDir::new("save-dir");
    std::fs::create_dir(dir.path().join("model.onnx")).unwrap();
    std::fs::write(dir.path().join("model.onnx/keep"), b"x").unwrap();
    let g = load_model(&relu_model());
    let e = save(&g, &dir.path().join("model.onnx")).unwrap_err();
    assert!(matches!(e, OnnxError::Io { .. }), "{e:?}");
    assert_eq!(dir.entries(), ["model.onnx"]);
    assert!(dir.path().join("model.onnx/keep").is_file());
}

#[test]
fn a_failed_export_leaves_an_existing_file_untouched() {
    let dir = TempDir::new("save-fail");
    let p = dir.path().join("model.onnx");
    std::fs::write(&p, b"previous").unwrap();
    let mut g = load_model(&relu_model());
    let orphan = g.add_value(mw_ir::Value::named("orphan"));
    g.nodes[0].inputs[0] = Some(orphan);
    assert!(save(&g, &p).is_err());
    assert_eq!(std::fs::read(&p).unwrap(), b"previous");
    assert_eq!(dir.entries(), ["model.onnx"]);
}

//! Every refusal of the importer: a typed error naming the file and the node, value or tensor.
mod common;

use common::*;
use mw_ir::{IrError, Limits, OpError};
use mw_onnx::proto::attribute_proto::AttributeType;
use mw_onnx::proto::tensor_proto::DataLocation;
use mw_onnx::proto::{AttributeProto, GraphProto, StringStringEntryProto, TensorProto};
use mw_onnx::{load, load_bytes, OnnxError};
use std::path::Path;

fn write(dir: &TempDir, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// Asserts the error names `file` both in `file()` and in its message.
fn names_file(e: &OnnxError, file: &Path) {
    let f = file.display().to_string();
    assert_eq!(e.file(), f, "{e}");
    assert!(e.to_string().contains(&f), "{e}");
}

#[test]
fn truncated_file_is_a_decode_error_naming_the_file() {
    let dir = TempDir::new("trunc");
    let bytes = bytes_of(&relu_model());
    // Cut inside the initializer's raw_data so a length-delimited field overruns the end.
    let cut = bytes
        .windows(4)
        .position(|w| w == 0.5f32.to_le_bytes())
        .unwrap()
        + 2;
    let p = write(&dir, "cut.onnx", &bytes[..cut]);
    let e = load(&p, &Limits::default()).unwrap_err();
    assert!(matches!(e, OnnxError::Decode { .. }), "{e:?}");
    names_file(&e, &p);
}

#[test]
fn corrupt_bytes_are_a_decode_error_naming_the_file() {
    let dir = TempDir::new("corrupt");
    let p = write(&dir, "junk.onnx", &[0xff; 64]);
    let e = load(&p, &Limits::default()).unwrap_err();
    assert!(matches!(e, OnnxError::Decode { .. }), "{e:?}");
    names_file(&e, &p);
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let p = Path::new("/nonexistent/mw-onnx/model.onnx");
    let e = load(p, &Limits::default()).unwrap_err();
    assert!(matches!(e, OnnxError::Io { .. }), "{e:?}");
    names_file(&e, p);
}

fn with_initializer(t: TensorProto) -> Vec<u8> {
    let mut m = relu_model();
    m.graph.as_mut().unwrap().initializer = vec![t];
    bytes_of(&m)
}

#[test]
fn raw_data_size_mismatch_names_the_tensor() {
    let mut t = f32_tensor("w", &[4], &[1.0, 2.0, 3.0, 4.0]);
    t.raw_data.as_mut().unwrap().truncate(12);
    let dir = TempDir::new("rawsize");
    let p = write(&dir, "m.onnx", &with_initializer(t));
    let e = load(&p, &Limits::default()).unwrap_err();
    match &e {
        OnnxError::Tensor { tensor, reason, .. } => {
            assert_eq!(tensor, "w");
            assert!(
                reason.contains("12 bytes") && reason.contains("16"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    names_file(&e, &p);
}

#[test]
fn typed_field_count_mismatch_names_the_tensor() {
    let t = TensorProto {
        name: Some("w".into()),
        dims: vec![4],
        data_type: Some(FLOAT),
        float_data: vec![1.0; 3],
        ..Default::default()
    };
    let e = load_bytes(&with_initializer(t), None, &Limits::default()).unwrap_err();
    assert!(
        matches!(&e, OnnxError::Tensor { tensor, reason, .. } if tensor == "w" && reason.contains("float_data holds 3")),
        "{e:?}"
    );
    assert_eq!(e.file(), "<memory>");
}

#[test]
fn hostile_dims_over_the_cap_are_refused_before_allocating() {
    for dims in [vec![1 << 40, 1 << 40], vec![i64::MAX, i64::MAX, i64::MAX]] {
        let t = TensorProto {
            name: Some("huge".into()),
            dims,
            data_type: Some(FLOAT),
            ..Default::default()
        };
        let e = load_bytes(&with_initializer(t), None, &Limits::default()).unwrap_err();
        match e {
            OnnxError::TensorCap {
                tensor,
                source: OpError::MemoryCap { bytes, cap },
                ..
            } => {
                assert_eq!(tensor, "huge");
                assert!(bytes > cap as u128);
                assert_eq!(cap, Limits::default().max_tensor_bytes);
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn a_tensor_just_over_a_small_cap_is_refused() {
    let t = f32_tensor("w", &[5], &[0.0; 5]);
    let limits = Limits {
        max_tensor_bytes: 16,
    };
    let e = load_bytes(&with_initializer(t.clone()), None, &limits).unwrap_err();
    assert!(
        matches!(
            e,
            OnnxError::TensorCap {
                source: OpError::MemoryCap { bytes: 20, cap: 16 },
                ..
            }
        ),
        "{e:?}"
    );
    let ok = f32_tensor("w", &[4], &[0.0; 4]);
    assert!(load_bytes(&with_initializer(ok), None, &limits).is_ok());
}

#[test]
fn negative_dims_are_refused() {
    let t = f32_tensor("w", &[-1], &[]);
    let e = load_bytes(&with_initializer(t), None, &Limits::default()).unwrap_err();
    assert!(
        matches!(&e, OnnxError::Tensor { tensor, reason, .. } if tensor == "w" && reason.contains("-1")),
        "{e:?}"
    );
}

#[test]
fn unsupported_element_types_name_the_tensor_and_type() {
    let t = TensorProto {
        name: Some("half".into()),
        dims: vec![2],
        data_type: Some(10), // FLOAT16
        raw_data: Some(vec![0; 4]),
        ..Default::default()
    };
    let e = load_bytes(&with_initializer(t), None, &Limits::default()).unwrap_err();
    assert!(
        matches!(&e, OnnxError::TensorDType { tensor, dtype, .. } if tensor == "half" && dtype == "FLOAT16"),
        "{e:?}"
    );
    let mut m = relu_model();
    m.graph.as_mut().unwrap().input = vec![tensor_vi("x", 16, &[D::V(3)])];
    let e = load_bytes(&bytes_of(&m), None, &Limits::default()).unwrap_err();
    assert!(
        matches!(&e, OnnxError::TensorDType { tensor, dtype, .. } if tensor == "x" && dtype == "BFLOAT16"),
        "{e:?}"
    );
}

#[test]
fn typed_fields_out_of_range_for_the_element_type_are_refused() {
    let t = TensorProto {
        name: Some("w".into()),
        dims: vec![2],
        data_type: Some(2), // UINT8
        int32_data: vec![1, 300],
        ..Default::default()
    };
    let e = load_bytes(&with_initializer(t), None, &Limits::default()).unwrap_err();
    assert!(
        matches!(&e, OnnxError::Tensor { reason, .. } if reason.contains("300")),
        "{e:?}"
    );
}

/// A model whose initializer `w` [4] f32 lives in external data at `location`.
fn external_model(location: &str, offset: Option<u64>, length: Option<u64>) -> Vec<u8> {
    let mut entries = vec![StringStringEntryProto {
        key: Some("location".into()),
        value: Some(location.into()),
    }];
    for (k, v) in [("offset", offset), ("length", length)] {
        if let Some(v) = v {
            entries.push(StringStringEntryProto {
                key: Some(k.into()),
                value: Some(v.to_string()),
            });
        }
    }
    with_initializer(TensorProto {
        name: Some("w".into()),
        dims: vec![4],
        data_type: Some(FLOAT),
        data_location: Some(DataLocation::External as i32),
        external_data: entries,
        ..Default::default()
    })
}

fn external_error(dir: &TempDir, location: &str) -> OnnxError {
    let p = write(dir, "m.onnx", &external_model(location, None, None));
    let e = load(&p, &Limits::default()).unwrap_err();
    names_file(&e, &p);
    match &e {
        OnnxError::ExternalData {
            tensor,
            location: l,
            ..
        } => {
            assert_eq!(tensor, "w");
            assert_eq!(l, location);
            assert!(e.to_string().contains(location), "{e}");
        }
        other => panic!("{other:?}"),
    }
    e
}

fn weights_bytes() -> Vec<u8> {
    [1.0f32, -2.0, 3.0, -4.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect()
}

#[test]
fn external_data_inside_the_folder_loads_with_offset_and_length() {
    let dir = TempDir::new("ext-ok");
    let mut data = vec![9u8; 8];
    data.extend(weights_bytes());
    write(&dir, "weights.bin", &data);
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    write(&dir, "sub/w.bin", &weights_bytes());
    for (loc, off, len) in [
        ("weights.bin", Some(8), Some(16)),
        ("weights.bin", Some(8), None),
        ("./sub/w.bin", None, None),
    ] {
        let p = write(&dir, "m.onnx", &external_model(loc, off, len));
        let g = load(&p, &Limits::default()).unwrap();
        let w = g.value(g.find_value("w").unwrap()).konst.clone().unwrap();
        assert_eq!(
            w.as_slice::<f32>().unwrap(),
            &[1.0, -2.0, 3.0, -4.0],
            "{loc}"
        );
    }
}

#[test]
fn external_data_escaping_with_dotdot_is_refused() {
    let outer = TempDir::new("ext-dotdot");
    std::fs::write(outer.path().join("secret.bin"), weights_bytes()).unwrap();
    let dir = TempDir(outer.path().join("model"));
    std::fs::create_dir(dir.path()).unwrap();
    let e = external_error(&dir, "../secret.bin");
    assert!(e.to_string().contains(".."), "{e}");
    external_error(&dir, "sub/../../secret.bin");
    std::mem::forget(dir); // removed with `outer`
}

#[test]
fn external_data_with_an_absolute_path_is_refused() {
    let dir = TempDir::new("ext-abs");
    let abs = dir.path().join("w.bin");
    std::fs::write(&abs, weights_bytes()).unwrap();
    // Even an absolute path that points inside the folder is refused.
    let e = external_error(&dir, &abs.display().to_string());
    assert!(e.to_string().contains("absolute"), "{e}");
    external_error(&dir, "/etc/passwd");
}

#[cfg(unix)]
#[test]
fn external_data_through_a_symlink_leaving_the_folder_is_refused() {
    let outer = TempDir::new("ext-link");
    std::fs::write(outer.path().join("secret.bin"), weights_bytes()).unwrap();
    let dir = TempDir(outer.path().join("model"));
    std::fs::create_dir(dir.path()).unwrap();
    std::os::unix::fs::symlink(outer.path().join("secret.bin"), dir.path().join("w.bin")).unwrap();
    std::os::unix::fs::symlink(outer.path(), dir.path().join("up")).unwrap();
    let e = external_error(&dir, "w.bin");
    assert!(e.to_string().contains("outside"), "{e}");
    external_error(&dir, "up/secret.bin");
    std::mem::forget(dir);
}

#[test]
fn external_data_offsets_and_lengths_are_bounded_by_the_file_and_tensor() {
    let dir = TempDir::new("ext-bounds");
    write(&dir, "w.bin", &weights_bytes());
    for (off, len, needle) in [
        (Some(17), None, "past the end"),
        (Some(8), Some(16), "past the end"),
        (Some(u64::MAX), Some(u64::MAX), "past the end"),
        (None, Some(12), "needs 16"),
    ] {
        let p = write(&dir, "m.onnx", &external_model("w.bin", off, len));
        let e = load(&p, &Limits::default()).unwrap_err();
        assert!(
            matches!(&e, OnnxError::ExternalData { reason, .. } if reason.contains(needle)),
            "{off:?} {len:?}: {e:?}"
        );
    }
    let p = write(&dir, "m.onnx", &external_model("missing.bin", None, None));
    assert!(matches!(
        load(&p, &Limits::default()).unwrap_err(),
        OnnxError::ExternalData { .. }
    ));
}

#[test]
fn external_data_without_a_folder_is_refused() {
    let e = load_bytes(
        &external_model("w.bin", None, None),
        None,
        &Limits::default(),
    )
    .unwrap_err();
    assert!(matches!(e, OnnxError::ExternalData { .. }), "{e:?}");
}

#[test]
fn a_missing_input_name_names_the_node_and_the_input() {
    let mut m = relu_model();
    m.graph.as_mut().unwrap().node[1].input = vec!["nope".into()];
    let dir = TempDir::new("missing-input");
    let p = write(&dir, "m.onnx", &bytes_of(&m));
    let e = load(&p, &Limits::default()).unwrap_err();
    assert!(
        matches!(&e, OnnxError::MissingInput { node, input, .. } if node == "relu_w" && input == "nope"),
        "{e:?}"
    );
    names_file(&e, &p);
}

#[test]
fn an_undefined_graph_output_names_the_value() {
    let mut m = relu_model();
    m.graph.as_mut().unwrap().output[0].name = Some("ghost".into());
    let e = load_bytes(&bytes_of(&m), None, &Limits::default()).unwrap_err();
    assert!(
        matches!(&e, OnnxError::Value { value, .. } if value == "ghost"),
        "{e:?}"
    );
}

#[test]
fn a_value_defined_twice_is_refused() {
    let mut m = relu_model();
    m.graph.as_mut().unwrap().node[1].output = vec!["y".into()];
    let e = load_bytes(&bytes_of(&m), None, &Limits::default()).unwrap_err();
    assert!(
        matches!(&e, OnnxError::Value { value, .. } if value == "y"),
        "{e:?}"
    );
}

#[test]
fn an_unsupported_op_names_op_node_and_opset() {
    let mut m = relu_model();
    m.graph.as_mut().unwrap().node[0].op_type = Some("FancyOp".into());
    let dir = TempDir::new("unsupported");
    let p = write(&dir, "m.onnx", &bytes_of(&m));
    let e = load(&p, &Limits::default()).unwrap_err();
    match &e {
        OnnxError::Ir { source, .. } => match source.as_ref() {
            IrError::UnsupportedOp {
                node,
                op_type,
                opset,
                ..
            } => {
                assert_eq!(
                    (node.as_str(), op_type.as_str(), *opset),
                    ("relu", "FancyOp", 13)
                );
            }
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
    let msg = e.to_string();
    assert!(
        msg.contains("FancyOp") && msg.contains("relu") && msg.contains("13"),
        "{msg}"
    );
    names_file(&e, &p);
}

#[test]
fn an_unnamed_unsupported_node_is_named_by_type_and_index() {
    let mut m = relu_model();
    let n = &mut m.graph.as_mut().unwrap().node[1];
    n.op_type = Some("FancyOp".into());
    n.name = None;
    let e = load_bytes(&bytes_of(&m), None, &Limits::default()).unwrap_err();
    assert!(e.to_string().contains("`FancyOp_1`"), "{e}");
}

#[test]
fn opsets_outside_the_range_are_refused_naming_the_opset() {
    for opset in [10, 7, 29] {
        let mut m = relu_model();
        m.opset_import[0].version = Some(opset);
        let e = load_bytes(&bytes_of(&m), None, &Limits::default()).unwrap_err();
        assert!(
            matches!(e, OnnxError::Opset { opset: o, min: 11, max: 28, .. } if o == opset),
            "{e:?}"
        );
        assert!(e.to_string().contains(&format!("opset {opset}")), "{e}");
    }
    let mut m = relu_model();
    m.opset_import[0].domain = Some("ai.onnx".into());
    m.opset_import[0].version = Some(11);
    assert!(load_bytes(&bytes_of(&m), None, &Limits::default()).is_ok());
    m.opset_import.clear();
    let e = load_bytes(&bytes_of(&m), None, &Limits::default()).unwrap_err();
    assert!(matches!(e, OnnxError::Model { .. }), "{e:?}");
}

#[test]
fn a_node_of_another_domain_names_op_node_and_domain() {
    let mut m = relu_model();
    m.graph.as_mut().unwrap().node[0].domain = Some("com.microsoft".into());
    let e = load_bytes(&bytes_of(&m), None, &Limits::default()).unwrap_err();
    assert!(
        matches!(&e, OnnxError::Domain { node, op_type, domain, .. }
            if node == "relu" && op_type == "Relu" && domain == "com.microsoft"),
        "{e:?}"
    );
}

#[test]
fn graph_attributes_are_refused_naming_node_and_attribute() {
    let mut m = relu_model();
    m.graph.as_mut().unwrap().node[0].attribute = vec![AttributeProto {
        name: Some("body".into()),
        r#type: Some(AttributeType::Graph as i32),
        g: Some(GraphProto::default()),
        ..Default::default()
    }];
    let e = load_bytes(&bytes_of(&m), None, &Limits::default()).unwrap_err();
    assert!(
        matches!(&e, OnnxError::Attribute { node, attr, reason, .. }
            if node == "relu" && attr == "body" && reason.contains("GRAPH")),
        "{e:?}"
    );
}

#[test]
fn a_cycle_is_refused() {
    let mut m = relu_model();
    let g = m.graph.as_mut().unwrap();
    g.node = vec![
        node("a", "Relu", &["b_out"], &["y"]),
        node("b", "Relu", &["y"], &["b_out"]),
    ];
    g.output.truncate(1);
    let e = load_bytes(&bytes_of(&m), None, &Limits::default()).unwrap_err();
    assert!(
        matches!(&e, OnnxError::Ir { source, .. } if matches!(**source, IrError::Graph(_))),
        "{e:?}"
    );
}

#[test]
fn non_tensor_values_are_refused() {
    let mut m = relu_model();
    let vi = &mut m.graph.as_mut().unwrap().input[0];
    vi.r#type.as_mut().unwrap().value = Some(mw_onnx::proto::type_proto::Value::SequenceType(
        Box::new(mw_onnx::proto::type_proto::Sequence { elem_type: None }),
    ));
    let e = load_bytes(&bytes_of(&m), None, &Limits::default()).unwrap_err();
    assert!(
        matches!(&e, OnnxError::Value { value, .. } if value == "x"),
        "{e:?}"
    );
}

#[test]
fn read_tensor_pb_names_the_file_on_corrupt_input() {
    let dir = TempDir::new("pb");
    let p = write(&dir, "input_0.pb", &[0x0a, 0xff, 0xff]);
    let e = mw_onnx::read_tensor_pb(&p, &Limits::default()).unwrap_err();
    assert!(matches!(e, OnnxError::Decode { .. }), "{e:?}");
    names_file(&e, &p);
}

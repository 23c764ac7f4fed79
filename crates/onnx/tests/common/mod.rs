//! Shared test helpers: small ONNX models built from the protobuf types, temporary folders and
//! graph comparison by value names.
#![allow(dead_code)]
use mw_ir::Graph;
use mw_onnx::proto::tensor_shape_proto::{dimension, Dimension};
use mw_onnx::proto::{
    type_proto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto,
};
use prost::Message;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

pub const FLOAT: i32 = 1;

/// A folder under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let p = std::env::temp_dir().join(format!(
            "mw-onnx-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// File names in the folder, sorted.
    pub fn entries(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub enum D {
    V(i64),
    P(&'static str),
    Unknown,
}

pub fn tensor_vi(name: &str, elem: i32, dims: &[D]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| Dimension {
            denotation: None,
            value: match d {
                D::V(v) => Some(dimension::Value::DimValue(*v)),
                D::P(p) => Some(dimension::Value::DimParam(p.to_string())),
                D::Unknown => None,
            },
        })
        .collect();
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            denotation: None,
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(elem),
                shape: Some(TensorShapeProto { dim }),
            })),
        }),
        ..Default::default()
    }
}

pub fn node(name: &str, op: &str, inputs: &[&str], outputs: &[&str]) -> NodeProto {
    NodeProto {
        name: Some(name.into()),
        op_type: Some(op.into()),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

pub fn f32_tensor(name: &str, dims: &[i64], values: &[f32]) -> TensorProto {
    TensorProto {
        name: Some(name.into()),
        dims: dims.to_vec(),
        data_type: Some(FLOAT),
        raw_data: Some(values.iter().flat_map(|v| v.to_le_bytes()).collect()),
        ..Default::default()
    }
}

pub fn model(graph: GraphProto, opset: i64) -> ModelProto {
    ModelProto {
        ir_version: Some(8),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(opset),
        }],
        producer_name: Some("mw-onnx tests".into()),
        graph: Some(graph),
        ..Default::default()
    }
}

/// `x [N,3] → Relu (node "relu") → y`, with an initializer `w` [4] read by a second Relu whose
/// output `z` is also a graph output.
pub fn relu_model() -> ModelProto {
    model(
        GraphProto {
            name: Some("relu_graph".into()),
            node: vec![
                node("relu", "Relu", &["x"], &["y"]),
                node("relu_w", "Relu", &["w"], &["z"]),
            ],
            initializer: vec![f32_tensor("w", &[4], &[-1.0, 0.5, -0.25, 2.0])],
            input: vec![tensor_vi("x", FLOAT, &[D::P("N"), D::V(3)])],
            output: vec![
                tensor_vi("y", FLOAT, &[D::P("N"), D::V(3)]),
                tensor_vi("z", FLOAT, &[D::V(4)]),
            ],
            ..Default::default()
        },
        13,
    )
}

pub fn bytes_of(m: &ModelProto) -> Vec<u8> {
    m.encode_to_vec()
}

/// What a graph means, keyed by names: (dtype, shape, constant) of every live value; each node's
/// (op type, attributes, input names, output names) in order; input and output names.
#[derive(Debug, PartialEq)]
pub struct Summary {
    pub values: BTreeMap<String, String>,
    pub nodes: Vec<String>,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
}

pub fn summary(g: &Graph) -> Summary {
    let name = |id: &mw_ir::ValueId| g.value(*id).name.clone();
    Summary {
        values: g
            .live_values()
            .iter()
            .map(|&id| {
                let v = g.value(id);
                (
                    v.name.clone(),
                    format!("{:?} {:?} {:?}", v.dtype, v.shape, v.konst),
                )
            })
            .collect(),
        nodes: g
            .nodes
            .iter()
            .map(|n| {
                format!(
                    "{} {} {:?} {:?} -> {:?}",
                    n.name,
                    n.op.op_type(),
                    n.op.attrs(),
                    n.inputs
                        .iter()
                        .map(|i| i.as_ref().map(name))
                        .collect::<Vec<_>>(),
                    n.outputs.iter().map(name).collect::<Vec<_>>()
                )
            })
            .collect(),
        inputs: g.inputs.iter().map(name).collect(),
        outputs: g.outputs.iter().map(name).collect(),
    }
}

//! [`Graph`] → ModelProto, written atomically.
use crate::attrs::attr_to_proto;
use crate::proto::tensor_shape_proto::{dimension, Dimension};
use crate::proto::{
    type_proto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto,
    TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};
use crate::tensor::{code_of, tensor_to_proto};
use crate::OnnxError;
use mw_ir::infer::{infer_facts, Bindings, Facts};
use mw_ir::{DType, Dim, Graph, Limits, Value, ValueId};
use prost::Message;
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// IR version written when the graph's metadata has none.
pub const DEFAULT_IR_VERSION: i64 = 8;
/// Default-domain opset written when the graph's metadata has none.
pub const DEFAULT_OPSET: i64 = 13;

const MAX_PROTO_BYTES: usize = i32::MAX as usize;

/// Serializes `graph` as an ONNX ModelProto. Errors name the file as `<memory>`.
pub fn to_bytes(graph: &Graph) -> Result<Vec<u8>, OnnxError> {
    encode(graph, "<memory>")
}

/// Writes `graph` to `path` atomically: into a temporary file in the same folder, synced, then
/// renamed over `path`. On any error no new file remains and an existing `path` is untouched.
pub fn save(graph: &Graph, path: &Path) -> Result<(), OnnxError> {
    let file = path.display().to_string();
    let bytes = encode(graph, &file)?;
    write_atomically(path, &bytes, &file)
}

fn encode(graph: &Graph, file: &str) -> Result<Vec<u8>, OnnxError> {
    let model = Exporter {
        graph,
        file,
        facts: None,
    }
    .model()?;
    if model.encoded_len() > MAX_PROTO_BYTES {
        return Err(export_error(
            file,
            "the model exceeds protobuf's 2 GiB message limit",
        ));
    }
    Ok(model.encode_to_vec())
}

fn export_error(file: &str, reason: impl Into<String>) -> OnnxError {
    OnnxError::Export {
        file: file.to_string(),
        reason: reason.into(),
    }
}

struct Exporter<'a> {
    graph: &'a Graph,
    file: &'a str,
    /// Inferred facts, computed only when a graph output has no declared dtype.
    facts: Option<Facts>,
}

impl Exporter<'_> {
    fn model(mut self) -> Result<ModelProto, OnnxError> {
        self.check_names()?;
        let g = self.graph;
        let meta = &g.meta;
        let opset = if meta.opset > 0 {
            meta.opset
        } else {
            DEFAULT_OPSET
        };
        let mut opset_import = vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(opset),
        }];
        opset_import.extend(meta.other_opsets.iter().map(|(d, v)| OperatorSetIdProto {
            domain: Some(d.clone()),
            version: Some(*v),
        }));
        let graph = self.graph_proto()?;
        // A graph that comes from no model is milliwatt's own.
        let (producer_name, producer_version) = if meta.producer_name.is_empty() {
            (
                Some("milliwatt".into()),
                Some(env!("CARGO_PKG_VERSION").into()),
            )
        } else {
            let v = &meta.producer_version;
            (
                Some(meta.producer_name.clone()),
                (!v.is_empty()).then(|| v.clone()),
            )
        };
        Ok(ModelProto {
            ir_version: Some(if meta.ir_version > 0 {
                meta.ir_version
            } else {
                DEFAULT_IR_VERSION
            }),
            opset_import,
            producer_name,
            producer_version,
            doc_string: (!meta.doc_string.is_empty()).then(|| meta.doc_string.clone()),
            metadata_props: meta
                .metadata
                .iter()
                .map(|(k, v)| StringStringEntryProto {
                    key: Some(k.clone()),
                    value: Some(v.clone()),
                })
                .collect(),
            graph: Some(graph),
            ..Default::default()
        })
    }

    /// Every value the model will name is defined once, by an input, an initializer or a node.
    fn check_names(&self) -> Result<(), OnnxError> {
        let g = self.graph;
        let mut defined: HashSet<ValueId> = g.inputs.iter().copied().collect();
        defined.extend(self.initializer_ids());
        let mut seen: HashMap<&str, ValueId> = HashMap::new();
        let mut name_once = |id: ValueId| -> Result<(), OnnxError> {
            let name = g.value(id).name.as_str();
            if name.is_empty() {
                return Err(export_error(self.file, "a value has an empty name"));
            }
            match seen.insert(name, id) {
                Some(other) if other != id => Err(export_error(
                    self.file,
                    format!("two values are named `{name}`"),
                )),
                _ => Ok(()),
            }
        };
        for &id in &defined {
            name_once(id)?;
        }
        for n in &g.nodes {
            for &o in &n.outputs {
                name_once(o)?;
                if !defined.insert(o) {
                    return Err(export_error(
                        self.file,
                        format!("value `{}` is defined more than once", g.value(o).name),
                    ));
                }
            }
        }
        for n in &g.nodes {
            for &i in n.inputs.iter().flatten() {
                if !defined.contains(&i) {
                    return Err(export_error(
                        self.file,
                        format!(
                            "node `{}` reads `{}`, which nothing defines",
                            n.name,
                            g.value(i).name
                        ),
                    ));
                }
            }
        }
        for &o in &g.outputs {
            if !defined.contains(&o) {
                return Err(export_error(
                    self.file,
                    format!("graph output `{}` is defined by nothing", g.value(o).name),
                ));
            }
        }
        Ok(())
    }

    /// Initializers written: the live ones plus constant-backed graph inputs, in value order.
    fn initializer_ids(&self) -> Vec<ValueId> {
        let g = self.graph;
        let mut ids = g.initializers();
        ids.extend(g.inputs.iter().filter(|id| g.value(**id).konst.is_some()));
        ids.sort();
        ids.dedup();
        ids
    }

    fn graph_proto(&mut self) -> Result<GraphProto, OnnxError> {
        let g = self.graph;
        let name_of = |id: &ValueId| g.value(*id).name.clone();
        let node = g
            .nodes
            .iter()
            .map(|n| NodeProto {
                input: n
                    .inputs
                    .iter()
                    .map(|i| i.as_ref().map(name_of).unwrap_or_default())
                    .collect(),
                output: n.outputs.iter().map(name_of).collect(),
                name: Some(n.name.clone()),
                op_type: Some(n.op.op_type().to_string()),
                attribute: n
                    .op
                    .attrs()
                    .0
                    .iter()
                    .map(|(k, a)| attr_to_proto(k, a))
                    .collect(),
                ..Default::default()
            })
            .collect();
        let initializer: Vec<TensorProto> = self
            .initializer_ids()
            .iter()
            .filter_map(|&id| {
                let v = g.value(id);
                v.konst.as_ref().map(|t| tensor_to_proto(t, &v.name))
            })
            .collect();
        let input = g
            .inputs
            .iter()
            .map(|&id| {
                let v = g.value(id);
                let dtype = v.dtype.ok_or_else(|| {
                    export_error(self.file, format!("graph input `{}` has no dtype", v.name))
                })?;
                Ok(value_info(v, dtype))
            })
            .collect::<Result<_, OnnxError>>()?;
        let mut output = Vec::with_capacity(g.outputs.len());
        for &id in &g.outputs {
            let v = g.value(id);
            let dtype = match v.dtype {
                Some(d) => d,
                None => self.inferred_dtype(id)?,
            };
            output.push(value_info(v, dtype));
        }
        Ok(GraphProto {
            node,
            name: Some(non_empty(&g.meta.graph_name, "milliwatt")),
            initializer,
            input,
            output,
            value_info: self.intermediate_value_info(),
            ..Default::default()
        })
    }

    /// Declared types of node outputs that are not graph outputs.
    fn intermediate_value_info(&self) -> Vec<ValueInfoProto> {
        let g = self.graph;
        g.nodes
            .iter()
            .flat_map(|n| &n.outputs)
            .filter(|id| !g.outputs.contains(id))
            .filter_map(|&id| {
                let v = g.value(id);
                v.dtype.map(|d| value_info(v, d))
            })
            .collect()
    }

    /// The dtype graph inference gives an output whose dtype the graph does not declare.
    fn inferred_dtype(&mut self, id: ValueId) -> Result<DType, OnnxError> {
        let g = self.graph;
        let name = &g.value(id).name;
        if self.facts.is_none() {
            let facts = infer_facts(g, &Bindings::default(), &Limits::default()).map_err(|e| {
                export_error(
                    self.file,
                    format!(
                        "graph output `{name}` has no declared dtype and inference failed: {e}"
                    ),
                )
            })?;
            self.facts = Some(facts);
        }
        self.facts
            .as_ref()
            .and_then(|f| f[id.0].as_ref())
            .map(|f| f.dtype)
            .ok_or_else(|| export_error(self.file, format!("graph output `{name}` has no dtype")))
    }
}

fn non_empty(s: &str, default: &str) -> String {
    if s.is_empty() { default } else { s }.to_string()
}

/// A tensor ValueInfoProto; constants take their tensor's exact shape.
fn value_info(v: &Value, dtype: DType) -> ValueInfoProto {
    let shape = match &v.konst {
        Some(t) => Some(t.shape().iter().map(|&d| Dim::Fixed(d)).collect()),
        None => v.shape.clone(),
    };
    let shape = shape.map(|dims: Vec<Dim>| TensorShapeProto {
        dim: dims
            .iter()
            .map(|d| Dimension {
                denotation: None,
                value: match d {
                    Dim::Fixed(n) => Some(dimension::Value::DimValue(*n as i64)),
                    Dim::Symbol(s) if s.is_empty() => None,
                    Dim::Symbol(s) => Some(dimension::Value::DimParam(s.clone())),
                },
            })
            .collect(),
    });
    ValueInfoProto {
        name: Some(v.name.clone()),
        r#type: Some(TypeProto {
            denotation: None,
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(code_of(dtype)),
                shape,
            })),
        }),
        ..Default::default()
    }
}

/// Writes `bytes` to a fresh temporary file beside `path`, syncs it and renames it over `path`;
/// removes the temporary file on any failure.
fn write_atomically(path: &Path, bytes: &[u8], file: &str) -> Result<(), OnnxError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .ok_or_else(|| export_error(file, "the path names no file"))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tmp = dir.join(format!(
        ".{}.{}-{}.tmp",
        name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        // Persist the rename itself; not every platform can open a folder, so this is best effort.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    };
    write().map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        OnnxError::Io {
            file: file.to_string(),
            action: "cannot write",
            source,
        }
    })
}

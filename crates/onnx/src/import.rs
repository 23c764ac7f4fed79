//! ModelProto → [`Graph`].
use crate::attrs::attrs_from_proto;
use crate::proto::tensor_shape_proto::dimension;
use crate::proto::{type_proto, GraphProto, ModelProto, NodeProto, ValueInfoProto};
use crate::tensor::{dtype_of, tensor_from_proto, Source};
use crate::OnnxError;
use mw_ir::{BuildCtx, DType, Dim, Graph, IrError, Limits, ModelMeta, Node, Value, ValueId};
use prost::Message;
use std::collections::HashMap;
use std::path::Path;

/// The oldest default-domain opset milliwatt reads.
pub const MIN_OPSET: i64 = 11;
/// The newest default-domain opset milliwatt reads.
pub const MAX_OPSET: i64 = 28;

/// Protobuf messages cannot exceed 2 GiB; larger files are refused before reading them.
const MAX_PROTO_BYTES: u64 = i32::MAX as u64;

/// Reads and imports the model at `path`; external data is read from `path`'s folder only.
pub fn load(path: &Path, limits: &Limits) -> Result<Graph, OnnxError> {
    let file = path.display().to_string();
    let bytes = read_file(path, &file)?;
    let base = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    import(&bytes, &file, Some(base), limits)
}

/// Imports a serialized ModelProto. External data, if any, is read from `base_dir` only (and is
/// refused when `base_dir` is `None`). Errors name the file as `<memory>`.
pub fn load_bytes(
    bytes: &[u8],
    base_dir: Option<&Path>,
    limits: &Limits,
) -> Result<Graph, OnnxError> {
    import(bytes, "<memory>", base_dir, limits)
}

/// The bytes of a protobuf file, refusing files larger than protobuf allows.
pub(crate) fn read_file(path: &Path, file: &str) -> Result<Vec<u8>, OnnxError> {
    let io = |action| {
        move |source| OnnxError::Io {
            file: file.to_string(),
            action,
            source,
        }
    };
    let len = std::fs::metadata(path).map_err(io("cannot read"))?.len();
    if len > MAX_PROTO_BYTES {
        return Err(OnnxError::Model {
            file: file.to_string(),
            reason: format!("{len} bytes exceeds protobuf's 2 GiB message limit"),
        });
    }
    std::fs::read(path).map_err(io("cannot read"))
}

fn import(
    bytes: &[u8],
    file: &str,
    base_dir: Option<&Path>,
    limits: &Limits,
) -> Result<Graph, OnnxError> {
    let model = ModelProto::decode(bytes).map_err(|e| OnnxError::Decode {
        file: file.to_string(),
        reason: e.to_string(),
    })?;
    let src = Source {
        file,
        base_dir,
        limits,
    };
    let meta = meta_of(&model, file)?;
    let g = model.graph.as_ref().ok_or_else(|| OnnxError::Model {
        file: file.to_string(),
        reason: "the model has no graph".into(),
    })?;
    let mut b = Builder {
        src,
        graph: Graph::default(),
        by_name: HashMap::new(),
    };
    b.graph.meta = meta;
    b.graph.meta.graph_name = g.name.clone().unwrap_or_default();
    b.build(g)?;
    let mut graph = b.graph;
    mw_ir::rewrite::toposort(&mut graph).map_err(|e| OnnxError::Ir {
        file: file.to_string(),
        source: Box::new(e),
    })?;
    Ok(graph)
}

/// Model-level facts, checking the default-domain opset.
fn meta_of(m: &ModelProto, file: &str) -> Result<ModelMeta, OnnxError> {
    let mut opset = None;
    let mut other_opsets = Vec::new();
    for o in &m.opset_import {
        let domain = o.domain.clone().unwrap_or_default();
        let version = o.version.unwrap_or(0);
        if is_default_domain(&domain) {
            opset = Some(version);
        } else {
            other_opsets.push((domain, version));
        }
    }
    let opset = opset.ok_or_else(|| OnnxError::Model {
        file: file.to_string(),
        reason: "the model imports no default-domain opset".into(),
    })?;
    if !(MIN_OPSET..=MAX_OPSET).contains(&opset) {
        return Err(OnnxError::Opset {
            file: file.to_string(),
            opset,
            min: MIN_OPSET,
            max: MAX_OPSET,
        });
    }
    Ok(ModelMeta {
        ir_version: m.ir_version.unwrap_or(0),
        opset,
        other_opsets,
        producer_name: m.producer_name.clone().unwrap_or_default(),
        producer_version: m.producer_version.clone().unwrap_or_default(),
        graph_name: String::new(),
        doc_string: m.doc_string.clone().unwrap_or_default(),
        metadata: m
            .metadata_props
            .iter()
            .map(|p| {
                (
                    p.key.clone().unwrap_or_default(),
                    p.value.clone().unwrap_or_default(),
                )
            })
            .collect(),
    })
}

fn is_default_domain(domain: &str) -> bool {
    domain.is_empty() || domain == "ai.onnx"
}

struct Builder<'a> {
    src: Source<'a>,
    graph: Graph,
    by_name: HashMap<String, ValueId>,
}

impl Builder<'_> {
    fn file(&self) -> String {
        self.src.file.to_string()
    }

    fn value_error(&self, value: &str, reason: impl Into<String>) -> OnnxError {
        OnnxError::Value {
            file: self.file(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    /// Adds a value under a name no other value has.
    fn define(&mut self, v: Value) -> Result<ValueId, OnnxError> {
        if v.name.is_empty() {
            return Err(self.value_error("", "a value has an empty name"));
        }
        if self.by_name.contains_key(&v.name) {
            return Err(self.value_error(&v.name, "is defined more than once"));
        }
        let name = v.name.clone();
        let id = self.graph.add_value(v);
        self.by_name.insert(name, id);
        Ok(id)
    }

    fn build(&mut self, g: &GraphProto) -> Result<(), OnnxError> {
        if !g.sparse_initializer.is_empty() {
            return Err(OnnxError::Model {
                file: self.file(),
                reason: "sparse initializers are not supported".into(),
            });
        }
        for t in &g.initializer {
            let name = t.name.clone().unwrap_or_default();
            let tensor = tensor_from_proto(t, &name, &self.src)?;
            self.define(Value::constant(name, tensor))?;
        }
        for vi in &g.input {
            self.add_input(vi)?;
        }
        let mut pending = Vec::with_capacity(g.node.len());
        for (i, n) in g.node.iter().enumerate() {
            pending.push(self.add_node(i, n)?);
        }
        for (node, inputs) in pending.iter().enumerate() {
            self.link_inputs(node, inputs)?;
        }
        for vi in &g.value_info {
            let name = vi.name.clone().unwrap_or_default();
            if let Some(&id) = self.by_name.get(&name) {
                self.declare(id, vi)?;
            }
        }
        for vi in &g.output {
            let name = vi.name.clone().unwrap_or_default();
            let id = *self.by_name.get(&name).ok_or_else(|| {
                self.value_error(
                    &name,
                    "graph output defined by no input, initializer or node",
                )
            })?;
            self.declare(id, vi)?;
            self.graph.outputs.push(id);
        }
        Ok(())
    }

    /// A graph input; an input that names an initializer is that initializer (its default).
    fn add_input(&mut self, vi: &ValueInfoProto) -> Result<(), OnnxError> {
        let name = vi.name.clone().unwrap_or_default();
        let id = match self.by_name.get(&name) {
            Some(&id) if self.graph.value(id).konst.is_some() => id,
            _ => {
                let (dtype, shape) = self.type_of(&name, vi)?;
                self.define(Value {
                    name: name.clone(),
                    dtype,
                    shape,
                    konst: None,
                })?
            }
        };
        if self.graph.inputs.contains(&id) {
            return Err(self.value_error(&name, "is listed twice as a graph input"));
        }
        self.graph.inputs.push(id);
        Ok(())
    }

    /// Sets the declared dtype/shape of a non-constant value from a ValueInfoProto.
    fn declare(&mut self, id: ValueId, vi: &ValueInfoProto) -> Result<(), OnnxError> {
        let (dtype, shape) = self.type_of(&self.graph.value(id).name.clone(), vi)?;
        let v = self.graph.value_mut(id);
        if v.konst.is_none() {
            v.dtype = dtype.or(v.dtype);
            v.shape = shape.or(v.shape.take());
        }
        Ok(())
    }

    /// The declared element type and shape of a value (either may be unknown).
    fn type_of(
        &self,
        name: &str,
        vi: &ValueInfoProto,
    ) -> Result<(Option<DType>, Option<Vec<Dim>>), OnnxError> {
        let tt = match vi.r#type.as_ref().and_then(|t| t.value.as_ref()) {
            None => return Ok((None, None)),
            Some(type_proto::Value::TensorType(tt)) => tt,
            Some(_) => return Err(self.value_error(name, "only tensor values are supported")),
        };
        let dtype = match tt.elem_type.filter(|&c| c != 0) {
            None => None,
            Some(code) => Some(dtype_of(code).map_err(|dtype| OnnxError::TensorDType {
                file: self.file(),
                tensor: name.to_string(),
                dtype,
            })?),
        };
        let shape = match &tt.shape {
            None => None,
            Some(s) => Some(
                s.dim
                    .iter()
                    .map(|d| match &d.value {
                        Some(dimension::Value::DimValue(v)) => usize::try_from(*v)
                            .map(Dim::Fixed)
                            .map_err(|_| self.value_error(name, format!("invalid dimension {v}"))),
                        Some(dimension::Value::DimParam(p)) => Ok(Dim::Symbol(p.clone())),
                        None => Ok(Dim::Symbol(String::new())),
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        Ok((dtype, shape))
    }

    /// Builds node `index`'s op and defines its outputs; returns its input names to link once
    /// every node's outputs are known (models may list nodes out of order).
    fn add_node(&mut self, index: usize, n: &NodeProto) -> Result<Vec<String>, OnnxError> {
        let op_type = n.op_type.clone().unwrap_or_default();
        let name = match n.name.as_deref() {
            Some(s) if !s.is_empty() => s.to_string(),
            _ => format!("{op_type}_{index}"),
        };
        let domain = n.domain.clone().unwrap_or_default();
        if !is_default_domain(&domain) {
            return Err(OnnxError::Domain {
                file: self.file(),
                node: name,
                op_type,
                domain,
            });
        }
        let opset = self.graph.meta.opset;
        if !mw_ir::is_supported(&op_type) {
            // Refused before its attributes, which may be of kinds only unsupported ops use.
            return Err(self.ir_error(IrError::UnsupportedOp {
                node: name,
                op_type,
                domain,
                opset,
            }));
        }
        let attrs = attrs_from_proto(&n.attribute, &name, &self.src)?;
        // Trailing empty output names are outputs the node does not ask for.
        let n_outputs = n
            .output
            .iter()
            .rposition(|o| !o.is_empty())
            .map_or(0, |p| p + 1);
        let ctx = BuildCtx {
            opset,
            n_inputs: n.input.len(),
            n_outputs,
        };
        let op = match mw_ir::build_op(&op_type, &attrs, &ctx) {
            Ok(Some(op)) => op,
            Ok(None) => {
                return Err(self.ir_error(IrError::UnsupportedOp {
                    node: name,
                    op_type,
                    domain,
                    opset,
                }))
            }
            Err(e) => return Err(self.ir_error(IrError::node(&name, &op_type, e))),
        };
        let mut outputs = Vec::with_capacity(n_outputs);
        for (k, out) in n.output[..n_outputs].iter().enumerate() {
            let out = if out.is_empty() {
                format!("{name}:omitted_output_{k}")
            } else {
                out.clone()
            };
            outputs.push(self.define(Value::named(out))?);
        }
        self.graph.nodes.push(Node {
            name,
            op,
            inputs: Vec::new(),
            outputs,
        });
        Ok(n.input.clone())
    }

    fn link_inputs(&mut self, node: usize, names: &[String]) -> Result<(), OnnxError> {
        let mut inputs = Vec::with_capacity(names.len());
        for input in names {
            if input.is_empty() {
                inputs.push(None);
                continue;
            }
            let id = self
                .by_name
                .get(input)
                .ok_or_else(|| OnnxError::MissingInput {
                    file: self.file(),
                    node: self.graph.nodes[node].name.clone(),
                    input: input.clone(),
                })?;
            inputs.push(Some(*id));
        }
        self.graph.nodes[node].inputs = inputs;
        Ok(())
    }

    fn ir_error(&self, source: IrError) -> OnnxError {
        OnnxError::Ir {
            file: self.file(),
            source: Box::new(source),
        }
    }
}

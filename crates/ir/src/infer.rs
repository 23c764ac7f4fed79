//! Graph-level fact inference: binds symbolic input dimensions, runs each op's `infer` in order,
//! and evaluates ops whose inputs are all constant so that shape-computing subgraphs
//! (Shape → Gather → Concat → Reshape) resolve before running.
use crate::{Dim, Fact, Graph, IrError, Limits, OpError, ValueId};
use std::collections::HashMap;
use std::sync::Arc;

/// Outputs of a constant subgraph larger than this stay unevaluated at inference time.
const MAX_FOLD_ELEMENTS: usize = 1 << 16;

/// Binding of symbolic dimension names to sizes; unnamed symbols take `default`.
#[derive(Clone, Debug)]
pub struct Bindings {
    pub named: HashMap<String, usize>,
    pub default: usize,
}

impl Default for Bindings {
    fn default() -> Self {
        Bindings {
            named: HashMap::new(),
            default: 1,
        }
    }
}

impl Bindings {
    pub fn batch(n: usize) -> Bindings {
        Bindings {
            named: HashMap::new(),
            default: n,
        }
    }

    fn resolve(&self, d: &Dim) -> usize {
        match d {
            Dim::Fixed(n) => *n,
            Dim::Symbol(s) => self.named.get(s).copied().unwrap_or(self.default),
        }
    }
}

/// One fact per value id (`None` for values no node reaches).
pub type Facts = Vec<Option<Fact>>;

/// Infers every value's fact under `bindings`, checking each against `limits`.
pub fn infer_facts(graph: &Graph, bindings: &Bindings, limits: &Limits) -> Result<Facts, IrError> {
    let mut facts: Facts = vec![None; graph.values.len()];
    for (i, v) in graph.values.iter().enumerate() {
        if let Some(k) = &v.konst {
            facts[i] = Some(Fact {
                dtype: k.dtype(),
                shape: k.shape().to_vec(),
                konst: Some(Arc::clone(k)),
            });
        }
    }
    for &id in &graph.inputs {
        let v = graph.value(id);
        if v.konst.is_some() {
            continue;
        }
        let dtype = v
            .dtype
            .ok_or_else(|| IrError::Value(v.name.clone(), "graph input without a dtype".into()))?;
        let shape = v
            .shape
            .as_ref()
            .ok_or_else(|| IrError::Value(v.name.clone(), "graph input without a shape".into()))?;
        let shape: Vec<usize> = shape.iter().map(|d| bindings.resolve(d)).collect();
        limits
            .check(dtype, &shape)
            .map_err(|e| IrError::Value(v.name.clone(), e.to_string()))?;
        facts[id.0] = Some(Fact::new(dtype, shape));
    }
    for node in &graph.nodes {
        let err = |e: OpError| IrError::node(&node.name, node.op.op_type(), e);
        let mut ins: Vec<Option<&Fact>> = Vec::with_capacity(node.inputs.len());
        for input in &node.inputs {
            ins.push(match input {
                None => None,
                Some(id) => Some(facts[id.0].as_ref().ok_or_else(|| {
                    IrError::Value(
                        graph.value(*id).name.clone(),
                        format!("read by `{}` before it is defined", node.name),
                    )
                })?),
            });
        }
        let mut outs = node.op.infer(&ins).map_err(err)?;
        if outs.len() < node.outputs.len() {
            return Err(err(OpError::Shape(format!(
                "op yields {} outputs, node lists {}",
                outs.len(),
                node.outputs.len()
            ))));
        }
        for f in &outs {
            limits.check(f.dtype, &f.shape).map_err(err)?;
        }
        let all_const = ins.iter().all(|f| f.is_none_or(|f| f.konst.is_some()));
        let small = outs.iter().all(|f| f.numel() <= MAX_FOLD_ELEMENTS);
        if all_const && small {
            let tensors: Vec<Option<&mw_tensor::Tensor>> = ins
                .iter()
                .map(|f| f.and_then(|f| f.konst.as_deref()))
                .collect();
            let values = node.op.eval(&tensors).map_err(err)?;
            for (f, t) in outs.iter_mut().zip(values) {
                if t.shape() != f.shape.as_slice() || t.dtype() != f.dtype {
                    return Err(err(OpError::Shape(format!(
                        "evaluated {:?} {} but inferred {:?} {}",
                        t.shape(),
                        t.dtype(),
                        f.shape,
                        f.dtype
                    ))));
                }
                f.konst = Some(Arc::new(t));
            }
        }
        for (&o, f) in node.outputs.iter().zip(outs) {
            facts[o.0] = Some(f);
        }
    }
    Ok(facts)
}

/// The fact of `id`, or an error naming the value.
pub fn fact_of<'a>(graph: &Graph, facts: &'a Facts, id: ValueId) -> Result<&'a Fact, IrError> {
    facts[id.0]
        .as_ref()
        .ok_or_else(|| IrError::Value(graph.value(id).name.clone(), "has no inferred fact".into()))
}

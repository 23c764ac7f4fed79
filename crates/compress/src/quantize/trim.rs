//! Measurement harness: the part of a one-layer QDQ variant that differs from the float graph.
//!
//! In a variant where only layer L is quantized, every node upstream of L's QuantizeLinear nodes
//! computes exactly what the float graph computes. [`suffix`] keeps the nodes downstream of the
//! variant's QuantizeLinear nodes (plus the constant-only ones, such as weight dequantization) and
//! makes the values they read from the dropped part graph inputs, to be fed with the float graph's
//! values. This graph is only ever run by the measurement pass; it is never returned.
use mw_ir::infer::{infer_facts, Bindings};
use mw_ir::{Dim, Graph, Limits, ValueId};
use std::collections::HashSet;

/// The trimmed graph and, in order, the float-graph values to feed as its inputs.
pub(crate) struct Suffix {
    pub graph: Graph,
    pub feeds: Vec<ValueId>,
}

/// `None` when nothing can be dropped or a cut value's shape is unknown.
pub(crate) fn suffix(g: &Graph, seeds: &[ValueId], limits: &Limits) -> Option<Suffix> {
    let facts = infer_facts(g, &Bindings::batch(1), limits).ok()?;
    let runtime_inputs: HashSet<ValueId> = g
        .inputs
        .iter()
        .copied()
        .filter(|&v| g.value(v).konst.is_none())
        .collect();
    // Values that depend on a runtime input, and values downstream of the seeds.
    let mut runtime: HashSet<ValueId> = runtime_inputs.clone();
    let mut affected: HashSet<ValueId> = seeds.iter().copied().collect();
    let mut keep = vec![false; g.nodes.len()];
    for (i, n) in g.nodes.iter().enumerate() {
        let ins = || n.inputs.iter().flatten();
        let is_runtime = ins().any(|v| runtime.contains(v));
        let is_affected = ins().any(|v| affected.contains(v));
        if is_runtime {
            runtime.extend(n.outputs.iter().copied());
        }
        if is_affected {
            affected.extend(n.outputs.iter().copied());
        }
        keep[i] = is_affected || !is_runtime;
    }
    if keep.iter().all(|&k| k) {
        return None;
    }
    let produced: HashSet<ValueId> = g
        .nodes
        .iter()
        .zip(&keep)
        .filter(|(_, &k)| k)
        .flat_map(|(n, _)| n.outputs.iter().copied())
        .collect();
    let mut feeds: Vec<ValueId> = Vec::new();
    for (n, _) in g.nodes.iter().zip(&keep).filter(|(_, &k)| k) {
        for &v in n.inputs.iter().flatten() {
            let cut = runtime.contains(&v) && !produced.contains(&v);
            if cut && !feeds.contains(&v) {
                feeds.push(v);
            }
        }
    }
    let mut t = Graph {
        meta: g.meta.clone(),
        values: g.values.clone(),
        nodes: g
            .nodes
            .iter()
            .zip(&keep)
            .filter(|(_, &k)| k)
            .map(|(n, _)| n.clone())
            .collect(),
        inputs: feeds.clone(),
        outputs: g.outputs.clone(),
    };
    for &v in &feeds {
        let f = facts[v.0].as_ref()?;
        let value = &mut t.values[v.0];
        value.dtype = Some(f.dtype);
        // Axis 0 is the batch.
        value.shape = Some(
            f.shape
                .iter()
                .enumerate()
                .map(|(i, &d)| {
                    if i == 0 {
                        Dim::Symbol("batch".into())
                    } else {
                        Dim::Fixed(d)
                    }
                })
                .collect(),
        );
    }
    Some(Suffix { graph: t, feeds })
}

//! The one mechanism through which passes change a graph.
//!
//! A rule looks at one node and may return a [`Patch`]: values to add, nodes to add, nodes to
//! remove, and uses to redirect from one value to another. [`rewrite_to_fixpoint`] applies rules
//! until none fires, then restores the topological-order invariant and drops dead nodes.
use crate::{Graph, IrError, Node, NodeId, Value, ValueId};
use std::collections::{HashMap, HashSet};

#[derive(Debug, Default)]
pub struct Patch {
    pub new_values: Vec<Value>,
    /// Nodes to insert; their value ids may refer to `new_values` through [`Patch::new_value_id`].
    pub new_nodes: Vec<Node>,
    pub remove_nodes: Vec<NodeId>,
    /// Every use of `.0` (node inputs and graph outputs) is redirected to `.1`.
    pub redirect: Vec<(ValueId, ValueId)>,
    base: usize,
}

impl Patch {
    /// Starts a patch for `graph`; new value ids continue after the graph's.
    pub fn new(graph: &Graph) -> Patch {
        Patch {
            base: graph.values.len(),
            ..Default::default()
        }
    }

    /// Adds a value and returns the id it will have once applied.
    pub fn add_value(&mut self, v: Value) -> ValueId {
        self.new_values.push(v);
        ValueId(self.base + self.new_values.len() - 1)
    }

    /// Redirects uses of `from` to `to`. When `from` is a graph output, `to` takes over its name
    /// so that the model's interface is unchanged.
    pub fn redirect(&mut self, from: ValueId, to: ValueId) {
        self.redirect.push((from, to));
    }
}

/// Applies one patch. Fails (leaving `graph` unchanged) if the result would not be a DAG.
pub fn apply(graph: &mut Graph, patch: Patch) -> Result<(), IrError> {
    if patch.base != graph.values.len() {
        return Err(IrError::Graph(
            "patch built against another graph state".into(),
        ));
    }
    let mut g = graph.clone();
    g.values.extend(patch.new_values);
    let remove: HashSet<NodeId> = patch.remove_nodes.into_iter().collect();
    let mut nodes: Vec<Node> = g
        .nodes
        .drain(..)
        .enumerate()
        .filter(|(i, _)| !remove.contains(&NodeId(*i)))
        .map(|(_, n)| n)
        .collect();
    nodes.extend(patch.new_nodes);
    let map: HashMap<ValueId, ValueId> = patch.redirect.iter().copied().collect();
    let resolve = |mut v: ValueId| {
        let mut hops = 0;
        while let Some(&n) = map.get(&v) {
            v = n;
            hops += 1;
            if hops > map.len() {
                break;
            }
        }
        v
    };
    for n in &mut nodes {
        for i in n.inputs.iter_mut().flatten() {
            *i = resolve(*i);
        }
    }
    for o in 0..g.outputs.len() {
        let old = g.outputs[o];
        let new = resolve(old);
        if new != old {
            // Keep the interface name: the replacement value takes the output's name.
            let name = g.values[old.0].name.clone();
            g.values[old.0].name = format!("{name}__replaced");
            g.values[new.0].name = name;
            g.outputs[o] = new;
        }
    }
    g.nodes = nodes;
    toposort(&mut g)?;
    remove_dead_nodes(&mut g);
    *graph = g;
    Ok(())
}

/// A rule: given a node, maybe a patch.
pub type Rule<'a> = dyn Fn(&Graph, NodeId) -> Result<Option<Patch>, IrError> + 'a;

/// Applies the rules to every node, repeatedly, until no rule fires. Returns how many patches
/// were applied. Bounded: stops with an error after `10 × nodes + 100` applications.
pub fn rewrite_to_fixpoint(graph: &mut Graph, rules: &[&Rule]) -> Result<usize, IrError> {
    let limit = 10 * graph.nodes.len() + 100;
    let mut applied = 0;
    'outer: loop {
        for i in 0..graph.nodes.len() {
            for rule in rules {
                if let Some(patch) = rule(graph, NodeId(i))? {
                    apply(graph, patch)?;
                    applied += 1;
                    if applied > limit {
                        return Err(IrError::Graph("rewrite did not reach a fixpoint".into()));
                    }
                    continue 'outer;
                }
            }
        }
        return Ok(applied);
    }
}

/// Orders nodes so every input is defined before use (stable for already-ordered graphs).
pub fn toposort(g: &mut Graph) -> Result<(), IrError> {
    let producers = g.producers();
    let n = g.nodes.len();
    let mut state = vec![0u8; n]; // 0 new, 1 visiting, 2 done
    let mut order = Vec::with_capacity(n);
    for start in 0..n {
        if state[start] != 0 {
            continue;
        }
        let mut stack = vec![(start, 0usize)];
        state[start] = 1;
        while let Some((node, next)) = stack.pop() {
            let inputs = &g.nodes[node].inputs;
            if next < inputs.len() {
                stack.push((node, next + 1));
                if let Some(p) = inputs[next].and_then(|v| producers.get(&v)) {
                    match state[p.0] {
                        0 => {
                            state[p.0] = 1;
                            stack.push((p.0, 0));
                        }
                        1 => {
                            return Err(IrError::Graph(format!(
                                "cycle through node `{}`",
                                g.nodes[p.0].name
                            )))
                        }
                        _ => {}
                    }
                }
            } else {
                state[node] = 2;
                order.push(node);
            }
        }
    }
    let mut old: Vec<Option<Node>> = g.nodes.drain(..).map(Some).collect();
    g.nodes = order
        .into_iter()
        .map(|i| old[i].take().expect("each node once"))
        .collect();
    Ok(())
}

/// Removes nodes none of whose outputs reach a graph output.
pub fn remove_dead_nodes(g: &mut Graph) {
    let mut live: HashSet<ValueId> = g.outputs.iter().copied().collect();
    let mut keep = vec![false; g.nodes.len()];
    for (i, n) in g.nodes.iter().enumerate().rev() {
        if n.outputs.iter().any(|o| live.contains(o)) {
            keep[i] = true;
            live.extend(n.inputs.iter().flatten().copied());
        }
    }
    let mut i = 0;
    g.nodes.retain(|_| {
        i += 1;
        keep[i - 1]
    });
}

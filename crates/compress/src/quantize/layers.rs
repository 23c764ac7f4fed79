//! The layers of a float graph as the quantizer sees them, and which of them are quantized.
//!
//! A layer is one node or a fused group: `Conv [→ Relu|Clip]`, `MatMul [→ Add(bias)] [→ Relu|Clip]`,
//! `Gemm [→ Relu|Clip]`, `Add [→ Relu|Clip]`, average / max pooling, `Concat`, `Softmax`, or pure
//! data movement (`Reshape`, `Flatten`, `Transpose`, `Squeeze`, `Unsqueeze`). Every other node is a
//! layer of kind [`Kind::Other`] and stays in float, with the reason.
use super::QuantizeError;
use mw_ir::infer::Facts;
use mw_ir::{Attr, DType, Graph, NodeId, ValueId};
use std::collections::HashMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Conv,
    MatMul,
    Gemm,
    AvgPool,
    /// Max pooling: the output reuses the input's scale and zero point (exact).
    MaxPool,
    Add,
    Concat,
    /// The output has the fixed parameters of a probability: scale 1/256.
    Softmax,
    /// Data movement: the output reuses the input's scale and zero point.
    Move,
    Other,
}

impl Kind {
    pub(crate) fn weighted(self) -> bool {
        matches!(self, Kind::Conv | Kind::MatMul | Kind::Gemm)
    }

    /// The output takes its input's quantization parameters instead of its own range.
    pub(crate) fn inherits(self) -> bool {
        matches!(self, Kind::MaxPool | Kind::Move)
    }
}

/// A constant weight read by a layer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WeightUse {
    pub value: ValueId,
    /// Axis of the output channels in the weight tensor (per-channel quantization axis).
    pub axis: usize,
    /// Axis of the input channels (the group-wise quantization axis).
    pub in_axis: usize,
    /// Products summed into one accumulator (`C/g · kh · kw`, or `K`).
    pub reduction: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Status {
    Quantized,
    Float(String),
}

#[derive(Clone, Debug)]
pub(crate) struct Layer {
    pub kind: Kind,
    /// Member nodes in graph order; the first is the main one.
    pub nodes: Vec<NodeId>,
    /// Op types joined by `+`, e.g. `Conv+Relu`.
    pub label: String,
    /// Float activation inputs (non-constant f32), in input order, without repeats.
    pub inputs: Vec<ValueId>,
    pub weight: Option<WeightUse>,
    pub bias: Option<ValueId>,
    /// Outputs of the last member node (exactly one for every kind but `Other`).
    pub outputs: Vec<ValueId>,
    /// Elements summed per output of an average pool (for the accumulator bound).
    pub pool_window: Option<usize>,
    pub status: Status,
}

impl Layer {
    pub(crate) fn quantized(&self) -> bool {
        self.status == Status::Quantized
    }

    pub(crate) fn output(&self) -> ValueId {
        self.outputs[0]
    }
}

/// Reads the graph once: producers, consumers and the float-ness of values.
pub(crate) struct View<'a> {
    pub g: &'a Graph,
    pub facts: &'a Facts,
    pub consumers: HashMap<ValueId, Vec<NodeId>>,
}

impl<'a> View<'a> {
    pub(crate) fn new(g: &'a Graph, facts: &'a Facts) -> View<'a> {
        View {
            g,
            facts,
            consumers: g.consumers(),
        }
    }

    fn constant(&self, v: ValueId) -> bool {
        self.g.value(v).konst.is_some()
            || self.facts[v.0].as_ref().is_some_and(|f| f.konst.is_some())
    }

    /// A float32 value computed at run time.
    pub(crate) fn activation(&self, v: ValueId) -> bool {
        !self.constant(v)
            && self.facts[v.0]
                .as_ref()
                .is_some_and(|f| f.dtype == DType::F32)
    }

    /// The float32 constant initializer `v`.
    fn weight(&self, v: ValueId) -> Option<&'a mw_ir::Tensor> {
        let t = self.g.value(v).konst.as_deref()?;
        (t.dtype() == DType::F32).then_some(t)
    }

    /// The only reader of `v`, when `v` is not also a graph output.
    fn sole_consumer(&self, v: ValueId) -> Option<NodeId> {
        match self.consumers.get(&v).map(Vec::as_slice) {
            Some([c]) if !self.g.outputs.contains(&v) => Some(*c),
            _ => None,
        }
    }

    fn input(&self, n: NodeId, i: usize) -> Option<ValueId> {
        self.g.node(n).inputs.get(i).copied().flatten()
    }

    fn op(&self, n: NodeId) -> &'static str {
        self.g.node(n).op.op_type()
    }

    /// A Relu, or a Clip with constant (or absent) bounds, that alone reads `v`.
    fn fused_activation(&self, v: ValueId) -> Option<NodeId> {
        let c = self.sole_consumer(v)?;
        let node = self.g.node(c);
        let ok = match node.op.op_type() {
            "Relu" => true,
            "Clip" => node
                .inputs
                .iter()
                .skip(1)
                .flatten()
                .all(|&b| self.constant(b)),
            _ => false,
        };
        (ok && node.outputs.len() == 1 && node.inputs.first().copied().flatten() == Some(v))
            .then_some(c)
    }
}

/// Every node of `g` in exactly one layer, in graph order.
pub(crate) fn find_layers(view: &View) -> Vec<Layer> {
    let g = view.g;
    let mut claimed = vec![false; g.nodes.len()];
    let mut layers = Vec::new();
    for i in 0..g.nodes.len() {
        if claimed[i] {
            continue;
        }
        let layer = classify(view, NodeId(i));
        for n in &layer.nodes {
            claimed[n.0] = true;
        }
        layers.push(layer);
    }
    layers
}

fn base(view: &View, id: NodeId, kind: Kind) -> Layer {
    let node = view.g.node(id);
    Layer {
        kind,
        nodes: vec![id],
        label: node.op.op_type().to_string(),
        inputs: Vec::new(),
        weight: None,
        bias: None,
        outputs: node.outputs.clone(),
        pool_window: None,
        status: Status::Quantized,
    }
}

fn float(mut layer: Layer, reason: impl Into<String>) -> Layer {
    layer.kind = Kind::Other;
    layer.status = Status::Float(reason.into());
    layer
}

fn classify(view: &View, id: NodeId) -> Layer {
    let op = view.op(id);
    let node = view.g.node(id);
    let mut layer = base(view, id, Kind::Other);
    let produces_float = node.outputs.iter().all(|&o| view.activation(o));
    if node.outputs.is_empty() || !produces_float {
        return float(layer, "not a float32 computation");
    }
    let result = match op {
        "Conv" => conv(view, id, &mut layer),
        "MatMul" => matmul(view, id, &mut layer),
        "Gemm" => gemm(view, id, &mut layer),
        "AveragePool" | "GlobalAveragePool" => pool(view, id, &mut layer, Kind::AvgPool),
        "MaxPool" | "GlobalMaxPool" => pool(view, id, &mut layer, Kind::MaxPool),
        "Add" => all_activations(view, id, &mut layer, Kind::Add, 2),
        "Concat" => all_activations(view, id, &mut layer, Kind::Concat, node.inputs.len()),
        "Softmax" => all_activations(view, id, &mut layer, Kind::Softmax, 1),
        "Reshape" | "Flatten" | "Transpose" | "Squeeze" | "Unsqueeze" => {
            data_movement(view, id, &mut layer)
        }
        "Relu" | "Clip" => {
            Err("a standalone activation (not after Conv, MatMul, Gemm or Add)".into())
        }
        other => Err(format!("no int8 pattern for {other}")),
    };
    match result {
        Ok(()) => {
            if matches!(
                layer.kind,
                Kind::Conv | Kind::MatMul | Kind::Gemm | Kind::Add
            ) {
                fuse_activation(view, &mut layer);
            }
            layer
        }
        Err(reason) => float(layer, reason),
    }
}

fn activation_input(view: &View, id: NodeId, i: usize) -> Result<ValueId, String> {
    match view.input(id, i) {
        Some(v) if view.activation(v) => Ok(v),
        _ => Err(format!("input #{i} is not a float32 activation")),
    }
}

fn push_input(layer: &mut Layer, v: ValueId) {
    if !layer.inputs.contains(&v) {
        layer.inputs.push(v);
    }
}

fn conv(view: &View, id: NodeId, layer: &mut Layer) -> Result<(), String> {
    let x = activation_input(view, id, 0)?;
    let wv = view.input(id, 1).ok_or("no weight")?;
    let w = view
        .weight(wv)
        .ok_or("the weight is not a float32 constant")?;
    if w.rank() < 3 {
        return Err("the weight has rank < 3".into());
    }
    if let Some(b) = view.input(id, 2) {
        let t = view.weight(b).ok_or("the bias is not a float32 constant")?;
        if t.shape() != [w.shape()[0]] {
            return Err("the bias is not one value per output channel".into());
        }
        layer.bias = Some(b);
    }
    layer.kind = Kind::Conv;
    push_input(layer, x);
    layer.weight = Some(WeightUse {
        value: wv,
        axis: 0,
        in_axis: 1,
        reduction: w.shape()[1..].iter().product(),
    });
    Ok(())
}

/// A float32 constant of `n` values shaped `[n]` or `[1, n]`.
fn is_row_bias(view: &View, v: ValueId, n: usize) -> bool {
    view.weight(v)
        .is_some_and(|t| t.shape() == [n] || t.shape() == [1, n])
}

fn matmul(view: &View, id: NodeId, layer: &mut Layer) -> Result<(), String> {
    let x = activation_input(view, id, 0)?;
    let wv = view.input(id, 1).ok_or("no weight")?;
    let w = view
        .weight(wv)
        .ok_or("the second operand is not a float32 constant (activation × activation)")?;
    if w.rank() != 2 {
        return Err("the weight is not a matrix".into());
    }
    let (k, n) = (w.shape()[0], w.shape()[1]);
    layer.kind = Kind::MatMul;
    push_input(layer, x);
    layer.weight = Some(WeightUse {
        value: wv,
        axis: 1,
        in_axis: 0,
        reduction: k,
    });
    let y = layer.outputs[0];
    if let Some(add) = view.sole_consumer(y).filter(|&c| view.op(c) == "Add") {
        let other = view
            .g
            .node(add)
            .inputs
            .iter()
            .flatten()
            .find(|&&v| v != y)
            .copied();
        if let Some(b) = other.filter(|&b| is_row_bias(view, b, n)) {
            layer.bias = Some(b);
            layer.nodes.push(add);
            layer.outputs = view.g.node(add).outputs.clone();
            layer.label.push_str("+Add");
        }
    }
    Ok(())
}

fn gemm(view: &View, id: NodeId, layer: &mut Layer) -> Result<(), String> {
    let attrs = view.g.node(id).op.attrs();
    let int = |name: &str| match attrs.get(name) {
        Some(Attr::Int(v)) => *v,
        _ => 0,
    };
    let float = |name: &str| match attrs.get(name) {
        Some(Attr::Float(v)) => *v,
        _ => 1.0,
    };
    if int("transA") != 0 || float("alpha") != 1.0 || float("beta") != 1.0 {
        return Err("Gemm with transA, alpha or beta other than 0, 1, 1".into());
    }
    let x = activation_input(view, id, 0)?;
    let wv = view.input(id, 1).ok_or("no weight")?;
    let w = view.weight(wv).ok_or("B is not a float32 constant")?;
    if w.rank() != 2 {
        return Err("B is not a matrix".into());
    }
    let trans_b = int("transB") != 0;
    let (k, n, axis) = if trans_b {
        (w.shape()[1], w.shape()[0], 0)
    } else {
        (w.shape()[0], w.shape()[1], 1)
    };
    if let Some(c) = view.input(id, 2) {
        if !is_row_bias(view, c, n) {
            return Err("C is not a float32 constant of one value per output".into());
        }
        layer.bias = Some(c);
    }
    layer.kind = Kind::Gemm;
    push_input(layer, x);
    layer.weight = Some(WeightUse {
        value: wv,
        axis,
        in_axis: 1 - axis,
        reduction: k,
    });
    Ok(())
}

fn pool(view: &View, id: NodeId, layer: &mut Layer, kind: Kind) -> Result<(), String> {
    let x = activation_input(view, id, 0)?;
    if layer.outputs.len() != 1 {
        return Err("pooling with an indices output".into());
    }
    let attrs = view.g.node(id).op.attrs();
    layer.pool_window = match attrs.get("kernel_shape") {
        Some(Attr::Ints(k)) => Some(k.iter().map(|&d| d.max(1) as usize).product()),
        _ => view.facts[x.0]
            .as_ref()
            .map(|f| f.shape.iter().skip(2).product()),
    };
    layer.kind = kind;
    push_input(layer, x);
    Ok(())
}

fn all_activations(
    view: &View,
    id: NodeId,
    layer: &mut Layer,
    kind: Kind,
    n: usize,
) -> Result<(), String> {
    if view.g.node(id).inputs.len() != n || layer.outputs.len() != 1 {
        return Err(format!("expects {n} inputs and one output"));
    }
    for i in 0..n {
        let x = activation_input(view, id, i)?;
        push_input(layer, x);
    }
    layer.kind = kind;
    Ok(())
}

fn data_movement(view: &View, id: NodeId, layer: &mut Layer) -> Result<(), String> {
    let x = activation_input(view, id, 0)?;
    if layer.outputs.len() != 1 {
        return Err("data movement with several outputs".into());
    }
    layer.kind = Kind::Move;
    push_input(layer, x);
    Ok(())
}

fn fuse_activation(view: &View, layer: &mut Layer) {
    if let Some(act) = view.fused_activation(layer.outputs[0]) {
        layer.nodes.push(act);
        layer.outputs = view.g.node(act).outputs.clone();
        layer.label.push('+');
        layer.label.push_str(view.op(act));
    }
}

/// Applies `--keep-float` names and the first/last-layer rules. Unknown names are an error.
pub(crate) fn apply_keep_rules(
    view: &View,
    layers: &mut [Layer],
    keep: &[String],
    keep_first: bool,
    keep_last: bool,
) -> Result<(), QuantizeError> {
    for name in keep {
        if !view.g.nodes.iter().any(|n| &n.name == name) {
            return Err(QuantizeError::UnknownNode(name.clone()));
        }
    }
    for layer in layers.iter_mut() {
        let named = layer
            .nodes
            .iter()
            .find(|n| keep.contains(&view.g.node(**n).name));
        if let Some(n) = named {
            let name = &view.g.node(*n).name;
            layer.status = Status::Float(format!("--keep-float {name}"));
        }
    }
    let weighted: Vec<usize> = (0..layers.len())
        .filter(|&i| layers[i].kind.weighted())
        .collect();
    if keep_first {
        if let Some(&i) = weighted.first() {
            layers[i].status = Status::Float("rule: first weighted layer".into());
        }
    }
    if keep_last {
        if let Some(&i) = weighted.last() {
            layers[i].status = Status::Float("rule: last weighted layer".into());
        }
    }
    Ok(())
}

/// Which layer each node belongs to.
pub(crate) fn layer_of_node(layers: &[Layer], nodes: usize) -> Vec<usize> {
    let mut of = vec![usize::MAX; nodes];
    for (i, l) in layers.iter().enumerate() {
        for n in &l.nodes {
            of[n.0] = i;
        }
    }
    of
}

/// Reason given to data movement that stays in float.
pub(crate) const MOVE_BETWEEN_FLOATS: &str = "data movement between float layers";

/// Decides data-movement layers from their neighbours: one is quantized when its input comes from
/// a quantized layer or when a quantized layer reads its output (so the int8 path is never cut by a
/// reshape); otherwise it stays float. User-kept data movement stays float.
pub(crate) fn settle_data_movement(view: &View, layers: &mut [Layer], user_kept: &[bool]) {
    let of = layer_of_node(layers, view.g.nodes.len());
    let producers = view.g.producers();
    for (i, l) in layers.iter_mut().enumerate() {
        if l.kind == Kind::Move && !user_kept[i] {
            l.status = Status::Float(MOVE_BETWEEN_FLOATS.into());
        }
    }
    loop {
        let mut changed = false;
        for i in 0..layers.len() {
            if layers[i].kind != Kind::Move || user_kept[i] || layers[i].quantized() {
                continue;
            }
            let x = layers[i].inputs[0];
            let from_quantized = producers
                .get(&x)
                .is_some_and(|p| layers[of[p.0]].quantized());
            let to_quantized = view
                .consumers
                .get(&layers[i].output())
                .is_some_and(|cs| cs.iter().any(|c| layers[of[c.0]].quantized()));
            if from_quantized || to_quantized {
                layers[i].status = Status::Quantized;
                changed = true;
            }
        }
        if !changed {
            return;
        }
    }
}

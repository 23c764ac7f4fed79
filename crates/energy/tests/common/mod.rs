//! Small graphs built in code for hand-checkable energy tests.
#![allow(dead_code)]
use mw_ir::{build_op, Attr, Attrs, BuildCtx, DType, Dim, Graph, Node, Tensor, Value, ValueId};

pub struct G {
    pub g: Graph,
}

impl G {
    pub fn new() -> G {
        let mut g = Graph::default();
        g.meta.opset = 13;
        G { g }
    }

    pub fn input(&mut self, name: &str, dtype: DType, shape: &[usize]) -> ValueId {
        let v = self.g.add_value(Value {
            name: name.into(),
            dtype: Some(dtype),
            shape: Some(shape.iter().map(|&d| Dim::Fixed(d)).collect()),
            konst: None,
        });
        self.g.inputs.push(v);
        v
    }

    pub fn konst(&mut self, name: &str, t: Tensor) -> ValueId {
        self.g.add_value(Value::constant(name, t))
    }

    pub fn node(&mut self, name: &str, op: &str, attrs: Attrs, inputs: &[ValueId]) -> ValueId {
        let out = self.g.add_value(Value::named(format!("{name}:out")));
        let ctx = BuildCtx {
            opset: 13,
            n_inputs: inputs.len(),
            n_outputs: 1,
        };
        let op = build_op(op, &attrs, &ctx).unwrap().unwrap();
        self.g.nodes.push(Node {
            name: name.into(),
            op,
            inputs: inputs.iter().map(|v| Some(*v)).collect(),
            outputs: vec![out],
        });
        out
    }

    pub fn output(mut self, v: ValueId) -> Graph {
        self.g.outputs.push(v);
        self.g
    }
}

pub fn conv_attrs(k: usize, pad: usize, group: usize) -> Attrs {
    let mut a = Attrs::new();
    a.set("kernel_shape", Attr::Ints(vec![k as i64, k as i64]))
        .set("pads", Attr::Ints(vec![pad as i64; 4]))
        .set("group", Attr::Int(group as i64));
    a
}

/// Deterministic weights in [-1, 1) with every `zero_every`-th one zero (0: none).
pub fn weights_f32(n: usize, zero_every: usize) -> Vec<f32> {
    (0..n)
        .map(|i| {
            if zero_every > 0 && i % zero_every == 0 {
                0.0
            } else {
                ((i * 7919 % 2000) as f32 / 1000.0) - 0.999
            }
        })
        .collect()
}

/// `x [1, cin, hw, hw]` (f32) → Conv(W [cout, cin, k, k], pads) → y.
pub fn float_conv(cin: usize, cout: usize, k: usize, hw: usize, pad: usize) -> Graph {
    let mut b = G::new();
    let x = b.input("x", DType::F32, &[1, cin, hw, hw]);
    let w = b.konst(
        "w",
        Tensor::from_vec(vec![cout, cin, k, k], weights_f32(cout * cin * k * k, 0)).unwrap(),
    );
    let y = b.node("conv", "Conv", conv_attrs(k, pad, 1), &[x, w]);
    b.output(y)
}

/// The QDQ form of an int8 conv: `x (int8) → DQ → Conv(DQ(W int8, per-channel)) → Relu → Q → y
/// (int8)`. Every `zero_every`-th weight is zero.
pub fn qdq_conv(
    cin: usize,
    cout: usize,
    k: usize,
    hw: usize,
    pad: usize,
    zero_every: usize,
) -> Graph {
    let mut b = G::new();
    let x = b.input("x", DType::I8, &[1, cin, hw, hw]);
    let sx = b.konst("sx", Tensor::scalar(0.05f32));
    let zx = b.konst("zx", Tensor::scalar(0i8));
    let xdq = b.node("x_dq", "DequantizeLinear", Attrs::new(), &[x, sx, zx]);
    let n = cout * cin * k * k;
    let wq: Vec<i8> = weights_f32(n, zero_every)
        .iter()
        .map(|v| (v * 127.0).round() as i8)
        .collect();
    let wq = b.konst("w_q", Tensor::from_vec(vec![cout, cin, k, k], wq).unwrap());
    let sw = b.konst(
        "sw",
        Tensor::from_vec(vec![cout], vec![0.01f32; cout]).unwrap(),
    );
    let zw = b.konst("zw", Tensor::from_vec(vec![cout], vec![0i8; cout]).unwrap());
    let mut axis0 = Attrs::new();
    axis0.set("axis", Attr::Int(0));
    let wdq = b.node("w_dq", "DequantizeLinear", axis0, &[wq, sw, zw]);
    let conv = b.node("conv", "Conv", conv_attrs(k, pad, 1), &[xdq, wdq]);
    let relu = b.node("relu", "Relu", Attrs::new(), &[conv]);
    let sy = b.konst("sy", Tensor::scalar(0.1f32));
    let zy = b.konst("zy", Tensor::scalar(-128i8));
    let y = b.node("y_q", "QuantizeLinear", Attrs::new(), &[relu, sy, zy]);
    b.output(y)
}

//! Small float graphs and deterministic data for the quantizer's tests.
#![allow(dead_code)]

use mw_ir::{build_op, Attr, Attrs, BuildCtx, DType, Dim, Graph, ModelMeta, Node, Value, ValueId};
use mw_tensor::Tensor;

/// SplitMix64 with Box–Muller normals: the same numbers on every platform.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn normal(&mut self) -> f32 {
        let u1 = self.uniform().max(1e-300);
        let u2 = self.uniform();
        ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
    }

    pub fn tensor(&mut self, shape: &[usize], std: f32) -> Tensor {
        let n = shape.iter().product();
        let v = (0..n).map(|_| std * self.normal()).collect();
        Tensor::from_vec(shape.to_vec(), v).unwrap()
    }
}

/// Builds a graph node by node (one output per node, named `<node>:0`).
pub struct Builder {
    pub g: Graph,
}

impl Builder {
    pub fn new() -> Builder {
        Builder {
            g: Graph {
                meta: ModelMeta {
                    ir_version: 8,
                    opset: 13,
                    ..Default::default()
                },
                ..Default::default()
            },
        }
    }

    /// A float input whose axis 0 is a symbolic batch.
    pub fn input(&mut self, name: &str, shape: &[usize]) -> ValueId {
        let mut dims = vec![Dim::Symbol("N".into())];
        dims.extend(shape.iter().map(|&d| Dim::Fixed(d)));
        let id = self.g.add_value(Value {
            name: name.into(),
            dtype: Some(DType::F32),
            shape: Some(dims),
            konst: None,
        });
        self.g.inputs.push(id);
        id
    }

    pub fn konst(&mut self, name: &str, t: Tensor) -> ValueId {
        self.g.add_value(Value::constant(name, t))
    }

    pub fn node(&mut self, op: &str, name: &str, attrs: Attrs, inputs: &[ValueId]) -> ValueId {
        let ctx = BuildCtx {
            opset: 13,
            n_inputs: inputs.len(),
            n_outputs: 1,
        };
        let op = build_op(op, &attrs, &ctx).unwrap().unwrap();
        let out = self.g.add_value(Value::named(format!("{name}:0")));
        self.g.nodes.push(Node {
            name: name.into(),
            op,
            inputs: inputs.iter().map(|&v| Some(v)).collect(),
            outputs: vec![out],
        });
        out
    }

    pub fn output(&mut self, v: ValueId) {
        self.g.outputs.push(v);
    }
}

pub fn ints(v: &[i64]) -> Attr {
    Attr::Ints(v.to_vec())
}

/// x [N,2,8,8] → Conv(3×3, 8) + Relu → depthwise Conv + Relu → Add(both) + Relu →
/// GlobalAveragePool → Flatten → MatMul [8,5] + Add bias → Softmax → `probs`.
pub fn small_cnn(seed: u64) -> Graph {
    let mut r = Rng::new(seed);
    let mut b = Builder::new();
    let x = b.input("x", &[2, 8, 8]);
    let pads = Attrs::new()
        .with("pads", ints(&[1, 1, 1, 1]))
        .with("kernel_shape", ints(&[3, 3]));
    let w1 = b.konst("w1", r.tensor(&[8, 2, 3, 3], 0.3));
    let b1 = b.konst("b1", r.tensor(&[8], 0.1));
    let c1 = b.node("Conv", "conv1", pads.clone(), &[x, w1, b1]);
    let a1 = b.node("Relu", "relu1", Attrs::new(), &[c1]);
    let w2 = b.konst("w2", r.tensor(&[8, 1, 3, 3], 0.4));
    let b2 = b.konst("b2", r.tensor(&[8], 0.1));
    let dw = pads.with("group", Attr::Int(8));
    let c2 = b.node("Conv", "conv2", dw, &[a1, w2, b2]);
    let a2 = b.node("Relu", "relu2", Attrs::new(), &[c2]);
    let s = b.node("Add", "add", Attrs::new(), &[a1, a2]);
    let a3 = b.node("Relu", "relu3", Attrs::new(), &[s]);
    let p = b.node("GlobalAveragePool", "gap", Attrs::new(), &[a3]);
    let f = b.node("Flatten", "flatten", Attrs::new(), &[p]);
    let w3 = b.konst("w3", r.tensor(&[8, 5], 0.5));
    let m = b.node("MatMul", "fc", Attrs::new(), &[f, w3]);
    let b3 = b.konst("b3", r.tensor(&[5], 0.1));
    let l = b.node("Add", "fc_bias", Attrs::new(), &[m, b3]);
    let y = b.node("Softmax", "softmax", Attrs::new(), &[l]);
    b.g.value_mut(y).name = "probs".into();
    b.output(y);
    b.g
}

/// `count` batches of `rows` examples of shape `shape`, N(0, 1).
pub fn batches(seed: u64, count: usize, rows: usize, shape: &[usize]) -> Vec<Tensor> {
    let mut r = Rng::new(seed);
    let mut full = vec![rows];
    full.extend_from_slice(shape);
    (0..count).map(|_| r.tensor(&full, 1.0)).collect()
}

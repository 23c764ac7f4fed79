//! `lower_qdq` on QDQ graphs with 16-bit activations (A16) and 4-bit, ternary and binary weights:
//! the patterns lower to integer ops that keep the weights packed (`mw_kernels::lowbit`), and, fed
//! the QDQ graph's own quantized values layer by layer, each integer op is within one step of the
//! float QDQ computation.
use mw_ir::passes::{integer_only, lower_qdq};
use mw_ir::{build_op, Attr, Attrs, BuildCtx, Dim, Graph, ModelMeta, Node, Value, ValueId};
use mw_tensor::{DType, Data, Element, Tensor};
use std::collections::HashMap;

/// A small graph builder.
struct B {
    g: Graph,
    rng: u64,
}

impl B {
    fn new() -> B {
        B {
            g: Graph {
                meta: ModelMeta {
                    opset: 13,
                    ir_version: 8,
                    ..Default::default()
                },
                ..Default::default()
            },
            rng: 0x9e37_79b9_7f4a_7c15,
        }
    }

    fn next(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * ((self.next() >> 40) as f32 / (1u64 << 24) as f32)
    }

    fn input(&mut self, name: &str, shape: &[usize]) -> ValueId {
        let id = self.g.add_value(Value {
            name: name.into(),
            dtype: Some(DType::F32),
            shape: Some(shape.iter().map(|&d| Dim::Fixed(d)).collect()),
            konst: None,
        });
        self.g.inputs.push(id);
        id
    }

    fn konst<T: Element>(&mut self, name: &str, shape: &[usize], v: Vec<T>) -> ValueId {
        let t = Tensor::from_vec(shape.to_vec(), v).unwrap();
        self.g.add_value(Value::constant(name, t))
    }

    fn node(&mut self, op: &str, attrs: Attrs, inputs: &[Option<ValueId>], out: &str) -> ValueId {
        let ctx = BuildCtx {
            opset: 13,
            n_inputs: inputs.len(),
            n_outputs: 1,
        };
        let o = self.g.add_value(Value::named(out));
        self.g.nodes.push(Node {
            name: format!("{out}_node"),
            op: build_op(op, &attrs, &ctx).unwrap().unwrap(),
            inputs: inputs.to_vec(),
            outputs: vec![o],
        });
        o
    }

    /// `QuantizeLinear(x)` to `dtype` (i8 or i16) with `scale`, `zp`, then its DequantizeLinear.
    fn qdq(
        &mut self,
        x: ValueId,
        name: &str,
        scale: f32,
        zp: i32,
        dtype: DType,
    ) -> (ValueId, ValueId) {
        let s = self.konst(&format!("{name}_scale"), &[], vec![scale]);
        let z = match dtype {
            DType::I16 => self.konst(&format!("{name}_zp"), &[], vec![zp as i16]),
            DType::U8 => self.konst(&format!("{name}_zp"), &[], vec![zp as u8]),
            _ => self.konst(&format!("{name}_zp"), &[], vec![zp as i8]),
        };
        let q = self.node(
            "QuantizeLinear",
            Attrs::new(),
            &[Some(x), Some(s), Some(z)],
            name,
        );
        let dq = self.node(
            "DequantizeLinear",
            Attrs::new(),
            &[Some(q), Some(s), Some(z)],
            &format!("{name}_dq"),
        );
        (q, dq)
    }

    /// Random symmetric weights in `[-max, max]` (only `±1` when `max` is 0: binary), stored as
    /// INT4 when `int4`, with per-`axis` scales, dequantized.
    fn weights(
        &mut self,
        name: &str,
        shape: &[usize],
        axis: usize,
        scale: f32,
        max: i32,
        int4: bool,
    ) -> ValueId {
        let n: usize = shape.iter().product();
        let w: Vec<i8> = (0..n)
            .map(|_| match max {
                0 => (self.next() % 2) as i8 * 2 - 1,
                m => ((self.next() % (2 * m as u64 + 1)) as i32 - m) as i8,
            })
            .collect();
        let c = shape[axis];
        let scales: Vec<f32> = (0..c).map(|_| scale * self.uniform(0.5, 1.5)).collect();
        let (wq, z) = if int4 {
            let t = Tensor::new(shape.to_vec(), Data::I4(w)).unwrap();
            let zt = Tensor::new(vec![c], Data::I4(vec![0; c])).unwrap();
            (
                self.g.add_value(Value::constant(format!("{name}_q"), t)),
                self.g.add_value(Value::constant(format!("{name}_zp"), zt)),
            )
        } else {
            (
                self.konst(&format!("{name}_q"), shape, w),
                self.konst(&format!("{name}_zp"), &[c], vec![0i8; c]),
            )
        };
        let s = self.konst(&format!("{name}_scale"), &[c], scales);
        let a = Attrs::new().with("axis", Attr::Int(axis as i64));
        self.node("DequantizeLinear", a, &[Some(wq), Some(s), Some(z)], name)
    }

    /// Random int32 bias of scale `x_scale · w_scale[c]`, dequantized.
    fn bias(&mut self, name: &str, x_scale: f32, w: ValueId) -> ValueId {
        let ws = self.scales_of(w);
        let c = ws.len();
        let b: Vec<i32> = (0..c).map(|_| (self.next() % 2001) as i32 - 1000).collect();
        let s: Vec<f32> = ws.iter().map(|w| x_scale * w).collect();
        let bq = self.konst(&format!("{name}_q"), &[c], b);
        let sv = self.konst(&format!("{name}_scale"), &[c], s);
        self.node(
            "DequantizeLinear",
            Attrs::new().with("axis", Attr::Int(0)),
            &[Some(bq), Some(sv)],
            name,
        )
    }

    fn scales_of(&self, dq_out: ValueId) -> Vec<f32> {
        let n = self
            .g
            .nodes
            .iter()
            .find(|n| n.outputs[0] == dq_out)
            .unwrap();
        let s = n.inputs[1].unwrap();
        self.g
            .value(s)
            .konst
            .as_ref()
            .unwrap()
            .as_slice::<f32>()
            .unwrap()
            .to_vec()
    }

    fn output(&mut self, v: ValueId) {
        self.g.outputs.push(v);
    }
}

fn ints(v: &[i64]) -> Attr {
    Attr::Ints(v.to_vec())
}

/// Evaluates every node; with `forced`, values of those names replace ours for later nodes.
/// Returns every value by name.
fn run(g: &Graph, x: &Tensor, forced: Option<&HashMap<String, Tensor>>) -> HashMap<String, Tensor> {
    let mut slots: Vec<Option<Tensor>> = g
        .values
        .iter()
        .map(|v| v.konst.as_deref().cloned())
        .collect();
    slots[g.inputs[0].0] = Some(x.clone());
    let mut all = HashMap::new();
    for n in &g.nodes {
        let ins: Vec<Option<&Tensor>> = n
            .inputs
            .iter()
            .map(|v| v.and_then(|v| slots[v.0].as_ref()))
            .collect();
        let outs =
            n.op.eval(&ins)
                .unwrap_or_else(|e| panic!("{} ({}): {e}", n.name, n.op.op_type()));
        for (&o, t) in n.outputs.iter().zip(outs) {
            let name = g.value(o).name.clone();
            all.insert(name.clone(), t.clone());
            slots[o.0] = Some(forced.and_then(|f| f.get(&name)).cloned().unwrap_or(t));
        }
    }
    all
}

fn random_input(b: &mut B, shape: &[usize], lo: f32, hi: f32) -> Tensor {
    let n: usize = shape.iter().product();
    Tensor::from_vec(shape.to_vec(), (0..n).map(|_| b.uniform(lo, hi)).collect()).unwrap()
}

/// Lowers `g` and compares every quantized value with the QDQ graph's (fed the QDQ graph's
/// previous values): within one step, and mostly equal. Returns the lowered graph and the lint.
fn check(g: &Graph, x: &Tensor) -> (Graph, mw_ir::passes::IntegerOnlyReport) {
    let (lowered, report) = lower_qdq(g).unwrap();
    let lint = integer_only(&lowered, Some(&report)).unwrap();
    let q_names: Vec<String> = g
        .nodes
        .iter()
        .filter(|n| n.op.op_type() == "QuantizeLinear")
        .map(|n| g.value(n.outputs[0]).name.clone())
        .collect();
    let reference = run(g, x, None);
    let forced: HashMap<String, Tensor> = q_names
        .iter()
        .map(|n| (n.clone(), reference[n].clone()))
        .collect();
    let ours = run(&lowered, x, Some(&forced));
    let (mut equal, mut total) = (0, 0);
    for name in &q_names {
        let (a, b) = (&ours[name], &reference[name]);
        assert_eq!((a.dtype(), a.shape()), (b.dtype(), b.shape()), "{name}");
        let (a, b) = (a.to_f64_vec(), b.to_f64_vec());
        for (p, q) in a.iter().zip(&b) {
            assert!((p - q).abs() <= 1.0, "{name}: {p} vs {q}");
        }
        equal += a.iter().zip(&b).filter(|(p, q)| p == q).count();
        total += a.len();
    }
    assert!(equal as f64 >= 0.95 * total as f64, "{equal}/{total} equal");
    (lowered, lint)
}

/// A DS-CNN-like W4A16 graph: INT4 conv + ReLU, binary depthwise conv, ternary pointwise conv,
/// average pool, flatten, int8 MatMul + bias, Softmax.
fn a16_graph(b: &mut B) -> ValueId {
    let i16_ = DType::I16;
    let x = b.input("x", &[1, 2, 7, 5]);
    let (_, x_dq) = b.qdq(x, "x_q", 0.0005, 0, i16_);
    let w1 = b.weights("w1", &[6, 2, 3, 3], 0, 0.05, 7, true);
    let b1 = b.bias("b1", 0.0005, w1);
    let pads = Attrs::new().with("pads", ints(&[1, 1, 1, 1]));
    let c1 = b.node("Conv", pads, &[Some(x_dq), Some(w1), Some(b1)], "c1");
    let r1 = b.node("Relu", Attrs::new(), &[Some(c1)], "r1");
    let (_, a1) = b.qdq(r1, "c1_q", 0.0004, -32768, i16_);
    let w2 = b.weights("w2", &[6, 1, 3, 3], 0, 0.08, 0, true);
    let dw = Attrs::new()
        .with("group", Attr::Int(6))
        .with("pads", ints(&[1, 1, 1, 1]));
    let c2 = b.node("Conv", dw, &[Some(a1), Some(w2)], "c2");
    let r2 = b.node("Relu", Attrs::new(), &[Some(c2)], "r2");
    let (_, a2) = b.qdq(r2, "c2_q", 0.001, -32768, i16_);
    let w3 = b.weights("w3", &[5, 6, 1, 1], 0, 0.1, 1, true);
    let c3 = b.node("Conv", Attrs::new(), &[Some(a2), Some(w3)], "c3");
    let (_, a3) = b.qdq(c3, "c3_q", 0.001, 0, i16_);
    let pool = Attrs::new().with("kernel_shape", ints(&[7, 5]));
    let p = b.node("AveragePool", pool, &[Some(a3)], "pool");
    let (_, a4) = b.qdq(p, "pool_q", 0.0003, 0, i16_);
    let shape = b.konst("flat_shape", &[2], vec![1i64, 5]);
    let f = b.node("Reshape", Attrs::new(), &[Some(a4), Some(shape)], "flat");
    let (_, a5) = b.qdq(f, "flat_q", 0.0003, 0, i16_);
    let w4 = b.weights("w4", &[5, 4], 1, 0.01, 127, false);
    let b4 = b.bias("b4", 0.0003, w4);
    let mm = b.node("MatMul", Attrs::new(), &[Some(a5), Some(w4)], "mm");
    let add = b.node("Add", Attrs::new(), &[Some(mm), Some(b4)], "fc");
    let (_, logits) = b.qdq(add, "fc_q", 0.0002, 0, i16_);
    let sm = b.node("Softmax", Attrs::new(), &[Some(logits)], "sm");
    let (_, probs) = b.qdq(sm, "sm_q", 1.0 / 32768.0, 0, i16_);
    b.output(probs);
    probs
}

#[test]
fn a16_and_packed_weights_lower_to_integer_ops() {
    let mut b = B::new();
    a16_graph(&mut b);
    let input = random_input(&mut b, &[1, 2, 7, 5], -4.0, 4.0);
    let (lowered, lint) = check(&b.g, &input);
    let ops: Vec<&str> = lowered.nodes.iter().map(|n| n.op.op_type()).collect();
    assert_eq!(
        ops,
        [
            "QuantizeLinear",
            "QLinearConv",
            "QLinearConv",
            "QLinearConv",
            "MwQAvgPool",
            "Reshape",
            "MwQGemm",
            "MwQSoftmax",
            "DequantizeLinear",
        ]
    );
    // The 4-bit weights stay INT4 constants (packed by the op), not widened to int8.
    let conv = &lowered.nodes[1];
    let w = lowered
        .value(conv.inputs[3].unwrap())
        .konst
        .as_ref()
        .unwrap();
    assert_eq!(w.dtype(), DType::I4);
    // The 16-bit Softmax lowers too: nothing between entry and exit computes in float.
    assert!(lint.is_integer_only(), "{:?}", lint.float_ops);
    assert_eq!(lint.integer_nodes, 7, "{lint:?}");
}

/// Softmax of 16-bit logits into 8-bit probabilities and of 8-bit logits into 16-bit ones (the
/// boundaries of a mixed-precision model) lower to MwQSoftmax, within one step of the QDQ graph.
#[test]
fn softmax_between_8_and_16_bits_lowers() {
    for (x_type, x_zp, y_type, y_zp) in [
        (DType::I16, 8324, DType::I8, -128),
        (DType::I16, 0, DType::U8, 0),
        (DType::I8, 5, DType::I16, -32768),
    ] {
        let mut b = B::new();
        let x = b.input("x", &[3, 12]);
        let scale = if x_type == DType::I16 { 0.0006 } else { 0.08 };
        let (_, logits) = b.qdq(x, "x_q", scale, x_zp, x_type);
        let sm = b.node("Softmax", Attrs::new(), &[Some(logits)], "sm");
        let y_scale = if y_type == DType::I16 {
            1.0 / 65536.0
        } else {
            1.0 / 256.0
        };
        let (_, probs) = b.qdq(sm, "sm_q", y_scale, y_zp, y_type);
        b.output(probs);
        let input = random_input(&mut b, &[3, 12], -8.0, 8.0);
        let (lowered, lint) = check(&b.g, &input);
        let ops: Vec<&str> = lowered.nodes.iter().map(|n| n.op.op_type()).collect();
        assert_eq!(
            ops,
            ["QuantizeLinear", "MwQSoftmax", "DequantizeLinear"],
            "{x_type} → {y_type}"
        );
        assert!(lint.is_integer_only(), "{:?}", lint.float_ops);
    }
}

#[test]
fn w4a8_keeps_int4_weights_and_matches_the_qdq_graph() {
    let mut b = B::new();
    let x = b.input("x", &[2, 3, 6, 6]);
    let (_, x_dq) = b.qdq(x, "x_q", 0.02, 3, DType::I8);
    let w1 = b.weights("w1", &[8, 3, 3, 3], 0, 0.05, 7, true);
    let b1 = b.bias("b1", 0.02, w1);
    let c1 = b.node(
        "Conv",
        Attrs::new(),
        &[Some(x_dq), Some(w1), Some(b1)],
        "c1",
    );
    let r1 = b.node("Relu", Attrs::new(), &[Some(c1)], "r1");
    let (_, a1) = b.qdq(r1, "c1_q", 0.05, -128, DType::I8);
    let shape = b.konst("flat_shape", &[2], vec![2i64, 128]);
    let f = b.node("Reshape", Attrs::new(), &[Some(a1), Some(shape)], "flat");
    let (_, a2) = b.qdq(f, "flat_q", 0.05, -128, DType::I8);
    let w2 = b.weights("w2", &[128, 4], 1, 0.02, 0, true);
    let mm = b.node("MatMul", Attrs::new(), &[Some(a2), Some(w2)], "mm");
    let (_, y) = b.qdq(mm, "mm_q", 0.1, 0, DType::I8);
    b.output(y);
    let input = random_input(&mut b, &[2, 3, 6, 6], -1.0, 2.0);
    let (lowered, lint) = check(&b.g, &input);
    assert!(lint.is_integer_only(), "{:?}", lint.float_ops);
    let i4 = lowered
        .nodes
        .iter()
        .filter(|n| n.op.op_type().starts_with("QLinear") || n.op.op_type() == "MwQGemm")
        .filter(|n| {
            let w = lowered.value(n.inputs[3].unwrap()).konst.as_ref().unwrap();
            w.dtype() == DType::I4
        })
        .count();
    assert_eq!(i4, 2);
}

/// The lowered graph's op types, in order.
fn ops(g: &Graph) -> Vec<&str> {
    g.nodes.iter().map(|n| n.op.op_type()).collect()
}

/// A residual Add of 16-bit activations (and 16-bit with 8-bit, broadcast) lowers to MwQAdd:
/// no float op remains, each output within one step of the QDQ graph's.
#[test]
fn a16_add_lowers_to_mw_qadd() {
    for (a_type, b_type, y_type, y_zp) in [
        (DType::I16, DType::I16, DType::I16, 0),
        (DType::I16, DType::I8, DType::I16, -300),
        (DType::I8, DType::I16, DType::U8, 128),
        (DType::I8, DType::I8, DType::I16, 7),
    ] {
        let mut b = B::new();
        let x = b.input("x", &[3, 8]);
        let step = |t: DType, s8: f32| if t == DType::I16 { s8 / 256.0 } else { s8 };
        let (_, xa) = b.qdq(x, "xa_q", step(a_type, 0.03), 0, a_type);
        // The skip input is row 1 of x, broadcast over the rows.
        let (_, xs) = b.qdq(x, "xs_q", step(b_type, 0.011), 3, b_type);
        let (starts, ends) = (
            b.konst("starts", &[1], vec![1i64]),
            b.konst("ends", &[1], vec![2i64]),
        );
        let row = b.node(
            "Slice",
            Attrs::new(),
            &[Some(xs), Some(starts), Some(ends)],
            "row",
        );
        let (_, xb) = b.qdq(row, "xb_q", step(b_type, 0.011), 3, b_type);
        let add = b.node("Add", Attrs::new(), &[Some(xa), Some(xb)], "add");
        let relu = b.node("Relu", Attrs::new(), &[Some(add)], "relu");
        let (_, out) = b.qdq(relu, "add_q", step(y_type, 0.04), y_zp, y_type);
        b.output(out);
        let input = random_input(&mut b, &[3, 8], -3.0, 3.0);
        let (lowered, lint) = check(&b.g, &input);
        assert!(lint.is_integer_only(), "{:?}", lint.float_ops);
        assert!(ops(&lowered).contains(&"MwQAdd"), "{:?}", ops(&lowered));
        assert!(
            !ops(&lowered).contains(&"Add"),
            "{a_type} + {b_type} → {y_type}"
        );
    }
}

/// Concat of 8- and 16-bit inputs into a 16-bit output: the 8-bit input is re-quantized to the
/// output's type and parameters, the 16-bit one with equal parameters is taken as is.
#[test]
fn concat_of_mixed_widths_lowers() {
    let mut b = B::new();
    let x = b.input("x", &[2, 5]);
    let (_, x8) = b.qdq(x, "x8_q", 0.02, -4, DType::I8);
    let (_, x16) = b.qdq(x, "x16_q", 0.0001, 0, DType::I16);
    let attrs = Attrs::new().with("axis", Attr::Int(1));
    let cat = b.node("Concat", attrs, &[Some(x8), Some(x16)], "cat");
    let (_, out) = b.qdq(cat, "cat_q", 0.0001, 0, DType::I16);
    b.output(out);
    let input = random_input(&mut b, &[2, 5], -2.0, 2.0);
    let (lowered, lint) = check(&b.g, &input);
    assert!(lint.is_integer_only(), "{:?}", lint.float_ops);
    let ops = ops(&lowered);
    assert_eq!(
        ops.iter().filter(|&&o| o == "MwQRequantize").count(),
        1,
        "{ops:?}"
    );
    assert!(ops.contains(&"Concat"), "{ops:?}");
}

/// Re-quantizations between 16 and 8 bits (a lone ReLU between two quantized tensors, and a
/// plain DQ → Q with new parameters) lower to MwQRequantize.
#[test]
fn a16_requantizations_lower() {
    let mut b = B::new();
    let x = b.input("x", &[4, 6]);
    let (_, a) = b.qdq(x, "a_q", 0.0002, 100, DType::I16);
    let relu = b.node("Relu", Attrs::new(), &[Some(a)], "relu");
    let (_, r) = b.qdq(relu, "r_q", 0.02, -128, DType::I8);
    let (_, w) = b.qdq(r, "w_q", 0.00007, -32768, DType::I16);
    b.output(w);
    let input = random_input(&mut b, &[4, 6], -4.0, 4.0);
    let (lowered, lint) = check(&b.g, &input);
    assert!(lint.is_integer_only(), "{:?}", lint.float_ops);
    assert_eq!(
        ops(&lowered),
        [
            "QuantizeLinear",
            "MwQRequantize",
            "MwQRequantize",
            "DequantizeLinear"
        ]
    );
}

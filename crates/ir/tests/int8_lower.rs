//! `lower_qdq` and the `integer_only` lint on hand-built QDQ graphs: every pattern lowers, the
//! lowered graph keeps each QuantizeLinear output (name, dtype, shape) and, fed the QDQ graph's own
//! 8-bit values layer by layer, each integer op is within 1 of the float QDQ computation.
use mw_ir::passes::{integer_only, lower_qdq};
use mw_ir::{build_op, Attr, Attrs, BuildCtx, Dim, Graph, ModelMeta, Node, Value, ValueId};
use mw_tensor::{DType, Element, Tensor};
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

    /// `QuantizeLinear(x)` to i8 (or u8) with `scale`, `zp`, then its DequantizeLinear.
    fn qdq(&mut self, x: ValueId, name: &str, scale: f32, zp: i32, u8: bool) -> (ValueId, ValueId) {
        let s = self.konst(&format!("{name}_scale"), &[], vec![scale]);
        let z = if u8 {
            self.konst(&format!("{name}_zp"), &[], vec![zp as u8])
        } else {
            self.konst(&format!("{name}_zp"), &[], vec![zp as i8])
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

    /// Random symmetric int8 weights with per-`axis` scales, dequantized.
    fn weights(&mut self, name: &str, shape: &[usize], axis: usize, scale: f32) -> ValueId {
        let n: usize = shape.iter().product();
        let w: Vec<i8> = (0..n)
            .map(|_| ((self.next() % 255) as i32 - 127) as i8)
            .collect();
        let c = shape[axis];
        let scales: Vec<f32> = (0..c).map(|_| scale * self.uniform(0.5, 1.5)).collect();
        let wq = self.konst(&format!("{name}_q"), shape, w);
        let s = self.konst(&format!("{name}_scale"), &[c], scales);
        let z = self.konst(&format!("{name}_zp"), &[c], vec![0i8; c]);
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

/// Lowers `g`, checks zero float ops and each quantized value within 1 of the QDQ graph's when fed
/// the QDQ graph's previous values. Returns the lowered graph.
fn check_lowering(g: &Graph, x: &Tensor, expect_lowered: usize) -> Graph {
    let (lowered, report) = lower_qdq(g).unwrap();
    assert!(report.untouched.is_empty(), "{:?}", report.untouched);
    assert_eq!(report.changed.len(), expect_lowered, "{:?}", report.changed);
    let lint = integer_only(&lowered, Some(&report)).unwrap();
    assert!(lint.is_integer_only(), "{:?}", lint.float_ops);
    assert!(lint.integer_nodes >= expect_lowered);
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
    let mut equal = 0;
    let mut total = 0;
    for name in &q_names {
        let (a, b) = (&ours[name], &reference[name]);
        assert_eq!((a.dtype(), a.shape()), (b.dtype(), b.shape()), "{name}");
        let (a, b) = (a.to_f64_vec(), b.to_f64_vec());
        let same = a.iter().zip(&b).filter(|(p, q)| p == q).count();
        println!("{name}: {same}/{} equal", a.len());
        for (p, q) in a.iter().zip(&b) {
            assert!((p - q).abs() <= 1.0, "{name}: {p} vs {q}");
        }
        equal += same;
        total += a.len();
    }
    assert!(equal as f64 >= 0.98 * total as f64, "{equal}/{total} equal");
    lowered
}

#[test]
fn cnn_patterns_lower_to_integer_ops() {
    let mut b = B::new();
    let x = b.input("x", &[2, 3, 6, 6]);
    let (_, x_dq) = b.qdq(x, "x_q", 0.02, 3, false);
    let w1 = b.weights("w1", &[4, 3, 3, 3], 0, 0.004);
    let b1 = b.bias("b1", 0.02, w1);
    let c1 = b.node(
        "Conv",
        Attrs::new().with("pads", ints(&[1, 1, 1, 1])),
        &[Some(x_dq), Some(w1), Some(b1)],
        "c1",
    );
    let lo = b.konst("six_lo", &[], vec![0f32]);
    let hi = b.konst("six_hi", &[], vec![6f32]);
    let r1 = b.node("Clip", Attrs::new(), &[Some(c1), Some(lo), Some(hi)], "r1");
    let (_, a1) = b.qdq(r1, "c1_q", 0.03, -100, false);
    let w2 = b.weights("w2", &[4, 1, 3, 3], 0, 0.01);
    let b2 = b.bias("b2", 0.03, w2);
    let dw = Attrs::new()
        .with("group", Attr::Int(4))
        .with("strides", ints(&[2, 2]))
        .with("pads", ints(&[1, 1, 1, 1]));
    let c2 = b.node("Conv", dw, &[Some(a1), Some(w2), Some(b2)], "c2");
    let r2 = b.node("Relu", Attrs::new(), &[Some(c2)], "r2");
    let (_, a2) = b.qdq(r2, "c2_q", 0.05, -128, false);
    let pool = Attrs::new().with("kernel_shape", ints(&[2, 2]));
    let p = b.node("AveragePool", pool, &[Some(a2)], "pool");
    let (_, a3) = b.qdq(p, "pool_q", 0.04, -128, false);
    let mp = b.node(
        "MaxPool",
        Attrs::new().with("kernel_shape", ints(&[2, 2])),
        &[Some(a3)],
        "mp",
    );
    let (_, a4) = b.qdq(mp, "mp_q", 0.04, -128, false);
    let gp = b.node("GlobalAveragePool", Attrs::new(), &[Some(a4)], "gap");
    let (_, a5) = b.qdq(gp, "gap_q", 0.035, -128, false);
    let f = b.node("Flatten", Attrs::new(), &[Some(a5)], "flat");
    let (_, a6) = b.qdq(f, "flat_q", 0.035, -128, false);
    let w3 = b.weights("w3", &[4, 5], 1, 0.01);
    let b3 = b.bias("b3", 0.035, w3);
    let mm = b.node("MatMul", Attrs::new(), &[Some(a6), Some(w3)], "mm");
    let add = b.node("Add", Attrs::new(), &[Some(mm), Some(b3)], "fc");
    let (_, logits) = b.qdq(add, "fc_q", 0.01, 5, false);
    let sm = b.node("Softmax", Attrs::new(), &[Some(logits)], "sm");
    let (_, probs) = b.qdq(sm, "sm_q", 1.0 / 256.0, -128, false);
    b.output(probs);
    let input = random_input(&mut b, &[2, 3, 6, 6], -1.0, 2.0);
    let lowered = check_lowering(&b.g, &input, 8);
    let ops: Vec<&str> = lowered.nodes.iter().map(|n| n.op.op_type()).collect();
    assert_eq!(
        ops,
        [
            "QuantizeLinear",
            "MwQLinearConv",
            "QLinearConv",
            "MwQAvgPool",
            "MaxPool",
            "MwQGlobalAvgPool",
            "Flatten",
            "MwQGemm",
            "MwQSoftmax",
            "DequantizeLinear"
        ]
    );
    let conv = &lowered.nodes[1];
    assert_eq!(conv.op.attrs().get("qmin"), Some(&Attr::Int(-100)));
    assert_eq!(conv.op.attrs().get("qmax"), Some(&Attr::Int(100)));
    assert_eq!(
        lowered.value(lowered.outputs[0]).name,
        b.g.value(probs).name
    );
}

#[test]
fn branches_add_concat_gemm_and_uint8() {
    let mut b = B::new();
    let x = b.input("x", &[1, 2, 3, 3]);
    let (_, x_dq) = b.qdq(x, "x_q", 0.01, 128, true);
    let wa = b.weights("wa", &[3, 2, 1, 1], 0, 0.01);
    let ca = b.node("Conv", Attrs::new(), &[Some(x_dq), Some(wa)], "ca");
    let (_, a) = b.qdq(ca, "ca_q", 0.02, 120, true);
    let wb = b.weights("wb", &[3, 2, 1, 1], 0, 0.02);
    let cb = b.node("Conv", Attrs::new(), &[Some(x_dq), Some(wb)], "cb");
    let (_, bb) = b.qdq(cb, "cb_q", 0.03, 100, true);
    let sum = b.node("Add", Attrs::new(), &[Some(a), Some(bb)], "sum");
    let relu = b.node("Relu", Attrs::new(), &[Some(sum)], "sum_relu");
    let (_, c) = b.qdq(relu, "sum_q", 0.04, 10, true);
    let cat = b.node(
        "Concat",
        Attrs::new().with("axis", Attr::Int(1)),
        &[Some(c), Some(a)],
        "cat",
    );
    let (_, d) = b.qdq(cat, "cat_q", 0.04, 10, true);
    let shape = b.konst("shape", &[2], vec![1i64, 54]);
    let r = b.node("Reshape", Attrs::new(), &[Some(d), Some(shape)], "flat");
    let (_, e) = b.qdq(r, "flat_q", 0.04, 10, true);
    let wg = b.weights("wg", &[4, 54], 0, 0.01);
    let bg = b.bias("bg", 0.04, wg);
    let gemm = b.node(
        "Gemm",
        Attrs::new().with("transB", Attr::Int(1)),
        &[Some(e), Some(wg), Some(bg)],
        "gemm",
    );
    let (_, out) = b.qdq(gemm, "gemm_q", 0.05, 128, true);
    b.output(out);
    let input = random_input(&mut b, &[1, 2, 3, 3], -1.0, 1.2);
    let lowered = check_lowering(&b.g, &input, 6);
    let ops: Vec<&str> = lowered.nodes.iter().map(|n| n.op.op_type()).collect();
    for want in ["MwQAdd", "Concat", "MwQRequantize", "Reshape", "MwQGemm"] {
        assert!(ops.contains(&want), "{want} missing from {ops:?}");
    }
}

#[test]
fn data_movement_runs_on_8bit_values() {
    let mut b = B::new();
    let x = b.input("x", &[1, 2, 3, 4]);
    let (_, v) = b.qdq(x, "x_q", 0.03, 7, true);
    let perm = Attrs::new().with("perm", ints(&[0, 3, 1, 2]));
    let t = b.node("Transpose", perm, &[Some(v)], "transposed");
    let (_, v) = b.qdq(t, "transposed_q", 0.03, 7, true);
    let axes = b.konst("axes", &[1], vec![0i64]);
    let u = b.node(
        "Unsqueeze",
        Attrs::new(),
        &[Some(v), Some(axes)],
        "unsqueezed",
    );
    let (_, v) = b.qdq(u, "unsqueezed_q", 0.03, 7, true);
    let sq = b.node("Squeeze", Attrs::new(), &[Some(v), Some(axes)], "squeezed");
    let (_, v) = b.qdq(sq, "squeezed_q", 0.03, 7, true);
    let starts = b.konst("starts", &[1], vec![1i64]);
    let ends = b.konst("ends", &[1], vec![3i64]);
    let sl_axes = b.konst("slice_axes", &[1], vec![1i64]);
    let sl = b.node(
        "Slice",
        Attrs::new(),
        &[Some(v), Some(starts), Some(ends), Some(sl_axes)],
        "sliced",
    );
    let (_, v) = b.qdq(sl, "sliced_q", 0.03, 7, true);
    let mp = Attrs::new().with("kernel_shape", ints(&[2, 2]));
    let m = b.node("MaxPool", mp, &[Some(v)], "pooled");
    let relu = b.node("Relu", Attrs::new(), &[Some(m)], "pooled_relu");
    let (_, v) = b.qdq(relu, "pooled_q", 0.05, 0, false);
    b.output(v);
    let input = random_input(&mut b, &[1, 2, 3, 4], -0.5, 1.0);
    let lowered = check_lowering(&b.g, &input, 5);
    let ops: Vec<&str> = lowered.nodes.iter().map(|n| n.op.op_type()).collect();
    assert_eq!(
        ops,
        [
            "QuantizeLinear",
            "Transpose",
            "Unsqueeze",
            "Squeeze",
            "Slice",
            "MaxPool",
            "MwQRequantize",
            "DequantizeLinear"
        ]
    );
}

#[test]
fn unmatched_patterns_stay_and_are_reported() {
    let mut b = B::new();
    let x = b.input("x", &[1, 1, 4, 4]);
    let (_, x_dq) = b.qdq(x, "x_q", 0.02, 0, false);
    let w = b.konst("w_float", &[2, 1, 3, 3], vec![0.1f32; 18]);
    let c = b.node("Conv", Attrs::new(), &[Some(x_dq), Some(w)], "conv");
    let (_, y) = b.qdq(c, "conv_q", 0.05, 0, false);
    let t = b.node("Tanh", Attrs::new(), &[Some(y)], "tanh");
    let (_, z) = b.qdq(t, "tanh_q", 1.0 / 128.0, 0, false);
    b.output(z);
    let (lowered, report) = lower_qdq(&b.g).unwrap();
    assert!(report.changed.is_empty());
    let reasons: HashMap<&str, &str> = report
        .untouched
        .iter()
        .map(|(n, r)| (n.as_str(), r.as_str()))
        .collect();
    assert!(
        reasons["conv_node"].contains("not dequantized"),
        "{reasons:?}"
    );
    assert!(
        reasons["tanh_node"].contains("no integer lowering for Tanh"),
        "{reasons:?}"
    );
    let lint = integer_only(&lowered, Some(&report)).unwrap();
    assert!(lint.quantized && !lint.is_integer_only());
    let listed: Vec<(&str, &str)> = lint
        .float_ops
        .iter()
        .map(|f| (f.node.as_str(), f.op_type.as_str()))
        .collect();
    assert_eq!(
        listed,
        [
            ("x_q_dq_node", "DequantizeLinear"),
            ("conv_node", "Conv"),
            ("conv_q_node", "QuantizeLinear"),
            ("conv_q_dq_node", "DequantizeLinear"),
            ("tanh_node", "Tanh"),
            ("tanh_q_node", "QuantizeLinear"),
        ]
    );
    assert_eq!(lint.entries, ["x_q_node"]);
    assert_eq!(lint.exits, ["tanh_q_dq_node"]);
    let conv = lint
        .float_ops
        .iter()
        .find(|f| f.node == "conv_node")
        .unwrap();
    assert_eq!(conv.reason, reasons["conv_node"]);
}

#[test]
fn a_float_model_has_no_quantized_region() {
    let mut b = B::new();
    let x = b.input("x", &[1, 4]);
    let y = b.node("Relu", Attrs::new(), &[Some(x)], "y");
    b.output(y);
    let (lowered, report) = lower_qdq(&b.g).unwrap();
    assert!(report.changed.is_empty() && report.untouched.is_empty());
    let lint = integer_only(&lowered, Some(&report)).unwrap();
    assert!(!lint.quantized && !lint.is_integer_only() && lint.float_ops.is_empty());
}

//! The command line on quantized models: `inspect --integer-only` (zero float ops and exit 0 for
//! the int8 KWS model; the float ops and exit 1 otherwise) and `eval --engine integer|float` (the
//! integer engine by default for QDQ models, its accuracy on the eval split, the features
//! quantized for the model's int8 input).
use mw_ir::{build_op, Attrs, BuildCtx, Dim, Graph, Node, Value, ValueId};
use mw_tensor::{DType, Tensor};
use mw_testkit::shared_or_skip;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const MODEL: &str = "models/mlperf-tiny/kws_dscnn_int8_qdq.onnx";
const DATA: &str = "data/speech_commands_v0.02_test";

fn milliwatt(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_milliwatt"))
        .args(args)
        .output()
        .expect("binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `x → Q → DQ → Tanh → Q → DQ → y`: a QDQ model whose Tanh has no integer lowering.
fn tanh_qdq_model(dir: &Path) -> PathBuf {
    let mut g = Graph::default();
    g.meta.opset = 13;
    g.meta.ir_version = 8;
    let mut x = Value::named("x");
    x.dtype = Some(DType::F32);
    x.shape = Some(vec![Dim::Fixed(1), Dim::Fixed(4)]);
    let x = g.add_value(x);
    g.inputs.push(x);
    let scale = g.add_value(Value::constant("scale", Tensor::scalar(0.05f32)));
    let zp = g.add_value(Value::constant("zp", Tensor::scalar(0i8)));
    let node = |g: &mut Graph, op: &str, ins: Vec<ValueId>, out: &str| -> ValueId {
        let o = g.add_value(Value::named(out));
        let ctx = BuildCtx {
            opset: 13,
            n_inputs: ins.len(),
            n_outputs: 1,
        };
        g.nodes.push(Node {
            name: out.to_string(),
            op: build_op(op, &Attrs::new(), &ctx).unwrap().unwrap(),
            inputs: ins.into_iter().map(Some).collect(),
            outputs: vec![o],
        });
        o
    };
    let q = node(&mut g, "QuantizeLinear", vec![x, scale, zp], "x_q");
    let dq = node(&mut g, "DequantizeLinear", vec![q, scale, zp], "x_dq");
    let t = node(&mut g, "Tanh", vec![dq], "tanh");
    let q2 = node(&mut g, "QuantizeLinear", vec![t, scale, zp], "tanh_q");
    let y = node(&mut g, "DequantizeLinear", vec![q2, scale, zp], "y");
    g.outputs.push(y);
    let path = dir.join("tanh_qdq.onnx");
    mw_onnx::save(&g, &path).unwrap();
    path
}

#[test]
fn integer_only_lint_lists_float_ops_and_fails() {
    let dir = std::env::temp_dir().join(format!("mw-int8-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model = tanh_qdq_model(&dir);
    let out = milliwatt(&["inspect", s(&model), "--integer-only"]);
    let stdout = text(&out.stdout);
    println!("{stdout}");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(stdout.contains("tanh") && stdout.contains("no integer lowering for Tanh"));
    let out = milliwatt(&["inspect", s(&model), "--integer-only", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["integer_only"], false);
    let ops: Vec<&str> = v["float_ops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["op"].as_str().unwrap())
        .collect();
    assert_eq!(ops, ["DequantizeLinear", "Tanh", "QuantizeLinear"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn kws_int8_is_integer_only() {
    let Some(model) = shared_or_skip("int8_cli", MODEL) else {
        return;
    };
    let out = milliwatt(&["inspect", s(&model), "--integer-only"]);
    let stdout = text(&out.stdout);
    println!("{stdout}");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(stdout.contains("zero float ops"));
    let out = milliwatt(&["inspect", s(&model), "--integer-only", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["integer_only"], true);
    assert_eq!(v["float_ops"].as_array().unwrap().len(), 0);
    assert_eq!(v["lowered"].as_array().unwrap().len(), 12);
}

#[test]
fn kws_int8_eval_split_on_both_engines() {
    let (Some(model), Some(data)) = (
        shared_or_skip("int8_cli", MODEL),
        shared_or_skip("int8_cli", DATA),
    ) else {
        return;
    };
    let dataset = format!("speech-commands:{}", s(&data));
    let run = |engine: Option<&str>| -> serde_json::Value {
        let mut args = vec![
            "eval",
            s(&model),
            "--dataset",
            &dataset,
            "--split",
            "eval",
            "--json",
        ];
        if let Some(e) = engine {
            args.extend(["--engine", e]);
        }
        let out = milliwatt(&args);
        assert!(out.status.success(), "{}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let integer = run(None);
    let float = run(Some("float"));
    for r in [&integer, &float] {
        println!(
            "{} engine: top-1 {:.4} ({}/{})",
            r["engine"], r["top1"], r["correct"], r["total"]
        );
    }
    assert_eq!(integer["engine"], "integer");
    assert_eq!(integer["fallback_float_ops"].as_array().unwrap().len(), 0);
    assert_eq!(integer["input_quantization"]["zero_point"], 83);
    assert_eq!(float["engine"], "float");
    assert_eq!(integer["total"], 4450);
    // ONNX Runtime: 0.9164 (4078/4450) on these clips.
    let correct = integer["correct"].as_u64().unwrap();
    assert!(correct >= 4076, "integer engine: {correct}/4450 correct");
    let out = milliwatt(&[
        "eval",
        s(&model),
        "--dataset",
        &dataset,
        "--engine",
        "fixed",
    ]);
    assert!(!out.status.success() && text(&out.stderr).contains("unknown engine"));
}

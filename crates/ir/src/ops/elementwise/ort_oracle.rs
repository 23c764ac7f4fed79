//! The elementwise ops against ONNX Runtime on what the conformance corpus does not cover: Cast
//! (the corpus has no Cast cases), edge values (ties, NaN, ±inf, saturation, integer wrap),
//! broadcasting patterns and the opset-dependent semantics of Softmax, Clip and ReduceMean.
//!
//! One Python process (found by `mw_testkit::python`) builds a one-node model per case, runs it
//! with ONNX Runtime and prints the output; integers must match exactly, floats within
//! `1e-6 + 1e-5·|expected|` (NaN equal to NaN). Cases ONNX Runtime has no kernel for are skipped
//! and named. Known, deliberate differences are documented at the ops (e.g. Cast of out-of-range
//! floats) and not exercised here.
use super::common::testutil::ctx;
use crate::{Attr, Attrs, Fact, Op};
use mw_tensor::{DType, Data, Element, Tensor};
use std::process::Command;

struct Case {
    op: &'static str,
    opset: i64,
    attrs: Attrs,
    inputs: Vec<Option<Tensor>>,
}

fn case(op: &'static str, opset: i64, attrs: Attrs, inputs: Vec<Option<Tensor>>) -> Case {
    Case {
        op,
        opset,
        attrs,
        inputs,
    }
}

fn ten<T: Element>(shape: &[usize], v: Vec<T>) -> Option<Tensor> {
    Some(Tensor::from_vec(shape.to_vec(), v).unwrap())
}

fn int(v: i64) -> Attr {
    Attr::Int(v)
}

fn attrs(list: &[(&str, Attr)]) -> Attrs {
    list.iter()
        .fold(Attrs::new(), |a, (k, v)| a.with(k, v.clone()))
}

/// Values worth testing for float inputs: ties, signed zero, tiny, large, NaN, ±inf.
fn edge_f32() -> Vec<f32> {
    vec![
        0.0,
        -0.0,
        0.5,
        -0.5,
        1.5,
        2.5,
        -2.5,
        1e-8,
        -3.7,
        6.0,
        100.0,
        -100.0,
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        3.0,
    ]
}

fn cases() -> Vec<Case> {
    let e = || ten(&[16], edge_f32());
    let none = Attrs::new;
    let mut v = vec![
        // arithmetic and broadcasting
        case(
            "Add",
            14,
            none(),
            vec![
                ten(&[2, 1, 3], (0..6).map(|i| i as f32 * 0.3).collect()),
                ten(&[4, 1], vec![1.0f32, -2.0, 0.25, 1e6]),
            ],
        ),
        case(
            "Sub",
            14,
            none(),
            vec![
                ten(&[2, 3], vec![0u8, 1, 2, 250, 3, 4]),
                ten(&[3], vec![1u8, 5, 255]),
            ],
        ),
        case(
            "Mul",
            14,
            none(),
            vec![
                ten(&[4], vec![300i16, -300, 181, 2]),
                ten(&[], vec![200i16]),
            ],
        ),
        case(
            "Mul",
            14,
            none(),
            vec![
                ten(&[1, 3, 1, 2], vec![1i64, -2, 3, -4, 5, -6]),
                ten(&[2, 1, 2, 1], vec![i64::MAX, 3, -1, 7]),
            ],
        ),
        case(
            "Div",
            14,
            none(),
            vec![
                ten(&[6], vec![-7i32, 7, -7, 7, 0, i32::MAX]),
                ten(&[6], vec![2i32, 2, -2, -2, 5, -1]),
            ],
        ),
        case(
            "Div",
            14,
            none(),
            vec![
                ten(&[3], vec![-128i8, 127, -1]),
                ten(&[3], vec![-1i8, -128, 3]),
            ],
        ),
        case(
            "Div",
            14,
            none(),
            vec![ten(&[3], vec![200u8, 7, 0]), ten(&[1], vec![3u8])],
        ),
        case(
            "Div",
            14,
            none(),
            vec![ten(&[3], vec![1.0f32, -1.0, 0.0]), ten(&[], vec![0.0f32])],
        ),
        case(
            "Div",
            14,
            none(),
            vec![ten(&[2], vec![1u64, 2]), ten(&[2], vec![1u64, 0])],
        ),
        case(
            "Add",
            14,
            none(),
            vec![
                ten(&[2, 2], vec![0.1f64, 0.2, 0.3, 1e300]),
                ten(&[2, 1], vec![1e-300f64, 1e300]),
            ],
        ),
        // activations
        case("Relu", 14, none(), vec![e()]),
        case("Relu", 14, none(), vec![ten(&[3], vec![-128i8, 0, 127])]),
        case("Sigmoid", 13, none(), vec![e()]),
        case("Tanh", 13, none(), vec![e()]),
        case("HardSigmoid", 6, none(), vec![e()]),
        case(
            "HardSigmoid",
            6,
            attrs(&[("alpha", Attr::Float(0.5)), ("beta", Attr::Float(0.6))]),
            vec![e()],
        ),
        case("HardSwish", 14, none(), vec![e()]),
        case("LeakyRelu", 16, none(), vec![e()]),
        case(
            "LeakyRelu",
            16,
            attrs(&[("alpha", Attr::Float(0.1))]),
            vec![ten(&[3], vec![-1.0f64, 2.0, -1e-300])],
        ),
        case(
            "PRelu",
            16,
            none(),
            vec![
                ten(&[2, 3, 1, 2], (0..12).map(|i| i as f32 - 6.5).collect()),
                ten(&[3, 1, 1], vec![0.1f32, -2.0, 0.5]),
            ],
        ),
        case(
            "PRelu",
            16,
            none(),
            vec![ten(&[4], vec![-3i32, 3, -1, 0]), ten(&[1], vec![4i32])],
        ),
        case(
            "Clip",
            13,
            none(),
            vec![e(), ten(&[], vec![0.0f32]), ten(&[], vec![6.0f32])],
        ),
        case(
            "Clip",
            13,
            none(),
            vec![ten(&[4], vec![-5i32, 0, 5, 10]), ten(&[], vec![1i32])],
        ),
        case(
            "Clip",
            13,
            none(),
            vec![ten(&[4], vec![-5i64, 0, 5, 10]), None, ten(&[], vec![2i64])],
        ),
        case(
            "Clip",
            11,
            none(),
            vec![
                ten(&[3], vec![-1.0f32, 0.5, 3.0]),
                ten(&[], vec![2.0f32]),
                ten(&[], vec![1.0f32]),
            ],
        ),
        case(
            "Clip",
            6,
            attrs(&[("min", Attr::Float(-1.0)), ("max", Attr::Float(1.0))]),
            vec![e()],
        ),
        // softmax family
        case(
            "Softmax",
            11,
            attrs(&[("axis", int(1))]),
            vec![ten(
                &[2, 3, 2],
                (0..12).map(|i| (i as f32).sin() * 3.0).collect(),
            )],
        ),
        case(
            "Softmax",
            13,
            attrs(&[("axis", int(1))]),
            vec![ten(
                &[2, 3, 2],
                (0..12).map(|i| (i as f32).sin() * 3.0).collect(),
            )],
        ),
        case(
            "Softmax",
            11,
            none(),
            vec![ten(
                &[2, 2, 2],
                vec![1.0f32, 2.0, 3.0, 4.0, 1000.0, 0.0, -1000.0, 0.5],
            )],
        ),
        case(
            "LogSoftmax",
            11,
            attrs(&[("axis", int(0))]),
            vec![ten(&[2, 3], vec![1.0f32, 2.0, 3.0, -4.0, 50.0, 6.0])],
        ),
        case(
            "LogSoftmax",
            13,
            attrs(&[("axis", int(-2))]),
            vec![ten(&[2, 3], vec![1.0f64, 2.0, 3.0, -4.0, 50.0, 6.0])],
        ),
        case(
            "Softmax",
            13,
            none(),
            vec![ten(&[2, 2], vec![f32::NEG_INFINITY, 0.0, f32::NAN, 1.0])],
        ),
        // reductions
        case(
            "ReduceMean",
            13,
            attrs(&[("axes", Attr::Ints(vec![0, 2])), ("keepdims", int(0))]),
            vec![ten(&[2, 3, 2], (0..12).map(|i| i as f32 * 1.1).collect())],
        ),
        case(
            "ReduceMean",
            13,
            none(),
            vec![ten(&[2, 3], vec![1i32, 2, 3, 4, 5, 7])],
        ),
        case(
            "ReduceMean",
            13,
            attrs(&[("axes", Attr::Ints(vec![1]))]),
            vec![ten(&[2, 2], vec![1i32, 2, -4, -7])],
        ),
        case(
            "ReduceMean",
            18,
            attrs(&[("noop_with_empty_axes", int(1))]),
            vec![ten(&[2, 2], vec![1.0f32, 2.0, 3.0, 4.0])],
        ),
        case(
            "ReduceMean",
            18,
            attrs(&[("keepdims", int(0))]),
            vec![
                ten(&[2, 2], vec![1.0f64, 2.0, 3.0, 4.5]),
                ten(&[1], vec![-1i64]),
            ],
        ),
        // quantization
        case(
            "QuantizeLinear",
            13,
            none(),
            vec![e(), ten(&[], vec![1.0f32]), ten(&[], vec![128u8])],
        ),
        case(
            "QuantizeLinear",
            13,
            none(),
            vec![e(), ten(&[], vec![0.5f32]), ten(&[], vec![-3i8])],
        ),
        case(
            "QuantizeLinear",
            13,
            none(),
            vec![e(), ten(&[], vec![2.0f32])],
        ),
        case(
            "QuantizeLinear",
            13,
            attrs(&[("axis", int(0))]),
            vec![
                ten(&[2, 3], vec![1.0f32, 2.5, -3.5, 100.0, -0.25, 0.75]),
                ten(&[2], vec![0.5f32, 0.25]),
                ten(&[2], vec![0i8, 10]),
            ],
        ),
        case(
            "QuantizeLinear",
            21,
            attrs(&[("axis", int(1)), ("block_size", int(2))]),
            vec![
                ten(&[2, 3], vec![1.0f32, 2.5, -3.5, 100.0, -0.25, 0.75]),
                ten(&[2, 2], vec![0.5f32, 0.25, 2.0, 0.1]),
                ten(&[2, 2], vec![1i8, 2, 3, 4]),
            ],
        ),
        case(
            "QuantizeLinear",
            21,
            none(),
            vec![
                ten(&[4], vec![-40000.0f32, 1.5, 2.5, 40000.0]),
                ten(&[], vec![1.0f32]),
                ten(&[], vec![7i16]),
            ],
        ),
        case(
            "QuantizeLinear",
            21,
            none(),
            vec![
                ten(&[3], vec![-1.0f32, 0.5, 70000.0]),
                ten(&[], vec![1.0f32]),
                ten(&[], vec![1u16]),
            ],
        ),
        case(
            "QuantizeLinear",
            21,
            attrs(&[("output_dtype", int(3))]),
            vec![
                ten(&[3], vec![-1000.0f32, 0.5, 1.5]),
                ten(&[], vec![1.0f32]),
            ],
        ),
        case(
            "DequantizeLinear",
            13,
            none(),
            vec![
                ten(&[4], vec![0u8, 1, 128, 255]),
                ten(&[], vec![0.1f32]),
                ten(&[], vec![128u8]),
            ],
        ),
        case(
            "DequantizeLinear",
            13,
            attrs(&[("axis", int(-1))]),
            vec![
                ten(&[2, 2], vec![-128i8, 127, 0, -1]),
                ten(&[2], vec![0.5f32, 3.0]),
                ten(&[2], vec![-1i8, 1]),
            ],
        ),
        case(
            "DequantizeLinear",
            13,
            none(),
            vec![
                ten(&[3], vec![i32::MIN, -5, i32::MAX]),
                ten(&[], vec![0.25f32]),
            ],
        ),
        case(
            "DequantizeLinear",
            21,
            attrs(&[("axis", int(0)), ("block_size", int(2))]),
            vec![
                ten(&[3, 2], vec![1u8, 2, 3, 4, 5, 6]),
                ten(&[2, 2], vec![1.0f32, 2.0, 3.0, 4.0]),
                ten(&[2, 2], vec![1u8, 0, 2, 0]),
            ],
        ),
    ];
    v.extend(cast_cases());
    v
}

/// Cast between every pair of stored dtypes, on values inside every integer target's range
/// (out-of-range float → integer is undefined in C++ and differs from ONNX Runtime on purpose).
fn cast_cases() -> Vec<Case> {
    let sources: Vec<Tensor> = vec![
        Tensor::from_vec(vec![6], vec![2.9f32, -2.9, 0.5, 0.0, 127.9, -128.9]).unwrap(),
        Tensor::from_vec(vec![4], vec![0.1f64, -1.99, 126.5, 1e-300]).unwrap(),
        Tensor::from_vec(vec![4], vec![300i32, -129, 70000, -1]).unwrap(),
        Tensor::from_vec(vec![3], vec![i64::MIN, 1 << 40, -200]).unwrap(),
        Tensor::from_vec(vec![3], vec![u64::MAX, 255, 1 << 33]).unwrap(),
        Tensor::from_vec(vec![3], vec![200u8, 0, 127]).unwrap(),
        Tensor::from_vec(vec![3], vec![-128i8, 0, 127]).unwrap(),
        Tensor::from_vec(vec![3], vec![true, false, true]).unwrap(),
    ];
    let targets = [1, 2, 3, 4, 5, 6, 7, 9, 11, 12, 13];
    let mut v = Vec::new();
    for s in &sources {
        for &to in &targets {
            let float_to_unsigned = s.dtype().is_float() && matches!(to, 2 | 4 | 12 | 13);
            if float_to_unsigned {
                continue; // negative floats to unsigned: undefined in C++
            }
            v.push(case(
                "Cast",
                13,
                attrs(&[("to", int(to))]),
                vec![Some(s.clone())],
            ));
        }
    }
    v
}

fn py_attr(a: &Attr) -> String {
    match a {
        Attr::Int(i) => i.to_string(),
        Attr::Float(f) => format!("{f:?}"),
        Attr::Ints(v) => format!("{v:?}"),
        Attr::Floats(v) => format!("{v:?}"),
        Attr::String(s) => format!("{s:?}"),
        Attr::Strings(v) => format!("{v:?}"),
        Attr::Tensor(_) => unimplemented!("no tensor attributes in these cases"),
    }
}

fn py_tensor(t: &Tensor) -> String {
    let shape: Vec<String> = t.shape().iter().map(|d| d.to_string()).collect();
    let shape = format!(
        "({}{})",
        shape.join(","),
        if shape.len() == 1 { "," } else { "" }
    );
    let join = |v: Vec<String>| v.join(",");
    let (vals, np) = match t.data() {
        Data::F32(v) => (
            join(v.iter().map(|x| x.to_bits().to_string()).collect()),
            "np.uint32).view(np.float32",
        ),
        Data::F64(v) => (
            join(v.iter().map(|x| x.to_bits().to_string()).collect()),
            "np.uint64).view(np.float64",
        ),
        Data::Bool(v) => (
            join(v.iter().map(|&x| u8::from(x).to_string()).collect()),
            "np.uint8).astype(bool",
        ),
        // 4-bit values are sent as 8-bit ones (the oracle's cases have no 4-bit inputs).
        Data::I8(v) | Data::I4(v) => (join(v.iter().map(|x| x.to_string()).collect()), "np.int8"),
        Data::U8(v) | Data::U4(v) => (join(v.iter().map(|x| x.to_string()).collect()), "np.uint8"),
        Data::I16(v) => (join(v.iter().map(|x| x.to_string()).collect()), "np.int16"),
        Data::U16(v) => (join(v.iter().map(|x| x.to_string()).collect()), "np.uint16"),
        Data::I32(v) => (join(v.iter().map(|x| x.to_string()).collect()), "np.int32"),
        Data::U32(v) => (join(v.iter().map(|x| x.to_string()).collect()), "np.uint32"),
        Data::I64(v) => (join(v.iter().map(|x| x.to_string()).collect()), "np.int64"),
        Data::U64(v) => (join(v.iter().map(|x| x.to_string()).collect()), "np.uint64"),
    };
    format!("np.array([{vals}], dtype={np}).reshape({shape})")
}

const PRELUDE: &str = r#"
import numpy as np, onnx, onnxruntime as ort
from onnx import helper
def run(i, op, opset, attrs, inputs):
    try:
        names = [f"x{k}" if a is not None else "" for k, a in enumerate(inputs)]
        node = helper.make_node(op, names, ["y"], **attrs)
        vis = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
               for n, a in zip(names, inputs) if a is not None]
        g = helper.make_graph([node], "g", vis, [helper.make_empty_tensor_value_info("y")])
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=10)
        m = onnx.shape_inference.infer_shapes(m)
        s = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        y = np.asarray(s.run(None, {n: a for n, a in zip(names, inputs) if a is not None})[0])
        if y.dtype == np.float32: vals = y.ravel().view(np.uint32)
        elif y.dtype == np.float64: vals = y.ravel().view(np.uint64)
        else: vals = y.ravel().astype(np.int64) if y.dtype != np.uint64 else y.ravel()
        print("CASE", i, "OK", y.dtype.name, "s:" + ",".join(map(str, y.shape)), " ".join(str(int(v)) for v in vals))
    except Exception as e:
        print("CASE", i, "ERR", str(e).replace("\n", " "))
"#;

/// Runs milliwatt's op on a case: inputs as constant facts (so ReduceMean reads its axes).
fn ours(c: &Case) -> Result<Tensor, String> {
    let op: Box<dyn Op> = crate::build_op(c.op, &c.attrs, &ctx(c.opset, c.inputs.len()))
        .map_err(|e| e.to_string())?
        .ok_or("not registered")?;
    let facts: Vec<Option<Fact>> = c.inputs.iter().map(|t| t.as_ref().map(Fact::of)).collect();
    let refs: Vec<Option<&Fact>> = facts.iter().map(Option::as_ref).collect();
    op.infer(&refs).map_err(|e| e.to_string())?;
    let ins: Vec<Option<&Tensor>> = c.inputs.iter().map(Option::as_ref).collect();
    op.eval(&ins)
        .map(|mut v| v.remove(0))
        .map_err(|e| e.to_string())
}

/// numpy's name of a dtype.
fn numpy_name(d: DType) -> &'static str {
    match d {
        DType::F32 => "float32",
        DType::F64 => "float64",
        DType::I8 => "int8",
        DType::U8 => "uint8",
        DType::I4 => "int4",
        DType::U4 => "uint4",
        DType::I16 => "int16",
        DType::U16 => "uint16",
        DType::I32 => "int32",
        DType::U32 => "uint32",
        DType::I64 => "int64",
        DType::U64 => "uint64",
        DType::Bool => "bool",
    }
}

/// Compares our tensor with ONNX Runtime's printed `<dtype> s:<shape> <values>` (floats as bit
/// patterns).
fn compare(got: &Tensor, expected: &[&str]) -> Result<(), String> {
    if numpy_name(got.dtype()) != expected[0] {
        return Err(format!("dtype {}, ORT {}", got.dtype(), expected[0]));
    }
    let expected = &expected[1..];
    let shape: Vec<usize> = expected[0]
        .trim_start_matches("s:")
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    if got.shape() != shape.as_slice() {
        return Err(format!("shape {:?}, ORT {shape:?}", got.shape()));
    }
    let raw = &expected[1..];
    let close = |a: f64, b: f64| {
        (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-6 + 1e-5 * b.abs()
    };
    for (k, s) in raw.iter().enumerate() {
        let ok = match got.data() {
            Data::F32(v) => close(
                v[k] as f64,
                f32::from_bits(s.parse::<u32>().unwrap()) as f64,
            ),
            Data::F64(v) => close(v[k], f64::from_bits(s.parse::<u64>().unwrap())),
            Data::U64(v) => v[k] == s.parse::<u64>().unwrap(),
            Data::Bool(v) => u8::from(v[k]).to_string() == *s,
            _ => got.to_i64_vec().unwrap()[k] == s.parse::<i64>().unwrap(),
        };
        if !ok {
            return Err(format!(
                "element {k}: ours {:?}, ORT raw {s}",
                got.to_f64_vec()[k]
            ));
        }
    }
    if raw.len() != got.len() {
        return Err(format!("{} elements, ORT {}", got.len(), raw.len()));
    }
    Ok(())
}

#[test]
fn elementwise_ops_match_onnxruntime() {
    let Some(py) = mw_testkit::python_or_skip("elementwise_ops_match_onnxruntime") else {
        return;
    };
    let cases = cases();
    let mut script = PRELUDE.to_string();
    let mut results = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        let result = ours(c);
        let inputs: Vec<String> = c
            .inputs
            .iter()
            .map(|t| t.as_ref().map_or("None".into(), py_tensor))
            .collect();
        let attrs: Vec<String> = c
            .attrs
            .0
            .iter()
            .map(|(k, a)| format!("{k}={}", py_attr(a)))
            .collect();
        script += &format!(
            "run({i}, {:?}, {}, dict({}), [{}])\n",
            c.op,
            c.opset,
            attrs.join(", "),
            inputs.join(", ")
        );
        results.push(result);
    }
    let out = Command::new(py)
        .args(["-c", &script])
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (mut agreed, mut skipped, mut failures) = (0, Vec::new(), Vec::new());
    for line in stdout.lines().filter(|l| l.starts_with("CASE ")) {
        let tokens: Vec<&str> = line.split_whitespace().collect();
        let i: usize = tokens[1].parse().unwrap();
        let what = format!(
            "#{i} {} opset {} {:?}",
            cases[i].op, cases[i].opset, cases[i].attrs.0
        );
        match (tokens[2], &results[i]) {
            ("ERR", _)
                if line.contains("NOT_IMPLEMENTED")
                    || line.contains("Could not find an implementation") =>
            {
                skipped.push(what)
            }
            ("ERR", Err(e)) => {
                println!("  both refuse {what}: ours: {e}");
                agreed += 1
            }
            ("ERR", Ok(_)) => failures.push(format!("{what}: ORT refuses ({line}), we accept")),
            ("OK", Err(e)) => failures.push(format!("{what}: ORT accepts, we refuse: {e}")),
            ("OK", Ok(t)) => match compare(t, &tokens[3..]) {
                Ok(()) => agreed += 1,
                Err(e) => failures.push(format!("{what}: {e}")),
            },
            _ => failures.push(format!("{what}: unparsable line {line}")),
        }
    }
    println!(
        "ORT oracle: {agreed} agreed, {} skipped (no ORT kernel), {} failed",
        skipped.len(),
        failures.len()
    );
    for s in &skipped {
        println!("  skipped {s}");
    }
    assert_eq!(
        agreed + skipped.len() + failures.len(),
        cases.len(),
        "every case reported"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

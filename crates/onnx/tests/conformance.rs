//! The ONNX conformance node tests (`../shared/onnx-node-tests/test_*`), run through
//! `mw_onnx::load` and `mw_exec::Plan`.
//!
//! A case is in scope when every op of its model is in `mw_ir::supported_ops()`, its
//! default-domain opset is at least `mw_onnx::MIN_OPSET`, every tensor its model declares has an
//! element type milliwatt stores, and it is not listed in [`OUT_OF_SCOPE`]. In-scope cases must
//! load, plan and reproduce every `test_data_set_*` (floats within 1e-5 + 1e-3·|expected|, NaN
//! equal to NaN; integers and bools exactly; shapes and dtypes equal). Other cases are skipped.
//! Each case also runs after an export → import round trip (whose nodes must have equal
//! attributes). Each data set gets its own plan: graph inputs take the data's exact shapes, and
//! integer inputs (shape, axes, pads, indices: initializers in a deployed model) are bound as
//! constants, because milliwatt plans need shapes known before running.
//!
//! Prints `OP: N passed, M failed` per supported op type (a case counts for every op type in it)
//! and, last, `conformance: N passed, M failed, K skipped`. Fails when any in-scope case fails.
//!
//! Environment: `MW_CONFORMANCE_OPS=Conv,Gemm` runs only cases containing one of those ops;
//! `MW_CONFORMANCE_VERBOSE=1` prints each failure's reason (the first mismatch: index, got,
//! expected).
use mw_exec::{ExecError, Plan};
use mw_ir::{Dim, Graph, IrError, Limits, OpError, ValueId};
use mw_onnx::proto::{type_proto, ModelProto, TensorProto, ValueInfoProto};
use mw_tensor::{DType, Data, Tensor};
use prost::Message;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Cases of supported ops that are out of scope: (test name, reason).
const OUT_OF_SCOPE: &[(&str, &str)] = &[
    (
        "test_batchnorm_epsilon_training_mode",
        "training mode (batch statistics, running-mean outputs)",
    ),
    (
        "test_batchnorm_example_training_mode",
        "training mode (batch statistics, running-mean outputs)",
    ),
    ("test_training_dropout", "training mode (random mask)"),
    (
        "test_training_dropout_default",
        "training mode (random mask)",
    ),
    (
        "test_training_dropout_default_mask",
        "training mode (random mask)",
    ),
    ("test_training_dropout_mask", "training mode (random mask)"),
];

fn main() {
    check_compare();
    let Some(root) = mw_testkit::shared_or_skip("conformance", "onnx-node-tests") else {
        println!("conformance: 0 passed, 0 failed, 0 skipped");
        return;
    };
    let filter: Option<BTreeSet<String>> = std::env::var("MW_CONFORMANCE_OPS")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.split(',').map(|o| o.trim().to_string()).collect());
    let verbose = std::env::var("MW_CONFORMANCE_VERBOSE").is_ok_and(|v| v == "1");
    let report = run_all(&root, filter.as_ref());
    report.print(verbose);
    if !report.failures.is_empty() {
        std::process::exit(1);
    }
}

#[derive(Default)]
struct Report {
    passed: usize,
    skipped: usize,
    /// (case, reason) of every in-scope failure.
    failures: Vec<(String, String)>,
    /// (case, reason) of cases of supported ops skipped by a rule or by [`OUT_OF_SCOPE`].
    skips: Vec<(String, String)>,
    /// Per supported op type: (passed, failed).
    per_op: BTreeMap<String, (usize, usize)>,
}

impl Report {
    fn print(&self, verbose: bool) {
        for (op, (p, f)) in &self.per_op {
            println!("{op}: {p} passed, {f} failed");
        }
        for (case, reason) in &self.skips {
            println!("SKIP {case}: {reason}");
        }
        for (case, reason) in &self.failures {
            if verbose {
                println!("FAIL {case}: {reason}");
            } else {
                println!("FAIL {case}");
            }
        }
        println!(
            "conformance: {} passed, {} failed, {} skipped",
            self.passed,
            self.failures.len(),
            self.skipped
        );
    }
}

fn listed(case: &str) -> Option<&'static str> {
    OUT_OF_SCOPE
        .iter()
        .find(|(name, _)| *name == case)
        .map(|(_, reason)| *reason)
}

fn run_all(root: &Path, filter: Option<&BTreeSet<String>>) -> Report {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(root)
        .expect("onnx-node-tests is readable")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_dir()
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("test_"))
        })
        .collect();
    cases.sort();
    for (name, _) in OUT_OF_SCOPE {
        if !root.join(name).is_dir() {
            println!("WARNING: OUT_OF_SCOPE lists `{name}`, which is not a case");
        }
    }
    let mut report = Report::default();
    for dir in cases {
        let case = dir.file_name().unwrap().to_string_lossy().into_owned();
        let model = match read_model(&dir.join("model.onnx")) {
            Ok(m) => m,
            Err(e) => {
                report.failures.push((case, e));
                continue;
            }
        };
        let ops = op_types(&model);
        if filter.is_some_and(|f| ops.is_disjoint(f)) {
            continue;
        }
        if !ops.iter().all(|op| mw_ir::is_supported(op)) {
            report.skipped += 1;
            continue;
        }
        if let Some(reason) = rule_skip(&model).or_else(|| listed(&case).map(String::from)) {
            report.skipped += 1;
            report.skips.push((case, reason));
            continue;
        }
        let result = run_case(&dir);
        for op in &ops {
            let e = report.per_op.entry(op.clone()).or_default();
            if result.is_ok() {
                e.0 += 1;
            } else {
                e.1 += 1;
            }
        }
        match result {
            Ok(()) => report.passed += 1,
            Err(e) => report.failures.push((case, e)),
        }
    }
    report
}

fn read_model(path: &Path) -> Result<ModelProto, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    ModelProto::decode(bytes.as_slice()).map_err(|e| format!("{}: {e}", path.display()))
}

/// The op types of the model's main graph; ops of other domains are `domain:op`.
fn op_types(m: &ModelProto) -> BTreeSet<String> {
    let nodes = m.graph.as_ref().map(|g| g.node.as_slice()).unwrap_or(&[]);
    nodes
        .iter()
        .map(|n| {
            let op = n.op_type.clone().unwrap_or_default();
            match n.domain.as_deref() {
                None | Some("") | Some("ai.onnx") => op,
                Some(d) => format!("{d}:{op}"),
            }
        })
        .collect()
}

/// Why a case of supported ops is out of scope by policy, read from the model itself: an opset
/// older than milliwatt reads, or a declared tensor of an element type milliwatt does not store.
fn rule_skip(m: &ModelProto) -> Option<String> {
    let opset = m
        .opset_import
        .iter()
        .find(|o| matches!(o.domain.as_deref(), None | Some("") | Some("ai.onnx")))
        .and_then(|o| o.version)
        .unwrap_or(0);
    if opset < mw_onnx::MIN_OPSET {
        return Some(format!("opset {opset} < {}", mw_onnx::MIN_OPSET));
    }
    let g = m.graph.as_ref()?;
    let declared = g.input.iter().chain(&g.output).chain(&g.value_info);
    let value_types = declared.filter_map(elem_type);
    let tensor_types = g
        .initializer
        .iter()
        .filter_map(|t: &TensorProto| t.data_type);
    let attr_types = g
        .node
        .iter()
        .flat_map(|n| &n.attribute)
        .filter_map(|a| a.t.as_ref().and_then(|t| t.data_type));
    value_types
        .chain(tensor_types)
        .chain(attr_types)
        .find(|&code| stored_dtype(code).is_none())
        .map(|code| format!("element type {}", type_name(code)))
}

fn elem_type(vi: &ValueInfoProto) -> Option<i32> {
    match vi.r#type.as_ref()?.value.as_ref()? {
        type_proto::Value::TensorType(t) => t.elem_type,
        // Sequences, maps and optionals: no milliwatt dtype; -1 marks "not a tensor".
        _ => Some(-1),
    }
}

fn stored_dtype(code: i32) -> Option<DType> {
    use mw_onnx::proto::tensor_proto::DataType as D;
    Some(match D::try_from(code).ok()? {
        D::Float => DType::F32,
        D::Double => DType::F64,
        D::Int8 => DType::I8,
        D::Uint8 => DType::U8,
        D::Int16 => DType::I16,
        D::Uint16 => DType::U16,
        D::Int32 => DType::I32,
        D::Uint32 => DType::U32,
        D::Int64 => DType::I64,
        D::Uint64 => DType::U64,
        D::Bool => DType::Bool,
        _ => return None,
    })
}

fn type_name(code: i32) -> String {
    use mw_onnx::proto::tensor_proto::DataType as D;
    match D::try_from(code) {
        Ok(d) => d.as_str_name().to_string(),
        Err(_) if code < 0 => "non-tensor value".to_string(),
        Err(_) => format!("unknown ({code})"),
    }
}

/// Loads, plans and runs one case against every data set; then the same after an export →
/// import round trip, which must also rebuild every node with equal attributes.
fn run_case(dir: &Path) -> Result<(), String> {
    let limits = Limits::default();
    let graph = mw_onnx::load(&dir.join("model.onnx"), &limits).map_err(|e| e.to_string())?;
    let mut sets: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("test_data_set_"))
        })
        .collect();
    sets.sort();
    if sets.is_empty() {
        return Err("no test_data_set_*".into());
    }
    run_sets(&graph, &sets, limits)?;
    let again = mw_onnx::to_bytes(&graph)
        .and_then(|b| mw_onnx::load_bytes(&b, None, &limits))
        .map_err(|e| format!("after export → import: {e}"))?;
    for (a, b) in graph.nodes.iter().zip(&again.nodes) {
        if (a.op.op_type(), a.op.attrs()) != (b.op.op_type(), b.op.attrs()) {
            return Err(format!(
                "after export → import: node `{}` is {} {:?}, was {} {:?}",
                a.name,
                b.op.op_type(),
                b.op.attrs(),
                a.op.op_type(),
                a.op.attrs()
            ));
        }
    }
    run_sets(&again, &sets, limits).map_err(|e| format!("after export → import: {e}"))
}

fn run_sets(graph: &Graph, sets: &[PathBuf], limits: Limits) -> Result<(), String> {
    for set in sets {
        let set_name = set.file_name().unwrap().to_string_lossy().into_owned();
        let inputs = read_numbered(set, "input", &limits)?;
        let expected = read_numbered(set, "output", &limits)?;
        let (plan, inputs) = bind(graph, inputs, limits)?;
        let got = plan
            .run(inputs)
            .map_err(|e| format!("{set_name}: run: {e}"))?;
        if got.len() != expected.len() {
            return Err(format!(
                "{set_name}: {} outputs, expected {}",
                got.len(),
                expected.len()
            ));
        }
        for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
            compare(g, e).map_err(|m| format!("{set_name}: output {i}: {m}"))?;
        }
    }
    Ok(())
}

/// A plan for one data set. Its inputs take the data's exact shapes, and its integer inputs
/// (shapes, axes, pads, indices: what a deployed model holds as initializers) become constants
/// known at plan time. Returns the plan and the inputs it still takes at run time.
fn bind(graph: &Graph, inputs: Vec<Tensor>, limits: Limits) -> Result<(Plan, Vec<Tensor>), String> {
    let mut g = graph.clone();
    let runtime: Vec<ValueId> = g
        .inputs
        .iter()
        .copied()
        .filter(|id| g.value(*id).konst.is_none())
        .collect();
    if runtime.len() != inputs.len() {
        return Err(format!(
            "the model takes {} inputs, the data set has {}",
            runtime.len(),
            inputs.len()
        ));
    }
    let mut pending: Vec<(ValueId, Tensor)> = Vec::new();
    for (id, t) in runtime.into_iter().zip(inputs) {
        let v = g.value_mut(id);
        v.shape = Some(t.shape().iter().map(|&d| Dim::Fixed(d)).collect());
        if t.dtype().is_integer() {
            v.konst = Some(Arc::new(t));
        } else {
            pending.push((id, t));
        }
    }
    // A float input that decides a shape (Resize `scales`) is bound too, when planning says so.
    loop {
        match Plan::new(g.clone(), limits) {
            Ok(plan) => return Ok((plan, pending.into_iter().map(|(_, t)| t).collect())),
            Err(e) => {
                let wanted = not_constant_input(&g, &e);
                let Some(pos) = wanted.and_then(|v| pending.iter().position(|(id, _)| *id == v))
                else {
                    return Err(format!("plan: {e}"));
                };
                let (id, t) = pending.remove(pos);
                g.value_mut(id).konst = Some(Arc::new(t));
            }
        }
    }
}

/// The value a planning error says must be constant, if it is that kind of error.
fn not_constant_input(g: &Graph, e: &ExecError) -> Option<ValueId> {
    let ExecError::Ir(IrError::Node {
        node,
        source: OpError::NotConstant(i),
        ..
    }) = e
    else {
        return None;
    };
    let n = g.nodes.iter().find(|n| &n.name == node)?;
    n.inputs.get(*i).copied().flatten()
}

/// `<prefix>_0.pb`, `<prefix>_1.pb`, ... up to the first missing index.
fn read_numbered(set: &Path, prefix: &str, limits: &Limits) -> Result<Vec<Tensor>, String> {
    let mut out = Vec::new();
    loop {
        let p = set.join(format!("{prefix}_{}.pb", out.len()));
        if !p.is_file() {
            return Ok(out);
        }
        out.push(mw_onnx::read_tensor_pb(&p, limits).map_err(|e| e.to_string())?);
    }
}

/// Equal dtype and shape; floats within 1e-5 + 1e-3·|e| (NaN == NaN), others exactly.
fn compare(got: &Tensor, exp: &Tensor) -> Result<(), String> {
    if got.dtype() != exp.dtype() {
        return Err(format!("dtype {} expected {}", got.dtype(), exp.dtype()));
    }
    if got.shape() != exp.shape() {
        return Err(format!(
            "shape {:?} expected {:?}",
            got.shape(),
            exp.shape()
        ));
    }
    if got.dtype().is_float() {
        let (g, e) = (got.to_f64_vec(), exp.to_f64_vec());
        let close = |a: f64, e: f64| {
            a == e || (a.is_nan() && e.is_nan()) || (a - e).abs() <= 1e-5 + 1e-3 * e.abs()
        };
        if let Some(i) = (0..g.len()).find(|&i| !close(g[i], e[i])) {
            return Err(format!(
                "first mismatch at {i}: got {} expected {}",
                g[i], e[i]
            ));
        }
        return Ok(());
    }
    let (g, e) = (exact(got.data()), exact(exp.data()));
    match (0..g.len()).find(|&i| g[i] != e[i]) {
        Some(i) => Err(format!(
            "first mismatch at {i}: got {} expected {}",
            g[i], e[i]
        )),
        None => Ok(()),
    }
}

/// The comparison itself must be able to fail: tolerance edges, NaN, dtype, shape and integers.
fn check_compare() {
    let f = |v: Vec<f32>| Tensor::from_vec(vec![v.len()], v).unwrap();
    assert!(compare(&f(vec![1.0, f32::NAN]), &f(vec![1.0 + 1e-3, f32::NAN])).is_ok());
    assert!(compare(&f(vec![1.0]), &f(vec![1.0 + 2e-3])).is_err());
    assert!(compare(&f(vec![f32::NAN]), &f(vec![0.0])).is_err());
    assert!(compare(&f(vec![1.0, 2.0]), &f(vec![1.0])).is_err());
    let i = |v: Vec<i64>| Tensor::from_vec(vec![v.len()], v).unwrap();
    assert!(compare(&i(vec![i64::MAX]), &i(vec![i64::MAX - 1])).is_err());
    assert!(compare(&i(vec![3]), &f(vec![3.0])).is_err());
}

/// Integer and bool elements, exactly.
fn exact(d: &Data) -> Vec<i128> {
    match d {
        Data::I8(v) | Data::I4(v) => v.iter().map(|&x| x as i128).collect(),
        Data::U8(v) | Data::U4(v) => v.iter().map(|&x| x as i128).collect(),
        Data::I16(v) => v.iter().map(|&x| x as i128).collect(),
        Data::U16(v) => v.iter().map(|&x| x as i128).collect(),
        Data::I32(v) => v.iter().map(|&x| x as i128).collect(),
        Data::U32(v) => v.iter().map(|&x| x as i128).collect(),
        Data::I64(v) => v.iter().map(|&x| x as i128).collect(),
        Data::U64(v) => v.iter().map(|&x| x as i128).collect(),
        Data::Bool(v) => v.iter().map(|&x| x as i128).collect(),
        Data::F32(_) | Data::F64(_) => unreachable!("floats are compared with a tolerance"),
    }
}

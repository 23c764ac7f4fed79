//! Shared by the `int8_*` tests: the real int8 KWS model, its int8 inputs, ONNX Runtime runs and
//! per-layer comparisons.
#![allow(dead_code)]
use milliwatt::eval::{input_quantization, quantize_features};
use mw_exec::Plan;
use mw_ir::{Graph, Limits};
use mw_tensor::Tensor;
use mw_testkit::{python_or_skip, shared_or_skip};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const QDQ_MODEL: &str = "models/mlperf-tiny/kws_dscnn_int8_qdq.onnx";
pub const MFCC: &str = "data/kws_reference_features/mfcc.npy";

/// The model, the reference features and a Python with onnxruntime, or `None` (skip printed).
pub fn material(test: &str) -> Option<(PathBuf, PathBuf, PathBuf)> {
    let model = shared_or_skip(test, QDQ_MODEL)?;
    let mfcc = shared_or_skip(test, MFCC)?;
    let py = python_or_skip(test)?;
    Some((model, mfcc, py))
}

/// A fresh temporary folder for one test.
pub fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mw-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The reference features quantized as `milliwatt eval` quantizes them for `graph`'s int8 input.
pub fn int8_features(graph: &Graph, mfcc: &Path) -> Tensor {
    let q = input_quantization(graph)
        .unwrap()
        .expect("the model's input is 8-bit");
    let x = mw_data::read_npy(mfcc).unwrap();
    quantize_features(&x, &q).unwrap()
}

/// Rows `range` of a batch-major i8 or f32 tensor.
pub fn rows(t: &Tensor, range: std::ops::Range<usize>) -> Tensor {
    let per: usize = t.shape()[1..].iter().product();
    let (a, b) = (range.start * per, range.end * per);
    let mut shape = t.shape().to_vec();
    shape[0] = range.len();
    match t.dtype() {
        mw_tensor::DType::I8 => Tensor::from_vec(shape, t.as_slice::<i8>().unwrap()[a..b].to_vec()),
        _ => Tensor::from_vec(shape, t.as_slice::<f32>().unwrap()[a..b].to_vec()),
    }
    .unwrap()
}

/// Runs `plan` over `x` in batches; returns the first output of every batch (as f32)
/// concatenated and, for the first `observe` rows, every named 8-bit value in `names`
/// (concatenated over batches).
pub fn run_ours(
    plan: &Plan,
    x: &Tensor,
    batch: usize,
    observe: usize,
    names: &[String],
) -> (Vec<f32>, HashMap<String, Vec<i8>>) {
    let n = x.shape()[0];
    let mut out = Vec::new();
    let mut layers: HashMap<String, Vec<i8>> = HashMap::new();
    let g = plan.graph();
    for start in (0..n).step_by(batch) {
        let end = (start + batch).min(n);
        let xb = rows(x, start..end);
        let mut record = |id: mw_ir::ValueId, t: &Tensor| {
            let name = &g.value(id).name;
            if start < observe && names.contains(name) {
                let keep = (observe.min(end) - start) * t.len() / (end - start);
                let v = t.as_slice::<i8>().expect("8-bit layer output");
                layers
                    .entry(name.clone())
                    .or_default()
                    .extend_from_slice(&v[..keep]);
            }
        };
        let y = plan.run_observed(vec![xb], &mut record).unwrap().remove(0);
        out.extend(y.cast(mw_tensor::DType::F32).into_vec::<f32>().unwrap());
    }
    (out, layers)
}

/// Runs ONNX Runtime on `model` with int8 input `x_npy`: writes `final.npy` (first output, all
/// rows) and, for the first `observe` rows, `layer_<k>.npy` for the k-th name of `names`, which
/// the script exposes as extra graph outputs.
pub fn run_ort(
    py: &Path,
    model: &Path,
    x_npy: &Path,
    dir: &Path,
    observe: usize,
    names: &[String],
) {
    let script = r#"
import sys, numpy as np, onnx, onnxruntime as ort
model, x_path, out_dir, observe, names_path = sys.argv[1:6]
observe = int(observe)
names = [l for l in open(names_path).read().split("\n") if l]
m = onnx.load(model)
types = {}
inits = {i.name: i.data_type for i in m.graph.initializer}
for n in m.graph.node:
    if n.op_type == "QuantizeLinear":
        types[n.output[0]] = inits.get(n.input[2], onnx.TensorProto.UINT8) if len(n.input) > 2 else onnx.TensorProto.UINT8
present = {o.name for o in m.graph.output}
for name in names:
    if name not in present:
        m.graph.output.append(onnx.helper.make_tensor_value_info(name, types.get(name, onnx.TensorProto.INT8), None))
opts = ort.SessionOptions(); opts.intra_op_num_threads = 2
s = ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"])
x = np.load(x_path)
inp = s.get_inputs()[0].name
outs = [o.name for o in s.get_outputs()]
final, layers = [], {k: [] for k in names}
for i in range(0, len(x), 500):
    r = s.run(None, {inp: x[i:i+500]})
    final.append(r[0])
    if i < observe:
        for k in names:
            layers[k].append(r[outs.index(k)][: max(0, observe - i)])
np.save(f"{out_dir}/final.npy", np.concatenate(final))
for j, k in enumerate(names):
    np.save(f"{out_dir}/layer_{j}.npy", np.concatenate(layers[k]))
"#;
    let names_path = dir.join("names.txt");
    std::fs::write(&names_path, names.join("\n")).unwrap();
    let status = Command::new(py)
        .args(["-c", script])
        .arg(model)
        .arg(x_npy)
        .arg(dir)
        .arg(observe.to_string())
        .arg(&names_path)
        .status()
        .expect("python runs");
    assert!(status.success(), "onnxruntime script failed");
}

/// Reads an .npy written by [`run_ort`] as f32.
pub fn read_f32(path: &Path) -> Vec<f32> {
    mw_data::read_npy(path)
        .unwrap()
        .cast(mw_tensor::DType::F32)
        .into_vec::<f32>()
        .unwrap()
}

/// Arg-max per row of `width`, first index on ties (as numpy's).
pub fn argmax(v: &[f32], width: usize) -> Vec<usize> {
    v.chunks(width)
        .map(|r| {
            let mut best = 0;
            for (i, &x) in r.iter().enumerate() {
                if x > r[best] {
                    best = i;
                }
            }
            best
        })
        .collect()
}

/// Largest `|a − b|` over two output vectors.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Per-layer agreement: `(equal fraction, max |difference|, elements)`.
pub fn agreement(ours: &[i8], theirs: &[i8]) -> (f64, i32, usize) {
    assert_eq!(ours.len(), theirs.len(), "layer sizes differ");
    let equal = ours.iter().zip(theirs).filter(|(a, b)| a == b).count();
    let max = ours
        .iter()
        .zip(theirs)
        .map(|(a, b)| (i32::from(*a) - i32::from(*b)).abs())
        .max()
        .unwrap_or(0);
    (equal as f64 / ours.len().max(1) as f64, max, ours.len())
}

/// The QuantizeLinear outputs of `graph`, in node order.
pub fn quantized_layers(graph: &Graph) -> Vec<String> {
    graph
        .nodes
        .iter()
        .filter(|n| n.op.op_type() == "QuantizeLinear")
        .map(|n| graph.value(n.outputs[0]).name.clone())
        .collect()
}

pub fn plan(graph: Graph) -> Plan {
    Plan::new(graph, Limits::default()).expect("plan")
}

/// Evaluates `graph` on `x` node by node, feeding every value named in `forced` (ONNX Runtime's
/// outputs) to later nodes in place of ours: each layer then sees ONNX Runtime's input. Returns
/// our output of every forced value.
pub fn teacher_forced(
    graph: &Graph,
    x: Tensor,
    forced: &HashMap<String, Tensor>,
) -> HashMap<String, Tensor> {
    let mut slots: Vec<Option<Tensor>> = graph
        .values
        .iter()
        .map(|v| v.konst.as_deref().cloned())
        .collect();
    let input = graph
        .inputs
        .iter()
        .find(|i| graph.value(**i).konst.is_none())
        .expect("a runtime input");
    slots[input.0] = Some(x);
    let mut ours = HashMap::new();
    for n in &graph.nodes {
        let ins: Vec<Option<&Tensor>> = n
            .inputs
            .iter()
            .map(|v| v.and_then(|v| slots[v.0].as_ref()))
            .collect();
        let outs =
            n.op.eval(&ins)
                .unwrap_or_else(|e| panic!("{}: {e}", n.name));
        for (&o, t) in n.outputs.iter().zip(outs) {
            let name = &graph.value(o).name;
            slots[o.0] = Some(match forced.get(name) {
                Some(f) => {
                    assert_eq!(f.shape(), t.shape(), "{name}");
                    ours.insert(name.clone(), t);
                    f.clone()
                }
                None => t,
            });
        }
    }
    ours
}

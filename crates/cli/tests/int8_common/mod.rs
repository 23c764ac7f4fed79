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

/// Runs ONNX Runtime on `model` with input `x_npy`: writes `final.npy` (first output, all rows)
/// and, for the first `observe` rows, `layer_<k>.npy` with the k-th name of `names` (a
/// QuantizeLinear output) as ONNX Runtime computes it when it runs the whole model.
///
/// Exposing a QuantizeLinear output as a graph output changes what ONNX Runtime runs: it fuses
/// `DQ → Conv → Q` into an integer `QLinearConv` only when the Q feeds a DequantizeLinear, and
/// otherwise runs that layer in float. So each layer is read from the model cut after its Q with a
/// DequantizeLinear appended (the fusion ORT performs on the whole model is kept), and the int8
/// values are recovered exactly from the dequantized ones. A name that is already a graph output
/// is read from the whole model's run.
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
from onnx import helper, numpy_helper, utils
model, x_path, out_dir, observe, names_path = sys.argv[1:6]
observe = int(observe)
names = [l for l in open(names_path).read().split("\n") if l]
m = onnx.shape_inference.infer_shapes(onnx.load(model))
inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
x = np.load(x_path)
def session(mm):
    opts = ort.SessionOptions(); opts.intra_op_num_threads = 2
    return ort.InferenceSession(mm.SerializeToString(), opts, providers=["CPUExecutionProvider"])
def run(s, rows, want):
    inp = s.get_inputs()[0].name
    outs = [o.name for o in s.get_outputs()]
    got = []
    for i in range(0, rows, 500):
        got.append(s.run([outs[want]], {inp: x[i:min(i + 500, rows)]})[0])
    return np.concatenate(got)
whole = session(m)
final = run(whole, len(x), 0)
np.save(f"{out_dir}/final.npy", final)
outputs = [o.name for o in m.graph.output]
q_nodes = {n.output[0]: n for n in m.graph.node if n.op_type == "QuantizeLinear"}
for j, k in enumerate(names):
    if k in outputs:
        layer = run(whole, observe, outputs.index(k))
    else:
        q = q_nodes[k]
        sub = utils.Extractor(m).extract_model([i.name for i in m.graph.input if i.name not in inits], [k])
        del sub.graph.output[:]
        sub.graph.node.append(helper.make_node("DequantizeLinear", list(q.input[1:3]), ["probe"]))
        sub.graph.node[-1].input.insert(0, k)
        sub.graph.output.append(helper.make_tensor_value_info("probe", onnx.TensorProto.FLOAT, None))
        deq = run(session(sub), observe, 0)
        scale = inits[q.input[1]].astype(np.float32)
        zp = inits[q.input[2]]
        info = np.iinfo(zp.dtype)
        layer = np.clip(np.rint(deq / scale) + zp.astype(np.int64), info.min, info.max).astype(zp.dtype)
    np.save(f"{out_dir}/layer_{j}.npy", layer)
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
    run_forced(graph, x, forced).1
}

/// [`teacher_forced`], returning also the graph's first output (computed from the forced values).
pub fn forced_output(graph: &Graph, x: Tensor, forced: &HashMap<String, Tensor>) -> Tensor {
    let (mut slots, _) = run_forced(graph, x, forced);
    slots[graph.outputs[0].0]
        .take()
        .expect("the output is computed")
}

/// Every value of `graph` run on `x` with the `forced` values substituted, and our own output of
/// each forced value.
fn run_forced(
    graph: &Graph,
    x: Tensor,
    forced: &HashMap<String, Tensor>,
) -> (Vec<Option<Tensor>>, HashMap<String, Tensor>) {
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
    (slots, ours)
}

/// Runs `milliwatt quantize FLOAT --calib speech-commands:DATA --no-measure ARGS -o OUT` (a
/// sub-8-bit scheme in `args`), then loads the result and checks it is an opset-21 model with at
/// least five INT4 weight tensors.
pub fn quantize_lowbit(float_model: &Path, data: &Path, out: &Path, args: &[&str]) -> Graph {
    let o = Command::new(env!("CARGO_BIN_EXE_milliwatt"))
        .arg("quantize")
        .arg(float_model)
        .arg("--calib")
        .arg(format!("speech-commands:{}", data.display()))
        .arg("--no-measure")
        .args(args)
        .arg("-o")
        .arg(out)
        .output()
        .expect("binary runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let graph = mw_onnx::load(out, &Limits::default()).unwrap();
    assert!(graph.meta.opset >= 21);
    let int4 = int4_values(&graph).len();
    assert!(int4 >= 5, "int4 weight tensors: {int4}");
    graph
}

/// The constant INT4 tensors of `graph`.
pub fn int4_values(graph: &Graph) -> Vec<&mw_ir::Value> {
    graph
        .values
        .iter()
        .filter(|v| {
            v.konst
                .as_ref()
                .is_some_and(|t| t.dtype() == mw_tensor::DType::I4)
        })
        .collect()
}

/// Runs `model` in ONNX Runtime and `lowered` on milliwatt's engine over the 4,450 eval-split
/// clips, prints the top-1 agreement under `label` and asserts it is at least 99 %.
pub fn assert_eval_top1_agreement(
    py: &Path,
    data: &Path,
    dir: &Path,
    model: &Path,
    lowered: Graph,
    label: &str,
) {
    use mw_data::speech_commands::{features, Split};
    use mw_data::{MfccFrontEnd, SpeechCommands};
    let sc = SpeechCommands::open(data).unwrap();
    let x = features(&MfccFrontEnd::new(), sc.clips(Split::Eval)).unwrap();
    let x_npy = dir.join("eval.npy");
    mw_data::write_npy(&x_npy, &x).unwrap();
    run_ort(py, model, &x_npy, dir, 0, &[]);
    let (ours, _) = run_ours(&plan(lowered), &x, 500, 0, &[]);
    let theirs = read_f32(&dir.join("final.npy"));
    let (a, b) = (argmax(&ours, 12), argmax(&theirs, 12));
    let agree = a.iter().zip(&b).filter(|(p, q)| p == q).count();
    println!(
        "{label} top-1 agreement with ONNX Runtime {agree}/{} = {:.4} %",
        a.len(),
        100.0 * agree as f64 / a.len() as f64
    );
    assert_eq!(a.len(), 4450);
    assert!(
        agree as f64 >= 0.99 * a.len() as f64,
        "top-1 agreement {agree}"
    );
}

//! Group-wise INT4 convolutions with kernels larger than 1×1 run on the integer engine and agree
//! with ONNX Runtime running the same QDQ model (ONNX Runtime dequantizes the INT4 weights,
//! convolves in float and quantizes; the integer engine sums exactly and rounds once).
//!
//! * Single layers (`grouped_conv/layers.py single`): a 3×3 conv + ReLU, a strided 3×3 with
//!   asymmetric pads, a strided 1×1; INT4 weights blocked by 12 input channels with a partial
//!   last block, an int32 bias. Fed the same uint8 input, the two must be within one output step
//!   everywhere and almost always equal (they differ only where ONNX Runtime's float sum lands
//!   within its own rounding error of a rounding boundary).
//! * A ResNet-8 (`grouped_conv/resnet8_blocked.py`: MLPerf Tiny IC structure, 3×3 convs, strided
//!   3×3 with asymmetric pads, strided 1×1, residual adds, every Conv blocked by 12) is integer-only
//!   (`milliwatt inspect --integer-only`). Per layer, ONNX Runtime is fed the integer engine's own
//!   quantized inputs of that layer, so differences do not compound: every layer within one step.
//!   End to end, the differences compound (see the bounds in the last test).
//!
//! Skips without Python with onnxruntime.
mod int8_common;

use mw_exec::Plan;
use mw_ir::passes::lower_qdq;
use mw_ir::Limits;
use mw_tensor::{DType, Tensor};
use mw_testkit::python_or_skip;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const IMAGES: usize = 64;

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/grouped_conv")
        .join(name)
}

fn python(py: &Path, args: &[&str]) {
    let status = Command::new(py).args(args).status().expect("python runs");
    assert!(status.success(), "{args:?} failed");
}

/// Writes the ResNet-8 (`model.onnx`), its inputs (`x.npy`) and ONNX Runtime's final outputs
/// (`ort.npy`) into `dir`.
fn resnet8(py: &Path, dir: &Path) -> PathBuf {
    let s = script("resnet8_blocked.py");
    python(
        py,
        &[
            s.to_str().unwrap(),
            dir.to_str().unwrap(),
            "12",
            &IMAGES.to_string(),
        ],
    );
    dir.join("model.onnx")
}

/// `model` lowered, with `grouped` group-wise integer layers and no float op left.
fn lowered_plan(model: &Path, grouped: usize) -> Plan {
    let graph = mw_onnx::load(model, &Limits::default()).unwrap();
    let (lowered, _) = lower_qdq(&graph).unwrap();
    let count = |t: &str| lowered.nodes.iter().filter(|n| n.op.op_type() == t).count();
    assert_eq!(count("MwQGroupedGemm"), grouped);
    assert_eq!(count("Conv"), 0);
    Plan::new(lowered, Limits::default()).unwrap()
}

/// Output-step differences of two integer tensors: `(equal share, within-one share, worst)`.
fn steps(ours: &Tensor, theirs: &Tensor) -> (f64, f64, i64) {
    assert_eq!(ours.shape(), theirs.shape());
    let (a, b) = (ours.to_i64_vec().unwrap(), theirs.to_i64_vec().unwrap());
    let d: Vec<i64> = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).collect();
    let n = d.len().max(1) as f64;
    let share = |k: i64| d.iter().filter(|&&v| v <= k).count() as f64 / n;
    (share(0), share(1), d.iter().copied().max().unwrap_or(0))
}

/// One layer fed the same inputs in both engines.
struct Fed {
    /// Equal share of the outputs that are not exact ties.
    equal_off_ties: f64,
    /// Share of outputs at an exact tie (an Add's real-valued result halfway between two steps).
    ties: f64,
    /// Share of all outputs that are a tie and differ: the integer engine rounds ties away from
    /// zero (the project's rounding function), ONNX Runtime's QLinearAdd to even.
    tie_differ: f64,
    worst: i64,
}

fn fed_agreement(ours: &Tensor, theirs: &Tensor, tie: &Tensor) -> Fed {
    assert_eq!(ours.shape(), theirs.shape());
    assert_eq!(ours.shape(), tie.shape());
    let (a, b) = (ours.to_i64_vec().unwrap(), theirs.to_i64_vec().unwrap());
    let t = tie.to_i64_vec().unwrap();
    let (mut off, mut off_equal, mut tie_differ, mut worst) = (0usize, 0usize, 0usize, 0i64);
    for ((x, y), &t) in a.iter().zip(&b).zip(&t) {
        worst = worst.max((x - y).abs());
        if t == 0 {
            off += 1;
            off_equal += usize::from(x == y);
        } else {
            tie_differ += usize::from(x != y);
        }
    }
    let n = a.len().max(1) as f64;
    Fed {
        equal_off_ties: off_equal as f64 / off.max(1) as f64,
        ties: (a.len() - off) as f64 / n,
        tie_differ: tie_differ as f64 / n,
        worst,
    }
}

#[test]
fn single_group_wise_layers_are_within_one_step_of_onnxruntime() {
    let test = "grouped_conv_single";
    let Some(py) = python_or_skip(test) else {
        return;
    };
    let dir = int8_common::temp_dir(test);
    let s = script("layers.py");
    python(
        &py,
        &[s.to_str().unwrap(), "single", dir.to_str().unwrap(), "16"],
    );
    for case in ["3x3", "3x3_s2", "1x1_s2"] {
        let plan = lowered_plan(&dir.join(format!("single_{case}.onnx")), 1);
        let x = mw_data::read_npy(&dir.join(format!("single_{case}_x.npy"))).unwrap();
        let theirs = mw_data::read_npy(&dir.join(format!("single_{case}_ort.npy"))).unwrap();
        let ours = plan.run(vec![x]).unwrap().remove(0);
        assert_eq!(ours.dtype(), DType::U8);
        let (equal, _, worst) = steps(&ours, &theirs);
        eprintln!(
            "{test} {case}: {} outputs, {:.3}% equal, worst {worst} steps",
            ours.len(),
            100.0 * equal
        );
        assert!(worst <= 1, "{case}: worst difference {worst} steps");
        assert!(equal >= 0.99, "{case}: only {:.3}% equal", 100.0 * equal);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Per layer of the ResNet-8 (every QuantizeLinear output, the input's included): the integer
/// engine's output against ONNX Runtime's for the same layer fed the integer engine's inputs of
/// that layer ("fed"), and against ONNX Runtime's whole-model run ("compounded", printed to show
/// how differences grow).
#[test]
fn group_wise_resnet8_layers_are_within_one_step_of_onnxruntime() {
    let test = "grouped_conv_layers";
    let Some(py) = python_or_skip(test) else {
        return;
    };
    let dir = int8_common::temp_dir(test);
    let model = resnet8(&py, &dir);
    let graph = mw_onnx::load(&model, &Limits::default()).unwrap();
    let names = int8_common::quantized_layers(&graph);
    assert_eq!(names.len(), 13, "{names:?}");
    let plan = lowered_plan(&model, 9);
    let x_npy = dir.join("x.npy");
    let x = mw_data::read_npy(&x_npy).unwrap();
    let mut ours: HashMap<String, Tensor> = HashMap::new();
    let g = plan.graph();
    plan.run_observed(vec![x], &mut |id, t| {
        let name = &g.value(id).name;
        if name == "input" || names.contains(name) {
            ours.insert(name.clone(), t.clone());
        }
    })
    .unwrap();
    for (name, t) in &ours {
        mw_data::write_npy(&dir.join(format!("ours_{name}.npy")), t).unwrap();
    }
    let list = dir.join("layers.txt");
    std::fs::write(&list, names.join("\n")).unwrap();
    let s = script("layers.py");
    let d = dir.to_str().unwrap();
    python(
        &py,
        &[
            s.to_str().unwrap(),
            "per-layer",
            model.to_str().unwrap(),
            d,
            list.to_str().unwrap(),
        ],
    );
    int8_common::run_ort(&py, &model, &x_npy, &dir, IMAGES, &names);
    for (j, name) in names.iter().enumerate() {
        let mine = &ours[name];
        let fed = mw_data::read_npy(&dir.join(format!("ort_{name}.npy"))).unwrap();
        let tie = mw_data::read_npy(&dir.join(format!("tie_{name}.npy"))).unwrap();
        let whole = mw_data::read_npy(&dir.join(format!("layer_{j}.npy"))).unwrap();
        let f = fed_agreement(mine, &fed, &tie);
        let (c_equal, c_within, c_worst) = steps(mine, &whole);
        eprintln!(
            "{test} {name:>5} {:?}: fed {:.3}% equal off ties, {:.2}% ties ({:.2}% differ), \
             worst {} | compounded {:.2}% equal, {:.2}% within 1, worst {c_worst}",
            mine.shape(),
            100.0 * f.equal_off_ties,
            100.0 * f.ties,
            100.0 * f.tie_differ,
            f.worst,
            100.0 * c_equal,
            100.0 * c_within
        );
        assert!(f.worst <= 1, "{name}: worst difference {} steps", f.worst);
        assert!(
            f.equal_off_ties >= 0.999,
            "{name}: only {:.3}% equal off ties",
            100.0 * f.equal_off_ties
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn group_wise_resnet8_is_integer_only_and_agrees_with_onnxruntime() {
    let test = "grouped_conv_ort";
    let Some(py) = python_or_skip(test) else {
        return;
    };
    let dir = int8_common::temp_dir(test);
    let model = resnet8(&py, &dir);

    // The CLI's lint: zero float ops, every Conv lowered.
    let out = Command::new(env!("CARGO_BIN_EXE_milliwatt"))
        .args(["inspect", "--integer-only", "--json"])
        .arg(&model)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["integer_only"], true, "{report:#}");
    assert_eq!(
        report["float_ops"].as_array().unwrap().len(),
        0,
        "{report:#}"
    );
    let lowered = report["lowered"].as_array().unwrap();
    let convs = lowered
        .iter()
        .filter(|v| v.as_str().unwrap().starts_with("Conv"))
        .count();
    assert_eq!(convs, 9, "{report:#}");

    // The integer engine against ONNX Runtime, end to end.
    let plan = lowered_plan(&model, 9);
    let x = mw_data::read_npy(&dir.join("x.npy")).unwrap();
    let theirs = mw_data::read_npy(&dir.join("ort.npy")).unwrap();
    let ours = plan.run(vec![x]).unwrap().remove(0);
    assert_eq!(ours.shape(), theirs.shape());
    let ours = ours.cast(DType::F32).into_vec::<f32>().unwrap();
    let theirs = theirs.as_slice::<f32>().unwrap();
    // The output is uint8 at scale 0.1: count output steps of difference.
    let steps: Vec<u32> = ours
        .iter()
        .zip(theirs)
        .map(|(a, b)| ((a - b).abs() / 0.1).round() as u32)
        .collect();
    let n = steps.len() as f64;
    let exact = steps.iter().filter(|&&s| s == 0).count() as f64 / n;
    let within1 = steps.iter().filter(|&&s| s <= 1).count() as f64 / n;
    let worst = steps.iter().copied().max().unwrap();
    eprintln!(
        "{test}: {} outputs, {:.2}% equal, {:.2}% within 1 step, worst {worst} steps",
        steps.len(),
        100.0 * exact,
        100.0 * within1
    );
    // Why the end-to-end agreement is looser than one layer's: per layer, fed the same inputs,
    // every group-wise conv agrees with ONNX Runtime to within one step on ≥ 99.999 % of outputs
    // (test above). The one systematic difference is the first residual Add (inputs at scales
    // 0.05 and 0.1, output at 0.1): an input at 0.05 with an odd value puts the exact sum
    // halfway between two steps on 21.5 % of that layer's outputs; ONNX Runtime rounds those ties
    // to even, the integer engine away from zero (the project's rounding function), so 9.2 % of
    // that layer's outputs are one step higher here — always higher, not random. Every later 3×3
    // conv sums such shifts of the same sign over its 9·C inputs, so they compound: 84 % equal
    // after the next conv, 72 % and worst 5 at the third stage's first conv (the per-layer test
    // prints the compounded figures). Measured end to end (block 12, 64 images, seeded):
    // 82.79 % equal, 98.35 % within one step, worst 4; the bounds leave room for the order of
    // ONNX Runtime's float sums (another ISA) and nothing more.
    assert!(exact >= 0.80, "only {:.2}% of outputs equal", 100.0 * exact);
    assert!(
        within1 >= 0.98,
        "only {:.2}% within one step",
        100.0 * within1
    );
    assert!(worst <= 4, "worst difference {worst} steps");

    // The explanation, checked: with the tie layer (the first Add) replaced by ONNX Runtime's
    // own output, the rest of the integer network matches ONNX Runtime's end to end.
    let graph = mw_onnx::load(&model, &Limits::default()).unwrap();
    let add = int8_common::quantized_layers(&graph)[4].clone();
    let x_npy = dir.join("x.npy");
    int8_common::run_ort(
        &py,
        &model,
        &x_npy,
        &dir,
        IMAGES,
        std::slice::from_ref(&add),
    );
    let forced = HashMap::from([(add, mw_data::read_npy(&dir.join("layer_0.npy")).unwrap())]);
    let x = mw_data::read_npy(&x_npy).unwrap();
    let ours = int8_common::forced_output(plan.graph(), x, &forced);
    let theirs = mw_data::read_npy(&dir.join("final.npy")).unwrap();
    let (ours, theirs) = (ours.cast(DType::F32), theirs.cast(DType::F32));
    let d: Vec<f32> = ours
        .as_slice::<f32>()
        .unwrap()
        .iter()
        .zip(theirs.as_slice::<f32>().unwrap())
        .map(|(a, b)| ((a - b).abs() / 0.1).round())
        .collect();
    let equal = d.iter().filter(|&&v| v == 0.0).count() as f64 / d.len() as f64;
    let worst = d.iter().copied().fold(0f32, f32::max);
    eprintln!(
        "{test}: first Add forced to ONNX Runtime's: {:.3}% equal, worst {worst} steps",
        100.0 * equal
    );
    assert!(equal >= 0.999, "only {:.3}% equal", 100.0 * equal);
    assert!(worst <= 1.0, "worst {worst} steps");
    let _ = std::fs::remove_dir_all(&dir);
}

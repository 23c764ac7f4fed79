//! QOperator export of the int8 KWS model: standard ONNX ops only (no `com.microsoft`, no `Mw…`),
//! accepted by the ONNX checker and run by ONNX Runtime, whose top-1 predictions agree with our
//! integer engine on ≥ 99.5 % of the 4,890 reference-feature clips; imported back, the QOperator
//! file runs in our engine and lowers to an integer-only graph. Skips without ../shared or Python
//! with onnxruntime.
mod int8_common;

use int8_common::*;
use milliwatt::dataset::{DatasetSpec, SplitArg};
use milliwatt::eval::{eval_file_with, Engine, EvalOptions};
use mw_ir::passes::{integer_only, lower_qdq};
use mw_ir::Limits;
use std::process::Command;

const DATA: &str = "data/speech_commands_v0.02_test";

const ALLOWED: &[&str] = &[
    "QLinearConv",
    "QLinearMatMul",
    "QuantizeLinear",
    "DequantizeLinear",
    "Clip",
    "Reshape",
    "Softmax",
    "Add",
    "AveragePool",
    "MaxPool",
    "Flatten",
    "Transpose",
    "Squeeze",
    "Unsqueeze",
    "Concat",
];

#[test]
fn qoperator_export_runs_in_onnxruntime_and_agrees() {
    let Some((model, mfcc, py)) = material("int8_qoperator_ort") else {
        return;
    };
    let dir = temp_dir("int8-qoperator-ort");
    let graph = mw_onnx::load(&model, &Limits::default()).unwrap();
    let x = int8_features(&graph, &mfcc);
    let x_npy = dir.join("x.npy");
    mw_data::write_npy(&x_npy, &x).unwrap();
    let qop = dir.join("kws_qoperator.onnx");
    let report = mw_onnx::save_qoperator(&graph, &qop).unwrap();
    println!("exported through float: {:?}", report.untouched);
    assert_eq!(
        report.untouched.len(),
        1,
        "only the Softmax goes through float"
    );

    let script = r#"
import sys, numpy as np, onnx, onnxruntime as ort
m = onnx.load(sys.argv[1])
onnx.checker.check_model(m, full_check=True)
print("ops", sorted({(n.domain or "", n.op_type) for n in m.graph.node}))
print("opsets", [(o.domain, o.version) for o in m.opset_import])
opts = ort.SessionOptions(); opts.intra_op_num_threads = 2
s = ort.InferenceSession(sys.argv[1], opts, providers=["CPUExecutionProvider"])
x = np.load(sys.argv[2])
y = np.concatenate([s.run(None, {s.get_inputs()[0].name: x[i:i+500]})[0] for i in range(0, len(x), 500)])
np.save(sys.argv[3], y)
"#;
    let ort_out = dir.join("ort.npy");
    let out = Command::new(&py)
        .args(["-c", script])
        .arg(&qop)
        .arg(&x_npy)
        .arg(&ort_out)
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "onnx checker or onnxruntime refused the QOperator model: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ops_line = stdout.lines().find(|l| l.starts_with("ops")).unwrap();
    assert!(!ops_line.contains("com.microsoft") && !ops_line.contains("'Mw"));
    let imported = mw_onnx::load(&qop, &Limits::default()).unwrap();
    for n in &imported.nodes {
        assert!(
            ALLOWED.contains(&n.op.op_type()),
            "{} is not a standard op here",
            n.op.op_type()
        );
    }

    let (lowered, _) = lower_qdq(&graph).unwrap();
    let (ours, _) = run_ours(&plan(lowered), &x, 500, 0, &[]);
    let theirs = read_f32(&ort_out);
    let (a, b) = (argmax(&ours, 12), argmax(&theirs, 12));
    let agree = a.iter().zip(&b).filter(|(p, q)| p == q).count();
    let max = max_abs_diff(&ours, &theirs);
    println!(
        "QOperator in onnxruntime vs our integer engine: top-1 agreement {agree}/{} = {:.4} %, \
         output max |diff| {max}",
        a.len(),
        100.0 * agree as f64 / a.len() as f64
    );
    assert!(agree as f64 >= 0.995 * a.len() as f64);

    // The QOperator file in our engine: as imported (Softmax in float), and lowered (integer-only).
    let (direct, _) = run_ours(&plan(imported.clone()), &x, 500, 0, &[]);
    let (relowered, pass) = lower_qdq(&imported).unwrap();
    let lint = integer_only(&relowered, Some(&pass)).unwrap();
    assert!(lint.is_integer_only(), "{:?}", lint.float_ops);
    let (again, _) = run_ours(&plan(relowered), &x, 500, 0, &[]);
    let same = |v: &[f32]| argmax(v, 12).iter().zip(&a).filter(|(p, q)| p == q).count();
    println!(
        "QOperator file in our engine: top-1 agreement with the QDQ model's integer run {} \
         (as imported) and {} (lowered) of {}",
        same(&direct),
        same(&again),
        a.len()
    );
    assert!(same(&direct) as f64 >= 0.995 * a.len() as f64);
    assert!(same(&again) as f64 >= 0.999 * a.len() as f64);

    // `milliwatt eval` on the QOperator file: the int8 input's quantization read from QLinearConv.
    let q = milliwatt::eval::input_quantization(&imported)
        .unwrap()
        .unwrap();
    assert_eq!((q.scale, q.zero_point, q.dtype), (0.5847029, 83, "i8"));
    if let Some(data) = mw_testkit::shared_or_skip("int8_qoperator_ort", DATA) {
        let options = EvalOptions {
            dataset: DatasetSpec::SpeechCommands(data),
            split: SplitArg::Eval,
            batch: 256,
            progress: false,
        };
        let r = eval_file_with(&qop, &options, Engine::Auto, &Limits::default()).unwrap();
        println!(
            "QOperator file, eval split, {} engine: top-1 {:.4} ({}/{})",
            r.engine, r.top1, r.correct, r.total
        );
        assert_eq!(r.engine, "integer");
        assert!(r.fallback_float_ops.is_empty());
        assert!(r.correct >= 4076, "{}/{}", r.correct, r.total);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

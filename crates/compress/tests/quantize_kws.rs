//! W8A8 quantization of the real MLPerf Tiny KWS model, calibrated on the calibration split of
//! the real Speech Commands test set (MFCC by milliwatt's front end), measured on the eval split:
//! top-1 of the QDQ model in the float engine (fake quantization), top-1 in ONNX Runtime (which
//! runs the QDQ model with its own int8 kernels) and their agreement; and determinism. Skips,
//! printing why, without ../shared (or, for the ONNX Runtime part, without the Python venv).
use mw_compress::calibrate::Method;
use mw_compress::quantize::{quantize, QuantizeConfig, RangeChoice};
use mw_data::speech_commands::{feature_values, features_tensor};
use mw_data::{MfccFrontEnd, SpeechCommands, Split};
use mw_exec::Plan;
use mw_ir::{Graph, Limits};
use mw_tensor::Tensor;
use mw_testkit::{python_or_skip, shared_or_skip};
use std::process::Command;

const MODEL: &str = "models/mlperf-tiny/kws_dscnn_float32.onnx";
const DATA: &str = "data/speech_commands_v0.02_test";
/// The float model's own top-1 on the eval split: W8A8 must not lose accuracy.
const TARGET: f64 = 0.9173;

struct Kws {
    graph: Graph,
    data: SpeechCommands,
}

fn kws(test: &str) -> Option<Kws> {
    let model = shared_or_skip(test, MODEL)?;
    let dir = shared_or_skip(test, DATA)?;
    Some(Kws {
        graph: mw_onnx::load(&model, &Limits::default()).unwrap(),
        data: SpeechCommands::open(&dir).unwrap(),
    })
}

/// Features of `split` in batches of `batch`, and the labels.
fn features(data: &SpeechCommands, split: Split, batch: usize) -> (Vec<Tensor>, Vec<usize>) {
    let clips: Vec<_> = data.clips(split).cloned().collect();
    let front = MfccFrontEnd::new();
    let batches = clips
        .chunks(batch)
        .map(|c| features_tensor(feature_values(&front, c).unwrap()).unwrap())
        .collect();
    (batches, clips.iter().map(|c| c.label).collect())
}

fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best
}

fn config(ranges: RangeChoice) -> QuantizeConfig {
    QuantizeConfig {
        ranges,
        measure: false,
        ..Default::default()
    }
}

#[test]
fn w8a8_keeps_float_accuracy_on_the_eval_split_and_onnxruntime_agrees() {
    let Some(k) = kws("quantize_kws") else {
        return;
    };
    let (calib, _) = features(&k.data, Split::Calibration, 64);
    assert_eq!(calib.iter().map(|t| t.shape()[0]).sum::<usize>(), 440);
    let (qdq, report) = quantize(k.graph, calib, &QuantizeConfig::default()).unwrap();
    assert_eq!(report.model.float_layers, 0, "{:?}", report.kept_float);
    let (eval, labels) = features(&k.data, Split::Eval, 512);
    assert_eq!(labels.len(), 4450);
    let plan = Plan::new(qdq.clone(), Limits::default()).unwrap();
    let mut ours = Vec::new();
    for x in &eval {
        let y = plan.run(vec![x.clone()]).unwrap().remove(0);
        ours.extend(y.as_slice::<f32>().unwrap().chunks(12).map(argmax));
    }
    let correct = ours.iter().zip(&labels).filter(|(p, l)| p == l).count();
    let top1 = correct as f64 / labels.len() as f64;
    println!("W8A8 minmax, QDQ in the float engine: eval top-1 {top1:.4} ({correct}/4450)");
    assert!(top1 >= TARGET, "eval top-1 {top1} below {TARGET}");

    let Some(py) = python_or_skip("quantize_kws (ONNX Runtime)") else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("mw-quantize-kws-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model = dir.join("kws_w8a8.onnx");
    mw_onnx::save(&qdq, &model).unwrap();
    let values: Vec<f32> = eval
        .iter()
        .flat_map(|t| t.as_slice::<f32>().unwrap().iter().copied())
        .collect();
    mw_data::write_npy(&dir.join("x.npy"), &features_tensor(values).unwrap()).unwrap();
    let script = r#"
import sys, numpy as np, onnxruntime as ort
opts = ort.SessionOptions(); opts.intra_op_num_threads = 1
s = ort.InferenceSession(sys.argv[1], opts, providers=["CPUExecutionProvider"])
x = np.load(sys.argv[2])
y = np.concatenate([s.run(None, {s.get_inputs()[0].name: x[i:i+512]})[0] for i in range(0, len(x), 512)])
np.save(sys.argv[3], y.argmax(1).astype(np.int64))
"#;
    let status = Command::new(&py)
        .args(["-c", script])
        .arg(&model)
        .arg(dir.join("x.npy"))
        .arg(dir.join("ort.npy"))
        .status()
        .unwrap();
    assert!(
        status.success(),
        "ONNX Runtime could not load or run the QDQ model"
    );
    let theirs = mw_data::read_npy(&dir.join("ort.npy"))
        .unwrap()
        .to_i64_vec()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(theirs.len(), 4450);
    let ort_correct = theirs
        .iter()
        .zip(&labels)
        .filter(|(p, l)| **p as usize == **l)
        .count();
    let agree = theirs
        .iter()
        .zip(&ours)
        .filter(|(a, b)| **a as usize == **b)
        .count();
    let ort_top1 = ort_correct as f64 / 4450.0;
    let agreement = agree as f64 / 4450.0;
    println!(
        "ONNX Runtime on the exported QDQ model: eval top-1 {ort_top1:.4} ({ort_correct}/4450); \
         top-1 agreement with milliwatt {agreement:.4} ({agree}/4450)"
    );
    assert!(
        ort_top1 >= TARGET,
        "ONNX Runtime top-1 {ort_top1} below {TARGET}"
    );
    assert!(agreement >= 0.995, "agreement {agreement} below 99.5 %");
}

#[test]
fn quantizing_kws_twice_gives_the_same_bytes() {
    let Some(k) = kws("quantize_kws_determinism") else {
        return;
    };
    let (calib, _) = features(&k.data, Split::Calibration, 100);
    let cfg = config(RangeChoice::Method(Method::Entropy));
    let a = quantize(k.graph.clone(), calib.clone(), &cfg).unwrap().0;
    let b = quantize(k.graph, calib, &cfg).unwrap().0;
    assert!(mw_onnx::to_bytes(&a).unwrap() == mw_onnx::to_bytes(&b).unwrap());
}

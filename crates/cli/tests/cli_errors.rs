//! The binary on bad input: a typed message naming the file, a non-zero exit, no partial output.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn milliwatt(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_milliwatt"))
        .args(args)
        .output()
        .expect("binary runs")
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mw-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn corrupt_model_fails_naming_the_file() {
    let d = temp_dir("corrupt");
    let model = d.join("broken.onnx");
    std::fs::write(&model, b"\x08\x07\x12\xff\xff\xff\xff\x0fgarbage").unwrap();
    let out = milliwatt(&["inspect", s(&model)]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("broken.onnx"), "{}", stderr(&out));
}

#[test]
fn missing_model_fails_naming_the_file() {
    let out = milliwatt(&["inspect", "/nonexistent/model.onnx"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("/nonexistent/model.onnx"),
        "{}",
        stderr(&out)
    );
}

/// A one-node Relu model with input [1, 3], written through the exporter.
fn relu_model(dir: &Path) -> PathBuf {
    use mw_ir::{build_op, BuildCtx, Dim, Graph, Node, Value};
    let mut g = Graph::default();
    g.meta.opset = 13;
    let mut x = Value::named("x");
    x.dtype = Some(mw_tensor::DType::F32);
    x.shape = Some(vec![Dim::Fixed(1), Dim::Fixed(3)]);
    let x = g.add_value(x);
    let mut y = Value::named("y");
    y.dtype = Some(mw_tensor::DType::F32);
    let y = g.add_value(y);
    let ctx = BuildCtx {
        opset: 13,
        n_inputs: 1,
        n_outputs: 1,
    };
    g.nodes.push(Node {
        name: "relu".into(),
        op: build_op("Relu", &Default::default(), &ctx)
            .unwrap()
            .unwrap(),
        inputs: vec![Some(x)],
        outputs: vec![y],
    });
    g.inputs = vec![x];
    g.outputs = vec![y];
    let path = dir.join("relu.onnx");
    mw_onnx::save(&g, &path).unwrap();
    path
}

#[test]
fn run_writes_the_output_and_refuses_wrong_shapes_without_writing() {
    let d = temp_dir("run");
    let model = relu_model(&d);
    let good = d.join("x.npy");
    mw_data::write_npy(
        &good,
        &mw_tensor::Tensor::from_vec(vec![1, 3], vec![-1f32, 0.5, 2.0]).unwrap(),
    )
    .unwrap();
    let out_path = d.join("y.npy");
    let out = milliwatt(&[
        "run",
        s(&model),
        "--input",
        s(&good),
        "--output",
        s(&out_path),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let y = mw_data::read_npy(&out_path).unwrap();
    assert_eq!(y.as_slice::<f32>().unwrap(), &[0.0, 0.5, 2.0]);

    let bad = d.join("bad.npy");
    mw_data::write_npy(
        &bad,
        &mw_tensor::Tensor::from_vec(vec![2, 2], vec![0f32; 4]).unwrap(),
    )
    .unwrap();
    let bad_out = d.join("never.npy");
    let out = milliwatt(&[
        "run",
        s(&model),
        "--input",
        s(&bad),
        "--output",
        s(&bad_out),
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("`x`"), "{}", stderr(&out));
    assert!(!bad_out.exists(), "no partial output");
    let leftovers: Vec<_> = std::fs::read_dir(&d)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn nan_input_is_refused_naming_the_file() {
    let d = temp_dir("nan");
    let model = relu_model(&d);
    let x = d.join("nan.npy");
    mw_data::write_npy(
        &x,
        &mw_tensor::Tensor::from_vec(vec![1, 3], vec![0f32, f32::NAN, 1.0]).unwrap(),
    )
    .unwrap();
    let out = milliwatt(&["run", s(&model), "--input", s(&x)]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("nan.npy"), "{}", stderr(&out));
}

#[test]
fn memory_cap_refuses_large_inputs() {
    let d = temp_dir("cap");
    let model = relu_model(&d);
    let x = d.join("x.npy");
    mw_data::write_npy(
        &x,
        &mw_tensor::Tensor::from_vec(vec![1, 3], vec![0f32; 3]).unwrap(),
    )
    .unwrap();
    let out = milliwatt(&["--memory-cap", "8", "run", s(&model), "--input", s(&x)]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("memory cap"), "{}", stderr(&out));
}

#[test]
fn eval_refuses_a_non_16khz_clip_naming_it() {
    let d = temp_dir("wav");
    let model = relu_model(&d);
    let data = d.join("speech");
    for label in [
        "down",
        "go",
        "left",
        "no",
        "off",
        "on",
        "right",
        "stop",
        "up",
        "yes",
        "_silence_",
        "_unknown_",
    ] {
        std::fs::create_dir_all(data.join(label)).unwrap();
    }
    let clip = data.join("yes").join("0123abcd_nohash_0.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&clip, spec).unwrap();
    for i in 0..800 {
        w.write_sample((i % 100) as i16).unwrap();
    }
    w.finalize().unwrap();
    let dataset = format!("speech-commands:{}", s(&data));
    let out = milliwatt(&["eval", s(&model), "--dataset", &dataset]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("0123abcd_nohash_0.wav"),
        "{}",
        stderr(&out)
    );
}

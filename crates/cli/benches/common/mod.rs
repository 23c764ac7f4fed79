//! Shared by the KWS engine benchmarks: batching of the reference rows and the timing loop.
use mw_exec::Plan;
use mw_tensor::{DType, Tensor};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// Rows per batch.
pub const BATCH: usize = 256;

/// The median of `v` (the upper one of an even count).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Rows `range` of a batch-major i8, u8 or f32 tensor.
fn rows(t: &Tensor, range: std::ops::Range<usize>) -> Tensor {
    let per: usize = t.shape()[1..].iter().product();
    let (a, b) = (range.start * per, range.end * per);
    let mut shape = t.shape().to_vec();
    shape[0] = range.len();
    match t.dtype() {
        DType::I8 => Tensor::from_vec(shape, t.as_slice::<i8>().expect("i8")[a..b].to_vec()),
        DType::U8 => Tensor::from_vec(shape, t.as_slice::<u8>().expect("u8")[a..b].to_vec()),
        _ => Tensor::from_vec(shape, t.as_slice::<f32>().expect("f32")[a..b].to_vec()),
    }
    .expect("shape")
}

/// `x` in batches of [`BATCH`] rows.
pub fn batches(x: &Tensor) -> Vec<Tensor> {
    let n = x.shape()[0];
    (0..n)
        .step_by(BATCH)
        .map(|s| rows(x, s..(s + BATCH).min(n)))
        .collect()
}

/// Seconds to run every batch, the batches split over `threads` threads.
pub fn infer_seconds(plan: &Plan, batches: &[Tensor], threads: usize) -> f64 {
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            s.spawn(move || {
                for b in batches.iter().skip(t).step_by(threads) {
                    plan.run(vec![b.clone()]).expect("run");
                }
            });
        }
    });
    start.elapsed().as_secs_f64()
}

/// ONNX Runtime's median seconds over `runs` runs of every batch of `x_npy`, or why it could not run.
pub fn onnxruntime_seconds(
    model: &Path,
    x_npy: &Path,
    threads: usize,
    runs: usize,
) -> Result<f64, String> {
    let py = mw_testkit::python().ok_or("no Python with onnxruntime: run tools/setup.sh")?;
    let script = r#"
import sys, time, numpy as np, onnxruntime as ort
model, data, threads, runs, batch = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
o = ort.SessionOptions(); o.intra_op_num_threads = threads; o.inter_op_num_threads = 1
s = ort.InferenceSession(model, o, providers=["CPUExecutionProvider"])
x = np.load(data); name = s.get_inputs()[0].name
chunks = [x[i:i + batch] for i in range(0, len(x), batch)]
times = []
for _ in range(runs):
    t = time.perf_counter()
    for c in chunks:
        s.run(None, {name: c})
    times.append(time.perf_counter() - t)
print(sorted(times)[len(times) // 2])
"#;
    let out = Command::new(py)
        .args(["-c", script])
        .arg(model)
        .arg(x_npy)
        .arg(threads.to_string())
        .arg(runs.to_string())
        .arg(BATCH.to_string())
        .output()
        .map_err(|e| format!("python does not run: {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|_| {
            format!(
                "onnxruntime failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )
        })
}

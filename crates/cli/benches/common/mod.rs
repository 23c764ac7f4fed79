//! Shared by the KWS engine benchmarks: batching of the reference rows and the timing loop.
use mw_exec::Plan;
use mw_tensor::{DType, Tensor};
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

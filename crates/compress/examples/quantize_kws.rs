//! Times W8A8 quantization of the MLPerf Tiny KWS model with the 440 calibration clips, MFCC
//! included, on one thread, and prints the per-layer report:
//!
//! `cargo run --release -p mw-compress --example quantize_kws -- MODEL DATA_DIR [METHOD] [OUT.onnx]`
//!
//! METHOD: minmax (default), percentile, percentile:P, entropy, mse, auto. The figure that counts
//! is "on-CPU" (this thread's CPU time), which holds on a machine shared with other work.
use mw_compress::calibrate::Method;
use mw_compress::quantize::{try_quantize, QuantizeConfig, RangeChoice};
use mw_data::speech_commands::{feature_values, features_tensor};
use mw_data::{MfccFrontEnd, SpeechCommands, Split};
use mw_ir::Limits;
use std::time::Instant;

const BATCH: usize = 64;

fn parse_method(s: &str) -> Result<RangeChoice, String> {
    Ok(match s {
        "minmax" => RangeChoice::Method(Method::MinMax),
        "entropy" => RangeChoice::Method(Method::Entropy),
        "mse" => RangeChoice::Method(Method::Mse),
        "auto" => RangeChoice::auto(99.99),
        "percentile" => RangeChoice::Method(Method::Percentile(99.99)),
        p if p.starts_with("percentile:") => {
            let v: f64 = p["percentile:".len()..]
                .parse()
                .map_err(|e| format!("{e}"))?;
            RangeChoice::Method(Method::Percentile(v))
        }
        other => return Err(format!("unknown method {other}")),
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        return Err("usage: quantize_kws MODEL DATA_DIR [METHOD] [OUT.onnx]".into());
    }
    let config = QuantizeConfig {
        ranges: parse_method(args.get(2).map_or("minmax", String::as_str))?,
        ..Default::default()
    };
    let (wall, cpu0) = (Instant::now(), thread_cpu_ns());
    let graph = mw_onnx::load(args[0].as_ref(), &Limits::default())?;
    let data = SpeechCommands::open(args[1].as_ref())?;
    let clips: Vec<_> = data.clips(Split::Calibration).cloned().collect();
    let front = MfccFrontEnd::new();
    let batches = clips
        .chunks(BATCH)
        .map(|c| feature_values(&front, c).map(|v| features_tensor(v).expect("whole clips")));
    let (qdq, report) = try_quantize(graph, batches, &config)?;
    let (elapsed, cpu) = (wall.elapsed(), (thread_cpu_ns() - cpu0) * 1e-9);
    if let Some(out) = args.get(3) {
        mw_onnx::save(&qdq, out.as_ref())?;
    }
    println!("{}", report.table());
    println!(
        "{} calibration clips: load + MFCC + quantize + report in {elapsed:.2?} wall / {cpu:.3} s \
         on-CPU (one thread)",
        clips.len()
    );
    Ok(())
}

/// Nanoseconds this thread has spent on a CPU (Linux `schedstat`; NaN elsewhere).
fn thread_cpu_ns() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

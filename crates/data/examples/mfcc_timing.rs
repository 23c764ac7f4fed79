//! Times the KWS front end on the Speech Commands test set, one thread:
//! `cargo run --release -p mw-data --example mfcc_timing -- <speech_commands_v0.02_test dir>`.
use std::time::Instant;

use mw_data::{read_wav, MfccFrontEnd, SpeechCommands, Split};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .ok_or("usage: mfcc_timing <speech_commands_v0.02_test dir>")?;
    let data = SpeechCommands::open(dir.as_ref())?;
    let clips: Vec<_> = data.clips(Split::All).collect();

    let (start, cpu0) = (Instant::now(), thread_cpu_ns());
    let audio = clips
        .iter()
        .map(|c| read_wav(&c.path))
        .collect::<Result<Vec<_>, _>>()?;
    let (read, read_cpu) = (start.elapsed(), thread_cpu_ns() - cpu0);

    let front = MfccFrontEnd::new();
    let (start, cpu0) = (Instant::now(), thread_cpu_ns());
    let mut checksum = 0f64;
    for samples in &audio {
        checksum += f64::from(front.compute(samples)[0]);
    }
    let (compute, compute_cpu) = (start.elapsed(), thread_cpu_ns() - cpu0);
    let n = audio.len();
    println!(
        "{n} clips: WAV reading {read:.2?} wall / {:.3} s on-CPU; MFCC {compute:.2?} wall / {:.3} s \
         on-CPU ({:.1} µs/clip on-CPU); checksum {checksum:.3}",
        read_cpu * 1e-9,
        compute_cpu * 1e-9,
        compute_cpu * 1e-3 / n as f64
    );
    Ok(())
}

/// Nanoseconds this thread has spent on a CPU (Linux `schedstat`; NaN elsewhere), so the figure
/// holds on a machine shared with other work.
fn thread_cpu_ns() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

//! Packed low-bit kernels against the int8 ones on the KWS DS-CNN layer shapes (single-threaded).
//!
//! Per layer: int8 (`W8A8`), packed INT4 (`W4A8`), INT2, binary (`W1A8`), and the A16 variants
//! (`W4A16`, `W1A16`); then the whole model (first conv + 4 × (depthwise + pointwise) + the
//! 64→12 classifier). A last column times decoding the layer's packed weights in full, the
//! unpack cost that packing adds. Prints a min-of-N table (robust on a shared machine), then runs
//! criterion on the whole model.

use criterion::{criterion_group, Criterion};
use mw_kernels::int8::conv::{Conv2dParams, ConvPlan};
use mw_kernels::int8::requant::{Activation, OutputStage, RoundingMode};
use mw_kernels::int8::QInput;
use mw_kernels::lowbit::conv::LowBitConvPlan;
use mw_kernels::lowbit::{self, LowBitFormat, PackedWeights};
use std::hint::black_box;

/// A layer and how many times the model runs it.
struct Layer {
    name: &'static str,
    p: Conv2dParams,
    count: usize,
}

fn layers() -> Vec<Layer> {
    let base = Conv2dParams {
        batch: 1,
        in_channels: 64,
        in_hw: [25, 5],
        out_channels: 64,
        kernel: [1, 1],
        stride: [1, 1],
        dilation: [1, 1],
        pads: [0; 4],
        groups: 1,
    };
    vec![
        Layer {
            name: "first_conv_10x4_s2_1x49x10",
            p: Conv2dParams {
                in_channels: 1,
                in_hw: [49, 10],
                kernel: [10, 4],
                stride: [2, 2],
                pads: [4, 1, 5, 1],
                ..base
            },
            count: 1,
        },
        Layer {
            name: "depthwise_3x3_64x25x5",
            p: Conv2dParams {
                kernel: [3, 3],
                pads: [1; 4],
                groups: 64,
                ..base
            },
            count: 4,
        },
        Layer {
            name: "pointwise_64x64_25x5",
            p: base,
            count: 4,
        },
        Layer {
            // The classifier as a 1×1 conv on a 1×1 plane: a 12×64 GEMM with N = 1.
            name: "classifier_64to12",
            p: Conv2dParams {
                in_hw: [1, 1],
                out_channels: 12,
                ..base
            },
            count: 1,
        },
    ]
}

/// Deterministic pseudo-random bytes.
fn bytes(n: usize, seed: u32) -> Vec<u8> {
    let mut s = seed.wrapping_mul(2_654_435_761).max(1);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s >> 24) as u8
        })
        .collect()
}

/// Weights of a format, deterministic.
fn values(format: Option<LowBitFormat>, n: usize) -> Vec<i8> {
    bytes(n, 2)
        .into_iter()
        .map(|b| match format {
            None => (b as i8).max(-127),
            Some(LowBitFormat::Binary) => (b & 1) as i8 * 2 - 1,
            Some(f) => {
                let (lo, hi) = f.range();
                lo + (b % (hi - lo + 1) as u8) as i8
            }
        })
        .collect()
}

/// One layer prepared in every variant.
struct Prepared {
    p: Conv2dParams,
    x8: Vec<u8>,
    x16: Vec<i16>,
    bias: Vec<i32>,
    stage8: OutputStage,
    stage16: OutputStage,
    int8: ConvPlan,
    int4: LowBitConvPlan,
    int2: LowBitConvPlan,
    binary: LowBitConvPlan,
}

impl Prepared {
    fn new(p: Conv2dParams) -> Self {
        let d = p.dims().unwrap();
        let plan = |f: LowBitFormat| {
            let w = PackedWeights::pack(f, p.out_channels, d.k, &values(Some(f), d.w_len)).unwrap();
            LowBitConvPlan::new(p, w).unwrap()
        };
        let x8 = bytes(d.x_len, 1);
        Self {
            p,
            x16: x8.iter().map(|&v| i16::from(v) * 97 - 12000).collect(),
            x8,
            bias: bytes(p.out_channels, 3)
                .into_iter()
                .map(|v| i32::from(v) * 37 - 4000)
                .collect(),
            stage8: OutputStage::from_scales::<u8>(
                0.02,
                &vec![0.004; p.out_channels],
                0.05,
                0,
                Activation::Relu,
                RoundingMode::FixedPoint,
            )
            .unwrap(),
            stage16: lowbit::output_stage_i16_from_scales(
                0.0002,
                &vec![0.004; p.out_channels],
                0.0005,
                0,
                Activation::Relu,
                RoundingMode::FixedPoint,
            )
            .unwrap(),
            int8: ConvPlan::new(p, &values(None, d.w_len)).unwrap(),
            int4: plan(LowBitFormat::Int4),
            int2: plan(LowBitFormat::Int2),
            binary: plan(LowBitFormat::Binary),
        }
    }

    fn out_len(&self) -> usize {
        self.p.dims().unwrap().out_len
    }

    fn run_int8(&self, out: &mut [u8]) {
        let x = QInput {
            data: black_box(&self.x8[..]),
            zero_point: 0,
        };
        self.int8
            .run(x, Some(&self.bias), &self.stage8, out)
            .unwrap()
    }

    fn run_a8(&self, plan: &LowBitConvPlan, out: &mut [u8]) {
        let x = QInput {
            data: black_box(&self.x8[..]),
            zero_point: 0,
        };
        plan.run(x, Some(&self.bias), &self.stage8, out).unwrap()
    }

    fn run_a16(&self, plan: &LowBitConvPlan, out: &mut [i16]) {
        let x = QInput {
            data: black_box(&self.x16[..]),
            zero_point: 0,
        };
        plan.run(x, Some(&self.bias), &self.stage16, out).unwrap()
    }
}

/// Fastest of `reps` calls, in microseconds: robust to other processes on a shared machine.
fn min_us(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    (0..reps)
        .map(|_| {
            let t = std::time::Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e6
        })
        .fold(f64::INFINITY, f64::min)
}

const COLUMNS: [&str; 7] = [
    "W8A8",
    "W4A8",
    "W2A8",
    "W1A8",
    "W4A16",
    "W1A16",
    "decode W4",
];

fn min_table() {
    let reps: usize = std::env::var("LOWBIT_BENCH_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    println!(
        "min of {reps} calls, µs (one thread): layer ×count | {}",
        COLUMNS.join(" | ")
    );
    let mut total = [0f64; COLUMNS.len()];
    for layer in layers() {
        let pr = Prepared::new(layer.p);
        let (mut o8, mut o16) = (vec![0u8; pr.out_len()], vec![0i16; pr.out_len()]);
        let t = [
            min_us(reps, || pr.run_int8(&mut o8)),
            min_us(reps, || pr.run_a8(&pr.int4, &mut o8)),
            min_us(reps, || pr.run_a8(&pr.int2, &mut o8)),
            min_us(reps, || pr.run_a8(&pr.binary, &mut o8)),
            min_us(reps, || pr.run_a16(&pr.int4, &mut o16)),
            min_us(reps, || pr.run_a16(&pr.binary, &mut o16)),
            min_us(reps, || {
                black_box(pr.int4.weights().unpack());
            }),
        ];
        for (s, v) in total.iter_mut().zip(t) {
            *s += v * layer.count as f64;
        }
        let cells: Vec<String> = t.iter().map(|v| format!("{v:.2}")).collect();
        println!("{} ×{} | {}", layer.name, layer.count, cells.join(" | "));
    }
    let cells: Vec<String> = total.iter().map(|v| format!("{v:.1}")).collect();
    println!("whole model | {}", cells.join(" | "));
    let weights: usize = layers()
        .iter()
        .map(|l| l.p.dims().unwrap().w_len * l.count)
        .sum();
    println!(
        "weights: {weights} parameters = {weights} B int8, {} B int4, {} B binary (rows byte-aligned: {} B int4)",
        weights / 2,
        weights / 8,
        layers()
            .iter()
            .map(|l| {
                let d = l.p.dims().unwrap();
                l.p.out_channels * LowBitFormat::Int4.row_bytes(d.k).unwrap() * l.count
            })
            .sum::<usize>()
    );
}

fn bench(c: &mut Criterion) {
    let prepared: Vec<(Prepared, usize)> = layers()
        .into_iter()
        .map(|l| (Prepared::new(l.p), l.count))
        .collect();
    let mut o8: Vec<Vec<u8>> = prepared.iter().map(|(p, _)| vec![0; p.out_len()]).collect();
    let mut g = c.benchmark_group("kws_whole_model");
    g.bench_function("W8A8", |b| {
        b.iter(|| {
            for ((p, n), o) in prepared.iter().zip(&mut o8) {
                for _ in 0..*n {
                    p.run_int8(o);
                }
            }
        })
    });
    g.bench_function("W4A8", |b| {
        b.iter(|| {
            for ((p, n), o) in prepared.iter().zip(&mut o8) {
                for _ in 0..*n {
                    p.run_a8(&p.int4, o);
                }
            }
        })
    });
    g.bench_function("W1A8", |b| {
        b.iter(|| {
            for ((p, n), o) in prepared.iter().zip(&mut o8) {
                for _ in 0..*n {
                    p.run_a8(&p.binary, o);
                }
            }
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(2));
    targets = bench
}

fn main() {
    min_table();
    benches();
    Criterion::default().configure_from_args().final_summary();
}

//! Int8 kernels on the KWS DS-CNN layer shapes against f32 baselines (single-threaded).
//!
//! For each layer: the optimized int8 plan, the int8 scalar reference, a naive f32 direct loop,
//! and (for the GEMM-shaped layers) f32 im2col + the `gemm` crate without parallelism.

use criterion::{criterion_group, Criterion};
use mw_kernels::int8::conv::{reference, Conv2dParams, ConvPlan};
use mw_kernels::int8::requant::{Activation, OutputStage, RoundingMode};
use mw_kernels::int8::QInput;
use std::hint::black_box;

struct Layer {
    name: &'static str,
    p: Conv2dParams,
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
            name: "pointwise_64x64_25x5",
            p: base,
        },
        Layer {
            name: "depthwise_3x3_64x25x5",
            p: Conv2dParams {
                kernel: [3, 3],
                pads: [1; 4],
                groups: 64,
                ..base
            },
        },
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

/// Naive f32 direct convolution with a bounds test per tap.
fn conv_f32_naive(p: &Conv2dParams, x: &[f32], w: &[f32], b: &[f32], out: &mut [f32]) {
    let d = p.dims().unwrap();
    let ([h, wd], [oh_n, ow_n]) = (p.in_hw, d.out_hw);
    for oc in 0..p.out_channels {
        let g = oc / d.ocg;
        for oh in 0..oh_n {
            for ow in 0..ow_n {
                let mut acc = b[oc];
                for ci in 0..d.cg {
                    for kh in 0..p.kernel[0] {
                        let ih = (oh * p.stride[0] + kh) as isize - p.pads[0] as isize;
                        if ih < 0 || ih as usize >= h {
                            continue;
                        }
                        for kw in 0..p.kernel[1] {
                            let iw = (ow * p.stride[1] + kw) as isize - p.pads[1] as isize;
                            if iw < 0 || iw as usize >= wd {
                                continue;
                            }
                            let xv = x[((g * d.cg + ci) * h + ih as usize) * wd + iw as usize];
                            acc += w[((oc * d.cg + ci) * p.kernel[0] + kh) * p.kernel[1] + kw] * xv;
                        }
                    }
                }
                out[(oc * oh_n + oh) * ow_n + ow] = acc.max(0.0);
            }
        }
    }
}

/// f32 im2col (groups = 1) then `gemm` with no parallelism, bias and ReLU after.
fn conv_f32_gemm(
    p: &Conv2dParams,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    col: &mut [f32],
    out: &mut [f32],
) {
    let d = p.dims().unwrap();
    let ([h, wd], [oh_n, ow_n]) = (p.in_hw, d.out_hw);
    let n = oh_n * ow_n;
    let rhs: &[f32] = if p.kernel == [1, 1] && p.pads == [0; 4] && p.stride == [1, 1] {
        x
    } else {
        for ci in 0..p.in_channels {
            for kh in 0..p.kernel[0] {
                for kw in 0..p.kernel[1] {
                    let row = (ci * p.kernel[0] + kh) * p.kernel[1] + kw;
                    for oh in 0..oh_n {
                        for ow in 0..ow_n {
                            let ih = (oh * p.stride[0] + kh) as isize - p.pads[0] as isize;
                            let iw = (ow * p.stride[1] + kw) as isize - p.pads[1] as isize;
                            let inside =
                                ih >= 0 && iw >= 0 && (ih as usize) < h && (iw as usize) < wd;
                            col[row * n + oh * ow_n + ow] = if inside {
                                x[(ci * h + ih as usize) * wd + iw as usize]
                            } else {
                                0.0
                            };
                        }
                    }
                }
            }
        }
        col
    };
    let (m, k) = (p.out_channels, d.k);
    // SAFETY: row-major [m×k]·[k×n] → [m×n], all slices sized accordingly.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            false,
            w.as_ptr(),
            1,
            k as isize,
            rhs.as_ptr(),
            1,
            n as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
    for (oc, row) in out.chunks_exact_mut(n).enumerate() {
        for v in row {
            *v = (*v + b[oc]).max(0.0);
        }
    }
}

fn bench(c: &mut Criterion) {
    for layer in layers() {
        let p = layer.p;
        let d = p.dims().unwrap();
        let x: Vec<u8> = bytes(d.x_len, 1);
        let w: Vec<i8> = bytes(d.w_len, 2)
            .into_iter()
            .map(|v| (v as i8).max(-127))
            .collect();
        let bias: Vec<i32> = bytes(p.out_channels, 3)
            .into_iter()
            .map(|v| i32::from(v) * 37 - 4000)
            .collect();
        let stage = OutputStage::from_scales::<u8>(
            0.02,
            &vec![0.004; p.out_channels],
            0.05,
            0,
            Activation::Relu,
            RoundingMode::FixedPoint,
        )
        .unwrap();
        let plan = ConvPlan::new(p, &w).unwrap();
        let xin = QInput {
            data: &x,
            zero_point: 0,
        };
        let mut out = vec![0u8; d.out_len];
        let mut want = vec![0u8; d.out_len];
        reference::conv2d(&p, xin, &w, Some(&bias), &stage, &mut want).unwrap();
        plan.run(xin, Some(&bias), &stage, &mut out).unwrap();
        assert_eq!(
            out, want,
            "{}: optimized differs from reference",
            layer.name
        );
        let mut g = c.benchmark_group(layer.name);
        g.bench_function("int8_optimized", |bch| {
            bch.iter(|| {
                plan.run(black_box(xin), Some(&bias), &stage, &mut out)
                    .unwrap()
            })
        });
        g.bench_function("int8_reference", |bch| {
            bch.iter(|| {
                reference::conv2d(&p, black_box(xin), &w, Some(&bias), &stage, &mut out).unwrap()
            })
        });
        let xf: Vec<f32> = x.iter().map(|&v| f32::from(v) * 0.02).collect();
        let wf: Vec<f32> = w.iter().map(|&v| f32::from(v) * 0.004).collect();
        let bf: Vec<f32> = bias.iter().map(|&v| v as f32 * 0.02 * 0.004).collect();
        let mut outf = vec![0f32; d.out_len];
        g.bench_function("f32_naive", |bch| {
            bch.iter(|| conv_f32_naive(&p, black_box(&xf), &wf, &bf, &mut outf))
        });
        if p.groups == 1 {
            let mut col = vec![0f32; d.k * d.out_hw[0] * d.out_hw[1]];
            let mut naive = vec![0f32; d.out_len];
            conv_f32_naive(&p, &xf, &wf, &bf, &mut naive);
            conv_f32_gemm(&p, &xf, &wf, &bf, &mut col, &mut outf);
            let diff = naive
                .iter()
                .zip(&outf)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(
                diff < 1e-3,
                "{}: f32 baselines differ by {diff}",
                layer.name
            );
            g.bench_function("f32_im2col_gemm_crate", |bch| {
                bch.iter(|| conv_f32_gemm(&p, black_box(&xf), &wf, &bf, &mut col, &mut outf))
            });
        }
        g.finish();
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

/// Prints the min-of-N table (set `INT8_BENCH_MIN=0` to skip it).
fn min_table() {
    if std::env::var("INT8_BENCH_MIN").is_ok_and(|v| v == "0") {
        return;
    }
    println!("min of 300 calls, µs: layer | int8 optimized | int8 reference | f32 naive | f32 im2col+gemm");
    for layer in layers() {
        let p = layer.p;
        let d = p.dims().unwrap();
        let x: Vec<u8> = bytes(d.x_len, 1);
        let w: Vec<i8> = bytes(d.w_len, 2)
            .into_iter()
            .map(|v| (v as i8).max(-127))
            .collect();
        let bias: Vec<i32> = bytes(p.out_channels, 3)
            .into_iter()
            .map(|v| i32::from(v) * 37 - 4000)
            .collect();
        let stage = OutputStage::from_scales::<u8>(
            0.02,
            &vec![0.004; p.out_channels],
            0.05,
            0,
            Activation::Relu,
            RoundingMode::FixedPoint,
        )
        .unwrap();
        let plan = ConvPlan::new(p, &w).unwrap();
        let xin = QInput {
            data: &x,
            zero_point: 0,
        };
        let mut out = vec![0u8; d.out_len];
        let opt = min_us(300, || {
            plan.run(black_box(xin), Some(&bias), &stage, &mut out)
                .unwrap()
        });
        let refr = min_us(30, || {
            reference::conv2d(&p, black_box(xin), &w, Some(&bias), &stage, &mut out).unwrap()
        });
        let xf: Vec<f32> = x.iter().map(|&v| f32::from(v) * 0.02).collect();
        let wf: Vec<f32> = w.iter().map(|&v| f32::from(v) * 0.004).collect();
        let bf: Vec<f32> = bias.iter().map(|&v| v as f32 * 0.02 * 0.004).collect();
        let mut outf = vec![0f32; d.out_len];
        let naive = min_us(30, || {
            conv_f32_naive(&p, black_box(&xf), &wf, &bf, &mut outf)
        });
        let gemm = if p.groups == 1 {
            let mut col = vec![0f32; d.k * d.out_hw[0] * d.out_hw[1]];
            format!(
                "{:.1}",
                min_us(300, || conv_f32_gemm(
                    &p,
                    black_box(&xf),
                    &wf,
                    &bf,
                    &mut col,
                    &mut outf
                ))
            )
        } else {
            "-".into()
        };
        println!(
            "{} | {opt:.1} | {refr:.1} | {naive:.1} | {gemm}",
            layer.name
        );
    }
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

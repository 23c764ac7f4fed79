//! The layers of the MLPerf Tiny KWS DS-CNN (batch 64) through the fast nn kernels:
//! `cargo bench -p mw-kernels --bench nn`.
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mw_kernels::nn::{conv, ConvGeometry};
use std::hint::black_box;

const BATCH: usize = 64;

fn geometry(
    c: usize,
    m: usize,
    group: usize,
    input: [usize; 2],
    kernel: [usize; 2],
) -> ConvGeometry {
    let (stride, pads) = if kernel == [10, 4] {
        (vec![2, 2], ([4, 1], [5, 1]))
    } else {
        (
            vec![1, 1],
            (
                [kernel[0] / 2, kernel[1] / 2],
                [kernel[0] / 2, kernel[1] / 2],
            ),
        )
    };
    ConvGeometry {
        batch: BATCH,
        in_channels: c,
        out_channels: m,
        group,
        input: input.to_vec(),
        kernel: kernel.to_vec(),
        strides: stride,
        dilations: vec![1, 1],
        pads_begin: pads.0.to_vec(),
        pads_end: pads.1.to_vec(),
    }
}

fn values(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
        .collect()
}

fn bench_layers(cr: &mut Criterion) {
    let layers = [
        ("conv_10x4_s2", geometry(1, 64, 1, [49, 10], [10, 4])),
        ("depthwise_3x3", geometry(64, 64, 64, [25, 5], [3, 3])),
        ("pointwise_1x1", geometry(64, 64, 1, [25, 5], [1, 1])),
    ];
    let mut group = cr.benchmark_group("kws_conv_b64");
    for (name, g) in layers {
        let out = g.output().expect("valid geometry");
        let x = values(BATCH * g.in_channels * g.input.iter().product::<usize>());
        let w = values(g.out_channels * g.filter_len().expect("fits"));
        let b = values(g.out_channels);
        let mut y = vec![0.0f32; BATCH * g.out_channels * out.iter().product::<usize>()];
        let macs = y.len() as u64 * g.filter_len().expect("fits") as u64;
        group.throughput(Throughput::Elements(macs));
        group.bench_function(name, |bench| {
            bench.iter(|| conv(&g, black_box(&x), &w, Some(&b), &mut y).expect("conv runs"))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_layers);

fn bench_gemm_shapes(cr: &mut Criterion) {
    use mw_kernels::nn::{gemm, Mat};
    let w = values(64 * 64);
    let x = values(64 * 125 * BATCH);
    let mut y = vec![0.0f32; 64 * 125 * BATCH];
    let mut group = cr.benchmark_group("gemm_64x64");
    group.throughput(Throughput::Elements((64 * 64 * 125 * BATCH) as u64));
    group.bench_function("per_image_n125", |bench| {
        bench.iter(|| {
            for (xs, ys) in x.chunks_exact(64 * 125).zip(y.chunks_exact_mut(64 * 125)) {
                let a = Mat::row_major(&w, 64, 64).unwrap();
                let b = Mat::row_major(xs, 64, 125).unwrap();
                gemm(1.0, a, b, 0.0, ys).unwrap();
            }
        })
    });
    group.bench_function("one_call_n8000", |bench| {
        bench.iter(|| {
            let a = Mat::row_major(&w, 64, 64).unwrap();
            let b = Mat::row_major(&x, 64, 125 * BATCH).unwrap();
            gemm(1.0, a, b, 0.0, &mut y).unwrap();
        })
    });
    group.finish();
}

criterion_group!(gemm_benches, bench_gemm_shapes);
criterion_main!(benches, gemm_benches);

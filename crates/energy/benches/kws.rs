//! One energy evaluation of the KWS DS-CNN (target: under 1 ms), and the workload derivation
//! from the graph. Skips without ../shared.
use criterion::{criterion_group, criterion_main, Criterion};
use mw_energy::{evaluate, ModelWorkload, Options, Profile};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let Some(path) =
        mw_testkit::shared_or_skip("bench kws", "models/mlperf-tiny/kws_dscnn_int8_qdq.onnx")
    else {
        return;
    };
    let graph = mw_onnx::load(&path, &Default::default()).unwrap();
    let workload = ModelWorkload::from_graph(&graph).unwrap();
    let options = Options {
        rate_hz: Some(10.0),
        budget_mw: Some(10.0),
        ..Options::default()
    };
    for name in ["horowitz-45nm", "ndp120", "cortex-m4"] {
        let profile = Profile::builtin(name).unwrap();
        c.bench_function(&format!("kws int8 evaluate {name}"), |b| {
            b.iter(|| evaluate(black_box(&workload), black_box(&profile), &options).unwrap())
        });
    }
    c.bench_function("kws int8 workload from graph", |b| {
        b.iter(|| ModelWorkload::from_graph(black_box(&graph)).unwrap())
    });
    c.bench_function("kws int8 profile parse", |b| {
        b.iter(|| Profile::builtin(black_box("ndp120")).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);

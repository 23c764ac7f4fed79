//! Units that run layers as software kernels (`[units.software_kernel]`): time from the kernel
//! library's cycles per MAC, per output and per layer, checked against hand calculation on the
//! `cortex-m4-tflm-ref` profile (all per-operation energies zero; energy = run power × time).
mod common;

use mw_energy::{evaluate, ModelWorkload, Options, Profile, ProfileError};

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(1e-300)
}

const CORTEX_M4: &str = include_str!("../profiles/cortex-m4-tflm-ref.toml");

fn m4(cycles_per_mac: f64, cycles_per_output: f64, cycles_per_layer: f64) -> Profile {
    let mut p = Profile::builtin("cortex-m4-tflm-ref").unwrap();
    let k = p.units[0].software_kernel.as_mut().unwrap();
    k.cycles_per_mac.value = cycles_per_mac;
    k.cycles_per_output.value = cycles_per_output;
    k.cycles_per_layer.value = cycles_per_layer;
    p
}

/// fp32 3x3 conv, 16 → 32 channels on 8x8 (pads 1): 294,912 MACs, 2,048 outputs.
#[test]
fn a_mac_layer_takes_the_kernels_cycles_per_mac_output_and_layer() {
    let w = ModelWorkload::from_graph(&common::float_conv(16, 32, 3, 8, 1)).unwrap();
    let p = m4(53.0, 70.0, 1000.0);
    let r = evaluate(&w, &p, &Options::default()).unwrap();

    let cycles = 294_912.0 * 53.0 + 2048.0 * 70.0 + 1000.0;
    let seconds = cycles / 120e6;
    let l = &r.layers[0];
    assert!(close(l.cycles, cycles, 1e-12), "{} vs {cycles}", l.cycles);
    assert!(close(r.latency_ms, seconds * 1e3, 1e-12));
    // Run power × time is the whole energy: every per-operation figure is zero.
    let overhead = 40.32 * seconds * 1e9;
    assert!(close(l.energy.overhead_pj, overhead, 1e-12));
    assert!(close(r.energy_per_inference_uj, overhead * 1e-6, 1e-12));
}

#[test]
fn cycles_scale_linearly_in_each_kernel_figure() {
    let w = ModelWorkload::from_graph(&common::float_conv(16, 32, 3, 8, 1)).unwrap();
    let t = |p: &Profile| evaluate(&w, p, &Options::default()).unwrap().layers[0].cycles;
    let base = t(&m4(10.0, 0.0, 0.0));
    assert!(close(t(&m4(20.0, 0.0, 0.0)), 2.0 * base, 1e-12));
    assert!(close(t(&m4(10.0, 1.0, 0.0)) - base, 2048.0, 1e-12));
    assert!(close(t(&m4(10.0, 0.0, 7.0)) - base, 7.0, 1e-12));
}

#[test]
fn a_non_mac_layer_takes_its_elementwise_cycles_plus_the_per_layer_cycles() {
    let mut b = common::G::new();
    let x = b.input("x", mw_ir::DType::F32, &[1, 4, 8, 8]);
    let y = b.node("relu", "Relu", mw_ir::Attrs::new(), &[x]);
    let w = ModelWorkload::from_graph(&b.output(y)).unwrap();
    let ops = (w.layers[0].elementwise_ops + w.layers[0].requant_ops) as f64;
    assert!(ops > 0.0);
    let r = evaluate(&w, &m4(53.0, 70.0, 500.0), &Options::default()).unwrap();
    // 0.25 elementwise ops per cycle on the cortex-m4 profile.
    let cycles = ops / 0.25 + 500.0;
    assert!(
        close(r.layers[0].cycles, cycles, 1e-12),
        "{}",
        r.layers[0].cycles
    );
}

#[test]
fn without_a_software_kernel_the_mac_array_sets_the_time() {
    let w = ModelWorkload::from_graph(&common::float_conv(16, 32, 3, 8, 1)).unwrap();
    let mut p = m4(53.0, 70.0, 0.0);
    p.units[0].software_kernel = None;
    let r = evaluate(&w, &p, &Options::default()).unwrap();
    // 1 x 1 array, no local reuse, fp32 at 1/3 MAC per cycle, utilization 0.29.
    let cycles = 294_912.0 / (1.0 / 3.0 * 0.29);
    assert!(
        close(r.layers[0].cycles, cycles, 1e-9),
        "{}",
        r.layers[0].cycles
    );
}

#[test]
fn kernel_figures_are_validated_with_their_field_path() {
    let zero = CORTEX_M4.replace(
        "cycles_per_mac = { value = 53.0",
        "cycles_per_mac = { value = 0.0",
    );
    assert_ne!(zero, CORTEX_M4);
    match Profile::from_toml_str(&zero, "t.toml") {
        Err(ProfileError::Field { field, .. }) => {
            assert_eq!(field, "units[0].software_kernel.cycles_per_mac")
        }
        other => panic!("expected a field error, got {other:?}"),
    }
    let unnamed = CORTEX_M4.replacen("library = \"TensorFlow", "library = \" \" # \"", 1);
    match Profile::from_toml_str(&unnamed, "t.toml") {
        Err(ProfileError::Field { field, .. }) => {
            assert_eq!(field, "units[0].software_kernel.library")
        }
        other => panic!("expected a field error, got {other:?}"),
    }
}

/// A listed layer kind takes its own figures; the fp32 3x3 conv above is of kind `conv`. (Per-MAC
/// figures stay above the 3 cycles per MAC its SRAM traffic needs, which would bound the time.)
#[test]
fn a_layer_kind_listed_in_by_kind_takes_its_own_figures() {
    use mw_energy::profile::{KindKernel, LayerKind};
    let w = ModelWorkload::from_graph(&common::float_conv(16, 32, 3, 8, 1)).unwrap();
    let mut p = m4(53.0, 70.0, 0.0);
    let k = p.units[0].software_kernel.as_mut().unwrap();
    let mut fig = k.cycles_per_mac.clone();
    fig.value = 10.0;
    let mut out = k.cycles_per_output.clone();
    out.value = 45.0;
    k.by_kind.push(KindKernel {
        kind: LayerKind::Depthwise,
        cycles_per_mac: fig.clone(),
        cycles_per_output: out.clone(),
    });
    let t = |p: &Profile| evaluate(&w, p, &Options::default()).unwrap().layers[0].cycles;
    // Another kind listed: the top-level figures still apply.
    assert!(close(t(&p), 294_912.0 * 53.0 + 2048.0 * 70.0, 1e-12));
    let k = p.units[0].software_kernel.as_mut().unwrap();
    k.by_kind.push(KindKernel {
        kind: LayerKind::Conv,
        cycles_per_mac: fig,
        cycles_per_output: out,
    });
    let got = t(&p);
    assert!(close(got, 294_912.0 * 10.0 + 2048.0 * 45.0, 1e-12), "{got}");
    // The same kind twice is refused with its path.
    let k = p.units[0].software_kernel.as_mut().unwrap();
    k.by_kind.push(k.by_kind[1].clone());
    let text = toml::to_string(&p).unwrap();
    match Profile::from_toml_str(&text, "t.toml") {
        Err(ProfileError::Field { field, .. }) => {
            assert_eq!(field, "units[0].software_kernel.by_kind[2].kind")
        }
        other => panic!("expected a field error, got {other:?}"),
    }
}

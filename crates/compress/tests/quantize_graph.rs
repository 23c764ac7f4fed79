//! The quantizer on small synthetic graphs: the QDQ layout of QUANT_DESIGN.md, the numbers in
//! it, the report, the keep-float rules, the overflow guard, refusals and determinism.
mod quantize_util;

use mw_compress::calibrate::Method;
use mw_compress::quantize::{
    quantize, try_quantize, ActivationType, OverflowPolicy, QuantizeConfig, QuantizeError,
    QuantizeReport, RangeChoice,
};
use mw_exec::Plan;
use mw_ir::{Attrs, DType, Graph, Limits, Node};
use mw_tensor::Tensor;
use quantize_util::{batches, small_cnn, Builder, Rng};

fn run(cfg: &QuantizeConfig) -> (Graph, QuantizeReport) {
    quantize(small_cnn(7), batches(11, 4, 16, &[2, 8, 8]), cfg).expect("quantizes")
}

fn producer<'a>(g: &'a Graph, value: &str) -> &'a Node {
    let id = g
        .find_value(value)
        .unwrap_or_else(|| panic!("no value {value}"));
    g.nodes
        .iter()
        .find(|n| n.outputs.contains(&id))
        .unwrap_or_else(|| panic!("nothing produces {value}"))
}

fn node<'a>(g: &'a Graph, name: &str) -> &'a Node {
    g.nodes.iter().find(|n| n.name == name).unwrap()
}

fn konst<'a>(g: &'a Graph, name: &str) -> &'a Tensor {
    let id = g.find_value(name).unwrap();
    g.value(id).konst.as_deref().unwrap()
}

fn input_name(g: &Graph, n: &Node, i: usize) -> String {
    g.value(n.inputs[i].unwrap()).name.clone()
}

fn scalar_f32(g: &Graph, name: &str) -> f32 {
    konst(g, name).as_slice::<f32>().unwrap()[0]
}

#[test]
fn layout_follows_the_design() {
    let (g, _) = run(&QuantizeConfig::default());
    // Model input: x → Q → DQ, int8 zero point.
    let q = producer(&g, "x_q");
    assert_eq!(q.op.op_type(), "QuantizeLinear");
    assert_eq!(input_name(&g, q, 0), "x");
    assert_eq!(konst(&g, "x_zp").dtype(), DType::I8);
    // Conv reads the dequantized input, int8 per-channel weights (axis 0) and an int32 bias.
    let conv = node(&g, "conv1");
    assert_eq!(input_name(&g, conv, 0), "x_dq");
    let wdq = producer(&g, &input_name(&g, conv, 1));
    assert_eq!(wdq.op.op_type(), "DequantizeLinear");
    assert_eq!(input_name(&g, wdq, 0), "w1_q");
    assert_eq!(konst(&g, "w1_q").dtype(), DType::I8);
    assert_eq!(konst(&g, "w1_q").shape(), &[8, 2, 3, 3]);
    assert_eq!(konst(&g, "w1_scale").shape(), &[8]);
    assert_eq!(wdq.op.attrs().int("axis").unwrap(), Some(0));
    assert_eq!(konst(&g, "b1_q").dtype(), DType::I32);
    // Bias scale = s_x · s_w, per channel.
    let s_x = scalar_f32(&g, "x_scale");
    let s_w = konst(&g, "w1_scale").as_slice::<f32>().unwrap();
    let s_b = konst(&g, "b1_scale").as_slice::<f32>().unwrap();
    for (b, w) in s_b.iter().zip(s_w) {
        assert_eq!(*b, s_x * w);
    }
    assert!(konst(&g, "b1_zp")
        .as_slice::<i32>()
        .unwrap()
        .iter()
        .all(|&z| z == 0));
    // The Relu is fused: Q reads its output; the conv output itself is not quantized.
    assert_eq!(producer(&g, "relu1:0_q").op.op_type(), "QuantizeLinear");
    assert_eq!(input_name(&g, producer(&g, "relu1:0_q"), 0), "relu1:0");
    assert!(g.find_value("conv1:0_q").is_none());
    // Add of two quantized activations, with its Relu fused.
    let add = node(&g, "add");
    assert_eq!(input_name(&g, add, 0), "relu1:0_dq");
    assert_eq!(input_name(&g, add, 1), "relu2:0_dq");
    assert!(g.find_value("relu3:0_q").is_some());
    // Data movement keeps its input's parameters.
    assert_eq!(
        scalar_f32(&g, "flatten:0_scale"),
        scalar_f32(&g, "gap:0_scale")
    );
    // MatMul: weights per channel along axis 1, bias through Add.
    let fc = node(&g, "fc");
    let wdq = producer(&g, &input_name(&g, fc, 1));
    assert_eq!(wdq.op.attrs().int("axis").unwrap(), Some(1));
    assert_eq!(konst(&g, "w3_scale").shape(), &[5]);
    assert_eq!(input_name(&g, node(&g, "fc_bias"), 1), "b3_dq");
    // Softmax output: scale 1/256, zero point -128, and the graph output keeps its name on the
    // final DequantizeLinear.
    assert_eq!(scalar_f32(&g, "probs_scale"), 1.0 / 256.0);
    assert_eq!(konst(&g, "probs_zp").as_slice::<i8>().unwrap(), &[-128]);
    let out = g.value(g.outputs[0]);
    assert_eq!(out.name, "probs");
    assert_eq!(producer(&g, "probs").op.op_type(), "DequantizeLinear");
    assert_eq!(input_name(&g, producer(&g, "probs_q"), 0), "probs_float");
    // Only QuantizeLinear/DequantizeLinear and the float model's ops.
    for n in &g.nodes {
        assert!(
            [
                "QuantizeLinear",
                "DequantizeLinear",
                "Conv",
                "Relu",
                "Add",
                "GlobalAveragePool",
                "Flatten",
                "MatMul",
                "Softmax"
            ]
            .contains(&n.op.op_type()),
            "{}",
            n.op.op_type()
        );
    }
    // No float weight is read any more.
    let bytes = mw_onnx::to_bytes(&g).unwrap();
    let back = mw_onnx::load_bytes(&bytes, None, &Limits::default()).unwrap();
    assert!(
        back.find_value("w1").is_none(),
        "float weights were exported"
    );
}

#[test]
fn fake_quantized_model_tracks_the_float_model() {
    let (q, report) = run(&QuantizeConfig::default());
    let float = Plan::new(small_cnn(7), Limits::default()).unwrap();
    let fq = Plan::new(q, Limits::default()).unwrap();
    let x = batches(99, 1, 64, &[2, 8, 8]).remove(0);
    let a = float.run(vec![x.clone()]).unwrap().remove(0);
    let b = fq.run(vec![x]).unwrap().remove(0);
    let (a, b) = (a.as_slice::<f32>().unwrap(), b.as_slice::<f32>().unwrap());
    let max = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    assert!(max < 0.05, "largest probability difference {max}");
    let sqnr = report.model.output_sqnr_db.unwrap();
    assert!(sqnr > 20.0 && sqnr < 300.0, "output SQNR {sqnr}");
    assert_eq!(report.model.quantized_layers, report.layers.len());
    for l in &report.layers {
        assert_eq!(l.engine, "integer", "{}", l.node);
        let s = l.sqnr_db.unwrap();
        assert!(s > 15.0, "{}: SQNR {s}", l.node);
        if l.op != "Flatten" {
            // Alone, a layer is no worse than with every earlier layer quantized too.
            assert!(l.sqnr_alone_db.unwrap() + 0.5 >= s, "{}", l.node);
        }
    }
    assert_eq!(report.calibration_examples, 64);
    assert_eq!(report.held_back_examples, 16);
    assert_eq!(report.sensitivity.len(), report.layers.len() - 1); // Flatten has no own params
    let s: Vec<f64> = report
        .sensitivity
        .iter()
        .map(|s| s.model_sqnr_db.unwrap())
        .collect();
    assert!(
        s.windows(2).all(|w| w[0] <= w[1]),
        "ranking is sorted: {s:?}"
    );
}

#[test]
fn report_states_parameters_and_the_accumulator_proof() {
    let (g, report) = run(&QuantizeConfig::default());
    let conv = report.layers.iter().find(|l| l.node == "conv1").unwrap();
    assert_eq!(conv.op, "Conv+Relu");
    assert_eq!(conv.nodes, vec!["conv1", "relu1"]);
    assert_eq!(conv.quantized_output.as_deref(), Some("relu1:0_q"));
    assert_eq!(conv.method.as_deref(), Some("minmax"));
    assert_eq!(conv.scale, Some(scalar_f32(&g, "relu1:0_scale")));
    let (lo, hi) = conv.range.unwrap();
    assert_eq!(lo, 0.0, "a ReLU output starts at 0");
    assert_eq!(conv.observed, Some((lo, hi)));
    // Worst case: 2·3·3 terms of |w| ≤ max|w_q| times |x − zx| ≤ 128 + 127 - ... , plus the bias.
    let acc = conv.accumulator.as_ref().unwrap();
    let wq = konst(&g, "w1_q").as_slice::<i8>().unwrap();
    let wmax = wq.iter().map(|w| w.unsigned_abs() as u64).max().unwrap();
    let zx = konst(&g, "x_zp").as_slice::<i8>().unwrap()[0] as i64;
    let xmax = (127 - zx).max(zx + 128) as u64;
    let bmax = konst(&g, "b1_q")
        .as_slice::<i32>()
        .unwrap()
        .iter()
        .map(|b| b.unsigned_abs() as u64)
        .max()
        .unwrap();
    assert_eq!(acc.reduction, 18);
    assert_eq!(acc.bound, 18 * wmax * xmax + bmax);
    assert!(acc.bound <= i32::MAX as u64 && acc.headroom_bits > 0.0);
    let w = conv.weight.as_ref().unwrap();
    assert_eq!(
        (w.granularity.as_str(), w.scales, w.max_abs_q),
        ("per-channel", 8, 127)
    );
    assert_eq!(conv.weight_bytes, 8 * 2 * 9 + 4 * 8);
    assert_eq!(conv.float_weight_bytes, 4 * (8 * 2 * 9 + 8));
    assert_eq!(conv.activation_bytes, 8 * 8 * 8);
    let soft = report.layers.last().unwrap();
    assert_eq!(soft.method.as_deref(), Some("fixed"));
    assert_eq!(report.inputs.len(), 1);
    assert_eq!(report.inputs[0].tensor, "x");
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(
        json["layers"].as_array().unwrap().len(),
        report.layers.len()
    );
    let table = report.table();
    assert!(
        table.contains("conv1") && table.contains("Conv+Relu") && table.contains("sensitivity")
    );
}

#[test]
fn keep_float_names_and_rules_leave_layers_in_float() {
    let cfg = QuantizeConfig {
        keep_float: vec!["conv2".into()],
        ..Default::default()
    };
    let (g, report) = run(&cfg);
    let conv2 = node(&g, "conv2");
    assert_eq!(input_name(&g, conv2, 1), "w2", "float weights kept");
    // Its input exists only in int8 (conv1 is quantized), so it reads the dequantized value.
    assert_eq!(input_name(&g, conv2, 0), "relu1:0_dq");
    assert!(
        g.find_value("relu2:0_q").is_some(),
        "the Add quantizes its float input"
    );
    let l = report.layers.iter().find(|l| l.node == "conv2").unwrap();
    assert_eq!(l.engine, "float (kept: --keep-float conv2)");
    assert_eq!(l.activation_bytes, 4 * 8 * 8 * 8);
    assert!(
        l.sqnr_db.is_some(),
        "a float layer is still compared with the float model"
    );
    assert_eq!(
        report.kept_float,
        vec![("conv2".into(), "--keep-float conv2".into())]
    );

    let cfg = QuantizeConfig {
        keep_first: true,
        keep_last: true,
        ..Default::default()
    };
    let (g, report) = run(&cfg);
    assert_eq!(
        input_name(&g, node(&g, "conv1"), 0),
        "x",
        "the first layer reads the float input"
    );
    assert!(g.find_value("x_q").is_none());
    assert_eq!(input_name(&g, node(&g, "fc"), 1), "w3");
    let kept: Vec<&str> = report.kept_float.iter().map(|k| k.0.as_str()).collect();
    assert_eq!(kept, vec!["conv1", "fc"]);
    assert!(report.kept_float[0].1.contains("first"));

    let cfg = QuantizeConfig {
        keep_float: vec!["nope".into()],
        ..Default::default()
    };
    let err = quantize(small_cnn(7), batches(11, 1, 4, &[2, 8, 8]), &cfg).unwrap_err();
    assert!(matches!(err, QuantizeError::UnknownNode(n) if n == "nope"));
}

/// x [N, 150000] → MatMul [150000, 2]: 150,000 · 127 · 128 overflows int32.
fn long_reduction() -> Graph {
    let mut r = Rng::new(3);
    let mut b = Builder::new();
    let x = b.input("x", &[150_000]);
    let w = b.konst("w", r.tensor(&[150_000, 2], 0.01));
    let y = b.node("MatMul", "big", Attrs::new(), &[x, w]);
    b.output(y);
    b.g
}

#[test]
fn unprovable_accumulators_stay_float_or_are_refused() {
    let data = || batches(5, 2, 4, &[150_000]);
    let (g, report) = quantize(long_reduction(), data(), &QuantizeConfig::default()).unwrap();
    let l = &report.layers[0];
    assert!(
        l.engine.starts_with("float (kept: int32 accumulator bound"),
        "{}",
        l.engine
    );
    assert!(l.engine.contains("reduction 150000"));
    assert!(
        g.nodes.iter().all(|n| n.op.op_type() == "MatMul"),
        "no Q/DQ left"
    );
    let cfg = QuantizeConfig {
        overflow: OverflowPolicy::Refuse,
        ..Default::default()
    };
    let err = quantize(long_reduction(), data(), &cfg).unwrap_err();
    assert!(
        matches!(err, QuantizeError::Overflow { ref layer, .. } if layer == "big"),
        "{err}"
    );
}

#[test]
fn options_uint8_per_tensor_and_every_method() {
    let cfg = QuantizeConfig {
        activations: ActivationType::UInt8,
        per_channel: false,
        ..Default::default()
    };
    let (g, report) = run(&cfg);
    assert_eq!(konst(&g, "x_zp").dtype(), DType::U8);
    assert_eq!(konst(&g, "probs_zp").as_slice::<u8>().unwrap(), &[0]);
    assert_eq!(konst(&g, "w1_scale").shape(), &[] as &[usize]);
    assert_eq!(konst(&g, "b1_scale").shape(), &[] as &[usize]);
    assert!(report.model.output_sqnr_db.unwrap() > 15.0);
    for m in [Method::Percentile(99.9), Method::Entropy, Method::Mse] {
        let cfg = QuantizeConfig {
            ranges: RangeChoice::Method(m),
            ..Default::default()
        };
        let (_, report) = run(&cfg);
        let conv = &report.layers[0];
        assert_eq!(conv.method.as_deref(), Some(m.to_string().as_str()));
        let (r, o) = (conv.range.unwrap(), conv.observed.unwrap());
        assert!(
            r.1 <= o.1 && r.0 >= o.0,
            "{m}: range {r:?} within observed {o:?}"
        );
    }
}

#[test]
fn auto_keeps_the_candidate_with_the_lowest_held_back_error() {
    let cfg = QuantizeConfig {
        ranges: RangeChoice::auto(99.9),
        ..Default::default()
    };
    let (_, report) = run(&cfg);
    let mut winners = Vec::new();
    for l in report.layers.iter().filter(|l| !l.candidates.is_empty()) {
        let best = l
            .candidates
            .iter()
            .min_by(|a, b| a.error.partial_cmp(&b.error).unwrap())
            .unwrap();
        let method = l.method.as_deref().unwrap();
        assert_eq!(method, format!("auto:{}", best.method), "{}", l.node);
        assert_eq!(l.candidates.len(), 4);
        winners.push(best.method.name());
    }
    assert!(winners.len() >= 5, "every calibrated output has candidates");
    assert_eq!(report.inputs[0].candidates.len(), 4);
}

#[test]
fn same_inputs_give_the_same_bytes() {
    for ranges in [
        RangeChoice::Method(Method::MinMax),
        RangeChoice::auto(99.99),
    ] {
        let cfg = QuantizeConfig {
            ranges,
            ..Default::default()
        };
        let a = mw_onnx::to_bytes(&run(&cfg).0).unwrap();
        let b = mw_onnx::to_bytes(&run(&cfg).0).unwrap();
        assert!(a == b, "two runs differ");
    }
    // Histograms and the held-back split depend on the examples, not on how they are batched.
    let cfg = QuantizeConfig {
        ranges: RangeChoice::Method(Method::Entropy),
        ..Default::default()
    };
    let all = batches(11, 1, 64, &[2, 8, 8]).remove(0);
    let rows = |a: usize, b: usize| {
        let v = all.as_slice::<f32>().unwrap()[a * 128..b * 128].to_vec();
        Tensor::from_vec(vec![b - a, 2, 8, 8], v).unwrap()
    };
    let one = quantize(small_cnn(7), vec![all.clone()], &cfg).unwrap().0;
    let three = quantize(
        small_cnn(7),
        vec![rows(0, 5), rows(5, 40), rows(40, 64)],
        &cfg,
    )
    .unwrap()
    .0;
    assert!(mw_onnx::to_bytes(&one).unwrap() == mw_onnx::to_bytes(&three).unwrap());
}

#[test]
fn refusals_are_typed() {
    let cfg = QuantizeConfig::default();
    let err = quantize(small_cnn(7), Vec::<Tensor>::new(), &cfg).unwrap_err();
    assert!(matches!(err, QuantizeError::NoCalibrationData));
    let bad: Vec<Result<Tensor, String>> = vec![Err("unreadable clip".into())];
    let err = try_quantize(small_cnn(7), bad, &cfg).unwrap_err();
    assert!(
        matches!(err, QuantizeError::Batch { index: 0, ref reason } if reason == "unreadable clip")
    );
    let wrong_shape = vec![Tensor::from_vec(vec![1, 3], vec![0f32; 3]).unwrap()];
    assert!(matches!(
        quantize(small_cnn(7), wrong_shape, &cfg).unwrap_err(),
        QuantizeError::Exec(_)
    ));
    let mut two_inputs = small_cnn(7);
    let extra = two_inputs.add_value(two_inputs.value(two_inputs.inputs[0]).clone());
    two_inputs.values[extra.0].name = "y".into();
    two_inputs.inputs.push(extra);
    assert!(matches!(
        quantize(two_inputs, batches(1, 1, 2, &[2, 8, 8]), &cfg).unwrap_err(),
        QuantizeError::Inputs(_)
    ));
    let mut old = small_cnn(7);
    old.meta.opset = 11;
    assert!(matches!(
        quantize(old, batches(1, 1, 2, &[2, 8, 8]), &cfg).unwrap_err(),
        QuantizeError::Opset { opset: 11, .. }
    ));
    let cfg = QuantizeConfig {
        holdout_every: 1,
        ..Default::default()
    };
    assert!(matches!(
        quantize(small_cnn(7), batches(1, 1, 2, &[2, 8, 8]), &cfg).unwrap_err(),
        QuantizeError::Config(_)
    ));
}

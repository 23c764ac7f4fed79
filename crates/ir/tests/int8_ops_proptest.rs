//! Each integer op against its float definition: dequantize the 8-bit inputs, run the float IR
//! op (and the fused activation), quantize with QuantizeLinear. Over random shapes (sizes 1, odd
//! sizes, long reductions), types and quantization parameters, every output is within 1 LSB.
use mw_ir::{build_op, Attr, Attrs, BuildCtx, Op};
use mw_tensor::{DType, Tensor};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

fn op(op_type: &str, attrs: &Attrs, n_inputs: usize) -> Box<dyn Op> {
    let ctx = BuildCtx {
        opset: 13,
        n_inputs,
        n_outputs: 1,
    };
    build_op(op_type, attrs, &ctx).unwrap().unwrap()
}

fn eval(op_type: &str, attrs: &Attrs, inputs: &[Option<&Tensor>]) -> Tensor {
    op(op_type, attrs, inputs.len())
        .eval(inputs)
        .unwrap_or_else(|e| panic!("{op_type}: {e}"))
        .remove(0)
}

/// A deterministic stream of pseudo-random numbers.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn int(&mut self, lo: i32, hi: i32) -> i32 {
        lo + (self.next() % (hi - lo + 1) as u64) as i32
    }
    fn unit(&mut self) -> f32 {
        (self.next() % (1 << 24)) as f32 / (1 << 24) as f32
    }
    /// A scale in `[base/2, 2·base]`.
    fn scale(&mut self, base: f32) -> f32 {
        base * (0.5 + 1.5 * self.unit())
    }
}

/// A quantized tensor: stored values, scale and zero point.
struct Q {
    t: Tensor,
    scale: Tensor,
    zp: Tensor,
}

/// Random stored values of `shape`, a scale near `base` and a random zero point.
fn quantized(rng: &mut Rng, shape: &[usize], u8: bool, base: f32) -> Q {
    let scale = rng.scale(base);
    let n: usize = shape.iter().product();
    if u8 {
        let v: Vec<u8> = (0..n).map(|_| rng.int(0, 255) as u8).collect();
        Q {
            t: Tensor::from_vec(shape.to_vec(), v).unwrap(),
            scale: Tensor::scalar(scale),
            zp: Tensor::scalar(rng.int(0, 255) as u8),
        }
    } else {
        let v: Vec<i8> = (0..n).map(|_| rng.int(-128, 127) as i8).collect();
        Q {
            t: Tensor::from_vec(shape.to_vec(), v).unwrap(),
            scale: Tensor::scalar(scale),
            zp: Tensor::scalar(rng.int(-128, 127) as i8),
        }
    }
}

/// Output parameters: a scale near `base` and a zero point of the output type.
fn out_params(rng: &mut Rng, u8: bool, base: f32) -> (Tensor, Tensor) {
    let scale = rng.scale(base);
    out_params_exact(rng, u8, scale)
}

/// Output parameters with exactly `scale`.
fn out_params_exact(rng: &mut Rng, u8: bool, scale: f32) -> (Tensor, Tensor) {
    let zp = if u8 {
        Tensor::scalar(rng.int(0, 255) as u8)
    } else {
        Tensor::scalar(rng.int(-128, 127) as i8)
    };
    (Tensor::scalar(scale), zp)
}

/// Output parameters covering most of `float`'s range (a random 70 %–130 % of it), so that
/// outputs spread over the 8-bit range with some saturation at the ends.
fn fit_out(rng: &mut Rng, float: &Tensor, u8: bool) -> (Tensor, Tensor) {
    let v = float.as_slice::<f32>().unwrap();
    let lo = v.iter().copied().fold(0f32, f32::min);
    let hi = v.iter().copied().fold(0f32, f32::max);
    let scale = ((hi - lo) / 255.0).max(1e-6) * (0.7 + 0.6 * rng.unit());
    let (qmin, qmax) = if u8 { (0, 255) } else { (-128, 127) };
    let zp = ((qmin as f32 - lo / scale).round() as i32).clamp(qmin, qmax);
    let zp = if u8 {
        Tensor::scalar(zp as u8)
    } else {
        Tensor::scalar(zp as i8)
    };
    (Tensor::scalar(scale), zp)
}

fn dq(q: &Q) -> Tensor {
    eval(
        "DequantizeLinear",
        &Attrs::new(),
        &[Some(&q.t), Some(&q.scale), Some(&q.zp)],
    )
}

fn quantize(x: &Tensor, scale: &Tensor, zp: &Tensor) -> Tensor {
    eval(
        "QuantizeLinear",
        &Attrs::new(),
        &[Some(x), Some(scale), Some(zp)],
    )
}

fn within_one(ours: &Tensor, want: &Tensor, what: &str) -> Result<(), TestCaseError> {
    prop_assert_eq!(ours.dtype(), want.dtype());
    prop_assert_eq!(ours.shape(), want.shape());
    for (i, (a, b)) in ours.to_f64_vec().iter().zip(want.to_f64_vec()).enumerate() {
        prop_assert!(
            (a - b).abs() <= 1.0,
            "{}: element {} is {} vs {}",
            what,
            i,
            a,
            b
        );
    }
    Ok(())
}

/// Symmetric int8 weights `[c, rest]` with per-channel scales along axis `axis` of `shape`.
fn weights(
    rng: &mut Rng,
    shape: &[usize],
    axis: usize,
    base: f32,
) -> (Tensor, Tensor, Tensor, Tensor) {
    let n: usize = shape.iter().product();
    let w: Vec<i8> = (0..n).map(|_| rng.int(-127, 127) as i8).collect();
    let c = shape[axis];
    let scales: Vec<f32> = (0..c).map(|_| base).collect();
    let wt = Tensor::from_vec(shape.to_vec(), w).unwrap();
    let st = Tensor::from_vec(vec![c], scales).unwrap();
    let zt = Tensor::from_vec(vec![c], vec![0i8; c]).unwrap();
    let a = Attrs::new().with("axis", Attr::Int(axis as i64));
    let wf = eval("DequantizeLinear", &a, &[Some(&wt), Some(&st), Some(&zt)]);
    (wt, st, zt, wf)
}

/// An int32 bias of scale `x_scale · w_scale[c]` and its real values.
fn bias(rng: &mut Rng, x_scale: f32, w_scale: &Tensor) -> (Tensor, Tensor) {
    let ws = w_scale.as_slice::<f32>().unwrap();
    let b: Vec<i32> = ws.iter().map(|_| rng.int(-3000, 3000)).collect();
    let real: Vec<f32> = b
        .iter()
        .zip(ws)
        .map(|(&b, &w)| b as f32 * (x_scale * w))
        .collect();
    (
        Tensor::from_vec(vec![b.len()], b).unwrap(),
        Tensor::from_vec(vec![real.len()], real).unwrap(),
    )
}

fn relu(x: &Tensor) -> Tensor {
    eval("Relu", &Attrs::new(), &[Some(x)])
}

/// The clamp attributes equal to a ReLU before quantizing with zero point `zp`.
fn relu_clamp(zp: &Tensor) -> Attrs {
    let z = zp.to_i64_vec().unwrap()[0];
    Attrs::new().with("qmin", Attr::Int(z))
}

#[derive(Debug, Clone)]
struct ConvCase {
    batch: usize,
    channels: usize,
    per_group_out: usize,
    depthwise: bool,
    hw: [usize; 2],
    kernel: [usize; 2],
    stride: usize,
    pad: usize,
    u8_in: bool,
    u8_out: bool,
    relu: bool,
    seed: u64,
}

fn conv_case() -> impl Strategy<Value = ConvCase> {
    (
        (1usize..3, 1usize..6, 1usize..4, any::<bool>()),
        (
            [1usize..8, 1usize..8],
            [1usize..4, 1usize..4],
            1usize..3,
            0usize..2,
        ),
        (any::<bool>(), any::<bool>(), any::<bool>(), any::<u64>()),
    )
        .prop_map(
            |(
                (batch, channels, per_group_out, depthwise),
                (hw, kernel, stride, pad),
                (u8_in, u8_out, relu, seed),
            )| {
                ConvCase {
                    batch,
                    channels,
                    per_group_out,
                    depthwise,
                    hw,
                    kernel: [
                        kernel[0].min(hw[0] + 2 * pad),
                        kernel[1].min(hw[1] + 2 * pad),
                    ],
                    stride,
                    pad,
                    u8_in,
                    u8_out,
                    relu,
                    seed,
                }
            },
        )
}

fn check_conv(c: &ConvCase) -> Result<(), TestCaseError> {
    let mut rng = Rng(c.seed);
    let groups = if c.depthwise { c.channels } else { 1 };
    let m = if c.depthwise {
        c.channels * c.per_group_out
    } else {
        c.per_group_out + 1
    };
    let x = quantized(
        &mut rng,
        &[c.batch, c.channels, c.hw[0], c.hw[1]],
        c.u8_in,
        0.05,
    );
    let cg = c.channels / groups;
    let (w, ws, wz, wf) = weights(&mut rng, &[m, cg, c.kernel[0], c.kernel[1]], 0, 0.01);
    let sx = x.scale.as_slice::<f32>().unwrap()[0];
    let (b, bf) = bias(&mut rng, sx, &ws);
    let p = c.pad as i64;
    let attrs = Attrs::new()
        .with("group", Attr::Int(groups as i64))
        .with("strides", Attr::Ints(vec![c.stride as i64; 2]))
        .with("pads", Attr::Ints(vec![p; 4]));
    let float = eval("Conv", &attrs, &[Some(&dq(&x)), Some(&wf), Some(&bf)]);
    let (ys, yz) = fit_out(&mut rng, &float, c.u8_out);
    let (float, qattrs, op_type) = if c.relu {
        (
            relu(&float),
            relu_clamp(&yz).with("group", Attr::Int(groups as i64)),
            "MwQLinearConv",
        )
    } else {
        (float, attrs.clone(), "QLinearConv")
    };
    let qattrs = qattrs
        .with("strides", Attr::Ints(vec![c.stride as i64; 2]))
        .with("pads", Attr::Ints(vec![p; 4]));
    let want = quantize(&float, &ys, &yz);
    let ours = eval(
        op_type,
        &qattrs,
        &[
            Some(&x.t),
            Some(&x.scale),
            Some(&x.zp),
            Some(&w),
            Some(&ws),
            Some(&wz),
            Some(&ys),
            Some(&yz),
            Some(&b),
        ],
    );
    within_one(&ours, &want, &format!("{c:?}"))
}

#[derive(Debug, Clone)]
struct MatMulCase {
    lead: Vec<usize>,
    k: usize,
    n: usize,
    with_bias: bool,
    u8_in: bool,
    u8_out: bool,
    relu: bool,
    seed: u64,
}

fn matmul_case() -> impl Strategy<Value = MatMulCase> {
    (
        prop::collection::vec(1usize..4, 1..3),
        prop_oneof![1usize..9, 200usize..600],
        1usize..20,
        (
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            any::<u64>(),
        ),
    )
        .prop_map(
            |(lead, k, n, (with_bias, u8_in, u8_out, relu, seed))| MatMulCase {
                lead,
                k,
                n,
                with_bias,
                u8_in,
                u8_out,
                relu,
                seed,
            },
        )
}

fn check_matmul(c: &MatMulCase) -> Result<(), TestCaseError> {
    let mut rng = Rng(c.seed);
    let mut shape = c.lead.clone();
    shape.push(c.k);
    let a = quantized(&mut rng, &shape, c.u8_in, 0.05);
    let (w, ws, wz, wf) = weights(&mut rng, &[c.k, c.n], 1, 0.01);
    let sa = a.scale.as_slice::<f32>().unwrap()[0];
    let (b, bf) = bias(&mut rng, sa, &ws);
    let mut float = eval("MatMul", &Attrs::new(), &[Some(&dq(&a)), Some(&wf)]);
    if c.with_bias {
        float = eval("Add", &Attrs::new(), &[Some(&float), Some(&bf)]);
    }
    let (ys, yz) = fit_out(&mut rng, &float, c.u8_out);
    let mut attrs = Attrs::new();
    if c.relu {
        float = relu(&float);
        attrs = relu_clamp(&yz);
    }
    let want = quantize(&float, &ys, &yz);
    let mut inputs = vec![
        Some(&a.t),
        Some(&a.scale),
        Some(&a.zp),
        Some(&w),
        Some(&ws),
        Some(&wz),
        Some(&ys),
        Some(&yz),
    ];
    let op_type = if c.with_bias || c.relu {
        "MwQGemm"
    } else {
        "QLinearMatMul"
    };
    if c.with_bias {
        inputs.push(Some(&b));
    }
    let ours = eval(op_type, &attrs, &inputs);
    within_one(&ours, &want, &format!("{c:?}"))
}

#[derive(Debug, Clone)]
struct PoolCase {
    batch: usize,
    channels: usize,
    hw: [usize; 2],
    kernel: [usize; 2],
    stride: usize,
    pad: usize,
    include_pad: bool,
    global: bool,
    same_scale: bool,
    u8_in: bool,
    u8_out: bool,
    seed: u64,
}

fn pool_case() -> impl Strategy<Value = PoolCase> {
    (
        (
            1usize..3,
            1usize..5,
            [1usize..9, 1usize..9],
            [1usize..4, 1usize..4],
        ),
        (
            1usize..3,
            0usize..2,
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
        ),
        (any::<bool>(), any::<bool>(), any::<u64>()),
    )
        .prop_map(
            |(
                (batch, channels, hw, kernel),
                (stride, pad, include_pad, global, same_scale),
                (u8_in, u8_out, seed),
            )| {
                let pad = pad.min(kernel[0] - 1).min(kernel[1] - 1);
                PoolCase {
                    batch,
                    channels,
                    hw,
                    kernel: [
                        kernel[0].min(hw[0] + 2 * pad),
                        kernel[1].min(hw[1] + 2 * pad),
                    ],
                    stride,
                    pad,
                    include_pad,
                    global,
                    same_scale,
                    u8_in,
                    u8_out: if same_scale { u8_in } else { u8_out },
                    seed,
                }
            },
        )
}

fn check_pool(c: &PoolCase) -> Result<(), TestCaseError> {
    let mut rng = Rng(c.seed);
    let x = quantized(
        &mut rng,
        &[c.batch, c.channels, c.hw[0], c.hw[1]],
        c.u8_in,
        0.05,
    );
    let sx = x.scale.as_slice::<f32>().unwrap()[0];
    let (ys, yz) = if c.same_scale {
        out_params_exact(&mut rng, c.u8_out, sx)
    } else {
        out_params(&mut rng, c.u8_out, sx)
    };
    let (float, op_type, attrs) = if c.global {
        (
            eval("GlobalAveragePool", &Attrs::new(), &[Some(&dq(&x))]),
            "MwQGlobalAvgPool",
            Attrs::new(),
        )
    } else {
        let p = c.pad as i64;
        let attrs = Attrs::new()
            .with(
                "kernel_shape",
                Attr::Ints(vec![c.kernel[0] as i64, c.kernel[1] as i64]),
            )
            .with("strides", Attr::Ints(vec![c.stride as i64; 2]))
            .with("pads", Attr::Ints(vec![p; 4]))
            .with("count_include_pad", Attr::Int(i64::from(c.include_pad)));
        (
            eval("AveragePool", &attrs, &[Some(&dq(&x))]),
            "MwQAvgPool",
            attrs,
        )
    };
    let want = quantize(&float, &ys, &yz);
    let ours = eval(
        op_type,
        &attrs,
        &[
            Some(&x.t),
            Some(&x.scale),
            Some(&x.zp),
            Some(&ys),
            Some(&yz),
        ],
    );
    within_one(&ours, &want, &format!("{c:?}"))
}

fn check_add(
    a_shape: &[usize],
    b_shape: &[usize],
    u8_in: bool,
    u8_out: bool,
    seed: u64,
) -> Result<(), TestCaseError> {
    let mut rng = Rng(seed);
    let a = quantized(&mut rng, a_shape, u8_in, 0.05);
    let b = quantized(&mut rng, b_shape, u8_in, 0.05);
    let float = eval("Add", &Attrs::new(), &[Some(&dq(&a)), Some(&dq(&b))]);
    let (ys, yz) = fit_out(&mut rng, &float, u8_out);
    let want = quantize(&float, &ys, &yz);
    let ours = eval(
        "MwQAdd",
        &Attrs::new(),
        &[
            Some(&a.t),
            Some(&a.scale),
            Some(&a.zp),
            Some(&b.t),
            Some(&b.scale),
            Some(&b.zp),
            Some(&ys),
            Some(&yz),
        ],
    );
    within_one(
        &ours,
        &want,
        &format!("add {a_shape:?} {b_shape:?} seed {seed}"),
    )
}

fn check_softmax(
    rows: usize,
    len: usize,
    u8_in: bool,
    u8_out: bool,
    seed: u64,
) -> Result<(), TestCaseError> {
    let mut rng = Rng(seed);
    let x = quantized(&mut rng, &[rows, len], u8_in, 0.1);
    let zp = if u8_out {
        Tensor::scalar(0u8)
    } else {
        Tensor::scalar(-128i8)
    };
    let ys = Tensor::scalar(1.0f32 / 256.0);
    let float = eval("Softmax", &Attrs::new(), &[Some(&dq(&x))]);
    let want = quantize(&float, &ys, &zp);
    let ours = eval(
        "MwQSoftmax",
        &Attrs::new(),
        &[
            Some(&x.t),
            Some(&x.scale),
            Some(&x.zp),
            Some(&ys),
            Some(&zp),
        ],
    );
    within_one(&ours, &want, &format!("softmax {rows}x{len} seed {seed}"))
}

fn check_requantize(n: usize, u8_in: bool, u8_out: bool, seed: u64) -> Result<(), TestCaseError> {
    let mut rng = Rng(seed);
    let x = quantized(&mut rng, &[n], u8_in, 0.05);
    let (ys, yz) = out_params(&mut rng, u8_out, 0.05);
    let want = quantize(&relu(&dq(&x)), &ys, &yz);
    let ours = eval(
        "MwQRequantize",
        &relu_clamp(&yz),
        &[
            Some(&x.t),
            Some(&x.scale),
            Some(&x.zp),
            Some(&ys),
            Some(&yz),
        ],
    );
    prop_assert_eq!(
        ours.to_f64_vec(),
        want.to_f64_vec(),
        "requantize equals DQ → Relu → Q"
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn qlinear_conv_within_one_lsb(c in conv_case()) {
        check_conv(&c)?;
    }

    #[test]
    fn qlinear_matmul_and_qgemm_within_one_lsb(c in matmul_case()) {
        check_matmul(&c)?;
    }

    #[test]
    fn average_pools_within_one_lsb(c in pool_case()) {
        check_pool(&c)?;
    }

    #[test]
    fn add_within_one_lsb(
        shape in prop::collection::vec(1usize..5, 1..4),
        broadcast in 0usize..3,
        u8_in in any::<bool>(),
        u8_out in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let b_shape: Vec<usize> = match broadcast {
            0 => shape.clone(),
            1 => vec![1],
            _ => shape[shape.len() - 1..].to_vec(),
        };
        check_add(&shape, &b_shape, u8_in, u8_out, seed)?;
    }

    #[test]
    fn softmax_within_one_lsb(rows in 1usize..4, len in 1usize..40, u8_in in any::<bool>(), u8_out in any::<bool>(), seed in any::<u64>()) {
        check_softmax(rows, len, u8_in, u8_out, seed)?;
    }

    #[test]
    fn requantize_equals_the_qdq_pair(n in 1usize..300, u8_in in any::<bool>(), u8_out in any::<bool>(), seed in any::<u64>()) {
        check_requantize(n, u8_in, u8_out, seed)?;
    }
}

#[test]
fn dtype_of_outputs_follows_the_output_zero_point() {
    let mut rng = Rng(7);
    let x = quantized(&mut rng, &[1, 4], false, 0.1);
    let ys = Tensor::scalar(1.0f32 / 256.0);
    let zp = Tensor::scalar(0u8);
    let y = eval(
        "MwQSoftmax",
        &Attrs::new(),
        &[
            Some(&x.t),
            Some(&x.scale),
            Some(&x.zp),
            Some(&ys),
            Some(&zp),
        ],
    );
    assert_eq!(y.dtype(), DType::U8);
}

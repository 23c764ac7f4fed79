//! Agreement with ONNX Runtime's `QLinearConv` (u8 activations, i8 per-channel weights, u8
//! output): [`RoundingMode::FloatHalfEven`] and [`RoundingMode::SoftFloat`] must be bit-exact, [`RoundingMode::FixedPoint`] within
//! ±1. Skips with a message when no Python with onnxruntime is found.

use super::conv::{conv2d, Conv2dParams};
use super::requant::{Activation, OutputStage, RoundingMode};
use super::QInput;
use std::process::Command;

/// Builds a random QLinearConv, runs it in ORT and prints every tensor; floats as f32 bit patterns.
const SCRIPT: &str = r#"
import sys, struct, numpy as np, onnx, onnxruntime as ort
from onnx import helper, TensorProto, numpy_helper
seed, c, h, w, oc, kh, kw, s, p, g = map(int, sys.argv[1:])
rng = np.random.default_rng(seed)
x = rng.integers(0, 256, (1, c, h, w), dtype=np.uint8)
wt = rng.integers(-127, 128, (oc, c // g, kh, kw), dtype=np.int8)
b = rng.integers(-3000, 3000, (oc,), dtype=np.int32)
xs = np.float32(rng.uniform(0.005, 0.05)); xz = np.uint8(rng.integers(0, 256))
ws = rng.uniform(0.002, 0.02, (oc,)).astype(np.float32)
ys = np.float32(rng.uniform(0.02, 0.2)); yz = np.uint8(rng.integers(0, 256))
inits = [numpy_helper.from_array(a, n) for a, n in [
    (np.array(xs), "xs"), (np.array(xz), "xz"), (wt, "w"), (ws, "ws"), (np.zeros(oc, np.int8), "wz"),
    (np.array(ys), "ys"), (np.array(yz), "yz"), (b, "b")]]
node = helper.make_node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"], ["y"],
    kernel_shape=[kh, kw], strides=[s, s], pads=[p, p, p, p], group=g)
graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.UINT8, x.shape)],
    [helper.make_tensor_value_info("y", TensorProto.UINT8, None)], inits)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
so = ort.SessionOptions(); so.intra_op_num_threads = 1
y = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
bits = lambda a: " ".join(str(struct.unpack("<I", struct.pack("<f", float(v)))[0]) for v in np.ravel(a))
ints = lambda a: " ".join(str(int(v)) for v in np.ravel(a))
print(ints(x)); print(ints(wt)); print(ints(b)); print(bits([xs])); print(int(xz)); print(bits(ws))
print(bits([ys])); print(int(yz)); print(ints(y))
"#;

fn parse<T: std::str::FromStr>(line: &str) -> Vec<T> {
    line.split_whitespace()
        .map(|t| t.parse().ok().unwrap())
        .collect()
}

fn floats(line: &str) -> Vec<f32> {
    parse::<u32>(line).into_iter().map(f32::from_bits).collect()
}

#[test]
fn qlinearconv_matches_onnxruntime() {
    let Some(py) = mw_testkit::python_or_skip("qlinearconv_matches_onnxruntime") else {
        return;
    };
    // (c, h, w, oc, kh, kw, stride, pad, groups): general, strided, pointwise, depthwise.
    let cases = [
        (3, 9, 7, 5, 3, 3, 1, 1, 1),
        (4, 11, 8, 6, 3, 2, 2, 0, 2),
        (16, 6, 5, 24, 1, 1, 1, 0, 1),
        (8, 7, 5, 8, 3, 3, 1, 1, 8),
        (1, 13, 6, 16, 5, 4, 2, 2, 1),
    ];
    let (mut total, mut off_by_one) = (0usize, 0usize);
    for (seed, &(c, h, w, oc, kh, kw, s, p, g)) in cases.iter().enumerate() {
        let args: Vec<String> = [seed, c, h, w, oc, kh, kw, s, p, g]
            .iter()
            .map(|v| v.to_string())
            .collect();
        let run = Command::new(&py)
            .arg("-c")
            .arg(SCRIPT)
            .args(&args)
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "python failed: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        let text = String::from_utf8(run.stdout).unwrap();
        let l: Vec<&str> = text.lines().collect();
        let (x, wt, b) = (parse::<u8>(l[0]), parse::<i8>(l[1]), parse::<i32>(l[2]));
        let (xs, xz, ws) = (floats(l[3])[0], parse::<i32>(l[4])[0], floats(l[5]));
        let (ys, yz, want) = (floats(l[6])[0], parse::<i32>(l[7])[0], parse::<u8>(l[8]));
        let params = Conv2dParams {
            batch: 1,
            in_channels: c,
            in_hw: [h, w],
            out_channels: oc,
            kernel: [kh, kw],
            stride: [s, s],
            dilation: [1, 1],
            pads: [p; 4],
            groups: g,
        };
        let ctx = format!("{params} seed={seed} x_scale={xs} x_zp={xz} y_scale={ys} y_zp={yz}");
        for mode in [
            RoundingMode::FloatHalfEven,
            RoundingMode::SoftFloat,
            RoundingMode::FixedPoint,
        ] {
            let stage =
                OutputStage::from_scales::<u8>(xs, &ws, ys, yz, Activation::None, mode).unwrap();
            let mut got = vec![0u8; want.len()];
            conv2d(
                &params,
                QInput {
                    data: &x,
                    zero_point: xz,
                },
                &wt,
                Some(&b),
                &stage,
                &mut got,
            )
            .unwrap();
            for (i, (&a, &e)) in got.iter().zip(&want).enumerate() {
                let d = (i32::from(a) - i32::from(e)).abs();
                match mode {
                    RoundingMode::FloatHalfEven | RoundingMode::SoftFloat => {
                        assert_eq!(a, e, "{ctx} {mode:?} at {i}")
                    }
                    RoundingMode::FixedPoint => {
                        assert!(d <= 1, "{ctx} {mode:?} at {i}: ours {a} ORT {e}");
                        total += 1;
                        off_by_one += d as usize;
                    }
                }
            }
        }
    }
    eprintln!("fixed-point vs ORT: {off_by_one} of {total} outputs differ by 1");
    assert!(total > 500);
}

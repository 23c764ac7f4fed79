"""A ResNet-8 (the MLPerf Tiny IC layer structure) as a QDQ model with group-wise INT4 weights:
every Conv's weights are a blocked DequantizeLinear (axis 1 = input channels, block_size B, one
scale per (output channel, block, kernel tap), the last block partial when B does not divide C),
activations uint8 QDQ. Seeded; float weights drawn, then quantized per block as an exporter would.
Also writes seeded random inputs and ONNX Runtime's outputs (the model's final DequantizeLinear).

Usage: resnet8_blocked.py OUT_DIR BLOCK N   (writes model.onnx, x.npy, ort.npy)
"""
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper


class Net:
    def __init__(self, block, seed):
        self.block = block
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits, self.n = [], [], 0

    def fresh(self, stem):
        self.n += 1
        return f"{stem}_{self.n}"

    def const(self, name, array):
        self.inits.append(numpy_helper.from_array(array, name))
        return name

    def qdq(self, x, scale):
        """uint8 Q then DQ with zero point 128 for signed values, 0 after a ReLU."""
        s = self.const(self.fresh("s"), np.array(scale, np.float32))
        z = self.const(self.fresh("z"), np.array(0 if x.startswith("relu") else 128, np.uint8))
        q, dq = self.fresh("q"), self.fresh("dq")
        self.nodes.append(helper.make_node("QuantizeLinear", [x, s, z], [q]))
        self.nodes.append(helper.make_node("DequantizeLinear", [q, s, z], [dq]))
        return dq

    def blocked_weights(self, shape):
        o, c, kh, kw = shape
        b = self.block
        g = -(-c // b)
        w = self.rng.normal(0, 1 / np.sqrt(c * kh * kw), size=shape).astype(np.float32)
        scale = np.zeros((o, g, kh, kw), np.float32)
        q = np.zeros(shape, np.int8)
        for j in range(g):
            blk = w[:, j * b:(j + 1) * b]
            s = np.maximum(np.abs(blk).max(axis=1) / 7.0, 1e-8)
            scale[:, j] = s
            q[:, j * b:(j + 1) * b] = np.clip(np.round(blk / s[:, None]), -8, 7)
        qt = helper.make_tensor(self.fresh("w"), TensorProto.INT4, shape, q.flatten().tolist())
        self.inits.append(qt)
        ws = self.const(self.fresh("w_scale"), scale)
        wd = self.fresh("w_dq")
        self.nodes.append(
            helper.make_node("DequantizeLinear", [qt.name, ws], [wd], axis=1, block_size=b)
        )
        return wd, scale

    def conv(self, x, x_scale, cin, cout, k, stride, relu=True, out_scale=0.05):
        wd, scale = self.blocked_weights((cout, cin, k, k))
        # int32 bias at x_scale · (the largest scale of each output channel).
        bs = x_scale * scale.reshape(cout, -1).max(axis=1)
        b = self.rng.integers(-2000, 2000, size=cout).astype(np.int32)
        bn = self.const(self.fresh("b"), b)
        bsn = self.const(self.fresh("b_scale"), bs.astype(np.float32))
        bd = self.fresh("b_dq")
        self.nodes.append(helper.make_node("DequantizeLinear", [bn, bsn], [bd], axis=0))
        pad = (k - 1) // 2
        pads = [pad] * 4 if stride == 1 or k == 1 else [0, 0, 1, 1]
        y = self.fresh("conv")
        self.nodes.append(helper.make_node(
            "Conv", [x, wd, bd], [y], kernel_shape=[k, k], strides=[stride, stride],
            pads=pads if k > 1 else [0, 0, 0, 0]))
        if relu:
            r = self.fresh("relu")
            self.nodes.append(helper.make_node("Relu", [y], [r]))
            y = r
        return self.qdq(y, out_scale), out_scale


def resnet8(block):
    n = Net(block, seed=8)
    x, s = n.qdq("input", 1 / 64), 1 / 64
    x, s = n.conv(x, s, 3, 16, 3, 1)
    cin = 16
    for cout, stride in [(16, 1), (32, 2), (64, 2)]:
        y, ys = n.conv(x, s, cin, cout, 3, stride)
        y, ys = n.conv(y, ys, cout, cout, 3, 1, relu=False, out_scale=0.1)
        if stride != 1:
            x, s = n.conv(x, s, cin, cout, 1, stride, relu=False, out_scale=0.1)
        a, r = n.fresh("add"), n.fresh("relu")
        n.nodes.append(helper.make_node("Add", [x, y], [a]))
        n.nodes.append(helper.make_node("Relu", [a], [r]))
        x, s = n.qdq(r, 0.1), 0.1
        cin = cout
    graph = helper.make_graph(
        n.nodes, "resnet8_blocked",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, 3, 32, 32])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, [None, 64, 8, 8])],
        n.inits,
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    m.ir_version = 10
    onnx.checker.check_model(m)
    return m


def main():
    out, block, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    m = resnet8(block)
    onnx.save(m, f"{out}/model.onnx")
    x = np.random.default_rng(1).uniform(-2, 2, size=(count, 3, 32, 32)).astype(np.float32)
    np.save(f"{out}/x.npy", x)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    s = ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    np.save(f"{out}/ort.npy", s.run(None, {"input": x})[0])


if __name__ == "__main__":
    main()

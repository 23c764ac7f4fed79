"""The MLPerf Tiny image-classification and visual-wake-words reference networks as int8 QDQ ONNX.

Only the shapes matter to the energy model (it reads bit widths, MACs, bytes and sparsity, not
values), so the weights are seeded random int8 with no zeros; the layer structure follows the
reference training code:

* IC: mlcommons/tiny benchmark/training/image_classification/keras_model.py, resnet_v1_eembc()
  (commit bceb91c: 16/32/64 filters, the model of the v0.5-v1.0 rounds): 12.50 M MACs.
* VWW: MobileNetV1, alpha 0.25, 96x96x3 input, 2 classes (the TFLM person-detection model the
  VWW benchmark uses): 7.49 M MACs.

Usage: models.py OUT_DIR   (writes ic_resnet8_int8_qdq.onnx and vww_mobilenetv1_025_int8_qdq.onnx)
"""
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ACT_SCALE = 0.05
W_SCALE = 0.01


class Net:
    def __init__(self, name, seed):
        self.name = name
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits, self.n = [], [], 0
        self.const("act_scale", np.array(ACT_SCALE, np.float32))
        self.const("act_zp", np.array(0, np.int8))

    def fresh(self, stem):
        self.n += 1
        return f"{stem}_{self.n}"

    def const(self, name, array):
        self.inits.append(numpy_helper.from_array(array, name))
        return name

    def quantize(self, x):
        """Q then DQ: an int8 activation tensor between two layers."""
        q, dq = self.fresh("q"), self.fresh("dq")
        self.nodes.append(helper.make_node("QuantizeLinear", [x, "act_scale", "act_zp"], [q]))
        self.nodes.append(helper.make_node("DequantizeLinear", [q, "act_scale", "act_zp"], [dq]))
        return dq

    def weights(self, shape):
        """Per-output-channel int8 weights and an int32 bias, both behind DequantizeLinear."""
        w = self.rng.integers(1, 128, size=shape, dtype=np.int8)
        w = np.where(self.rng.random(shape) < 0.5, -w, w).astype(np.int8)
        oc = shape[0]
        wn = self.const(self.fresh("w"), w)
        ws = self.const(self.fresh("w_scale"), np.full(oc, W_SCALE, np.float32))
        wz = self.const(self.fresh("w_zp"), np.zeros(oc, np.int8))
        b = self.const(self.fresh("b"), self.rng.integers(-1000, 1000, size=oc, dtype=np.int32))
        bs = self.const(self.fresh("b_scale"), np.full(oc, ACT_SCALE * W_SCALE, np.float32))
        bz = self.const(self.fresh("b_zp"), np.zeros(oc, np.int32))
        wd, bd = self.fresh("w_dq"), self.fresh("b_dq")
        self.nodes.append(helper.make_node("DequantizeLinear", [wn, ws, wz], [wd], axis=0))
        self.nodes.append(helper.make_node("DequantizeLinear", [b, bs, bz], [bd], axis=0))
        return wd, bd

    def conv(self, x, cin, cout, k, stride, relu=True, group=1):
        wd, bd = self.weights((cout, cin // group, k, k))
        pad = (k - 1) // 2
        # TF 'same' with stride 2 on even sizes pads (0, 1); the output size is the same.
        pads = [pad, pad, pad, pad] if stride == 1 or k == 1 else [0, 0, 1, 1]
        y = self.fresh("conv")
        self.nodes.append(
            helper.make_node(
                "Conv", [x, wd, bd], [y], kernel_shape=[k, k], strides=[stride, stride],
                pads=pads if k > 1 else [0, 0, 0, 0], group=group,
            )
        )
        if relu:
            r = self.fresh("relu")
            self.nodes.append(helper.make_node("Relu", [y], [r]))
            y = r
        return self.quantize(y)

    def add_relu(self, a, b):
        s, r = self.fresh("add"), self.fresh("relu")
        self.nodes.append(helper.make_node("Add", [a, b], [s]))
        self.nodes.append(helper.make_node("Relu", [s], [r]))
        return self.quantize(r)

    def head(self, x, pool, cin, classes):
        p, f, g, sm = self.fresh("pool"), self.fresh("flat"), self.fresh("fc"), "probabilities"
        self.nodes.append(helper.make_node("AveragePool", [x], [p], kernel_shape=[pool, pool]))
        pq = self.quantize(p)
        self.nodes.append(helper.make_node("Flatten", [pq], [f]))
        wd, bd = self.weights((classes, cin))
        wt = self.fresh("w_t")
        self.nodes.append(helper.make_node("Transpose", [wd], [wt], perm=[1, 0]))
        self.nodes.append(helper.make_node("Gemm", [f, wt, bd], [g]))
        self.nodes.append(helper.make_node("Softmax", [self.quantize(g)], [sm], axis=1))
        return sm

    def model(self, input_shape, output, classes):
        graph = helper.make_graph(
            self.nodes, self.name,
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, input_shape)],
            [helper.make_tensor_value_info(output, TensorProto.FLOAT, [1, classes])],
            self.inits,
        )
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        m.ir_version = 8
        onnx.checker.check_model(m)
        return m


def resnet8():
    n = Net("mlperf_tiny_ic_resnet8", seed=8)
    x = n.conv(n.quantize("input"), 3, 16, 3, 1)
    cin = 16
    for cout, stride in [(16, 1), (32, 2), (64, 2)]:
        y = n.conv(x, cin, cout, 3, stride)
        y = n.conv(y, cout, cout, 3, 1, relu=False)
        if stride != 1:
            x = n.conv(x, cin, cout, 1, stride, relu=False)
        x = n.add_relu(x, y)
        cin = cout
    return n.model([1, 3, 32, 32], n.head(x, 8, 64, 10), 10)


def mobilenet_v1_025():
    n = Net("mlperf_tiny_vww_mobilenetv1_025", seed=25)
    x = n.conv(n.quantize("input"), 3, 8, 3, 2)
    cin, size = 8, 48
    blocks = [(16, 1), (32, 2), (32, 1), (64, 2), (64, 1), (128, 2)] + [(128, 1)] * 5
    blocks += [(256, 2), (256, 1)]
    for cout, stride in blocks:
        x = n.conv(x, cin, cin, 3, stride, group=cin)
        x = n.conv(x, cin, cout, 1, 1)
        cin, size = cout, size // stride
    return n.model([1, 3, 96, 96], n.head(x, size, 256, 2), 2)


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    onnx.save(resnet8(), out / "ic_resnet8_int8_qdq.onnx")
    onnx.save(mobilenet_v1_025(), out / "vww_mobilenetv1_025_int8_qdq.onnx")


if __name__ == "__main__":
    main()

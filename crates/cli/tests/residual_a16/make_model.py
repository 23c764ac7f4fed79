# A small residual CNN on the KWS MFCC features (input_1: N x 49 x 10 x 1, output dense: N x 12):
# conv1 -> relu -> conv2 -> relu -> conv3, Add with relu1 (the residual), relu, global average
# pool, Gemm, Softmax. Random weights from a fixed seed (the test checks lowering and agreement
# with ONNX Runtime, not accuracy). Usage: make_model.py OUT.onnx
import sys, numpy as np, onnx
from onnx import helper, TensorProto, numpy_helper
rng = np.random.default_rng(16)
def conv_w(name, co, ci, k=3, gain=2.0):
    fan = ci * k * k
    return numpy_helper.from_array((rng.standard_normal((co, ci, k, k)) * np.sqrt(gain / fan)).astype(np.float32), name)
def arr(name, a):
    return numpy_helper.from_array(np.asarray(a, np.float32), name)
C = 16
inits = [numpy_helper.from_array(np.array([-1, 1, 49, 10], np.int64), "nchw"),
         conv_w("W1", C, 1, gain=2.0 / 400), arr("b1", rng.standard_normal(C) * 0.1),
         conv_w("W2", C, C), arr("b2", rng.standard_normal(C) * 0.1),
         conv_w("W3", C, C, gain=1.0), arr("b3", rng.standard_normal(C) * 0.1),
         arr("W4", rng.standard_normal((C, 12)) * np.sqrt(2.0 / C)), arr("b4", rng.standard_normal(12) * 0.1)]
pads = dict(pads=[1, 1, 1, 1])
nodes = [
    helper.make_node("Reshape", ["input_1", "nchw"], ["x"], name="to_nchw"),
    helper.make_node("Conv", ["x", "W1", "b1"], ["c1"], name="conv1", strides=[2, 2], **pads),
    helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
    helper.make_node("Conv", ["r1", "W2", "b2"], ["c2"], name="conv2", **pads),
    helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
    helper.make_node("Conv", ["r2", "W3", "b3"], ["c3"], name="conv3", **pads),
    helper.make_node("Add", ["c3", "r1"], ["res"], name="residual_add"),
    helper.make_node("Relu", ["res"], ["r3"], name="relu3"),
    helper.make_node("GlobalAveragePool", ["r3"], ["pool"], name="pool"),
    helper.make_node("Flatten", ["pool"], ["flat"], name="flatten"),
    helper.make_node("Gemm", ["flat", "W4", "b4"], ["logits"], name="fc"),
    helper.make_node("Softmax", ["logits"], ["dense"], name="softmax", axis=-1),
]
g = helper.make_graph(nodes, "residual_cnn",
    [helper.make_tensor_value_info("input_1", TensorProto.FLOAT, ["N", 49, 10, 1])],
    [helper.make_tensor_value_info("dense", TensorProto.FLOAT, ["N", 12])], inits)
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
m.ir_version = 8
onnx.checker.check_model(m)
onnx.save(m, sys.argv[1])

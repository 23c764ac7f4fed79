"""ONNX Runtime on single group-wise layers, fed the integer engine's own quantized inputs.

Usage:
  layers.py single OUT_DIR N
      Writes three one-layer QDQ models `single_<case>.onnx` (uint8 input → DequantizeLinear →
      Conv with blocked INT4 weights (block 12, partial last block) and an int32 bias → [Relu] →
      QuantizeLinear, whose uint8 output is the graph output), seeded uint8 inputs
      `single_<case>_x.npy` (N images) and ONNX Runtime's outputs `single_<case>_ort.npy`.
  layers.py per-layer MODEL DIR NAMES_FILE
      For every name in NAMES_FILE (a QuantizeLinear output of MODEL): cuts MODEL to the nodes
      between that layer's quantized inputs (the QuantizeLinear outputs it reads) and its output,
      feeds them `DIR/ours_<input>.npy` and writes the layer's output as `DIR/ort_<name>.npy`.
      Also writes `DIR/tie_<name>.npy` (uint8 0/1): where the layer is an Add whose real-valued
      sum of its two dequantized inputs, over the output scale, is exactly halfway between two
      integers (ONNX Runtime rounds those ties to even; all zero for other layers).
      The cut keeps a DequantizeLinear after the output QuantizeLinear (as in the whole model,
      so ONNX Runtime fuses exactly what it fuses there) and recovers the integers exactly.
"""
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper, utils

from resnet8_blocked import Net

# (name, input channels, output channels, kernel, stride, relu, spatial size)
CASES = [
    ("3x3", 20, 16, 3, 1, True, 9),
    ("3x3_s2", 27, 24, 3, 2, False, 11),
    ("1x1_s2", 16, 32, 1, 2, False, 10),
]


def session(m):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    return ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def single(out, count):
    for i, (name, cin, cout, k, stride, relu, hw) in enumerate(CASES):
        n = Net(12, seed=100 + i)
        x_scale = 1 / 64
        s = n.const("x_scale", np.array(x_scale, np.float32))
        z = n.const("x_zero", np.array(128, np.uint8))
        n.nodes.append(helper.make_node("DequantizeLinear", ["x", s, z], ["x_dq"]))
        n.conv("x_dq", x_scale, cin, cout, k, stride, relu=relu, out_scale=0.05)
        n.nodes.pop()  # the trailing DequantizeLinear: the uint8 QuantizeLinear output is the output
        y = n.nodes[-1].output[0]
        graph = helper.make_graph(
            n.nodes, f"grouped_{name}",
            [helper.make_tensor_value_info("x", TensorProto.UINT8, [None, cin, hw, hw])],
            [helper.make_tensor_value_info(y, TensorProto.UINT8, [None, cout, None, None])],
            n.inits,
        )
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
        m.ir_version = 10
        onnx.checker.check_model(m)
        onnx.save(m, f"{out}/single_{name}.onnx")
        x = np.random.default_rng(7 + i).integers(0, 256, size=(count, cin, hw, hw), dtype=np.uint8)
        np.save(f"{out}/single_{name}_x.npy", x)
        np.save(f"{out}/single_{name}_ort.npy", session(m).run(None, {"x": x})[0])


def per_layer(model, out, names_path):
    m = onnx.shape_inference.infer_shapes(onnx.load(model))
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    producer = {o: nd for nd in m.graph.node for o in nd.output}
    graph_inputs = {i.name for i in m.graph.input}
    q_nodes = {nd.output[0]: nd for nd in m.graph.node if nd.op_type == "QuantizeLinear"}
    for k in [l for l in open(names_path).read().split("\n") if l]:
        q = q_nodes[k]
        # The tensors the layer reads: walk back from its Q to other Q outputs (or the input).
        inputs, nodes, todo, seen = [], [], [q.input[0]], set()
        while todo:
            t = todo.pop()
            if t in seen or t in inits or not t:
                continue
            seen.add(t)
            if t in q_nodes or t in graph_inputs:
                inputs.append(t)
            else:
                nodes.append(producer[t])
                todo.extend(producer[t].input)
        sub = utils.Extractor(m).extract_model(sorted(inputs), [k])
        del sub.graph.output[:]
        sub.graph.node.append(helper.make_node("DequantizeLinear", [k, *q.input[1:3]], ["probe"]))
        sub.graph.output.append(helper.make_tensor_value_info("probe", TensorProto.FLOAT, None))
        feed = {i: np.load(f"{out}/ours_{i}.npy") for i in inputs}
        deq = session(sub).run(None, feed)[0]
        scale = inits[q.input[1]].astype(np.float32)
        zp = inits[q.input[2]]
        info = np.iinfo(zp.dtype)
        layer = np.clip(np.rint(deq / scale) + zp.astype(np.int64), info.min, info.max)
        np.save(f"{out}/ort_{k}.npy", layer.astype(zp.dtype))
        adds = [nd for nd in nodes if nd.op_type == "Add"]
        tie = np.zeros(layer.shape, np.uint8)
        if adds:
            exact = sum(dequantized(producer[i], inits, out) for i in adds[0].input)
            exact /= np.float64(inits[q.input[1]])
            tie = (np.abs(exact - np.floor(exact) - 0.5) < 1e-9).astype(np.uint8)
        np.save(f"{out}/tie_{k}.npy", tie)


def dequantized(dq, inits, out):
    """The real value (float64) of a DequantizeLinear of a quantized tensor saved in `out`."""
    q = np.load(f"{out}/ours_{dq.input[0]}.npy").astype(np.int64)
    scale, zp = np.float64(inits[dq.input[1]]), inits[dq.input[2]].astype(np.int64)
    return (q - zp) * scale


if __name__ == "__main__":
    if sys.argv[1] == "single":
        single(sys.argv[2], int(sys.argv[3]))
    else:
        per_layer(sys.argv[2], sys.argv[3], sys.argv[4])

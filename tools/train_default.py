#!/usr/bin/env python3
"""Trains the demo's default model when ../shared is absent: a 784-128-64-10 ReLU MLP on the
Fashion-MNIST training set (Debian's dataset-fashion-mnist), written as ONNX (opset 13).

Deterministic: fixed seed, one BLAS thread, fixed batch order; the same inputs give the same bytes.
The test set is never read here (milliwatt evaluates on it); the model's input is
[N, 1, 28, 28] float pixels scaled to [0, 1], as `milliwatt eval --dataset fashion-mnist:DIR` feeds.

usage: train_default.py DATA_DIR OUT.onnx [--epochs N]
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import gzip  # noqa: E402
import tempfile  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

SEED = 20261126
HIDDEN = (128, 64)


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    return body.reshape(dims)


def find(data_dir, stem):
    for name in (stem, stem + ".gz"):
        path = os.path.join(data_dir, name)
        if os.path.isfile(path):
            return path
    raise SystemExit(f"train_default: no `{stem}[.gz]` in `{data_dir}`")


def init(rng, fan_in, fan_out):
    # He initialization for ReLU layers.
    w = (rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)).astype(np.float32)
    return w, np.zeros(fan_out, dtype=np.float32)


def forward(params, x):
    acts = [x]
    for i, (w, b) in enumerate(params):
        z = acts[-1] @ w + b
        acts.append(np.maximum(z, 0.0) if i + 1 < len(params) else z)
    return acts


def train(x, y, epochs):
    rng = np.random.default_rng(SEED)
    sizes = (x.shape[1], *HIDDEN, 10)
    params = [init(rng, a, b) for a, b in zip(sizes[:-1], sizes[1:])]
    velocity = [(np.zeros_like(w), np.zeros_like(b)) for w, b in params]
    batch, momentum, weight_decay = 128, 0.9, 1e-4
    for epoch in range(epochs):
        lr = 0.05 * (0.5**epoch)
        order = rng.permutation(len(x))
        for start in range(0, len(x), batch):
            idx = order[start : start + batch]
            acts = forward(params, x[idx])
            logits = acts[-1]
            p = np.exp(logits - logits.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            p[np.arange(len(idx)), y[idx]] -= 1.0
            grad = p / len(idx)
            for i in reversed(range(len(params))):
                w, b = params[i]
                gw = acts[i].T @ grad + weight_decay * w
                gb = grad.sum(axis=0)
                if i > 0:
                    grad = (grad @ w.T) * (acts[i] > 0)
                vw, vb = velocity[i]
                vw *= momentum
                vw -= lr * gw
                vb *= momentum
                vb -= lr * gb
                w += vw
                b += vb
        acc = (forward(params, x[:10000])[-1].argmax(axis=1) == y[:10000]).mean()
        print(f"train_default: epoch {epoch + 1}/{epochs}, training-set top-1 {acc:.4f}")
    return params


def to_onnx(params):
    nodes = [helper.make_node("Flatten", ["image"], ["flat"], axis=1, name="flatten")]
    inits = []
    prev = "flat"
    for i, (w, b) in enumerate(params):
        last = i + 1 == len(params)
        out = "logits" if last else f"fc{i + 1}"
        inits += [
            numpy_helper.from_array(w, f"fc{i + 1}.weight"),
            numpy_helper.from_array(b, f"fc{i + 1}.bias"),
        ]
        nodes.append(
            helper.make_node(
                "Gemm", [prev, f"fc{i + 1}.weight", f"fc{i + 1}.bias"], [out], name=f"fc{i + 1}"
            )
        )
        if not last:
            nodes.append(helper.make_node("Relu", [out], [f"relu{i + 1}"], name=f"relu{i + 1}"))
            prev = f"relu{i + 1}"
    graph = helper.make_graph(
        nodes,
        "fashion_mlp",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, 28, 28])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
        inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 13)],
        producer_name="milliwatt tools/train_default.py",
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data_dir")
    ap.add_argument("out")
    ap.add_argument("--epochs", type=int, default=4)
    args = ap.parse_args()
    images = read_idx(find(args.data_dir, "train-images-idx3-ubyte"))
    labels = read_idx(find(args.data_dir, "train-labels-idx1-ubyte")).astype(np.int64)
    x = images.reshape(len(images), -1).astype(np.float32) / 255.0
    model = to_onnx(train(x, labels, args.epochs))
    # Written to a temporary file in the same folder, then renamed: never a half-written model.
    out_dir = os.path.dirname(os.path.abspath(args.out))
    fd, tmp = tempfile.mkstemp(dir=out_dir, suffix=".onnx.tmp")
    with os.fdopen(fd, "wb") as f:
        f.write(model.SerializeToString())
    os.replace(tmp, args.out)
    print(f"train_default: wrote {args.out}")


if __name__ == "__main__":
    main()

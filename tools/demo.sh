#!/usr/bin/env bash
# The main job, end to end: inspect, float accuracy, W8A8 quantization (calibration split only),
# the integer-only engine's accuracy, energy per inference on every built-in profile, HTML report.
#
# With ../shared (or MILLIWATT_SHARED=DIR): the MLPerf Tiny keyword-spotting DS-CNN on the Speech
# Commands v0.02 test set (features by milliwatt's own MFCC front end).
# Without it: the default model, a 784-128-64-10 MLP that tools/train_default.py trains
# (deterministically, ~15 s) on the Fashion-MNIST training set from Debian's dataset-fashion-mnist,
# evaluated on the Fashion-MNIST test set. Both need only what `bash tools/setup.sh` installs.
set -euo pipefail
cd "$(dirname "$0")/.."
shared="${MILLIWATT_SHARED:-../shared}"
kws_model="$shared/models/mlperf-tiny/kws_dscnn_float32.onnx"
kws_data="$shared/data/speech_commands_v0.02_test"
fashion="${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}"
python="${MILLIWATT_PYTHON:-.venv/bin/python}"
out="${DEMO_OUT:-out/demo}"
profiles=(horowitz-45nm ndp120 cortex-m4 cortex-m4-tflm-ref cortex-m4-cmsis phone-soc)

needs() {
  cat >&2 <<MSG
demo: needs either
  the real model and data beside the project root (or MILLIWATT_SHARED=DIR):
    $kws_model   (MLPerf Tiny KWS DS-CNN, from mlcommons/tiny benchmark/training/keyword_spotting/trained_models)
    $kws_data/   (Speech Commands v0.02 test set: speech_commands_test_set_v0.02, one folder per class)
  or, for the default model, Fashion-MNIST and a Python with numpy and onnx:
    $fashion/   (Debian: apt-get install dataset-fashion-mnist; or FASHION_MNIST_DIR=DIR)
    $python   (bash tools/setup.sh makes it; or MILLIWATT_PYTHON=PATH)
MSG
  exit 2
}

if [ -f "$kws_model" ] && [ -d "$kws_data" ]; then
  name=kws
  model="$kws_model"
  dataset="speech-commands:$kws_data"
elif [ -f "$fashion/train-images-idx3-ubyte.gz" ] && [ -x "$python" ] \
  && "$python" -c 'import numpy, onnx' 2>/dev/null; then
  echo "demo: no $shared; using the default model (Fashion-MNIST MLP)"
  name=fashion_mlp
  model="$out/fashion_mlp.onnx"
  dataset="fashion-mnist:$fashion"
  mkdir -p "$out"
  [ -f "$model" ] || "$python" tools/train_default.py "$fashion" "$model"
else
  needs
fi

cargo build --release -q -p milliwatt
mw=target/release/milliwatt
mkdir -p "$out"
q="$out/${name}_w8a8.onnx"

echo "== inspect"
$mw inspect "$model"
echo "== eval (float engine, eval split)"
$mw eval "$model" --dataset "$dataset" --split eval --report "$out/eval_float.json"
echo "== quantize W8A8 (calibration split only)"
$mw quantize "$model" --calib "$dataset" --calib-split calibration --scheme w8a8 \
  -o "$q" --report "$out/quantize_w8a8.json"
echo "== integer-only check and eval (integer engine, eval split)"
$mw inspect "$q" --integer-only
$mw eval "$q" --dataset "$dataset" --split eval --engine integer --report "$out/eval_w8a8.json"
echo "== energy on every built-in profile, 10 inferences/s against 10 mW"
for hw in "${profiles[@]}"; do
  $mw energy "$q" --hw "$hw" --rate 10/s --budget 10mW --accuracy-from "$out/eval_w8a8.json"
done
echo "== report"
hw_args=()
for hw in "${profiles[@]}"; do hw_args+=(--hw "$hw"); done
$mw report "$model" "$q" --eval "$out/eval_float.json" --eval "$out/eval_w8a8.json" \
  "${hw_args[@]}" --rate 10/s --budget 10mW -o "$out/report.html"
echo "demo: reports in $out/ (open $out/report.html)"

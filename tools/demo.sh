#!/usr/bin/env bash
# The main job, end to end on the MLPerf Tiny keyword-spotting DS-CNN and the Speech Commands v0.02
# test set (features by milliwatt's own MFCC front end): inspect, float accuracy, W8A8 quantization,
# the integer-only engine's accuracy, energy per inference on every built-in profile, HTML report.
set -euo pipefail
cd "$(dirname "$0")/.."
shared="${MILLIWATT_SHARED:-../shared}"
model="$shared/models/mlperf-tiny/kws_dscnn_float32.onnx"
data="$shared/data/speech_commands_v0.02_test"
out="${DEMO_OUT:-out/demo}"

if [ ! -f "$model" ] || [ ! -d "$data" ]; then
  cat >&2 <<MSG
demo: needs the real model and data beside the project root (or MILLIWATT_SHARED=DIR):
  $model   (MLPerf Tiny KWS DS-CNN, from mlcommons/tiny benchmark/training/keyword_spotting/trained_models)
  $data/   (Speech Commands v0.02 test set: speech_commands_test_set_v0.02, one folder per class)
MSG
  exit 2
fi

cargo build --release -q -p milliwatt
mw=target/release/milliwatt
mkdir -p "$out"

echo "== inspect"
$mw inspect "$model"
echo "== eval (float engine, eval split)"
$mw eval "$model" --dataset "speech-commands:$data" --split eval --report "$out/eval_float.json"
echo "== quantize W8A8 (calibration split only)"
$mw quantize "$model" --calib "speech-commands:$data" --calib-split calibration --scheme w8a8 \
  -o "$out/kws_w8a8.onnx" --report "$out/quantize_w8a8.json"
echo "== integer-only check and eval (integer engine, eval split)"
$mw inspect "$out/kws_w8a8.onnx" --integer-only
$mw eval "$out/kws_w8a8.onnx" --dataset "speech-commands:$data" --split eval --engine integer \
  --report "$out/eval_w8a8.json"
echo "== energy on every built-in profile, 10 inferences/s against 10 mW"
for hw in horowitz-45nm ndp120 cortex-m4 cortex-m4-cmsis phone-soc; do
  $mw energy "$out/kws_w8a8.onnx" --hw $hw --rate 10/s --budget 10mW --accuracy-from "$out/eval_w8a8.json"
done
echo "== report"
$mw report "$model" "$out/kws_w8a8.onnx" --eval "$out/eval_float.json" --eval "$out/eval_w8a8.json" \
  --hw horowitz-45nm --hw ndp120 --hw cortex-m4 --hw cortex-m4-cmsis --hw phone-soc --rate 10/s --budget 10mW -o "$out/report.html"
echo "demo: reports in $out/ (open $out/report.html)"

#!/usr/bin/env bash
# The main job, end to end: inspect the MLPerf Tiny keyword-spotting DS-CNN and measure its top-1
# accuracy on the Speech Commands v0.02 test set, features computed by milliwatt's own MFCC front end.
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
echo "demo: reports in $out/"

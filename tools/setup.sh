#!/usr/bin/env bash
# Installs what the tests need beyond cargo: Debian packages and the Python oracle venv (.venv).
# Idempotent; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  if ! dpkg -s dataset-fashion-mnist >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null
  fi
else
  echo "setup: not root or no apt-get; Fashion-MNIST tests will skip" >&2
fi

if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import onnxruntime, onnx, numpy" 2>/dev/null; then
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -r tools/requirements.txt
fi
.venv/bin/python -c "import onnxruntime; print('setup: onnxruntime', onnxruntime.__version__)"

#!/usr/bin/env bash
# Pinned Python environment for the ONNX export and its parity check (bench/.venv, git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import onnx, onnxruntime, numpy, tokenizers' 2>/dev/null; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check \
    onnx==1.23.2 onnxruntime==1.31.1 numpy==2.3.5 tokenizers==0.22.1
fi

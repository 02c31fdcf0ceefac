#!/usr/bin/env bash
# Creates the git-ignored venv that runs tests/reference_minilm.py (numpy + HF tokenizers from
# PyPI, pinned; no torch). Idempotent: a venv that already imports both is left as it is.
set -euo pipefail
venv="$(cd "$(dirname "$0")/.." && pwd)/.cache/venv"
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import numpy, tokenizers" 2>/dev/null; then
    exit 0
fi
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    numpy==2.4.6 tokenizers==0.23.2

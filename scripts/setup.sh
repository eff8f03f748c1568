#!/usr/bin/env bash
# One-time setup, re-run automatically when pyproject.toml changes:
# a virtual environment in .venv with the CPU build of PyTorch and kinema installed (editable).
#
# The CPU build is asked for by its local version (torch==2.13.0+cpu), so pip can never resolve
# the multi-GB CUDA build from PyPI instead: it finds the wheel on this machine's local disk, or
# on PyTorch's CPU index, or fails with a clear message. GPU users: see README "Installing on a GPU".
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH_VERSION=2.13.0
VENV=.venv
stamp="$VENV/.kinema-setup"
want="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)"

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$VENV/bin/kinema" ]; then
  exit 0
fi

PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  for cand in python3.11 python3.12 python3.10 python3; do
    if command -v "$cand" >/dev/null 2>&1; then PY="$cand"; break; fi
  done
fi
if [ -z "$PY" ] || ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
  echo "kinema setup: needs Python >= 3.10 (set PYTHON=/path/to/python3)" >&2
  exit 1
fi

echo "kinema setup: creating $VENV with $("$PY" --version) ..." >&2
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
pip=("$VENV/bin/python" -m pip --disable-pip-version-check -q)

if ! "$VENV/bin/python" -c "import torch" >/dev/null 2>&1; then
  if [ "$(uname -s)" = "Darwin" ]; then
    "${pip[@]}" install "torch==$TORCH_VERSION"  # macOS wheels on PyPI are CPU/MPS builds
  elif ! "${pip[@]}" install "torch==$TORCH_VERSION+cpu"; then
    echo "kinema setup: no local CPU wheel of torch $TORCH_VERSION; trying PyTorch's CPU index" >&2
    "${pip[@]}" install "torch==$TORCH_VERSION+cpu" --index-url https://download.pytorch.org/whl/cpu
  fi
fi

"${pip[@]}" install -e ".[dev]"
echo "$want" > "$stamp"
echo "kinema setup: done ($("$VENV/bin/python" -c 'import torch; print("torch", torch.__version__)'))" >&2

#!/usr/bin/env bash
# Creates (or reuses) the project's virtual environment at .venv and installs the pinned stack:
# the CPU torch 2.13.0 wheel, fairseq-fixed 0.12.3.1 (imports as `fairseq`), the project itself
# in editable mode, and, when apt-get is available (root) and they are absent, espeak-ng for the demo
# corpus and Debian's chromium + chromium-driver for the web page's browser test.
# Usage: bash scripts/setup_env.sh        (idempotent: a complete .venv returns in a second)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null || PY=python3
# The stamp covers the pins and the project's package list (the editable install maps each package by name).
STAMP="$VENV/.installed-$( (cat "$ROOT/requirements.txt" "$ROOT/constraints.txt" "$ROOT/setup.py"; cd "$ROOT" && ls -d emotion_*/) | sha1sum | cut -c1-12)"

APT=()  # system packages missing here, installed only when absent (as root, with apt-get)
command -v espeak-ng >/dev/null 2>&1 || APT+=(espeak-ng)  # speech synthesis for the demo corpus
{ command -v chromium && command -v chromedriver; } >/dev/null 2>&1 || APT+=(chromium chromium-driver)  # the page's browser test
if [ ${#APT[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "[setup] installing ${APT[*]} with apt-get"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${APT[@]}" >/dev/null) \
    || echo "[setup] apt-get could not install ${APT[*]}: without espeak-ng the demo corpus uses its numpy" \
            "synthesiser; without chromium the browser test fails and says how to install it"
fi

if [ -f "$STAMP" ]; then
  exit 0
fi
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip install -q --disable-pip-version-check -c "$ROOT/constraints.txt")
# The CPU wheel of torch lies on local disk on this project's machines; never fetch a CUDA build.
[ -d /opt/wheels ] && PIP+=(--find-links /opt/wheels)
echo "[setup] installing torch 2.13.0 (CPU) and the pinned requirements into $VENV"
"${PIP[@]}" torch==2.13.0
"${PIP[@]}" -r "$ROOT/requirements.txt"
"${PIP[@]}" --no-deps -e "$ROOT"
"$VENV/bin/python" - <<'PY'
import torch, fairseq
assert torch.__version__.startswith("2.13.0"), f"unexpected torch {torch.__version__}: reinstall with the CPU wheel"
print(f"[setup] torch {torch.__version__}, fairseq {fairseq.__version__}")
PY
rm -f "$VENV"/.installed-*
touch "$STAMP"

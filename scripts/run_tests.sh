#!/usr/bin/env bash
# Runs the whole test suite, creating or reusing .venv first (see scripts/setup_env.sh).
# Usage: bash scripts/run_tests.sh [extra pytest arguments]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup_env.sh"
cd "$ROOT"
exec "$ROOT/.venv/bin/python" -m pytest tests "$@"

#!/usr/bin/env bash
# Set up (scripts/setup.sh --dev) and run the whole test suite on both cores.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --dev
.venv/bin/ruff check edgegru tests
.venv/bin/ruff format --check edgegru tests
exec .venv/bin/python -m pytest -n 2 "$@"

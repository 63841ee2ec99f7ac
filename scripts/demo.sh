#!/usr/bin/env bash
# The main job (README): set up ./.venv, then train a tiny CLSR on scikit-image's bundled
# photographs on the CPU and compare it ROI by ROI with pre- and post-cropping.
# Idempotent: a second run resumes or, once trained, only re-tests. Extra args go to the demo
# (e.g. --out DIR, --iters N).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec "${CLSR_VENV:-.venv}/bin/python" -m clsr_plugin.demo "$@"

#!/usr/bin/env bash
# The test command (README and .ci/run): set up ./.venv, lint, then the CPU test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
VPY=${CLSR_VENV:-.venv}/bin/python
echo "[test] ruff check + ruff format --check"
"$VPY" -m ruff check .
"$VPY" -m ruff format --check .
echo "[test] pytest"
set +e
"$VPY" -m pytest -q "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "[test] pytest collected no tests"; exit 1
fi
exit "$rc"

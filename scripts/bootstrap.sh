#!/usr/bin/env bash
# Create (or refresh) ./.venv with everything clsr_plugin needs. Idempotent: a second run only
# reinstalls this package (a few seconds). Order matters: torch first, then basicsr without
# build isolation (its sdist imports torch while building), then this package.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${CLSR_VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  echo "[bootstrap] creating $VENV with $($PY --version 2>&1)"
  "$PY" -m venv "$VENV"
fi
VPY="$VENV/bin/python"
pipq() { "$VPY" -m pip install --disable-pip-version-check -q "$@" 2>&1 | grep -v "^WARNING: Location" || true; }
# The long installs show pip's own progress (Collecting / Downloading / Installing lines),
# indented under the step that runs them; set BOOTSTRAP_QUIET=1 to hide it.
pipv() {
  if [ "${BOOTSTRAP_QUIET:-0}" = 1 ]; then pipq "$@"; return; fi
  "$VPY" -m pip install --disable-pip-version-check "$@" 2>&1 \
    | grep --line-buffered -v -e "^WARNING: Location" -e "^Requirement already satisfied" \
    | sed -u 's/^/    /' || true
}
have() { "$VPY" -c "import importlib.util, sys; sys.exit(0 if all(importlib.util.find_spec(m) for m in sys.argv[1:]) else 1)" "$@"; }
if ! have torch torchvision; then
  echo "[bootstrap] installing torch, torchvision (the largest step)"
  pipv torch torchvision
fi
if ! have setuptools wheel; then pipq setuptools wheel; fi
if ! "$VPY" -m pip show -q basicsr >/dev/null 2>&1; then
  echo "[bootstrap] installing basicsr==1.4.2 (no build isolation: reuses the torch above)"
  pipv --no-build-isolation basicsr==1.4.2
fi
if ! have mmengine cv2 lmdb yaml safetensors skimage tqdm pytest ruff tensorboard matplotlib; then
  echo "[bootstrap] installing the remaining dependencies"
  pipv mmengine opencv-python numpy lmdb pyyaml tb-nightly safetensors scikit-image tqdm matplotlib pytest ruff
fi
echo "[bootstrap] installing clsr_plugin (non-editable; options shipped as package data)"
pipq --no-build-isolation --no-deps --force-reinstall .
"$VPY" -m pip check >/dev/null 2>&1 || true
"$VPY" -c "import clsr_plugin, torch, basicsr; print(f'[bootstrap] ready: clsr_plugin {clsr_plugin.__version__}, torch {torch.__version__}, basicsr {basicsr.__version__}')"

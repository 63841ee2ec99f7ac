#!/usr/bin/env bash
# Real-data experiment driver (issue 7). One stage per call; see DEVICE.md for the GPU plan.
#
#   scripts/experiment_real/run.sh STAGE [ARGS...]
#
# Stages (all write under $EXP_WORK, default /tmp/exp_work):
#   pack SHARED_DIR        (dev machine, once) pack data + weights into datasets/exp_real
#   prep                   datasets_prep on what was carried (train291 LMDB, benchmarks)
#   probe                  time CLSR training steps, choose the iteration count (iters.json)
#   train RUN...           BasicSR training of the runs (same seed, iterations, batch)
#   eval RUN...            ROI-wise tests (ROI 24 and 48, whole image as context, baselines)
#   time RUN...            latency per ROI of pre/post-cropping and CLSR
#   breakdown RUN --ref REF   per-ROI PSNR of RUN's CLSR vs REF's post/pre by ROI position
#   export RUN...          params_ema of trained runs into $EXP_WORK/export
#   collect TAG            results tar + exported weights into $EXP_OUT (default $OUT)
#   table FOLDER...        Markdown tables + JSON (docs/RESULTS.md between the markers)
#   call1 | call2 | urban urban_K [RUN...] | edsr   the GPU calls of DEVICE.md (each collects
#                          into $EXP_OUT after every run, so a call cut short keeps its results)
#
# Python: $PY (default python3, or .venv/bin/python when it exists). Wheels in ./.whl are
# installed into /tmp/site first when basicsr is missing (the GPU machine).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
cd "$REPO"
if [ -z "${PY:-}" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
if ! "$PY" -c "import basicsr" >/dev/null 2>&1 && ls .whl/*.whl >/dev/null 2>&1; then
  echo "[run.sh] installing the carried wheels into /tmp/site"
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl
  export PYTHONPATH="/tmp/site:$PYTHONPATH"
fi
DRV=("$PY" "$HERE/driver.py")
OUTDIR="${EXP_OUT:-${OUT:-}}"
MSR_RUNS_1=(srmodel_msrresnet clsr_msrresnet)
MSR_RUNS_2=(clsr_msrresnet_pim clsr_msrresnet_gcm clsr_msrresnet_random)
need_out() { [ -n "$OUTDIR" ] || { echo "error: set EXP_OUT (or OUT)"; exit 2; }; }
stamp() { echo "[run.sh] $(date +%T) $*"; }
SMALL="${EXP_SETS:-Set5,Set14}"        # benchmarks of the training calls
TIMG="${EXP_TIME_IMAGES:-5}"           # images per benchmark in the latency stage

stage="${1:-}"; shift || true
case "$stage" in
  pack)
    [ $# -ge 1 ] || { echo "usage: run.sh pack SHARED_DIR"; exit 2; }
    "$PY" "$HERE/pack_inputs.py" --shared "$1" ;;
  prep|probe|train|eval|time|export)
    "${DRV[@]}" "$stage" "$@" ;;
  collect)
    need_out; "${DRV[@]}" collect --out "$OUTDIR" --tag "$1" ;;
  table)
    "$PY" "$HERE/make_results.py" "$@" \
      --json "${EXP_RESULTS_JSON:-docs/results_experiment_real.json}" \
      --md "${EXP_WORK:-/tmp/exp_work}/tables.md" --fill "${EXP_RESULTS_MD:-docs/RESULTS.md}" ;;
  call1)  # prep; choose iterations; reference + fine-tuned backbone + full CLSR on Set5/Set14
    need_out; tag=call1; nvidia-smi -L || true
    stamp prep; "${DRV[@]}" prep
    stamp probe; "${DRV[@]}" probe ${EXP_PROBE_BUDGET_S:+--budget-s "$EXP_PROBE_BUDGET_S"}
    stamp eval pretrained; "${DRV[@]}" eval pretrained_msrresnet --sets "$SMALL"
    for run in "${MSR_RUNS_1[@]}"; do
      stamp train "$run"; "${DRV[@]}" train "$run"
      flops=(); [ "$run" = srmodel_msrresnet ] && flops=(--no-flops)  # = the pretrained's costs
      stamp eval "$run"; "${DRV[@]}" eval "$run" --sets "$SMALL" "${flops[@]}"
      "${DRV[@]}" export "$run"
      "${DRV[@]}" collect --out "$OUTDIR" --tag "$tag"
    done
    stamp time; "${DRV[@]}" time srmodel_msrresnet clsr_msrresnet --sets "$SMALL" --rois 24 --images "$TIMG"
    stamp breakdown; "${DRV[@]}" breakdown clsr_msrresnet --ref srmodel_msrresnet --sets "$SMALL"
    "${DRV[@]}" collect --out "$OUTDIR" --tag call1; stamp done ;;
  call2)  # the ablations with the iterations of call1 (EXP_ITERS must be set from its probe)
    need_out; tag=call2; [ -n "${EXP_ITERS:-}" ] || { echo "error: set EXP_ITERS to call1's value"; exit 2; }
    stamp prep; "${DRV[@]}" prep
    for run in "${MSR_RUNS_2[@]}"; do
      stamp train "$run"; "${DRV[@]}" train "$run"
      flops=(); [ "$run" = clsr_msrresnet_random ] && flops=(--no-flops)  # same net as call1's
      stamp eval "$run"; "${DRV[@]}" eval "$run" --sets "$SMALL" "${flops[@]}"
      "${DRV[@]}" export "$run"
      "${DRV[@]}" collect --out "$OUTDIR" --tag "$tag"
    done
    stamp time; "${DRV[@]}" time clsr_msrresnet_pim clsr_msrresnet_gcm --sets "$SMALL" --rois 24 --images "$TIMG"
    "${DRV[@]}" collect --out "$OUTDIR" --tag call2; stamp done ;;
  urban)  # one Urban100_dev part (datasets/exp_real/urban_K) with the trained weights carried
    need_out; part="${1:?usage: run.sh urban urban_K [RUN...]}"; shift
    export EXP_PARTS="$part"
    runs=("$@"); [ ${#runs[@]} -gt 0 ] || runs=("${MSR_RUNS_1[@]}" "${MSR_RUNS_2[@]}")
    stamp prep; "${DRV[@]}" prep
    for run in "${runs[@]}"; do
      flops=(); [ "$run" = clsr_msrresnet_random ] && flops=(--no-flops)
      stamp eval "$run"; "${DRV[@]}" eval "$run" --sets Urban100_dev "${flops[@]}"
      "${DRV[@]}" collect --out "$OUTDIR" --tag "$part"
    done
    stamp time; "${DRV[@]}" time "${runs[@]:0:2}" --sets Urban100_dev --rois 24 --images "$TIMG"
    if [ ${#runs[@]} -ge 2 ]; then  # the second run's CLSR against the first run's backbone
      stamp breakdown; "${DRV[@]}" breakdown "${runs[1]}" --ref "${runs[0]}" --sets Urban100_dev
    fi
    "${DRV[@]}" collect --out "$OUTDIR" --tag "$part"; stamp done ;;
  edsr)  # EDSR: reference, fine-tuned backbone and CLSR on Set5/Set14 (same iterations)
    need_out; tag=edsr; [ -n "${EXP_ITERS:-}" ] || { echo "error: set EXP_ITERS to call1's value"; exit 2; }
    stamp prep; "${DRV[@]}" prep
    stamp eval pretrained_edsr; "${DRV[@]}" eval pretrained_edsr --sets "$SMALL"
    for run in srmodel_edsr clsr_edsr; do
      stamp train "$run"; "${DRV[@]}" train "$run"
      stamp eval "$run"; "${DRV[@]}" eval "$run" --sets "$SMALL"
      "${DRV[@]}" export "$run"
      "${DRV[@]}" collect --out "$OUTDIR" --tag "$tag"
    done
    "${DRV[@]}" collect --out "$OUTDIR" --tag edsr; stamp done ;;
  *)
    sed -n '2,22p' "$0"; exit 2 ;;
esac

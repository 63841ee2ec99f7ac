#!/usr/bin/env bash
# The CPU performance runs of docs/RESULTS.md ("Speed and cost"), one after the other on a
# quiet machine (2 threads). Outputs: work/perf/<run>/bench.{json,md,png}; committed copies of
# the JSON live in docs/results/perf_*.json.
#
#   bash scripts/perf/run.sh [many|decode|large|default|decode_default] ...   (default: all)
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
SHARED=${SHARED:-../shared}
BB=$SHARED/pretrained/MSRResNet_x4_291set.pth
R1=docs/results/msrresnet_r1.safetensors
# R7's adapter as the driver trains it (python scripts/adapters/driver.py train r7; not committed)
R7=work/adapters/cpu/r7/experiments/adapters_msrresnet_r7_cpu/models/net_g_latest_params_adapter.safetensors
URBAN=work/adapters/data/Urban100_dev_first20   # links to img_001-020 (driver.dataset_folder)
$PY -c "import sys; sys.path.insert(0, 'scripts/adapters'); import driver; \
driver.dataset_folder('$SHARED/datasets', 'work/adapters', 'Urban100_dev', 20)"
COMMON=(--weights "$BB" --roi 24 --device cpu --threads 2)
run() { echo "+ clsr-bench $*"; $PY -m clsr_plugin.bench "$@" > /dev/null; }
for what in "${@:-many decode large default decode_default}"; do
  for w in $what; do
    case $w in
      many)    # 1-1000 random ROIs of one image, CLSR with shared base windows
        run "${COMMON[@]}" --adapter $R1 --data $URBAN --max-images 1 --timing-images 1 \
          --repeats 1 --multi-roi 1 10 100 1000 --context-windows 0 --out work/perf/many ;;
      decode)  # ROI by ROI (decode efficiency against padded pre-cropping)
        run "${COMMON[@]}" --adapter $R1 --data $URBAN --max-images 2 --timing-images 2 \
          --repeats 3 --multi-roi 100 --context-windows 0 --no-share-windows --no-flops \
          --out work/perf/decode ;;
      large)   # one ROI of a 1024x768 real photo (used as the LR) and of a random 1000x750
        run "${COMMON[@]}" --adapter $R1 --lr-photos $SHARED/datasets/benchmark/Urban100_dev/img_002.png \
          --synthetic-sizes 1000x750 --multi-roi 1 --warmup 1 --repeats 1 --no-flops \
          --out work/perf/large ;;
      default) # the cheaper default configuration (roi_pad 4, 64 GCM patches: R7's adapter)
        run "${COMMON[@]}" --adapter $R7 --data $URBAN \
          --max-images 1 --timing-images 1 --repeats 1 --multi-roi 1 10 100 1000 \
          --context-windows 0 --out work/perf/default ;;
      decode_default)  # R7 ROI by ROI
        run "${COMMON[@]}" --adapter $R7 --data $URBAN --max-images 2 --timing-images 2 \
          --repeats 3 --multi-roi 100 --context-windows 0 --no-share-windows --no-flops \
          --out work/perf/decode_default ;;
      *) echo "unknown run $w" >&2; exit 2 ;;
    esac
  done
done

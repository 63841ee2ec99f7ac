#!/usr/bin/env bash
# CPU smoke test of the whole chain (call1, call2, urban_1, urban_2, table) with tiny settings:
# 5 iterations at batch 2 on 3 training images, Set5 only, one Urban100_dev image per part.
# Needs the packed inputs (run.sh pack SHARED_DIR). Writes only under $SMOKE (default
# /tmp/exp_smoke); the numbers it prints mean nothing (5 iterations), it checks the code paths.
#
#   scripts/experiment_real/smoke.sh
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
SRC="${EXP_PACK_SRC:-$REPO/datasets/exp_real}"
SMOKE="${SMOKE:-/tmp/exp_smoke}"
[ -d "$SRC/train291" ] || { echo "error: no packed inputs at $SRC (run.sh pack SHARED_DIR)"; exit 2; }
rm -rf "$SMOKE"; mkdir -p "$SMOKE/pack/bench" "$SMOKE/pack/trained"
P="$SMOKE/pack"
ln -s "$SRC/train291" "$P/train291"; ln -s "$SRC/bench/Set5" "$P/bench/Set5"
ln -s "$SRC/weights" "$P/weights"
for k in 1 2; do  # one image of each Urban100_dev part
  mkdir -p "$P/urban_$k/Urban100_dev"
  f=$(ls "$SRC/urban_$k/Urban100_dev" | grep -v '^\.' | head -1)
  ln -s "$SRC/urban_$k/Urban100_dev/$f" "$P/urban_$k/Urban100_dev/$f"
done
export EXP_PACK="$P" EXP_ITERS=5 EXP_BATCH=2 EXP_WORKERS=0 EXP_TRAIN_LIMIT=3 EXP_SETS=Set5
export EXP_PROBE_STEPS=2 EXP_TIME_IMAGES=1 OMP_NUM_THREADS=2
RUN="$HERE/run.sh"
start=$(date +%s)
EXP_WORK="$SMOKE/work" EXP_OUT="$SMOKE/out1" "$RUN" call1
EXP_WORK="$SMOKE/work" EXP_OUT="$SMOKE/out2" "$RUN" call2
# the urban call on a fresh work folder: weights come back from the calls' outputs, as on the GPU
for o in out1 out2; do cp -f "$SMOKE/$o"/*.pth "$P/trained/"; done  # call2 may repeat call1's
mv "$P/train291" "$P/.train291_hidden"; mv "$P/bench" "$P/.bench_hidden"  # not carried there
EXP_WORK="$SMOKE/work_urban" EXP_OUT="$SMOKE/out3" "$RUN" urban urban_1
EXP_WORK="$SMOKE/work_urban" EXP_OUT="$SMOKE/out4" "$RUN" urban urban_2 srmodel_msrresnet \
  clsr_msrresnet clsr_msrresnet_gcm
mkdir -p "$SMOKE/results"
for o in out1 out2 out3 out4; do tar -xzf "$SMOKE/$o"/*_results.tar.gz -C "$SMOKE/results"; done
printf '# smoke\n<!-- tables:begin -->\n<!-- tables:end -->\n' > "$SMOKE/RESULTS.md"
EXP_WORK="$SMOKE/work" EXP_RESULTS_JSON="$SMOKE/results.json" EXP_RESULTS_MD="$SMOKE/RESULTS.md" \
  "$RUN" table "$SMOKE/results"
echo "[smoke] done in $(( $(date +%s) - start )) s; tables in $SMOKE/RESULTS.md"

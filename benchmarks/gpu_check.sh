#!/usr/bin/env bash
# One prepared GPU session (issue 13): the CUDA tests, training throughput before/after the
# step options side by side, and the paper preset's MSD run at 10 % with CUDA graphs.
# Each part has its own time cap, so a short lease still brings back the parts that ran.
#
#   bash benchmarks/gpu_check.sh OUT_DIR [SOURCE_DIR] [DATA_DIR]
#
# SOURCE_DIR: a checkout of the project (default .); DATA_DIR: the folder holding
# msd_task04_hippocampus (default $SEMICL_DATA_DIR). DEVICE=cpu and SMOKE=1 make a quick
# rehearsal of the same commands on a machine without a GPU.
set -u
OUT=$(realpath "${1:?usage: gpu_check.sh OUT_DIR [SOURCE_DIR] [DATA_DIR]}")
SRC=$(realpath "${2:-.}")
DATA=$(realpath "${3:-${SEMICL_DATA_DIR:?set SEMICL_DATA_DIR or pass DATA_DIR}}")
DEVICE=${DEVICE:-cuda}
PY=${PY:-python3}
export PYTHONPATH=$SRC/src:$SRC${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 SEMICL_DATA_DIR=$DATA
mkdir -p "$OUT"
cd "$SRC" || exit 1
if [ "${SMOKE:-0}" = 1 ]; then
  TP="--warmup 1 --steps 2 --stages finetune"; DEMO="--global-steps 2 --local-steps 2 --finetune-steps 2"
else
  TP="--warmup 6 --steps 20 --stages finetune local global"; DEMO=""
fi
{
  date -u
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null
  $PY -c "import torch, sys; print('python', sys.version.split()[0], 'torch', torch.__version__,
'cuda', torch.cuda.is_available() and torch.cuda.get_device_name())"
} > "$OUT/env.txt" 2>&1

echo "== 1. CUDA tests (gpu marker) =="
timeout "${CAP_TESTS:-150}" $PY -m pytest -q -p no:cacheprovider -rA \
  tests/core/test_step_options.py > "$OUT/gpu_tests.log" 2>&1
echo "tests exit $?"; tail -3 "$OUT/gpu_tests.log"

echo "== 2. throughput, paper width, variants side by side =="
# shellcheck disable=SC2086
timeout "${CAP_THROUGHPUT:-230}" $PY benchmarks/throughput.py --device "$DEVICE" --threads 4 \
  --preset paper $TP --variants channels_last+amp fast fastx4 graphs --profile \
  --data "$DATA" --out "$OUT/throughput_$DEVICE.md" > "$OUT/throughput.log" 2>&1
echo "throughput exit $?"; grep -E "slices/s" "$OUT/throughput.log"

echo "== 3. paper preset, MSD 10 %, CUDA graphs =="
# shellcheck disable=SC2086
timeout "${CAP_PAPER:-200}" $PY -m semicl demo --preset paper --device "$DEVICE" \
  --compile reduce-overhead --threads 4 --data "$DATA" --out /tmp/paper_demo $DEMO \
  > "$OUT/paper_demo.log" 2>&1
echo "paper run exit $?"; tail -5 "$OUT/paper_demo.log"
cp /tmp/paper_demo/summary.json "$OUT/paper_demo_summary.json" 2>/dev/null
exit 0

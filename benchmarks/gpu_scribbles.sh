#!/usr/bin/env bash
# One prepared GPU session for the real job (issues 10 and 12): the CUDA tests, the
# plugin's round timed alone on the GPU, then the scribble benchmark's cases on the GPU
# (the shipped preset, and a GPU-sized round), several processes side by side.
# Each part has its own time cap, so a short lease still brings back the parts that ran.
#
#   bash benchmarks/gpu_scribbles.sh OUT_DIR [DATA_DIR]
#
# Run from a checkout of the project. DATA_DIR holds msd_task04_hippocampus, colin27_aal
# and isbi2012_em (default $SEMICL_DATA_DIR). The device is the preset's "auto" (CUDA where
# there is one). SMOKE=1 rehearses the same commands briefly on a machine without a GPU.
set -u
OUT=$(realpath "${1:?usage: gpu_scribbles.sh OUT_DIR [DATA_DIR]}")
DATA=$(realpath "${2:-${SEMICL_DATA_DIR:?set SEMICL_DATA_DIR or pass DATA_DIR}}")
PY=${PY:-python3}
export PYTHONPATH=$PWD/src:$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 SEMICL_DATA_DIR=$DATA
mkdir -p "$OUT/rows"
if [ "${SMOKE:-0}" = 1 ]; then  # a few steps of everything
  SHORT="finetune.stroke_min_steps=4 finetune.stroke_max_steps=4 finetune.retrain_min_steps=2
         global_stage.min_steps=2 local_stage.min_steps=2"
  CASES_MSD="msd:hippocampus_015:k3"; ROUNDS=1; SPEED="msd"
else
  SHORT=""; CASES_MSD="msd:5"; ROUNDS=3; SPEED="colin27 camera"
fi
# a round a GPU can afford in the CPU round's seconds: four networks, each fitted to all
# of its strokes (the CPU's longer-fit option of docs/benchmarks.md session 15)
WIDE="members=4 finetune.stroke_fit=1.0 finetune.stroke_max_steps=1800"
{
  date -u
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null
  $PY -c "import torch, sys; print('python', sys.version.split()[0], 'torch', torch.__version__,
'cuda', torch.cuda.is_available() and torch.cuda.get_device_name())"
  nproc
} > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

echo "== 1. CUDA tests (gpu marker) =="
timeout "${CAP_TESTS:-60}" $PY -m pytest -q -p no:cacheprovider -rA -m gpu \
  tests/core/test_step_options.py tests/core/test_interactive.py tests/core/test_training.py \
  tests/core/test_weight_average.py \
  > "$OUT/gpu_tests.log" 2>&1
echo "tests exit $?"; tail -4 "$OUT/gpu_tests.log"

# a Colin27 round alone on an H200 took 99 s with start-up (session 26; 75 s cut it off)
echo "== 2. the plugin's round alone on the device: Train, then a Retrain =="
for c in $SPEED; do
  # shellcheck disable=SC2086
  timeout "${CAP_SPEED:-110}" $PY benchmarks/round_speed.py --cases "$c" --data "$DATA" \
    ${SHORT:+--set $SHORT} --out "$OUT/round_speed_$c.md" > "$OUT/round_speed_$c.log" 2>&1
  echo "round_speed $c exit $?"; tail -2 "$OUT/round_speed_$c.log"
done

echo "== 3. the scribble benchmark on the device, side by side =="
bench() {  # label, out name, cases..., -- extra args
  local label=$1 name=$2; shift 2
  # shellcheck disable=SC2086
  timeout "${CAP_BENCH:-300}" $PY benchmarks/scribbles.py --threads 1 --curve-every 100000 \
    --data "$DATA" --label "$label" --out "$OUT/rows/$name" "$@" > "$OUT/$name.log" 2>&1 &
}
D="GPU, the shipped preset (session 26)"
G="GPU, four networks fitted to every stroke (explore, session 26)"
bench "$D" d_colin0 --cases colin27:k5 --seeds 0 --rounds $ROUNDS ${SHORT:+--set $SHORT}
bench "$D" d_colin1 --cases colin27:k5 --seeds 1 --rounds $ROUNDS ${SHORT:+--set $SHORT}
bench "$D" d_msd0 --cases $CASES_MSD --seeds 0 --rounds 1 ${SHORT:+--set $SHORT}
bench "$D" d_em --cases em:k1 --seeds 0 1 --rounds 1 ${SHORT:+--set $SHORT}
bench "$G" g_colin0 --cases colin27:k5 --seeds 0 --rounds $ROUNDS --set $WIDE $SHORT
bench "$G" g_colin1 --cases colin27:k5 --seeds 1 --rounds $ROUNDS --set $WIDE $SHORT
bench "$G" g_msd0 --cases $CASES_MSD --seeds 0 --rounds 1 --set $WIDE $SHORT
bench "$G" g_em --cases em:k1 --seeds 0 1 --rounds 1 --set $WIDE $SHORT
wait
for f in "$OUT"/*.log; do
  echo "-- $(basename "$f")"; grep -E "forest|network|round|Error" "$f" | tail -12
done
cat "$OUT"/rows/*/results.jsonl > "$OUT/results.jsonl" 2>/dev/null
rm -rf "$OUT/rows"
exit 0

#!/usr/bin/env bash
# The GPU check, as one prepared script: train a teacher at GPU scale on a folder of retargeted clips for a time
# budget (the CPU recipe's choices, physics picked by `env.physics=auto`: MJX on a GPU), evaluate its checkpoints with
# C MuJoCo (no randomisation, no pushes), draw its curves, then time MJX physics and the environment at 4k-16k envs against
# C MuJoCo's `mujoco.rollout` on every core.
#
#   bash benchmarks/gpu_scale.sh MOTION_DIR OUT_DIR [TRAIN_MINUTES=5] [NUM_ENVS=4096] [EVALS=3] [BATCHES=4096,16384]
#
# Every stage has its own time limit and writes what it measured under OUT_DIR as it goes, so a run cut short still
# leaves its figures: session.log (all output, with the throughput rows), curves.png and eval_<step>.json (overall
# and per-clip figures). Extra arguments reach experiments.train as overrides (e.g. --config.env.physics=mjx).
set -u -o pipefail
motions=$1 out=$2 minutes=${3:-5} envs=${4:-4096} evals=${5:-3} batches=${6:-4096,16384}
shift $(( $# < 6 ? $# : 6 ))
runs=$(mktemp -d) evals_dir=$(mktemp -d)
mkdir -p "$out"
export PYTHONUNBUFFERED=1
exec > >(tee -a "$out/session.log") 2>&1

stage() { echo "=== $(date -u +%H:%M:%S) $*"; }
stage "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "no nvidia-smi"
nproc
python3 -c "import jax, mujoco; print('jax', jax.__version__, jax.devices(), 'mujoco', mujoco.__version__)"

stage "train: ${minutes} min, ${envs} envs, $motions"
timeout $(( minutes * 60 + 150 )) python3 -m experiments.train --config=configs/train.py:g1_cpu \
  --config.motion_dir="$motions" --config.env.num_envs="$envs" --config.run.max_minutes="$minutes" \
  --config.run.checkpoint_every_chunks=3 --config.run.keep_checkpoints=50 \
  --config.runs_dir="$runs" --config.name=teacher "$@"
echo "train exit $?"

steps=$(ls "$runs/teacher/checkpoints" 2>/dev/null | grep -E '^[0-9]+$' | sort -n)
count=$(echo "$steps" | grep -c . || true)
# The latest checkpoint first, then evenly spaced earlier ones.
picked=$(echo "$steps" | awk -v n="$evals" -v c="$count" 'c > 0 { s[NR] = $1 } END {
  if (c == 0) exit; print s[c]; for (i = 1; i < n && i < c; i++) print s[int(c - i * c / n)] }' | awk '!seen[$0]++')
for step in $picked; do
  stage "evaluate step $step (C MuJoCo, $(nproc) threads)"
  timeout 300 python3 -m experiments.evaluate --config.checkpoint="$runs/teacher" --config.step="$step" \
    --config.motion_dir="$motions" --config.threads="$(nproc)" --config.output_dir="$evals_dir/$step" \
    --config.log_to_run=True && cp "$evals_dir/$step/report.json" "$out/eval_$step.json"
done

stage "curves"
timeout 120 python3 -m experiments.plot_logs --logdir="$runs/teacher/logs" --out="$out/curves.png"

for batch in ${batches//,/ }; do
  stage "physics back ends at $batch envs"
  timeout 240 python3 -m benchmarks.physics_backends --num_envs="$batch" --steps=$(( 200000 / batch + 5 )) --repeats=2 \
    --backends=mjx
done
stage "done"

#!/usr/bin/env bash
# The scale path on one GPU in under 8 minutes: bf16 SFT and PPO steps of a ~1B-parameter model under
# DeepSpeed ZeRO-2 with and without optimizer offload, and batched vs one-at-a-time rollout generation.
#   bash bench/gpu_check.sh [--out DIR] [--seed N]     # one CUDA GPU
#   bash bench/gpu_check.sh --cpu-smoke                # tiny model on the CPU (about a minute)
# Prints a figures table; the same figures go to DIR/gpu_check.json (DIR: a new temporary folder by default).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python )}
if [[ " $* " != *" --cpu-smoke "* ]]; then
  export CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES:-0}
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" OMP_NUM_THREADS=${OMP_NUM_THREADS:-4} TOKENIZERS_PARALLELISM=false
exec timeout "${GPU_CHECK_TIMEOUT:-900}" "$PYTHON" bench/gpu_check.py "$@"

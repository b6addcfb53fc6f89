#!/usr/bin/env bash
# PPO on GP-L as published: 1 node x 8 GPUs, DeepSpeed ZeRO-2, bf16, optimizer state offloaded to the CPU.
# Each rank runs its own environments with its own seed stream; checkpoints every update, --resume auto continues a requeued job.
#   sbatch examples/slurm/ppo_1node_8gpu.sh /path/to/GP-L-Init runs/gp_l
#SBATCH --job-name=sftvsrl-ppo
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=64
#SBATCH --time=48:00:00
#SBATCH --output=%x-%j.out
set -euo pipefail
INIT=${1:?usage: sbatch ppo_1node_8gpu.sh INIT_CHECKPOINT OUTPUT_DIR}
OUT=${2:-runs/gp_l}
CONFIG=${CONFIG:-gp/rl_gp_l}

srun deepspeed --num_gpus 8 --no_local_rank --module sftvsrl_cli ppo -f "$CONFIG" --model_path="$INIT" --out "$OUT" \
  --deepspeed zero2 --offload-optimizer --resume auto --eval-every 5 "${@:3}"

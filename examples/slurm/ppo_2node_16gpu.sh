#!/usr/bin/env bash
# PPO across 2 nodes x 8 GPUs: one torchrun per node, rendezvous on the first node, DeepSpeed ZeRO-2.
# The output folder must be on a file system every node sees (checkpoints are written collectively).
#   sbatch examples/slurm/ppo_2node_16gpu.sh /path/to/GP-L-Init runs/gp_l_2n
#SBATCH --job-name=sftvsrl-ppo-2n
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=64
#SBATCH --time=48:00:00
#SBATCH --output=%x-%j.out
set -euo pipefail
INIT=${1:?usage: sbatch ppo_2node_16gpu.sh INIT_CHECKPOINT OUTPUT_DIR}
OUT=${2:-runs/gp_l_2n}
CONFIG=${CONFIG:-gp/rl_gp_l}
MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
MASTER_PORT=${MASTER_PORT:-29500}

srun torchrun --nnodes 2 --nproc_per_node 8 --rdzv_backend c10d --rdzv_endpoint "$MASTER_ADDR:$MASTER_PORT" \
  -m sftvsrl_cli ppo -f "$CONFIG" --model_path="$INIT" --out "$OUT" \
  --deepspeed zero2 --offload-optimizer --resume auto --eval-every 5 "${@:3}"

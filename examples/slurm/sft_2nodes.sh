#!/bin/bash
# SFT on 2 nodes x 8 GPUs under DeepSpeed ZeRO-3: one accelerate launcher per node, rank 0's host as master.
#   sbatch examples/slurm/sft_2nodes.sh [MODEL] [DATA] [OUT]
# Checkpoints must go to a filesystem every node sees (OUT).
#SBATCH --job-name=sftvsrl-sft-2n
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=64
#SBATCH --time=24:00:00
#SBATCH --requeue
#SBATCH --output=%x-%j.out
set -euo pipefail
MODEL=${1:-meta-llama/Llama-3.2-11B-Vision-Instruct}
DATA=${2:-data/gp-vl}
OUT=${3:-outputs/sft-gp-vl}
cd "${SLURM_SUBMIT_DIR:-.}"
MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
MASTER_PORT=${MASTER_PORT:-29500}
# Global batch stays the paper's 128: 8 per GPU x 16 GPUs.
srun --ntasks="$SLURM_NNODES" --ntasks-per-node=1 bash -c "
  accelerate launch --config_file sftvsrl_cli/configs/accelerate/zero3_2nodes_16gpu.yaml \
    --machine_rank \$SLURM_NODEID --main_process_ip $MASTER_ADDR --main_process_port $MASTER_PORT \
    -m sftvsrl_cli sft --model '$MODEL' --data '$DATA' --out '$OUT' --batch-size 8 --resume auto"

#!/bin/bash
# SFT on one node with 8 GPUs under DeepSpeed ZeRO-2 (the paper's batch: 16 per GPU, 128 in all).
#   sbatch examples/slurm/sft_1node_8gpu.sh [MODEL] [DATA] [OUT]
# Requeued or restarted jobs continue from the latest checkpoint in OUT (--resume auto).
#SBATCH --job-name=sftvsrl-sft
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=64
#SBATCH --time=24:00:00
#SBATCH --requeue
#SBATCH --output=%x-%j.out
set -euo pipefail
MODEL=${1:-meta-llama/Llama-3.2-11B-Vision-Instruct}
DATA=${2:-data/gp-l}
OUT=${3:-outputs/sft-gp-l}
cd "${SLURM_SUBMIT_DIR:-.}"
accelerate launch --config_file sftvsrl_cli/configs/accelerate/zero2_1node_8gpu.yaml \
    -m sftvsrl_cli sft --model "$MODEL" --data "$DATA" --out "$OUT" --resume auto

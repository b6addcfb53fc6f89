#!/bin/bash
# The SFT-vs-RL study as cluster jobs: the Init, then the SFT arm and the RL arm side by side (and, with
# --verify-iters, the ablation's RL arms), then the results.
#   bash examples/slurm/study_arms.sh [OUT] [STUDY OPTIONS...]
# e.g. bash examples/slurm/study_arms.sh outputs/study-gp-l --task gp-l --model PATH --rl-config gp/rl_gp_l
#
# Each job runs `sftvsrl study --out OUT --arm ARM` with the same options: only that arm's stages (the exact
# commands `sftvsrl study --plan --arm ARM` prints), each skipped when finished and continued when
# interrupted, so a requeued job picks up where it stopped. The last job runs no training: it finds every
# stage finished and writes OUT/study.json, OUT/report.md and OUT/figures/.
# Multi-GPU stages: run the printed commands yourself under accelerate / deepspeed (examples/slurm/sft_*.sh),
# then let `sftvsrl study --out OUT` collect them.
set -euo pipefail
OUT=${1:-outputs/study}
shift || true
OPTIONS=("$@")
COMMON=(--nodes=1 --ntasks-per-node=1 --gpus-per-node=1 --cpus-per-task=16 --time=24:00:00 --requeue
        --chdir="${SLURM_SUBMIT_DIR:-$PWD}")

submit() {  # submit NAME DEPENDENCY COMMAND...; prints the job id
    local name=$1 dependency=$2
    shift 2
    sbatch --parsable "${COMMON[@]}" --job-name="study-$name" --output="study-$name-%j.out" \
        ${dependency:+--dependency=afterok:$dependency} --wrap="$(printf '%q ' "$@")"
}

sftvsrl study --out "$OUT" "${OPTIONS[@]}" --plan   # fails here, before any job, on a bad option
init=$(submit init "" sftvsrl study --out "$OUT" "${OPTIONS[@]}" --arm init)
sft=$(submit sft "$init" sftvsrl study --out "$OUT" "${OPTIONS[@]}" --arm sft)
rl=$(submit rl "$init" sftvsrl study --out "$OUT" "${OPTIONS[@]}" --arm rl)
arms="$sft:$rl"
if [[ " ${OPTIONS[*]} " == *" --verify-iters "* ]]; then  # the Fig 10 ablation's RL arms: one more job
    ablation=$(submit ablation "$init" sftvsrl study --out "$OUT" "${OPTIONS[@]}" --arm ablation)
    arms="$arms:$ablation"
fi
results=$(submit results "$arms" sftvsrl study --out "$OUT" "${OPTIONS[@]}")
echo "submitted: init $init, arms $arms, results $results (results in $OUT/report.md)"

#!/bin/bash
# Nightly evaluation of a hosted model, for cron: one JSON summary per night, progress in a log file.
#
#   examples/cron/eval_api_nightly.sh BASE_URL MODEL [OUT_ROOT]
#
# crontab line (every night at 02:30; cron's PATH is short, so name the sftvsrl to use):
#   30 2 * * * SFTVSRL=/opt/sftvsrl/.venv/bin/sftvsrl OPENAI_API_KEY_FILE=$HOME/.config/sftvsrl/key /opt/sftvsrl/examples/cron/eval_api_nightly.sh https://api.example.org/v1 my-model /data/nightly
#
# Writes OUT_ROOT/<date>/ (the evaluation folder: run.json, summary.json, results_*.json, <split>/steps.jsonl),
# OUT_ROOT/<date>.json (stdout: the JSON summary) and OUT_ROOT/<date>.log (stderr: timestamped progress,
# retries and their causes). Exit status: 0 done; 1 the run failed (re-running the same command resumes it);
# 2 bad options or input. Anything else: the script itself failed. The key is read from a file (or the
# environment) and never appears on the command line, in the log or in the results.
# Environment: SFTVSRL (default: sftvsrl on PATH), OPENAI_API_KEY or OPENAI_API_KEY_FILE, EVAL_ARGS (extra
# eval-api options, e.g. "--split id,rule-ood --num-traj 234"), SFTVSRL_PROGRESS_INTERVAL (seconds, default 30).
set -uo pipefail

if [ $# -lt 2 ]; then
    echo "usage: $0 BASE_URL MODEL [OUT_ROOT]" >&2
    exit 2
fi
BASE_URL=$1
MODEL=$2
OUT_ROOT=${3:-runs/nightly}
SFTVSRL=${SFTVSRL:-sftvsrl}
STAMP=${STAMP:-$(date -u +%Y-%m-%d)}
if [ -n "${OPENAI_API_KEY_FILE:-}" ]; then
    OPENAI_API_KEY=$(cat "$OPENAI_API_KEY_FILE") || exit 2
    export OPENAI_API_KEY
fi

mkdir -p "$OUT_ROOT" || exit 2
LOG="$OUT_ROOT/$STAMP.log"
# shellcheck disable=SC2086  # EVAL_ARGS holds several options
"$SFTVSRL" eval-api --base-url "$BASE_URL" --model "$MODEL" --out "$OUT_ROOT/$STAMP" --json ${EVAL_ARGS:-} \
    >"$OUT_ROOT/$STAMP.json" 2>>"$LOG"
status=$?
case $status in
    0) echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) nightly eval done: $OUT_ROOT/$STAMP.json" >>"$LOG" ;;
    1) echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) nightly eval failed (exit 1); the same command resumes it" >>"$LOG" ;;
    *) echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) nightly eval refused (exit $status): see $LOG" >>"$LOG" ;;
esac
exit $status

#!/usr/bin/env bash
# The evidence runs for the branch method (issue 18, docs/branch.md), resumable, in order.
# Each invocation holds the model lock at most $HOLD seconds (then stops cleanly, as on Ctrl-C) and
# is repeated until the step is complete, so others can interleave.
#   usage: scripts/branch_evidence.sh [STEP...]     (default: all steps; see the case list below)
#   MODEL=1.5b R=results/qwen2.5-coder-1.5b scripts/branch_evidence.sh   for the 1.5B model
# Every run decodes one problem at a time (--batch 1: the branch method is single-stream), so MBPP
# gets its own greedy --batch 1 run to pair with (the committed MBPP greedy run used --batch 8);
# HumanEval pairs with the committed greedy run ($R/humaneval/greedy, --batch 1).
set -uo pipefail
cd "$(dirname "$0")/.."
LOCK=${USCD_LOCK:-/tmp/uscd-model.lock}
MBPP=${MBPP_DATA:-../shared/data/mbpp/mbpp.jsonl}
MODEL=${MODEL:-}
R=${R:-${USCD_RESULTS:-results}/qwen2.5-coder-0.5b}
HOLD=${HOLD:-840}
USCD=${USCD:-uscd}
MODEL_FLAG=()
[[ -n $MODEL ]] && MODEL_FLAG=(--model "$MODEL")

CHUNK_ARGS=("${MODEL_FLAG[@]}")
source scripts/_chunked.sh  # (the working directory is the repo root here)

step() {
  case "$1" in
    he-branch)    chunked eval humaneval --methods branch --out $R/humaneval --batch 1 --quiet ;;
    he-filter)    chunked eval humaneval --methods "filter=filter:n=$(n_for $R/humaneval/branch)" \
                    --out $R/humaneval --batch 1 --quiet ;;
    mbpp-greedy)  chunked eval mbpp --data "$MBPP" --methods greedy --out $R/mbpp-b1 --batch 1 --quiet ;;
    mbpp-branch)  chunked eval mbpp --data "$MBPP" --methods branch --out $R/mbpp-b1 --batch 1 --quiet ;;
    mbpp-filter)  chunked eval mbpp --data "$MBPP" --methods "filter=filter:n=$(n_for $R/mbpp-b1/branch)" \
                    --out $R/mbpp-b1 --batch 8 --quiet ;;  # sampled: batched search
    heldout)      python scripts/heldout_eval.py score humaneval $R/humaneval/{greedy,branch,filter}
                  python scripts/heldout_eval.py score mbpp $R/mbpp-b1/{greedy,branch,filter} ;;
    report)       $USCD report $R/humaneval/{greedy,branch,filter} $R/mbpp-b1 --out docs/results/branch ;;
    *) echo "unknown step $1" >&2; return 2 ;;
  esac
}

ALL=(he-branch he-filter mbpp-greedy mbpp-branch mbpp-filter heldout report)
for s in "${@:-${ALL[@]}}"; do
  start=$(date +%s)
  step "$s" || exit $?
  echo "== $s done in $(( $(date +%s) - start )) s" >&2
done

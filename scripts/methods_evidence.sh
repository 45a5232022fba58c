#!/usr/bin/env bash
# The SPA / AdaDec evidence runs behind docs/methods.md (issue 14), in the order they were made.
# Every step is resumable. Each invocation holds the model lock at most $HOLD seconds (then stops
# cleanly, as on Ctrl-C) and is repeated until the step is complete, so others can interleave.
#   usage: scripts/methods_evidence.sh [STEP...]     (default: all steps; see the case list below)
# HumanEval decodes one problem at a time (--batch 1) and MBPP 8 per context (--batch 8), as the
# greedy runs they are paired with (scripts/evidence.sh).
set -uo pipefail
cd "$(dirname "$0")/.."
LOCK=${USCD_LOCK:-/tmp/uscd-model.lock}
MBPP=${MBPP_DATA:-../shared/data/mbpp/mbpp.jsonl}
R=${USCD_RESULTS:-results}/qwen2.5-coder-0.5b
HOLD=${HOLD:-840}
USCD=${USCD:-uscd}
CAL_ADADEC=$R/calibration-adadec-mbpp-train-validation/calibration.json
CAL_SPA=$R/calibration-spa-mbpp-validation/calibration.json

source scripts/_chunked.sh  # (the working directory is the repo root here)
threshold() { python -c "import json,sys; print(json.load(open(sys.argv[1]))['knobs']['threshold'])" "$CAL_ADADEC"; }

step() {
  case "$1" in
    calibrate-adadec) chunked calibrate --rule adadec --data "$MBPP" --out "$(dirname "$CAL_ADADEC")" ;;
    p7)            mkdir -p $R/benchmarks
                   flock "$LOCK" python benchmarks/p7_methods_cost.py --threshold "$(threshold)" \
                     | tee $R/benchmarks/p7_methods_cost.txt ;;
    he-spa)        chunked eval humaneval --methods spa --out $R/humaneval --batch 1 --quiet ;;
    he-adadec)     chunked eval humaneval --methods adadec --calibration "$CAL_ADADEC" --out $R/humaneval --batch 1 --quiet ;;
    he-spa-drop)   chunked eval humaneval --methods spa-drop=spa:mask=drop --out $R/humaneval --batch 1 --quiet ;;
    calibrate-spa) chunked calibrate --rule spa --data "$MBPP" --omegas 1.25,1.5,2 --out "$(dirname "$CAL_SPA")" --batch 8 --quiet ;;
    mbpp-spa)      chunked eval mbpp --data "$MBPP" --methods spa --out $R/mbpp --batch 8 --quiet ;;
    he-spa-cal)    chunked eval humaneval --methods spa-cal=spa --calibration "$CAL_SPA" --out $R/humaneval --batch 1 --quiet ;;
    mbpp-spa-cal)  chunked eval mbpp --data "$MBPP" --methods spa-cal=spa --calibration "$CAL_SPA" --out $R/mbpp --batch 8 --quiet ;;
    mbpp-adadec)   chunked eval mbpp --data "$MBPP" --methods adadec --calibration "$CAL_ADADEC" --out $R/mbpp --batch 8 --quiet ;;
    he-intent)     chunked eval humaneval --methods intent --out $R/humaneval --batch 1 --quiet ;;
    report)        $USCD report $R/humaneval/{greedy,adadec,spa} $R/mbpp/{greedy,adadec,spa} --out docs/results/methods ;;
    *) echo "unknown step $1" >&2; return 2 ;;
  esac
}

ALL=(calibrate-adadec p7 he-adadec he-spa calibrate-spa he-spa-cal mbpp-adadec mbpp-spa mbpp-spa-cal
     he-spa-drop he-intent report)
for s in "${@:-${ALL[@]}}"; do
  start=$(date +%s)
  step "$s" || exit $?
  echo "== $s done in $(( $(date +%s) - start )) s" >&2
done

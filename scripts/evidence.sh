#!/usr/bin/env bash
# The evidence runs behind docs/results.md, in the order they were made. Every step is an ordinary,
# resumable `uscd eval` (re-running this script skips what is done). Each step holds the model lock so
# that no other decoding process shares the 2 cores with it.
#   usage: scripts/evidence.sh [STEP...]     (default: all steps; see the case list below)
#   USCD_MODEL=1.5b USCD_HE_BATCH=8 scripts/evidence.sh he-greedy he-paper he-official he-cal05 he-cfg he-cd
#                                            (the same steps on the 1.5B model, into its own folder)
# HumanEval and the calibration decode one problem at a time (--batch 1, as they were first run);
# MBPP and the sampled run decode 8 problems per context (--batch 8, ~2.3x the throughput here).
# Within a benchmark every method uses the same batch size, so paired comparisons are like for like.
set -euo pipefail
cd "$(dirname "$0")/.."
LOCK=${USCD_LOCK:-/tmp/uscd-model.lock}
MBPP=${MBPP_DATA:-../shared/data/mbpp/mbpp.jsonl}
MODEL=${USCD_MODEL:-0.5b}
HE_BATCH=${USCD_HE_BATCH:-1}
R=${USCD_RESULTS:-results}/qwen2.5-coder-$MODEL
USCD=${USCD:-uscd}
CAL=$R/calibration-mbpp-validation/calibration.json
CAL05=${USCD_RESULTS:-results}/qwen2.5-coder-0.5b/calibration-mbpp-validation/calibration.json
# the default model's runs were recorded without --model; keep their commands exactly as run
MODEL_ARGS=()
[[ $MODEL == 0.5b ]] || MODEL_ARGS=(--model "$MODEL")
run() { shift; echo "+ uscd $* ${MODEL_ARGS[*]}" >&2; flock "$LOCK" $USCD "$@" "${MODEL_ARGS[@]}"; }

step() {
  case "$1" in
    he-greedy)   run uscd eval humaneval --methods greedy --out $R/humaneval --batch $HE_BATCH --quiet ;;
    calibrate)   run uscd calibrate --data "$MBPP" --rhos 0.3,0.7 --out $R/calibration-mbpp-validation --batch 1 --quiet ;;
    he-paper)    run uscd eval humaneval --methods uscd-paper=uscd --out $R/humaneval --batch $HE_BATCH --quiet ;;
    he-cal)      run uscd eval humaneval --methods uscd-cal=uscd --calibration $CAL --out $R/humaneval --batch $HE_BATCH --quiet ;;
    # another model with the 0.5B's calibrated knobs, as they are (for models not calibrated here)
    he-cal05)    run uscd eval humaneval --methods uscd-cal0.5b=uscd --calibration $CAL05 --out $R/humaneval --batch $HE_BATCH --quiet ;;
    he-cd)       run uscd eval humaneval --methods cd --out $R/humaneval --batch $HE_BATCH --quiet ;;
    he-cfg)      run uscd eval humaneval --methods cfg --out $R/humaneval --batch $HE_BATCH --quiet ;;
    he-official) run uscd eval humaneval --methods uscd-official --out $R/humaneval --batch $HE_BATCH --quiet ;;
    he-offlame)  run uscd eval humaneval --methods uscd-paper-offlame=uscd:lame=official --out $R/humaneval --batch $HE_BATCH --quiet ;;
    he-offlame-cal) run uscd eval humaneval --methods uscd-cal-offlame=uscd:lame=official \
                   --calibration $CAL --out $R/humaneval --batch $HE_BATCH --quiet ;;
    mbpp-greedy) run uscd eval mbpp --data "$MBPP" --methods greedy --out $R/mbpp --batch 8 --quiet ;;
    mbpp-cal)    run uscd eval mbpp --data "$MBPP" --methods uscd-cal=uscd --calibration $CAL --out $R/mbpp --batch 8 --quiet ;;
    mbpp-paper)  run uscd eval mbpp --data "$MBPP" --methods uscd-paper=uscd --out $R/mbpp --batch 8 --quiet ;;
    mbpp-cd)     run uscd eval mbpp --data "$MBPP" --methods cd --out $R/mbpp --batch 8 --quiet ;;
    mbpp-cfg)    run uscd eval mbpp --data "$MBPP" --methods cfg --out $R/mbpp --batch 8 --quiet ;;
    mbpp-official) run uscd eval mbpp --data "$MBPP" --methods uscd-official --out $R/mbpp --batch 8 --quiet ;;
    he-sampled)  run uscd eval humaneval --methods sample,uscd-cal=uscd --calibration $CAL --n-samples 10 \
                   --temperature 0.8 --top-p 0.95 --no-traces --out $R/humaneval-t0.8-n10 --batch 8 --quiet ;;
    *) echo "unknown step $1" >&2; return 2 ;;
  esac
}

ALL=(he-greedy calibrate he-cal he-paper he-cd he-official he-cfg he-offlame
     mbpp-greedy mbpp-cal mbpp-paper he-offlame-cal mbpp-cd mbpp-official mbpp-cfg he-sampled)
for s in "${@:-${ALL[@]}}"; do
  start=$(date +%s)
  step "$s"
  echo "== $s done in $(( $(date +%s) - start )) s" >&2
done

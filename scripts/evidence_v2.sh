#!/usr/bin/env bash
# Evidence v2 (issue 15): the whole table, in the issue's order of priority, as named resumable steps.
# Each invocation holds the model lock at most $HOLD seconds (then stops cleanly, as on Ctrl-C) and
# is repeated until the step is complete, so others can interleave; re-running a finished step
# only re-reads its run folder.
#   usage: scripts/evidence_v2.sh STEP...          (scripts/evidence_v2.sh list: every step, in order)
#   e.g.   scripts/evidence_v2.sh $(scripts/evidence_v2.sh list | grep '^1\.' | cut -f2)
#          scripts/evidence_v2.sh overview     (no model: the whole-table report, docs/results/overview)
#          scripts/evidence_v2.sh reports      (no model: every committed report under docs/results)
#          scripts/evidence_v2.sh status       (each step: done, or not run with its command)
#          scripts/evidence_v2.sh heldout-mle  (no model: held-out tests of MultiPL-E's other methods)
# Step names say what they run: <part>.<benchmark>-<method>[-<model>]. Within a benchmark every
# method uses the batch size of the greedy run it is paired with (MultiPL-E: its greedy run's, 8 but
# cpp and java 1; MBPP and chat: 8; the 0.5B's HumanEval: 1), so paired comparisons are like for like.
# The minutes beside each step are estimates from runs of the same size on this machine (2 cores).
set -uo pipefail
cd "$(dirname "$0")/.."
LOCK=${USCD_LOCK:-/tmp/uscd-model.lock}
MBPP=${MBPP_DATA:-../shared/data/mbpp/mbpp.jsonl}
HOLD=${HOLD:-840}
USCD=${USCD:-uscd}
R05=${USCD_RESULTS:-results}/qwen2.5-coder-0.5b
R15=${USCD_RESULTS:-results}/qwen2.5-coder-1.5b
CAL05=$R05/calibration-mbpp-validation/calibration.json
ADADEC05=$R05/calibration-adadec-mbpp-train-validation/calibration.json
CAL15=$R15/calibration-mbpp-validation/calibration.json
ADADEC15=$R15/calibration-adadec-mbpp-train-validation/calibration.json
LANGS=(cpp go java js lua php pl r rb rs sh ts)  # MultiPL-E's 12 required languages (docs/multipl-e.md)

source scripts/_chunked.sh  # (the working directory is the repo root here)

# the file a finished step leaves (status: done when it exists)
done_file() {
  local s=$1
  if [[ $s =~ ^mle-([a-z]+)-(.+)$ ]]; then echo "$R05/multipl-e-${BASH_REMATCH[1]}/${BASH_REMATCH[2]}/summary.json"; return; fi
  case "$s" in
    he-chat-*-1.5b)   local m=${s#he-chat-}; echo "$R15/humaneval-chat/${m%-1.5b}/summary.json" ;;
    mbppplus-chat-*-1.5b) local m=${s#mbppplus-chat-}; echo "$R15/mbppplus-snapshot-chat/${m%-1.5b}/summary.json" ;;
    he-chat-*)        echo "$R05/humaneval-chat/${s#he-chat-}/summary.json" ;;
    mbppplus-chat-*)  echo "$R05/mbppplus-snapshot-chat/${s#mbppplus-chat-}/summary.json" ;;
    calibrate-1.5b)   echo "$CAL15" ;;
    calibrate-adadec-1.5b) echo "$ADADEC15" ;;
    he-*-1.5b)        local m=${s#he-}; echo "$R15/humaneval/${m%-1.5b}/summary.json" ;;
    mbpp-*-1.5b)      local m=${s#mbpp-}; echo "$R15/mbpp/${m%-1.5b}/summary.json" ;;
    premise-he-0.5b)  echo "$R05/humaneval/greedy/premise/summary.json" ;;
    premise-mbpp-0.5b) echo "$R05/mbpp/greedy/premise/summary.json" ;;
    premise-he-1.5b)  echo "$R15/humaneval/greedy/premise/summary.json" ;;
    premise-mbpp-1.5b) echo "$R15/mbpp/greedy/premise/summary.json" ;;
  esac
}

# every step with its state: done, or the minutes it is estimated to take and the command that runs it
status() {
  local part name minutes f
  list | while IFS=$'\t' read -r part name minutes; do
    f=$(done_file "$name")
    if [[ -n $f && -e $f ]]; then printf '%s\t%s\tdone\t%s\n' "$part" "$name" "$f"
    else printf '%s\t%s\tnot run (~%s min)\tscripts/evidence_v2.sh %s\n' "$part" "$name" "$minutes" "$name"; fi
  done
}
premise() { flock "$LOCK" $USCD analyze premise "$@" --k 5 --m 4; }
# the held-out tests of run folders (no model): scripts/heldout_eval.py, docs/branch.md
heldout() { ${HELDOUT:-python scripts/heldout_eval.py} score "$@"; }

# step name <TAB> estimated minutes <TAB> what it runs (the case below)
list() {
  for l in "${LANGS[@]}"; do
    printf '1.\tmle-%s-uscd-cal\t6\n1.\tmle-%s-adadec\t12\n1.\tmle-%s-branch\t12\n' "$l" "$l" "$l"
  done
  printf '2.\t%s\t%s\n' he-chat-branch 15 he-chat-filter 15 he-chat-uscd-cal 20 he-chat-adadec 45 he-chat-spa 25 \
    mbppplus-chat-branch 40 mbppplus-chat-filter 45 mbppplus-chat-uscd-cal 25 mbppplus-chat-adadec 60 mbppplus-chat-spa 30
  printf '3.\t%s\t%s\n' calibrate-1.5b 300 calibrate-adadec-1.5b 120 mbpp-greedy-1.5b 45 \
    he-uscd-cal-1.5b 60 mbpp-uscd-cal-1.5b 60 he-adadec-1.5b 120 mbpp-adadec-1.5b 120 \
    he-spa-1.5b 60 mbpp-spa-1.5b 60 he-branch-1.5b 15 he-filter-1.5b 15 mbpp-branch-1.5b 45 mbpp-filter-1.5b 40
  printf '4.\t%s\t%s\n' premise-he-0.5b 70 premise-mbpp-0.5b 145 premise-he-1.5b 60 premise-mbpp-1.5b 240
  printf '5.\t%s\t%s\n' he-chat-branch-1.5b 30 he-chat-filter-1.5b 30 he-chat-spa-1.5b 50 \
    he-chat-uscd-cal-1.5b 40 he-chat-adadec-1.5b 90 mbppplus-chat-branch-1.5b 80 mbppplus-chat-filter-1.5b 90 \
    mbppplus-chat-spa-1.5b 60 mbppplus-chat-uscd-cal-1.5b 50 mbppplus-chat-adadec-1.5b 120
  for l in "${LANGS[@]}"; do
    printf '5.\tmle-%s-%s\t8\n' "$l" cd "$l" cfg "$l" uscd-paper "$l" uscd-official "$l" filter
  done
}

# the batch size of the greedy run a method is paired with (cpp and java were decoded at --batch 1)
batch_of() { python -c "import json,sys; print(json.load(open(sys.argv[1]))['batch'])" "$1/config.json" 2>/dev/null || echo 8; }

step() {
  local s=$1 lang method b
  if [[ $s =~ ^mle-([a-z]+)-(.+)$ ]]; then
    lang=${BASH_REMATCH[1]} method=${BASH_REMATCH[2]}
    b=$(batch_of "$R05/multipl-e-$lang/greedy")
    case $method in
      uscd-cal) chunked eval "multipl-e-$lang" --methods uscd-cal=uscd --calibration "$CAL05" \
                  --out "$R05/multipl-e-$lang" --batch "$b" --quiet ;;
      adadec)   chunked eval "multipl-e-$lang" --methods adadec --calibration "$ADADEC05" \
                  --out "$R05/multipl-e-$lang" --batch "$b" --quiet ;;
      cd|cfg|uscd-official) chunked eval "multipl-e-$lang" --methods "$method" --out "$R05/multipl-e-$lang" --batch "$b" --quiet ;;
      uscd-paper) chunked eval "multipl-e-$lang" --methods uscd-paper=uscd --out "$R05/multipl-e-$lang" --batch "$b" --quiet ;;
      # the search's checks: the prompt's translated examples (docs/branch.md, MultiPL-E); then its
      # program A scored on its own, the pairing that batch composition cannot blur
      branch)   chunked eval "multipl-e-$lang" --methods branch --out "$R05/multipl-e-$lang" --batch "$b" --quiet &&
                $USCD analyze program-a "$R05/multipl-e-$lang/branch" &&
                heldout "multipl-e-$lang" "$R05/multipl-e-$lang"/{greedy,branch,branch/program-a} ;;
      filter)   chunked eval "multipl-e-$lang" --methods "filter=filter:n=$(n_for "$R05/multipl-e-$lang/branch")" \
                  --out "$R05/multipl-e-$lang" --batch "$b" --quiet ;;
      *) echo "unknown step $s" >&2; return 2 ;;
    esac || return
    # every run of the language on its held-out tests, where branch made them a column (no model)
    heldout_mle "$R05/multipl-e-$lang"
    return
  fi
  # chat mode: the 0.5B's steps, and the 1.5B's (suffix -1.5b: its folders and its own calibrations)
  if [[ $s =~ ^(he|mbppplus)-chat-(.+)-1\.5b$ ]]; then
    chat_step "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" "$R15" "$CAL15" "$ADADEC15" --model 1.5b
    return
  fi
  if [[ $s =~ ^(he|mbppplus)-chat-(.+)$ ]]; then
    chat_step "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" "$R05" "$CAL05" "$ADADEC05"
    return
  fi
  case "$s" in
    calibrate-1.5b)    chunked calibrate --data "$MBPP" --rhos 0.3,0.7 --out "$(dirname "$CAL15")" --batch 8 --model 1.5b --quiet ;;
    calibrate-adadec-1.5b) chunked calibrate --rule adadec --data "$MBPP" --out "$(dirname "$ADADEC15")" --model 1.5b ;;
    mbpp-greedy-1.5b)  chunked eval mbpp --data "$MBPP" --methods greedy --out $R15/mbpp --batch 8 --model 1.5b --quiet ;;
    he-uscd-cal-1.5b)  chunked eval humaneval --methods uscd-cal=uscd --calibration "$CAL15" --out $R15/humaneval --batch 8 --model 1.5b --quiet ;;
    mbpp-uscd-cal-1.5b) chunked eval mbpp --data "$MBPP" --methods uscd-cal=uscd --calibration "$CAL15" --out $R15/mbpp --batch 8 --model 1.5b --quiet ;;
    he-adadec-1.5b)    chunked eval humaneval --methods adadec --calibration "$ADADEC15" --out $R15/humaneval --batch 8 --model 1.5b --quiet ;;
    mbpp-adadec-1.5b)  chunked eval mbpp --data "$MBPP" --methods adadec --calibration "$ADADEC15" --out $R15/mbpp --batch 8 --model 1.5b --quiet ;;
    he-spa-1.5b)       chunked eval humaneval --methods spa --out $R15/humaneval --batch 8 --model 1.5b --quiet ;;
    mbpp-spa-1.5b)     chunked eval mbpp --data "$MBPP" --methods spa --out $R15/mbpp --batch 8 --model 1.5b --quiet ;;
    he-branch-1.5b)    chunked eval humaneval --methods branch --out $R15/humaneval --batch 8 --model 1.5b --quiet ;;
    mbpp-branch-1.5b)  chunked eval mbpp --data "$MBPP" --methods branch --out $R15/mbpp --batch 8 --model 1.5b --quiet &&
                         $USCD analyze program-a $R15/mbpp/branch && heldout mbpp $R15/mbpp/{greedy,branch,branch/program-a} ;;
    he-filter-1.5b)    chunked eval humaneval --methods "filter=filter:n=$(n_for $R15/humaneval/branch)" --out $R15/humaneval \
                         --batch 8 --model 1.5b --quiet ;;
    mbpp-filter-1.5b)  chunked eval mbpp --data "$MBPP" --methods "filter=filter:n=$(n_for $R15/mbpp/branch)" --out $R15/mbpp \
                         --batch 8 --model 1.5b --quiet && heldout mbpp $R15/mbpp/filter ;;
    premise-he-0.5b)   premise $R05/humaneval/greedy ;;
    # these greedy runs were decoded at --batch 8, and the oracle re-decodes 8 problems at once
    # (PREMISE-BATCH: 0.66 of the single-stream wall time): a batch rounds near ties differently, so
    # it keeps the problems whose re-decoded A still fails (docs/premise.md)
    premise-mbpp-0.5b) premise $R05/mbpp/greedy --accept-redecoded --batch 8 ;;
    premise-he-1.5b)   premise $R15/humaneval/greedy --accept-redecoded --batch 8 ;;
    premise-mbpp-1.5b) premise $R15/mbpp/greedy --accept-redecoded --batch 8 ;;
    overview)          overview ;;
    reports)           reports ;;
    heldout-mle)       heldout_mle ;;
    *) echo "unknown step $s" >&2; return 2 ;;
  esac
}

# no model: held-out tests for every other method of a MultiPL-E language (its folder; default all)
# where greedy has them (the branch step scores greedy, branch and its program A; every MultiPL-E
# step then calls this for its language), so every row of the language gets the column
heldout_mle() {
  local lang d m todo
  (( $# )) || set -- "$R05"/multipl-e-*  # default: every language
  for d in "$@"; do
    [[ -f $d/greedy/heldout_summary.json ]] || continue
    lang=${d##*/multipl-e-} todo=()
    for m in "$d"/*/; do
      m=${m%/}
      [[ -f $m/results.jsonl && ! -f $m/heldout_summary.json ]] && todo+=("$m")
    done
    (( ${#todo[@]} )) && { heldout "multipl-e-$lang" "${todo[@]}" || return; }
  done
  return 0
}

# one chat-mode step: BENCH (he, mbppplus) METHOD R CALIBRATION ADADEC_CALIBRATION [MODEL ARGS...],
# at --batch 8 as the chat greedy runs; branch also scores its program A (docs/branch.md); a
# HumanEval step then scores the replies on HumanEval+ and on the held-out tests
chat_step() {
  local bench=$1 method=$2 r=$3 cal=$4 adadec=$5 task out
  shift 5
  case $bench in
    he)       task=humaneval out=$r/humaneval-chat ;;
    mbppplus) task=mbppplus out=$r/mbppplus-snapshot-chat ;;
  esac
  local run=(eval "$task" --prompt-style chat --out "$out" --batch 8 --quiet "$@")
  case $method in
    branch)   chunked "${run[@]}" --methods branch && $USCD analyze program-a "$out/branch" ;;
    filter)   chunked "${run[@]}" --methods "filter=filter:n=$(n_for "$out/branch")" ;;
    spa)      chunked "${run[@]}" --methods spa ;;
    uscd-cal) needs "$cal" && chunked "${run[@]}" --methods uscd-cal=uscd --calibration "$cal" ;;
    adadec)   needs "$adadec" && chunked "${run[@]}" --methods adadec --calibration "$adadec" ;;
    *) echo "unknown chat method $method" >&2; return 2 ;;
  esac || return
  # HumanEval's replies on HumanEval+'s base and plus tests, and on the held-out tests (no model)
  [[ $bench == he ]] || return 0
  $USCD evaluate --task humanevalplus --samples "$out/$method/samples.jsonl" --out "$r/humanevalplus-chat/$method" &&
    heldout humaneval "$out/$method"
}

# a calibration a step needs (the 1.5B's come from steps calibrate-1.5b and calibrate-adadec-1.5b)
needs() {
  [[ -f $1 ]] && return 0
  echo "missing $1: run its calibration step first (scripts/evidence_v2.sh list)" >&2
  return 2
}

# every committed report, from the committed runs (tests/test_report_committed.py checks the same lists)
reports() {
  $USCD report $R05/humaneval/{greedy,cd,cfg,uscd-cal,uscd-official,uscd-paper,uscd-paper-offlame} \
    $R05/mbpp/{greedy,cd,cfg,uscd-cal,uscd-official,uscd-paper} \
    $R15/humaneval/{greedy,cd,cfg,uscd-cal0.5b,uscd-official,uscd-paper} \
    --calibration-grid $R05/calibration-mbpp-validation --out docs/results &&
  $USCD report $R05/{humaneval,mbpp}/{greedy,adadec,spa} --out docs/results/methods &&
  $USCD report $R05/humaneval-t0.8-n10 --baseline sample --out docs/results/sampled &&
  $USCD report $R05/humaneval/{greedy,adadec,spa,branch,filter} --out docs/results/humaneval-peers-branch &&
  $USCD report $(branch_folders) --out docs/results/branch &&
  overview
}

# the branch method's runs (docs/branch.md): each model's HumanEval and MBPP greedy/branch/filter,
# chat mode's, and MultiPL-E's where branch ran
branch_folders() {
  local f
  for f in $R05/humaneval/{greedy,branch,filter} $R05/mbpp-b1 $R15/humaneval/{greedy,branch,filter} \
           $R15/mbpp/{greedy,branch,filter} $R05/humaneval-chat/{greedy,branch,filter} \
           $R05/mbppplus-snapshot-chat/{greedy,branch,filter}; do
    [[ -d $f ]] && echo "$f"
  done
  for f in "$R05"/multipl-e-*; do  # the MultiPL-E languages where branch ran
    [[ -d $f/branch ]] && for m in greedy branch filter; do [[ -d $f/$m ]] && echo "$f/$m"; done
  done
}

# the whole table; its self-contained index.html (every PNG embedded, > 5 MB) is not kept: report.md
# links the PNGs beside it
overview() {
  $USCD report $(overview_folders) --out docs/results/overview && rm -f docs/results/overview/index.html
}

# the whole table (docs/results.md leads with it): every scored HumanEval/MBPP/plus/chat/MultiPL-E
# run folder of both models; the sampled run (baseline `sample`) and calibration grids have reports of their own
overview_folders() {
  local r d
  for r in "$R05" "$R15"; do
    for d in humaneval humanevalplus mbpp mbpp-b1 humaneval-chat humanevalplus-chat mbppplus-snapshot \
             mbppplus-snapshot-chat "$r"/multipl-e-*; do
      d=${d#"$r"/}
      [[ -d $r/$d ]] && echo "$r/$d"
    done
  done
}

# One block, read whole before it runs, that exits: bash reads a script as it goes, so a file edited
# while a long step runs would otherwise be read on from a stale offset when the step ends.
{
  if [[ ${1:-} == list || $# == 0 ]]; then
    list
    exit 0
  fi
  if [[ $1 == status ]]; then
    status
    exit 0
  fi
  for s in "$@"; do
    start=$(date +%s)
    step "$s" || exit $?
    echo "== $s done in $(( $(date +%s) - start )) s" >&2
  done
  exit 0
}

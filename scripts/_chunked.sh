# Sourced by the evidence scripts: run a resumable `uscd` command under the model lock, at most
# $HOLD seconds at a time (then it stops cleanly, as on Ctrl-C), and repeat it until it completes,
# so that other decoding jobs can interleave. Needs LOCK, HOLD, USCD; appends CHUNK_ARGS (if any).
chunked() {
  local rc
  while true; do
    echo "+ uscd $* ${CHUNK_ARGS[*]}" >&2
    flock "$LOCK" timeout -s INT "$HOLD" $USCD "$@" "${CHUNK_ARGS[@]}"
    rc=$?
    [[ $rc == 0 ]] && return 0
    [[ $rc == 124 || $rc == 130 ]] || return $rc
    sleep 2
  done
}
CHUNK_ARGS=("${CHUNK_ARGS[@]+"${CHUNK_ARGS[@]}"}")

# the filter baseline's n for a branch run folder (uscd.search.filter.matched_n)
n_for() {
  python -c "import json,sys; from uscd.search.filter import matched_n; print(matched_n(json.load(open(sys.argv[1]))))" \
    "$1/summary.json"
}

#!/usr/bin/env bash
# The `taskorch` binary against the shell tools, whole-process timing, in
# the same run:
#   1. `taskorch batch -j 8` over 500 x `true` vs `xargs -P8` (and GNU
#      `parallel -j 8` when installed): jobs per second, median of ROUNDS.
#   2. `taskorch run -- true` wall time, median of RUNS, vs the raw floor:
#      `/bin/true` spawned by the same harness.
# Uses hyperfine when installed; otherwise a loop timed with `date +%s%N`.
#
#   bash benches/cli.sh            (ROUNDS=5 RUNS=200 by default)
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-5}
RUNS=${RUNS:-200}
JOBS=500

cargo build --release --quiet --bin taskorch
BIN=$PWD/target/release/taskorch
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
for _ in $(seq "$JOBS"); do echo true; done > "$WORK/jobs.txt"

now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

# Nanoseconds for one whole-process run of "$@".
time_once() {
    local start end
    start=$(now)
    "$@" > /dev/null 2>&1 || true
    end=$(now)
    echo $((end - start))
}

# Median nanoseconds of ROUNDS runs of "$@", rounds interleaved by the caller.
declare -A SAMPLES
sample() { local key=$1; shift; SAMPLES[$key]+="$(time_once "$@") "; }
med() { tr ' ' '\n' <<< "${SAMPLES[$1]}" | grep -v '^$' | median; }

echo "== batch: $JOBS x true, 8 at a time, whole process, median of $ROUNDS rounds"
HAVE_PARALLEL=0
if command -v parallel > /dev/null 2>&1 && parallel --version 2>/dev/null | grep -q GNU; then
    HAVE_PARALLEL=1
else
    echo "GNU parallel is not installed: comparing with xargs only"
fi
for _ in $(seq "$ROUNDS"); do
    sample taskorch "$BIN" batch "$WORK/jobs.txt" -j 8
    sample xargs_direct bash -c "xargs -P8 -n1 true < '$WORK/jobs.txt'"
    if [ "$HAVE_PARALLEL" = 1 ]; then
        sample parallel bash -c "parallel -j 8 < '$WORK/jobs.txt'"
    fi
done
rate() { awk -v n="$JOBS" -v ns="$1" 'BEGIN {printf "%.0f", n / (ns / 1e9)}'; }
T=$(med taskorch); X=$(med xargs_direct)
printf '%-34s %8s jobs/s  (%.1f ms)\n' "taskorch batch -j 8" "$(rate "$T")" "$(awk -v t="$T" 'BEGIN{print t/1e6}')"
printf '%-34s %8s jobs/s  (%.1f ms)\n' "xargs -P8 -n1 true" "$(rate "$X")" "$(awk -v t="$X" 'BEGIN{print t/1e6}')"
awk -v t="$T" -v x="$X" 'BEGIN {printf "ratio taskorch / xargs: %.2fx (target >= 1.00x)\n", x / t}'
if [ "$HAVE_PARALLEL" = 1 ]; then
    P=$(med parallel)
    printf '%-34s %8s jobs/s\n' "parallel -j 8" "$(rate "$P")"
    awk -v t="$T" -v p="$P" 'BEGIN {printf "ratio taskorch / parallel: %.2fx (target >= 8x)\n", p / t}'
fi

echo
echo "== run: taskorch run -- true, whole process, median of $RUNS"
if command -v hyperfine > /dev/null 2>&1; then
    hyperfine -N --warmup 20 --runs "$RUNS" "$BIN run -- true" "/bin/true" "$BIN run --store $WORK/st -- true"
else
    echo "hyperfine is not installed: timing a loop with date +%s%N (includes ~1 ms of fork+exec of date itself on each side)"
    for _ in $(seq 20); do "$BIN" run -- true; done
    for _ in $(seq "$RUNS"); do
        sample run "$BIN" run -- true
        sample floor /bin/true
        sample stored "$BIN" run --store "$WORK/st" -- true
    done
    R=$(med run); F=$(med floor); S=$(med stored)
    awk -v r="$R" -v f="$F" -v s="$S" 'BEGIN {
        printf "%-34s %8.2f ms\n", "taskorch run -- true", r / 1e6;
        printf "%-34s %8.2f ms\n", "/bin/true (same harness)", f / 1e6;
        printf "%-34s %8.2f ms  (store: two fsynced commits)\n", "taskorch run --store DIR -- true", s / 1e6;
        printf "taskorch run minus floor: %.2f ms (target: whole process < 3 ms)\n", (r - f) / 1e6;
    }'
fi

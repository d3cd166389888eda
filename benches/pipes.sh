#!/usr/bin/env bash
# Is `taskorch` a faithful pipe? Byte-exactness, peak memory and throughput
# of `taskorch run`, `stream` and `batch` against `cat` (and GNU
# `parallel -k` when installed), all on the same input in the same run.
#
#   1. Bytes: PIPES_BYTES (default 1G) of random bytes, generated once into
#      a temporary file, through `cat FILE` / `taskorch run -- cat FILE` /
#      `taskorch stream -- cat FILE` / `taskorch batch` (one job: cat FILE)
#      / `parallel -k` (the same job); md5 of what comes out against md5 of
#      the file, and each one's peak RSS.
#   2. Lines: `seq PIPES_LINES` (default 100000) through the same five,
#      read by a slow consumer (a shell `read` loop that also pauses 50 ms
#      every 10,000 lines), so the producer meets a full pipe; md5 and
#      peak RSS.
#   3. Many jobs: PIPES_JOBS (default 1000) jobs that each print
#      PIPES_JOB_BYTES (default 1M) of the random file, through `batch`
#      and `parallel -k` (input order kept); md5 against the expected
#      concatenation, peak RSS (the case where batch used to hold every
#      output in memory).
#   4. Throughput: `stream -- cat FILE` against `cat FILE`, both into a
#      pipe read by `cat > /dev/null`, median of PIPES_ROUNDS (default 3)
#      interleaved rounds; prints MB/s and the ratio (goal >= 0.8).
#
# Peak RSS is `/usr/bin/time -f %M` (the largest of the process and the
# children it waited for, in KiB) when installed, else the polled VmHWM of
# the top process from /proc (its children not included; printed with a
# `~`). A tool that is missing prints "not installed" and its row is
# skipped. Exit status 1 when any md5 differs.
#
#   bash benches/pipes.sh                              (release build, 1 GiB)
#   PIPES_BYTES=1M PIPES_LINES=10000 PIPES_JOBS=20 \
#     TASKORCH_BIN=target/debug/taskorch bash benches/pipes.sh   (a quick check)
#
# Sizes take K, M, G suffixes (powers of 1024). Run it on a quiet machine:
# the figures are wall-clock.
set -uo pipefail
cd "$(dirname "$0")/.."

size() {
    local v=${1^^}
    case $v in
        *K) echo $(( ${v%K} << 10 )) ;;
        *M) echo $(( ${v%M} << 20 )) ;;
        *G) echo $(( ${v%G} << 30 )) ;;
        *) echo "$v" ;;
    esac
}

BYTES=$(size "${PIPES_BYTES:-1G}")
LINES=${PIPES_LINES:-100000}
JOBS=${PIPES_JOBS:-1000}
JOB_BYTES=$(size "${PIPES_JOB_BYTES:-1M}")
ROUNDS=${PIPES_ROUNDS:-3}

if [[ -n ${TASKORCH_BIN:-} ]]; then
    BIN=$(realpath "$TASKORCH_BIN")
else
    cargo build --release --quiet --bin taskorch || exit 1
    BIN=$PWD/target/release/taskorch
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
FAILED=0

have() { command -v "$1" > /dev/null 2>&1; }
HAVE_PARALLEL=0
if have parallel && parallel --version 2>/dev/null | grep -q GNU; then
    HAVE_PARALLEL=1
fi
HAVE_TIME=0
if [[ -x /usr/bin/time ]] && /usr/bin/time -f %M true > /dev/null 2>&1; then
    HAVE_TIME=1
fi
if have md5sum; then
    md5() { md5sum | cut -d' ' -f1; }
elif have md5; then
    md5() { md5 -q; }
else
    md5() { cat > /dev/null; echo "not installed"; }
fi

# Run "$@" with stdout to the pipe the caller gives; peak RSS (KiB) to $WORK/rss.
measured() {
    if ((HAVE_TIME)); then
        /usr/bin/time -f %M -o "$WORK/rss" "$@"
    else
        "$@" &
        local pid=$! peak=0 hwm
        while kill -0 "$pid" 2> /dev/null; do
            hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2> /dev/null)
            [[ -n $hwm ]] && ((hwm > peak)) && peak=$hwm
            sleep 0.05
        done
        wait "$pid"
        echo "~$peak" > "$WORK/rss"
    fi
}

# The five ways of passing FILE's bytes on; `$1` names one.
via() {
    local how=$1 file=$2
    case $how in
        cat) measured cat "$file" ;;
        run) measured "$BIN" run -- cat "$file" ;;
        stream) measured "$BIN" stream -- cat "$file" ;;
        batch) echo "cat $file" > "$WORK/one.txt"; measured "$BIN" batch "$WORK/one.txt" -j 1 ;;
        parallel) echo "cat $file" > "$WORK/one.txt"; measured parallel -k < "$WORK/one.txt" ;;
    esac
}

# One row: how, md5 verdict, peak RSS.
row() {
    local how=$1 got=$2 want=$3 verdict
    if [[ $got == "not installed" ]]; then
        verdict="md5sum not installed"
    elif [[ $got == "$want" ]]; then
        verdict=exact
    else
        verdict="MISMATCH ($got)"
        FAILED=1
    fi
    printf '%-10s %-40s %s KiB\n' "$how" "$verdict" "$(cat "$WORK/rss" 2> /dev/null || echo '?')"
}

tools() {
    local t
    for t in cat run stream batch parallel; do
        if [[ $t == parallel ]] && ((!HAVE_PARALLEL)); then
            printf '%-10s not installed\n' "parallel"
            continue
        fi
        echo "$t"
    done
}

slow_consumer() {
    local n=0 line
    while IFS= read -r line; do
        printf '%s\n' "$line"
        n=$((n + 1))
        if ((n % 10000 == 0)); then sleep 0.05; fi
    done
}

echo "== taskorch: $BIN"
((HAVE_TIME)) || echo "/usr/bin/time: not installed (peak RSS from /proc VmHWM, top process only)"

echo "== 1. $BYTES random bytes: md5, peak RSS"
head -c "$BYTES" /dev/urandom > "$WORK/random.bin"
WANT=$(md5 < "$WORK/random.bin")
while read -r how rest; do
    [[ -n $rest ]] && { printf '%-10s %s\n' "$how" "$rest"; continue; }
    rm -f "$WORK/rss"
    got=$(via "$how" "$WORK/random.bin" 2> "$WORK/stderr" | md5)
    row "$how" "$got" "$WANT"
done < <(tools)

echo "== 2. $LINES lines, slow consumer: md5, peak RSS"
seq "$LINES" > "$WORK/lines.txt"
WANT=$(md5 < "$WORK/lines.txt")
while read -r how rest; do
    [[ -n $rest ]] && { printf '%-10s %s\n' "$how" "$rest"; continue; }
    rm -f "$WORK/rss"
    got=$(via "$how" "$WORK/lines.txt" 2> "$WORK/stderr" | slow_consumer | md5)
    row "$how" "$got" "$WANT"
done < <(tools)

echo "== 3. $JOBS jobs x $JOB_BYTES bytes, input order: md5, peak RSS"
head -c "$JOB_BYTES" "$WORK/random.bin" > "$WORK/part.bin"
for _ in $(seq "$JOBS"); do echo "cat $WORK/part.bin"; done > "$WORK/jobs.txt"
WANT=$(for _ in $(seq "$JOBS"); do cat "$WORK/part.bin"; done | md5)
rm -f "$WORK/rss"
got=$(measured "$BIN" batch "$WORK/jobs.txt" 2> "$WORK/stderr" | md5)
row batch "$got" "$WANT"
if ((HAVE_PARALLEL)); then
    rm -f "$WORK/rss"
    got=$(measured parallel -k < "$WORK/jobs.txt" 2> "$WORK/stderr" | md5)
    row parallel "$got" "$WANT"
else
    printf '%-10s not installed\n' "parallel"
fi

echo "== 4. throughput: stream vs cat, $BYTES bytes, median of $ROUNDS"
now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
CAT_NS=() STREAM_NS=()
for _ in $(seq "$ROUNDS"); do
    start=$(now); cat "$WORK/random.bin" | cat > /dev/null; CAT_NS+=($(( $(now) - start )))
    start=$(now); "$BIN" stream -- cat "$WORK/random.bin" 2> /dev/null | cat > /dev/null
    STREAM_NS+=($(( $(now) - start )))
done
cat_ns=$(printf '%s\n' "${CAT_NS[@]}" | median)
stream_ns=$(printf '%s\n' "${STREAM_NS[@]}" | median)
awk -v b="$BYTES" -v c="$cat_ns" -v s="$stream_ns" 'BEGIN {
    printf "cat      %10.1f MB/s\n", b / c * 1000
    printf "stream   %10.1f MB/s\n", b / s * 1000
    printf "ratio    %10.2f (stream / cat; goal >= 0.8)\n", c / s
}'

exit "$FAILED"

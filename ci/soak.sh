#!/usr/bin/env bash
# Soak: explore, sweep and interleave each run a fixed number of sequences (or scenarios) under a
# hard managed-heap limit, sampling the heap after a full collection every so many runs
# (--heap-every; for sweep, fault-injected runs, about twenty per sequence). It fails if a command dies (out of memory is exit 134) or exits with anything
# but 0, or if its heap grows with the number of runs: the last sample may not exceed the
# smallest sample of the first half by more than SOAK_SLACK_MB (default 16 MB) plus a quarter.
# A run that retains its world grows by megabytes per hundred sequences, far beyond that.
# Environment: SOAK_HEAP_LIMIT (bytes, hex as the runtime takes it; default 0x20000000 = 512 MB),
# SOAK_EXPLORE (sequences, default 20000), SOAK_SWEEP (sequences, default 2000),
# SOAK_INTERLEAVE (scenarios, default 2000), SOAK_SEED (default 42), SOAK_SLACK_MB.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
limit=${SOAK_HEAP_LIMIT:-0x20000000}
explore=${SOAK_EXPLORE:-20000}
sweep=${SOAK_SWEEP:-2000}
interleave=${SOAK_INTERLEAVE:-2000}
seed=${SOAK_SEED:-42}
slack=${SOAK_SLACK_MB:-16}

dotnet build harness/Cli -c Release >/dev/null
cli=(dotnet harness/Cli/bin/Release/net10.0/iommufd-verify.dll)
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
failed=0

# soak NAME RUNS EVERY ARGS...: runs the command under the heap limit and checks its samples.
soak() {
    local name=$1 runs=$2 every=$3
    shift 3
    local log="$logs/$name.err" rc=0
    echo "== soak $name: $runs runs, heap limit $limit, a sample every $every"
    DOTNET_GCHeapHardLimit=$limit "${cli[@]}" "$@" --heap-every "$every" >"$logs/$name.out" 2>"$log" || rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "soak.sh: $name exited with $rc under a heap limit of $limit:" >&2
        tail -n 5 "$log" >&2
        failed=1
        return 0
    fi
    # "iommufd-verify: heap after N <runs>: M MB after a full collection, peak working set W MB"
    grep -o 'heap after [0-9]* [^:]*: [0-9.]* MB after a full collection, peak working set [0-9.]* MB' "$log" |
        awk '{ print $3, $(NF-10), $(NF-1) }' >"$logs/$name.samples"
    if ! awk -v name="$name" -v slack="$slack" '
        { runs[NR] = $1; heap[NR] = $2; peak = $3 }
        END {
            if (NR < 4) { printf "soak.sh: %s left %d heap samples, need at least 4\n", name, NR > "/dev/stderr"; exit 1 }
            base = heap[1]; for (i = 2; i <= int(NR / 2); i++) if (heap[i] < base) base = heap[i]
            last = heap[NR]; bound = base * 1.25 + slack
            printf "   %s: heap %.1f MB after %d runs, %.1f MB after %d (bound %.1f MB), peak working set %.1f MB\n",
                   name, heap[1], runs[1], last, runs[NR], bound, peak
            if (last > bound) { printf "soak.sh: %s heap grows with the runs: %.1f MB after %d runs against %.1f MB early on\n",
                                name, last, runs[NR], base > "/dev/stderr"; exit 1 }
        }' "$logs/$name.samples"; then
        failed=1
    fi
}

soak explore "$explore" $(( explore / 10 )) explore --patch all --faults --seed "$seed" --iterations "$explore" --time 0 -q \
    --repro-file "$logs/explore.repro"
soak sweep "$sweep" "$sweep" sweep --patch all --seed "$seed" --sequences "$sweep" --quiet \
    --repro-file "$logs/sweep.repro"
soak interleave "$interleave" $(( interleave / 10 )) interleave --patch all --seed "$seed" --iterations "$interleave" --time 0 -q \
    --repro-file "$logs/interleave.repro"

if [ "$failed" -ne 0 ]; then
    echo "soak.sh: FAILED" >&2
    exit 1
fi
echo "soak.sh: memory stays flat on every command"

#!/usr/bin/env bash
# The nightly job. The model as released fails within seconds on the known findings (the default
# test run asserts that they still reproduce), so the night is spent on the model with every
# named patch on (--patch all): anything found there is new, in the seed, the patches, the
# callers, the fakes or the oracle. Steps: explore with every patch (a third of the budget without
# faults, a third with seeded fault plans mixed in), interleave with every patch (the last third,
# half PCT, half preemption-bounded DFS), a fail-nth sweep with every patch, the quick benchmark,
# and port coverage.
# Environment: NIGHTLY_SECONDS (explore time budget in all, default 3600), NIGHTLY_SEED (default:
# the date as YYYYMMDD, so a night's run can be repeated), BENCH_SECONDS (default 30).
# Exit code: 1 if an explore, an interleave or the sweep found a violation (reproducers in repro/), 0 otherwise,
# unless a step itself fails to run.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
seconds=${NIGHTLY_SECONDS:-3600}
seed=${NIGHTLY_SEED:-$(date -u +%Y%m%d)}
bench_seconds=${BENCH_SECONDS:-30}
third=$(( seconds / 3 > 0 ? seconds / 3 : 1 ))
sixth=$(( seconds / 6 > 0 ? seconds / 6 : 1 ))

dotnet build harness/Cli -c Release
cli=(dotnet run --project harness/Cli -c Release --no-build --)

found=0
run() {
    local rc=0
    "$@" || rc=$?
    if [ "$rc" -ge 2 ]; then
        echo "nightly.sh: '$*' failed to run (exit $rc)" >&2
        exit "$rc"
    fi
    [ "$rc" -eq 1 ] && found=1
    return 0
}

echo "== explore, every patch: seed $seed, $third s"
run "${cli[@]}" explore --patch all --seed "$seed" --iterations 0 --time "$third" --repro-file "repro/nightly-$seed.txt"
echo "== explore, every patch, fault plans mixed in: seed $seed, $third s"
run "${cli[@]}" explore --patch all --faults --seed "$seed" --iterations 0 --time "$third" --repro-file "repro/nightly-faults-$seed.txt"
echo "== interleave, every patch, PCT d=3: seed $seed, $sixth s"
run "${cli[@]}" interleave --patch all --strategy pct --depth 3 --seed "$seed" --iterations 0 --time "$sixth" -q --repro-file "repro/nightly-pct-$seed.txt"
echo "== interleave, every patch, preemption bound 2: seed $seed, $sixth s"
run "${cli[@]}" interleave --patch all --strategy pb-dfs --bound 2 --seed "$seed" --iterations 0 --time "$sixth" -q --repro-file "repro/nightly-pbdfs-$seed.txt"
echo "== sweep, every patch: seed $seed"
run "${cli[@]}" sweep --patch all --seed "$seed" --repro-file "repro/nightly-sweep-$seed.txt"

echo "== bench: $bench_seconds s"
"${cli[@]}" bench --seconds "$bench_seconds"

echo "== coverage"
bash ci/coverage.sh

exit "$found"

#!/usr/bin/env bash
# The nightly job: a long explore run with a fresh seed, the quick benchmark, and port coverage.
# Environment: NIGHTLY_SECONDS (explore time budget, default 3600), NIGHTLY_SEED (default: the
# date as YYYYMMDD, so a night's run can be repeated), BENCH_SECONDS (default 30).
# Exit code: that of explore (0 nothing found, 1 a violation, its reproducer in repro/), unless
# the benchmark or coverage step itself fails.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
seconds=${NIGHTLY_SECONDS:-3600}
seed=${NIGHTLY_SEED:-$(date -u +%Y%m%d)}
bench_seconds=${BENCH_SECONDS:-30}

dotnet build harness/Cli -c Release
cli=(dotnet run --project harness/Cli -c Release --no-build --)

echo "== explore: seed $seed, $seconds s"
explore_rc=0
"${cli[@]}" explore --seed "$seed" --iterations 0 --time "$seconds" --repro-file "repro/nightly-$seed.txt" || explore_rc=$?
if [ "$explore_rc" -ge 2 ]; then
    echo "nightly.sh: explore failed to run (exit $explore_rc)" >&2
    exit "$explore_rc"
fi

echo "== bench: $bench_seconds s"
"${cli[@]}" bench --seconds "$bench_seconds"

echo "== coverage"
bash ci/coverage.sh

exit "$explore_rc"

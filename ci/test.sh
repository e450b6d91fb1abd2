#!/usr/bin/env bash
# The README's test command: restore, build with warnings as errors, run every test, and end with
# one line "N passed, N failed" taken from the test results (TRX files).
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
dotnet restore Verification.sln
dotnet build Verification.sln --no-restore -c Release
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
set +e
dotnet test Verification.sln --no-build -c Release --logger "console;verbosity=normal" \
  --logger "trx;LogFilePrefix=results" --results-directory "$results" "$@"
rc=$?
set -e
shopt -s nullglob
trx=("$results"/*.trx)
if [ ${#trx[@]} -eq 0 ]; then
  echo "ci/test.sh: the test run left no results (dotnet test exit code $rc)" >&2
  echo "0 passed, 1 failed"
  exit 1
fi
counts=$(grep -ho '<Counters [^>]*>' "${trx[@]}" | awk '
  { for (i = 1; i <= NF; i++) {
      if ($i ~ /^passed=/) { gsub(/[^0-9]/, "", $i); p += $i }
      if ($i ~ /^failed=/) { gsub(/[^0-9]/, "", $i); f += $i } } }
  END { printf "%d %d", p, f }')
read -r passed failed <<<"$counts"
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1 # the run failed without a failing test (a crash of the test host, say)
fi
echo "$passed passed, $failed failed"
exit "$rc"

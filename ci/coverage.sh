#!/usr/bin/env bash
# Line and branch coverage of the port (model/Port/*.cs) reached by the default test run, measured
# with coverlet's collector. Writes coverage/coverage.cobertura.xml and prints
#   port line coverage: X% (a/b lines), branch coverage: Y% (c/d branches)
# followed by one line per port file. Extra arguments go to dotnet test (e.g. --filter); with
# COVERAGE_UNCOVERED=1 it also lists the port lines and branches not reached.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
out=coverage
rm -rf "$out/raw"
mkdir -p "$out/raw"
dotnet test tests/Iommufd.Tests.csproj -c Release --collect:"XPlat Code Coverage" \
    --results-directory "$out/raw" "$@" > "$out/test.log" 2>&1 || { tail -50 "$out/test.log"; exit 1; }
report=$(find "$out/raw" -name coverage.cobertura.xml | head -n 1)
if [ -z "$report" ]; then
    echo "coverage.sh: coverlet wrote no cobertura file (see $out/test.log)" >&2
    exit 1
fi
cp "$report" "$out/coverage.cobertura.xml"
dotnet run ci/CoverageSummary.cs -- "$out/coverage.cobertura.xml" ${COVERAGE_UNCOVERED:+--uncovered}
echo "cobertura: $out/coverage.cobertura.xml"

#!/usr/bin/env bash
# The README's test command: restore, build with warnings as errors, run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
dotnet restore Verification.sln
dotnet build Verification.sln --no-restore -c Release
dotnet test Verification.sln --no-build -c Release --logger "console;verbosity=normal" "$@"

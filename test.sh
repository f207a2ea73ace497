#!/usr/bin/env bash
# The test command (README): builds the solution and runs every test project (one at a time: the
# cluster tests start real silo processes and want the cores), then prints one
# closing line "N passed, N failed" summed over all projects.
set -uo pipefail
cd "$(dirname "$0")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet build BpfTraceSim.slnx -c Release -v quiet -nologo || exit 1
log=$(mktemp)
dotnet test BpfTraceSim.slnx -c Release --no-build -nologo -m:1 --logger "console;verbosity=minimal" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
awk '/(Passed|Failed)!/ {
       for (i = 1; i <= NF; i++) {
         if ($i == "Failed:") { f += $(i+1) + 0 }
         if ($i == "Passed:") { p += $(i+1) + 0 }
         if ($i == "Skipped:") { s += $(i+1) + 0 }
       }
     }
     END { printf "%d passed, %d failed, %d skipped\n", p, f, s }' "$log"
rm -f "$log"
exit "$status"

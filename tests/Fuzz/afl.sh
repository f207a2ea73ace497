#!/usr/bin/env bash
# One target under AFL++ (apt install afl++) through SharpFuzz: instruments the assemblies under
# test in a copy of the build output, then runs afl-fuzz on the seed corpus for SECONDS.
#   tests/Fuzz/afl.sh TARGET [SECONDS]     targets: scenario exec elf format
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
target=${1:?target}; seconds=${2:-60}
command -v afl-fuzz >/dev/null || { echo "afl.sh: afl-fuzz not installed (apt install afl++)"; exit 2; }
export PATH="$PATH:$HOME/.dotnet/tools"
command -v sharpfuzz >/dev/null || dotnet tool install --global SharpFuzz.CommandLine --version 2.3.0 >/dev/null
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cp -r "$root/artifacts/bin/Fuzz/release" "$work/bin"
for dll in BpfTraceSim.Contracts Contracts Bpf Kernel bpfsim YamlDotNet ELFSharp; do
  [ -f "$work/bin/$dll.dll" ] && sharpfuzz "$work/bin/$dll.dll" >/dev/null
done
mkdir -p "$work/in"
dotnet "$work/bin/Fuzz.dll" seeds "$target" "$work/in"
AFL_SKIP_CPUFREQ=1 AFL_NO_UI=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 timeout "$seconds" \
  afl-fuzz -i "$work/in" -o "$work/out" -t 5000 -m none -- dotnet "$work/bin/Fuzz.dll" afl "$target" || true
grep -E "execs_done|saved_crashes|saved_hangs" "$work/out/default/fuzzer_stats" || true
mkdir -p "$root/tests/Fuzz/crashes"
cp "$work/out/default/crashes/"id* "$root/tests/Fuzz/crashes/" 2>/dev/null || true

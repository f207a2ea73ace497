#!/usr/bin/env bash
# The load driver for the scenario engine's speed target: runs a scenario (default: the scale
# example, scenarios/large-fleet.yaml) on one embedded silo, Release build, and prints helper
# calls per wall second two ways: over the run as `bpfsim run` times it (Start to the last
# window's report) and over the whole process (silo start-up and report writing included),
# with the peak resident memory and the CPU time it used.
#
#   bench/fleet-throughput.sh [SCENARIO.yaml] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
scenario=${1:-scenarios/large-fleet.yaml}
runs=${2:-1}
artifacts=${BPFSIM_ARTIFACTS:-artifacts}
dotnet build -c Release Client -v quiet -nologo >/dev/null
dll="$artifacts/bin/Client/release/bpfsim.dll"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
printf '%-28s %14s %10s %12s %12s %12s %10s %10s\n' scenario "helper calls" "run s" "calls/s" "process s" "calls/s" "peak RSS" "user+sys"
for ((i = 1; i <= runs; i++)); do
  /usr/bin/time -f '%e %M %U %S' -o "$out/time" dotnet "$dll" run "$scenario" --out "$out/report" 2>"$out/stderr" || {
    cat "$out/stderr" >&2
    exit 1
  }
  read -r wall rss user sys <"$out/time"
  # The last line of `bpfsim run`: "NAME: F firings, C helper calls, L lost (P %) in S s; wrote ..."
  python3 - "$scenario" "$out/stderr" "$wall" "$rss" "$user" "$sys" <<'PY'
import re, sys
name, stderr, wall, rss, user, sys_ = sys.argv[1:]
m = re.search(r"([\d,]+) helper calls, .* in ([\d.]+) s; wrote", open(stderr).read())
calls, run = int(m.group(1).replace(",", "")), float(m.group(2))
wall = float(wall)
print(f"{name.split('/')[-1]:<28} {calls:>14,} {run:>10.1f} {calls / run / 1e6:>10.2f} M {wall:>12.1f} {calls / wall / 1e6:>10.2f} M {int(rss) / 1048576:>8.1f} GB {float(user) + float(sys_):>9.1f} s")
PY
done

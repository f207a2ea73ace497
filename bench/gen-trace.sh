#!/usr/bin/env bash
# Writes a bursty per-CPU event trace for `fire: { process: trace }` replays (docs/scenarios.md,
# "Workloads from data"): CSV time,cpu,size, rows in time order. Each CPU alternates between a
# quiet phase (QUIET_RATE events/s) and a burst (BURST_RATE events/s), phase lengths exponential
# (means QUIET_MEAN / BURST_MEAN seconds); CPU 0 is a hot CPU at twice the rates; sizes 16..512
# bytes, mostly small. Seeded: the same arguments give the same bytes. The environment may set
# the phases' numbers (QUIET_RATE=0: an on/off process, the quiet phase silent), e.g. the data of
# scenarios/replay/replay-fit.yaml:
#
#   bench/gen-trace.sh OUT.csv [EVENTS=10000000] [CPUS=8] [SEED=1]
#   BURST_RATE=20000 QUIET_RATE=0 BURST_MEAN=0.002 QUIET_MEAN=0.008 bench/gen-trace.sh scenarios/replay/onoff.csv 4000 2 1
set -euo pipefail
out=${1:?usage: gen-trace.sh OUT.csv [EVENTS] [CPUS] [SEED]}
events=${2:-10000000}
cpus=${3:-8}
seed=${4:-1}
python3 - "$out" "$events" "$cpus" "$seed" <<'PY'
import heapq, os, random, sys
out, events, cpus, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
env = lambda name, default: float(os.environ.get(name, default))
QUIET_RATE, BURST_RATE = env("QUIET_RATE", 20_000.0), env("BURST_RATE", 400_000.0)   # per CPU, events/s
QUIET_MEAN, BURST_MEAN = env("QUIET_MEAN", 0.020), env("BURST_MEAN", 0.002)          # seconds
gap = lambda rng, rate: rng.expovariate(rate) if rate > 0 else float("inf")

def cpu_events(cpu):
    rng = random.Random(seed * 1_000_003 + cpu)
    hot = 2.0 if cpu == 0 else 1.0
    t, burst = 0.0, False
    end = rng.expovariate(1 / QUIET_MEAN)
    while True:
        rate = (BURST_RATE if burst else QUIET_RATE) * hot
        t += gap(rng, rate)
        while t >= end:  # phase change: memoryless, so redraw from the boundary
            t = end
            burst = not burst
            end = t + rng.expovariate(1 / (BURST_MEAN if burst else QUIET_MEAN))
            rate = (BURST_RATE if burst else QUIET_RATE) * hot
            t += gap(rng, rate)
        size = 16 + 8 * min(62, int(rng.expovariate(1 / 4.0)))
        yield (int(t * 1e9), cpu, size)

with open(out, "w", buffering=1 << 20) as f:
    f.write("time,cpu,size\n")
    merged = heapq.merge(*(cpu_events(c) for c in range(cpus)))
    lines = []
    for i, (t, c, s) in enumerate(merged):
        if i == events:
            break
        lines.append(f"{t},{c},{s}\n")
        if len(lines) == 65536:
            f.writelines(lines)
            lines.clear()
    f.writelines(lines)
PY

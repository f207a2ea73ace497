using System.Collections.Immutable;
using BpfTraceSim.Contracts.Grains;
using BpfTraceSim.Contracts.Scenarios;
using BpfTraceSim.Grains.Checkpoints;
using BpfTraceSim.Grains.Simulation;
using ContractReturn = BpfTraceSim.Contracts.Grains.HelperReturnCount;

namespace BpfTraceSim.Grains.Runs;

/// <summary>
/// The run's sums: each window over the hosts in host order (never in the order replies arrive, so
/// the report is the same whatever the silos and the scheduling), the heat maps, and at the end the
/// report from the hosts' finals.
/// </summary>
internal sealed class ScenarioSums
{
    private readonly ScenarioFleet _fleet;
    private readonly List<WindowReport> _windows = [];
    private readonly LagHistogram.Builder _windowLag = new(); // one window's lag over the hosts, reused
    private readonly long[][]? _cpuLost;  // [flat cpu][window], fleets up to the per-CPU limit
    private readonly long[][]? _hostLost; // [host][window]

    public ScenarioSums(ScenarioFleet fleet)
    {
        _fleet = fleet;
        long windows = fleet.Scenario.WindowCount;
        _cpuLost = fleet.CpuHeat ? NewJagged(fleet.Scenario.CpuCount, windows) : null;
        _hostLost = fleet.HostHeat ? NewJagged(fleet.Hosts.Length, windows) : null;
    }

    public long WindowsDone { get; private set; }
    public long HelperCalls { get; private set; }
    public long Firings { get; private set; }
    public long Lost { get; private set; }

    /// <summary>Sums one window over the hosts in host order.</summary>
    public void Add(long window, HostWindowStats[] results)
    {
        long lost = 0, written = 0, fill = 0, firings = 0, calls = 0, errors = 0, consumed = 0, wakeups = 0, inRing = 0;
        var lag = _windowLag;
        for (int h = 0; h < results.Length; h++)
        {
            var s = results[h];
            var c = s.Counters;
            lost += c.Lost;
            written += c.RecordsWritten;
            fill = Math.Max(fill, c.RingHighWaterBytes);
            firings += c.Firings;
            consumed += c.RecordsConsumed;
            wakeups += c.Wakeups;
            inRing += c.RecordsInRingAtEnd;
            foreach (var r in c.Helpers)
            {
                calls += r.Count;
                if (r.Return < 0) errors += r.Count;
            }
            AddLag(lag, s.Lag);
            if (_hostLost is not null) _hostLost[h][window] = c.Lost;
            if (_cpuLost is not null && !s.CpuLost.IsDefaultOrEmpty)
                for (int cpu = 0; cpu < s.CpuLost.Length; cpu++) _cpuLost[_fleet.CpuBase[h] + cpu][window] = s.CpuLost[cpu];
        }
        _windows.Add(new WindowReport
        {
            StartNs = window * _fleet.Scenario.WindowNs,
            Lost = lost,
            RecordsWritten = written,
            RingFillMaxBytes = fill,
            Firings = firings,
            HelperCalls = calls,
            HelperErrors = errors,
            RecordsConsumed = consumed,
            Wakeups = wakeups,
            RecordsInRing = inRing,
            ConsumerLagP99Ns = lag.BuildAndReuse().Percentile(99),
        });
        HelperCalls += calls;
        Firings += firings;
        Lost += lost;
        WindowsDone = window + 1;
    }

    private static void AddLag(LagHistogram.Builder sum, ScenarioHistogram h)
    {
        if (!h.Counts.IsDefaultOrEmpty) sum.Add(h.FirstBucket, h.Counts.AsSpan(), h.Min, h.Max);
    }

    /// <summary>One CPU's lost count per window with the heat map kept, else the entry as it came.</summary>
    public CpuReport WithLostPerWindow(int host, CpuReport c) =>
        _cpuLost is null ? c : c with { LostPerWindow = ImmutableArray.Create(_cpuLost[_fleet.CpuBase[host] + c.Cpu]) };

    /// <summary>The hosts' lost views added up; the first loss is the earliest (the first host in fleet order at a tie).</summary>
    private static LostView SumLost(HostFinal[] finals)
    {
        var sum = new LostView();
        foreach (var f in finals)
        {
            var l = f.Lost;
            sum = sum with { LostCallbacks = sum.LostCallbacks + l.LostCallbacks, LostUnwritten = sum.LostUnwritten + l.LostUnwritten };
            if (l.FirstLossNs >= 0 && (sum.FirstLossNs < 0 || l.FirstLossNs < sum.FirstLossNs))
                sum = sum with { FirstLossNs = l.FirstLossNs, FirstLossHost = l.FirstLossHost, FirstLossCpu = l.FirstLossCpu, FirstLossReader = l.FirstLossReader };
        }
        return sum;
    }

    /// <summary>The report from every host's final totals and the windows summed.</summary>
    public ScenarioReport Report(HostFinal[] finals)
    {
        var scenario = _fleet.Scenario;
        var hosts = _fleet.Hosts;
        var helpers = new Dictionary<(string, long), long>();
        long firings = 0, written = 0, bytes = 0, consumed = 0, inRing = 0, lost = 0, high = 0, wakeups = 0;
        long lostReported = 0, overwritten = 0, invisible = 0;
        long cWritten = 0, cConsumed = 0, cInRing = 0, cOverwritten = 0, cInvisible = 0, rings = 0;
        bool ok = true;
        var failures = ImmutableArray.CreateBuilder<string>();
        var lag = new LagHistogram.Builder();
        var perHost = ImmutableArray.CreateBuilder<HostReport>(hosts.Length);
        for (int h = 0; h < finals.Length; h++)
        {
            var f = finals[h];
            var t = f.Totals;
            firings += t.Firings;
            foreach (var r in t.Helpers)
                helpers[(r.Helper, r.Return)] = helpers.GetValueOrDefault((r.Helper, r.Return)) + r.Count;
            written += t.RecordsWritten;
            bytes += t.BytesWritten;
            consumed += t.RecordsConsumed;
            inRing += t.RecordsInRingAtEnd;
            lost += t.Lost;
            high = Math.Max(high, t.RingHighWaterBytes);
            wakeups += t.Wakeups;
            lostReported += t.LostReported;
            overwritten += t.RecordsOverwritten;
            invisible += t.RecordsInvisible;
            AddLag(lag, f.Lag);
            var k = f.Conservation;
            ok &= k.Ok;
            failures.AddRange(k.Failures);
            cWritten += k.RecordsWritten;
            cConsumed += k.RecordsConsumed;
            cInRing += k.RecordsInRingAtEnd;
            cOverwritten += k.RecordsOverwritten;
            cInvisible += k.RecordsInvisible;
            rings += k.Rings;
            perHost.Add(new HostReport
            {
                Host = hosts[h].Name,
                Cpus = hosts[h].Cpus,
                Counters = t,
                LostPerWindow = _hostLost is null ? [] : ImmutableArray.Create(_hostLost[h]),
            });
        }
        var sorted = helpers.Select(kv => new ContractReturn(kv.Key.Item1, kv.Key.Item2, kv.Value))
            .OrderBy(r => r.Helper, StringComparer.Ordinal).ThenByDescending(r => r.Return);
        return new ScenarioReport
        {
            Warnings = [.. scenario.Warnings.Select(w => w.ToString())],
            // The agent's view beside the kernel's: with a reader model, or when perf rings lost records.
            LostViews = scenario.Consumers.Any(c => c.Model is not null) || (lost > 0 && scenario.Consumers.Any(c => c.Ringbuf is null))
                ? SumLost(finals) : null,
            Fitted = BpfTraceSim.Contracts.Scenarios.FittedProgram.Of(scenario),
            RingMemory = scenario.Fleet.Any(g => g.HasMemoryFields) ? BpfTraceSim.Contracts.Scenarios.RingMemory.Plan(scenario) : null,
            Scenario = scenario.Name,
            Seed = scenario.Seed,
            DurationNs = scenario.DurationNs,
            Hosts = hosts.Length,
            Cpus = scenario.CpuCount,
            Totals = new ScenarioCounters
            {
                Firings = firings,
                Helpers = [.. sorted],
                RecordsWritten = written,
                BytesWritten = bytes,
                RecordsConsumed = consumed,
                RecordsInRingAtEnd = inRing,
                Lost = lost,
                RingHighWaterBytes = high,
                ConsumerLagP99Ns = lag.Build().Percentile(99),
                Wakeups = wakeups,
                LostReported = lostReported,
                RecordsOverwritten = overwritten,
                RecordsInvisible = invisible,
            },
            PerCpuListed = _fleet.Options.ListsPerCpu(scenario.CpuCount),
            Windows = [.. _windows],
            Conservation = new ConservationReport
            {
                Ok = ok,
                RecordsWritten = cWritten,
                RecordsConsumed = cConsumed,
                RecordsInRingAtEnd = cInRing,
                RecordsOverwritten = cOverwritten,
                RecordsInvisible = cInvisible,
                Rings = rings,
                Failures = failures.ToImmutable(),
            },
            PerHost = perHost.MoveToImmutable(),
            Digest = ScenarioDigest.Compute(scenario),
            WindowNs = scenario.WindowNs,
        };
    }

    /// <summary>The sums into a checkpoint (heat maps row-major, WindowsDone columns per row).</summary>
    public ScenarioCheckpoint Into(ScenarioCheckpoint c) => c with
    {
        WindowsDone = WindowsDone,
        HelperCalls = HelperCalls,
        Firings = Firings,
        Lost = Lost,
        Windows = [.. _windows],
        CpuLost = Flatten(_cpuLost, WindowsDone),
        HostLost = Flatten(_hostLost, WindowsDone),
    };

    /// <summary>The sums a checkpoint holds.</summary>
    public void Restore(ScenarioCheckpoint c)
    {
        WindowsDone = c.WindowsDone;
        HelperCalls = c.HelperCalls;
        Firings = c.Firings;
        Lost = c.Lost;
        _windows.Clear();
        _windows.AddRange(c.Windows);
        Unflatten(c.CpuLost, _cpuLost, c.WindowsDone);
        Unflatten(c.HostLost, _hostLost, c.WindowsDone);
    }

    private static long[]? Flatten(long[][]? rows, long columns)
    {
        if (rows is null) return null;
        var flat = new long[rows.LongLength * columns];
        for (long i = 0; i < rows.LongLength; i++) Array.Copy(rows[i], 0, flat, i * columns, columns);
        return flat;
    }

    private static void Unflatten(long[]? flat, long[][]? rows, long columns)
    {
        if (flat is null || rows is null) return;
        for (long i = 0; i < rows.LongLength; i++) Array.Copy(flat, i * columns, rows[i], 0, columns);
    }

    private static long[][] NewJagged(long rows, long cols)
    {
        var a = new long[rows][];
        for (long i = 0; i < rows; i++) a[i] = new long[cols];
        return a;
    }
}

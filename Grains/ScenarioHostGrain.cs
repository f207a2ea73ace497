using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using BpfTraceSim.Contracts.Grains;
using BpfTraceSim.Contracts.Scenarios;
using BpfTraceSim.Grains.Placement;
using BpfTraceSim.Grains.Simulation;
using ContractReturn = BpfTraceSim.Contracts.Grains.HelperReturnCount;

namespace BpfTraceSim.Grains;

/// <summary>
/// One simulated host of one scenario run: owns its <see cref="HostSimulation"/>, runs it a window
/// at a time for the scenario grain, and keeps each CPU's totals so that only host sums travel per
/// window. Placed by host, so the engine and any other grain of the host share a silo.
/// </summary>
[SimHostPlacement]
public sealed class ScenarioHostGrain : Grain, IScenarioHostGrain
{
    private HostSimulation? _sim;
    private HostRunOptions _options = new();
    private string _host = "";
    private SimCounters[] _cpuTotals = [];
    private SimCounters _totals = SimCounters.Zero;
    private HostWindowStats? _last;
    private HostFinal? _final;
    private string? _failure;

    public Task Init(Scenario scenario, int group, int hostIndex, HostRunOptions options)
    {
        _options = options;
        _host = scenario.Fleet[group].HostName(hostIndex);
        try
        {
            _sim = new HostSimulation(scenario, group, hostIndex, options.CaptureRecords, options.CaptureTrace);
        }
        catch (SimulationSetupException e)
        {
            throw new ScenarioRunException($"{_host}: {e.Message}");
        }
        _cpuTotals = new SimCounters[_sim.CpuCount];
        Array.Fill(_cpuTotals, SimCounters.Zero);
        _totals = SimCounters.Zero;
        _last = null;
        _final = null;
        _failure = null;
        return Task.CompletedTask;
    }

    public Task<HostWindowStats> RunWindow(long window)
    {
        var sim = _sim ?? throw new ScenarioRunException($"{this.GetPrimaryKeyString()}: the host was not initialised (or was already finished)");
        if (_failure is not null) throw new ScenarioRunException(_failure);
        // A retried call (the reply was lost) gets the same answer instead of a second run.
        if (_last is not null && _last.Window == window) return Task.FromResult(_last);
        if (window != sim.NextWindow)
            throw new ScenarioRunException($"{_host}: window {window} asked, but the next window is {sim.NextWindow}");
        WindowStats stats;
        try
        {
            stats = sim.RunWindow(window);
        }
        catch (ConservationException e)
        {
            _failure = e.Message;
            throw new ScenarioRunException(e.Message);
        }
        for (int i = 0; i < stats.Cpus.Count; i++)
        {
            var c = stats.Cpus[i];
            _cpuTotals[c.Cpu] = _cpuTotals[c.Cpu].FollowedBy(c.Counters);
        }
        _totals = _totals.FollowedBy(stats.Totals);
        ImmutableArray<long> cpuLost = [];
        if (_options.CpuLostPerWindow)
        {
            var lost = new long[_cpuTotals.Length];
            foreach (var c in stats.Cpus) lost[c.Cpu] = c.Counters.Lost;
            cpuLost = ImmutableArray.Create(lost);
        }
        _last = new HostWindowStats
        {
            Window = window,
            Counters = ScenarioConvert.Counters(stats.Totals) with { ConsumerLagP99Ns = 0 },
            Lag = ScenarioConvert.Histogram(stats.Totals.ConsumerLag),
            CpuLost = cpuLost,
            TraceLines = _options.CaptureTrace ? TraceLines(stats.TraceLines) : [],
            Records = _options.CaptureRecords ? [.. stats.Records.Select(ScenarioConvert.RecordJson)] : [],
        };
        return Task.FromResult(_last);
    }

    private ImmutableArray<string> TraceLines(IReadOnlyList<string> lines)
    {
        var b = ImmutableArray.CreateBuilder<string>(lines.Count);
        foreach (string line in lines)
        {
            string l = line.EndsWith('\n') ? line : line + "\n";
            b.Add(_options.PrefixTraceWithHost ? _host + ": " + l : l);
        }
        return b.MoveToImmutable();
    }

    public Task<HostFinal> Finish()
    {
        if (_final is not null) return Task.FromResult(_final);
        var sim = _sim ?? throw new ScenarioRunException($"{this.GetPrimaryKeyString()}: the host was not initialised");
        if (!sim.Finished)
            throw new ScenarioRunException($"{_host}: finished after {sim.NextWindow} of {sim.Scenario.WindowCount} windows");
        ConservationReport conservation;
        try
        {
            conservation = ScenarioConvert.Conservation(sim.CheckConservation());
        }
        catch (ConservationException e)
        {
            conservation = new ConservationReport
            {
                Ok = false,
                RecordsWritten = _totals.RecordsWritten,
                RecordsConsumed = _totals.RecordsConsumed,
                RecordsInRingAtEnd = _totals.RecordsInRing,
                Failures = [e.Message],
            };
        }
        _final = new HostFinal
        {
            Totals = ScenarioConvert.Counters(_totals),
            Lag = ScenarioConvert.Histogram(_totals.ConsumerLag),
            Conservation = conservation,
        };
        _sim = null; // the engine's rings and streams are not needed any more; the totals are
        return Task.FromResult(_final);
    }

    public Task<ImmutableArray<CpuReport>> GetPerCpu()
    {
        if (_final is null) throw new ScenarioRunException($"{this.GetPrimaryKeyString()}: per-CPU totals asked before the host finished");
        var b = ImmutableArray.CreateBuilder<CpuReport>(_cpuTotals.Length);
        for (int c = 0; c < _cpuTotals.Length; c++)
            b.Add(new CpuReport { Host = _host, Cpu = c, Counters = ScenarioConvert.Counters(_cpuTotals[c]) });
        return Task.FromResult(b.MoveToImmutable());
    }

    public Task Shutdown()
    {
        _sim = null;
        _cpuTotals = [];
        _last = null;
        _final = null;
        DeactivateOnIdle();
        return Task.CompletedTask;
    }
}

/// <summary>The engine's statistics as the grains' wire types.</summary>
internal static class ScenarioConvert
{
    public static ScenarioCounters Counters(SimCounters c)
    {
        var helpers = ImmutableArray.CreateBuilder<ContractReturn>(c.Helpers.Entries.Count);
        foreach (var h in c.Helpers.Entries) helpers.Add(new ContractReturn(h.Helper, h.Ret, h.Count));
        return new ScenarioCounters
        {
            Firings = c.Firings,
            Helpers = helpers.MoveToImmutable(),
            RecordsWritten = c.RecordsWritten,
            BytesWritten = c.BytesWritten,
            RecordsConsumed = c.RecordsConsumed,
            RecordsInRingAtEnd = c.RecordsInRing,
            Lost = c.Lost,
            RingHighWaterBytes = c.RingFillMaxBytes,
            ConsumerLagP99Ns = c.ConsumerLagP99Ns,
            Wakeups = c.Wakeups,
            LostReported = c.LostReported,
            RecordsOverwritten = c.RecordsOverwritten,
            RecordsInvisible = c.RecordsInvisible,
        };
    }

    public static ScenarioHistogram Histogram(LagHistogram h) => h.Count == 0
        ? ScenarioHistogram.Empty
        : new ScenarioHistogram { FirstBucket = h.FirstBucket, Counts = ImmutableArray.Create(h.Counts.ToArray()), Min = h.Min, Max = h.Max };

    public static LagHistogram Histogram(ScenarioHistogram h) => h.Counts.IsDefaultOrEmpty
        ? LagHistogram.Empty
        : LagHistogram.FromParts(h.FirstBucket, h.Counts.ToArray(), h.Min, h.Max);

    public static ConservationReport Conservation(ConservationResult r)
    {
        long overwritten = 0, invisible = 0;
        var failures = ImmutableArray.CreateBuilder<string>();
        foreach (var ring in r.Rings)
        {
            overwritten += ring.Overwritten;
            invisible += ring.Invisible;
            if (!ring.Ok) failures.Add(new ConservationException(r.Host, ring).Message);
        }
        return new ConservationReport
        {
            Ok = r.Ok,
            RecordsWritten = r.Written,
            RecordsConsumed = r.Consumed,
            RecordsInRingAtEnd = r.InRing,
            RecordsOverwritten = overwritten,
            RecordsInvisible = invisible,
            Rings = r.Rings.Count,
            Failures = failures.ToImmutable(),
        };
    }

    /// <summary>One record as a JSON Lines object (fixed field order, like report.json).</summary>
    public static string RecordJson(CapturedRecord r)
    {
        var sb = new StringBuilder(96 + r.Hex.Length);
        sb.Append("{\"host\":\"").Append(r.Host).Append("\",\"cpu\":").Append(r.Cpu.ToString(CultureInfo.InvariantCulture))
          .Append(",\"event\":\"").Append(r.Event).Append("\",\"type\":\"").Append(r.IsLost ? "lost" : "sample")
          .Append("\",\"write_ns\":").Append(r.WriteNs.ToString(CultureInfo.InvariantCulture))
          .Append(",\"consume_ns\":").Append(r.ConsumeNs.ToString(CultureInfo.InvariantCulture))
          .Append(",\"size\":").Append(r.Size.ToString(CultureInfo.InvariantCulture))
          .Append(",\"lost\":").Append(r.Lost.ToString(CultureInfo.InvariantCulture))
          .Append(",\"data\":\"").Append(r.Hex).Append("\"}");
        return sb.ToString();
    }
}

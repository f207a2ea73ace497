using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using BpfTraceSim.Contracts.Grains;
using BpfTraceSim.Contracts.Scenarios;
using BpfTraceSim.Grains.Checkpoints;
using BpfTraceSim.Grains.Placement;
using BpfTraceSim.Grains.Simulation;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using ContractReturn = BpfTraceSim.Contracts.Grains.HelperReturnCount;

namespace BpfTraceSim.Grains;

/// <summary>
/// One simulated host of one scenario run: owns its <see cref="HostSimulation"/>, runs it a window
/// at a time for the scenario grain, and keeps each CPU's totals so that only host sums travel per
/// window. Placed by host, so the engine and any other grain of the host share a silo.
/// At the window boundaries the checkpoint policy names, it stores the engine's checkpoint and its
/// totals in its persistent state (<see cref="CheckpointStorage"/>, behind an ETag guard); a new activation (its silo was lost) is brought back by
/// <see cref="Resume"/>: the newest stored boundary at or before the window asked, then the windows
/// in between run again. The engine is deterministic, so the host answers as if nothing happened.
/// </summary>
[SimHostPlacement]
public sealed class ScenarioHostGrain(
    [PersistentState(CheckpointStorage.StateName, CheckpointStorage.Name)] IPersistentState<HostCheckpoint> checkpoint)
    : Grain, IScenarioHostGrain, IScenarioHostRecovery
{
    private HostSimulation? _sim;
    private Scenario? _scenario;
    private int _group, _hostIndex;
    private HostRunOptions _options = new();
    private string _host = "";
    private SimCounters[]? _perCpu; // each CPU's totals, taken from the engine when the host finished
    private HostWindowStats? _last;
    private HostFinal? _final;
    private string? _failure;

    private int _every;
    private long _storedWindow = -1;   // boundary of the checkpoint written last (or being written)
    private Task _writing = Task.CompletedTask;
    private bool _superseded;          // another activation wrote the checkpoint: this one writes no more

    public Task Init(Scenario scenario, int group, int hostIndex, HostRunOptions options)
    {
        Build(scenario, group, hostIndex, options);
        _every = CheckpointPolicy.Every(CheckpointPolicy.Configured(ServiceProvider), scenario.HostCount);
        return Task.CompletedTask;
    }

    private void Build(Scenario scenario, int group, int hostIndex, HostRunOptions options, HostCheckpoint? from = null)
    {
        _scenario = scenario;
        _group = group;
        _hostIndex = hostIndex;
        _options = options;
        _host = scenario.Fleet[group].HostName(hostIndex);
        try
        {
            // Per-CPU detail only where it is reported: the engine then keeps no per-CPU objects per window.
            _sim = from is null
                ? new HostSimulation(scenario, group, hostIndex, options.CaptureRecords, options.CaptureTrace,
                    perCpuWindows: options.CpuLostPerWindow, perCpuTotals: options.PerCpuTotals)
                : HostSimulation.Restore(scenario, group, hostIndex, from.Engine, options.CaptureRecords, options.CaptureTrace,
                    perCpuWindows: options.CpuLostPerWindow, perCpuTotals: options.PerCpuTotals);
        }
        catch (SimulationSetupException e)
        {
            throw new ScenarioRunException($"{_host}: {e.Message}");
        }
        catch (CheckpointMismatchException e)
        {
            throw new ScenarioRunException($"{_host}: cannot resume: {e.Message}");
        }
        _perCpu = null;
        _last = null;
        _final = null;
        _failure = null;
    }

    public async Task Resume(Scenario scenario, int group, int hostIndex, HostRunOptions options, long window, int every)
    {
        _every = every;
        if (window < 0 || window > scenario.WindowCount)
            throw new ScenarioRunException($"{this.GetPrimaryKeyString()}: resume at window {window} of {scenario.WindowCount}");
        if (_failure is not null) throw new ScenarioRunException(_failure);
        if (IsReadyFor(window)) return;
        if (_final is not null && window == scenario.WindowCount) return;

        // Behind or far ahead (the scenario grain went back to its own checkpoint): from storage.
        await _writing;
        var stored = checkpoint.RecordExists ? checkpoint.State : null;
        bool canRunOn = _sim is not null && _sim.NextWindow <= window && _group == group && _hostIndex == hostIndex &&
                        ScenarioDigest.Compute(_scenario!) == ScenarioDigest.Compute(scenario);
        if (stored is not null && stored.Window <= window && (!canRunOn || stored.Window > _sim!.NextWindow))
        {
            Build(scenario, group, hostIndex, options, stored);
            _storedWindow = stored.Window;
            if (_sim!.NextWindow != stored.Window)
                throw new ScenarioRunException($"{_host}: cannot resume: the checkpoint stored for window {stored.Window} is at window {_sim.NextWindow}");
        }
        else if (!canRunOn)
        {
            Build(scenario, group, hostIndex, options);
            _storedWindow = stored?.Window ?? -1;
        }
        // The windows in between: their statistics were summed before; run them for the state only.
        while (_sim!.NextWindow < window)
        {
            if (CheckpointPolicy.IsBoundary(_sim.NextWindow, _every, scenario.WindowCount) && _storedWindow < _sim.NextWindow)
                StartWrite();
            Advance(_sim.NextWindow);
        }
        _last = null;
    }

    private bool IsReadyFor(long window) =>
        _sim is not null && (_sim.NextWindow == window || (_last is not null && _last.Window == window && _sim.NextWindow == window + 1));

    public Task<HostWindowStats> RunWindow(long window)
    {
        if (_failure is not null) throw new ScenarioRunException(_failure);
        var sim = _sim ?? throw (_final is not null
            ? new ScenarioRunException($"{_host}: window {window} asked after the host finished")
            : (Exception)new HostLostException($"{this.GetPrimaryKeyString()}: the host is not running here (new activation)"));
        // A retried call (the reply was lost) gets the same answer instead of a second run.
        if (_last is not null && _last.Window == window) return Task.FromResult(_last);
        if (window != sim.NextWindow)
            throw new ScenarioRunException($"{_host}: window {window} asked, but the next window is {sim.NextWindow}");
        if (CheckpointPolicy.IsBoundary(window, _every, sim.Scenario.WindowCount) && _storedWindow < window)
            StartWrite();
        var stats = Advance(window);
        ImmutableArray<long> cpuLost = [];
        if (_options.CpuLostPerWindow)
        {
            var lost = new long[sim.CpuCount];
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

    /// <summary>Runs one window on the engine (which keeps the host's and CPUs' totals).</summary>
    private WindowStats Advance(long window)
    {
        var sim = _sim!;
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
        return stats;
    }

    /// <summary>
    /// Takes the checkpoint now (the state before window NextWindow) and writes it behind the run:
    /// writes go one at a time, in order. A write still in flight when the silo dies only means a
    /// longer replay from the checkpoint before. A write the storage refuses for its ETag means
    /// another activation of this host wrote since: this one stops writing and deactivates (the
    /// next call finds a new activation, which resumes from what is stored), never overwriting it.
    /// </summary>
    private void StartWrite()
    {
        if (_superseded) return;
        var sim = _sim!;
        var cp = new HostCheckpoint { Window = sim.NextWindow, Engine = sim.Checkpoint() };
        _storedWindow = cp.Window;
        var previous = _writing;
        _writing = Write();
        async Task Write()
        {
            await previous;
            if (_superseded) return;
            checkpoint.State = cp;
            try
            {
                if (await checkpoint.TryWriteAsync()) return;
                _superseded = true;
                ServiceProvider.GetService<ILogger<ScenarioHostGrain>>()?.LogWarning("{Host}: another activation stored a checkpoint; this one stops", _host);
                DeactivateOnIdle();
            }
            catch (Exception e)
            {
                // Not fatal: a checkpoint only shortens a replay; the next boundary tries again.
                _storedWindow = Math.Min(_storedWindow, cp.Window - 1);
                ServiceProvider.GetService<ILogger<ScenarioHostGrain>>()?.LogWarning(e, "{Host}: checkpoint of window {Window} not stored", _host, cp.Window);
            }
        }
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

    public async Task<HostFinal> Finish()
    {
        if (_final is not null) return _final;
        var sim = _sim ?? throw new HostLostException($"{this.GetPrimaryKeyString()}: the host is not running here (new activation)");
        if (!sim.Finished)
            throw new ScenarioRunException($"{_host}: finished after {sim.NextWindow} of {sim.Scenario.WindowCount} windows");
        // The last boundary is always stored: a host lost after this can still give its per-CPU totals.
        if (_every > 0 && _storedWindow < sim.NextWindow) StartWrite();
        await _writing;
        var totals = sim.Totals();
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
                RecordsWritten = totals.RecordsWritten,
                RecordsConsumed = totals.RecordsConsumed,
                RecordsInRingAtEnd = totals.RecordsInRing,
                Failures = [e.Message],
            };
        }
        if (sim.PerCpuTotals) _perCpu = sim.CpuTotals();
        _final = new HostFinal
        {
            Totals = ScenarioConvert.Counters(totals),
            Lag = ScenarioConvert.Histogram(totals.ConsumerLag),
            Conservation = conservation,
            Lost = sim.LostView(),
        };
        _sim = null; // the engine's rings and streams are not needed any more; the totals are
        return _final;
    }

    public Task<ImmutableArray<CpuReport>> GetPerCpu()
    {
        if (_final is null)
        {
            if (_sim is null)
                throw new HostLostException($"{this.GetPrimaryKeyString()}: the host is not running here (new activation)");
            throw new ScenarioRunException($"{this.GetPrimaryKeyString()}: per-CPU totals asked before the host finished");
        }
        var perCpu = _perCpu ?? throw new ScenarioRunException(
            $"{this.GetPrimaryKeyString()}: per-CPU totals were not kept (the run's report does not list CPUs)");
        var b = ImmutableArray.CreateBuilder<CpuReport>(perCpu.Length);
        for (int c = 0; c < perCpu.Length; c++)
            b.Add(new CpuReport { Host = _host, Cpu = c, Counters = ScenarioConvert.Counters(perCpu[c]) });
        return Task.FromResult(b.MoveToImmutable());
    }

    public async Task Shutdown()
    {
        _sim = null;
        _perCpu = null;
        _last = null;
        _final = null;
        await _writing; // never faults: a failed write is logged where it happens
        await checkpoint.ClearAsync();
        DeactivateOnIdle();
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
        : new ScenarioHistogram { FirstBucket = h.FirstBucket, Counts = ImmutableArray.Create(h.Counts), Min = h.Min, Max = h.Max };

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

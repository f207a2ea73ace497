using System.Collections.Immutable;
using BpfTraceSim.Contracts.Scenarios;
using Orleans.Concurrency;

namespace BpfTraceSim.Contracts.Grains;

/// <summary>
/// Runs one scenario in virtual time: window by window, every host grain runs that window, and the
/// statistics are summed in fleet order (host index, then CPU), so the result is the same on one
/// silo or ten. Key: the run id (letters, digits, '-', '_', '.'; no '/' or ':').
/// </summary>
public interface IScenarioGrain : IGrainWithStringKey
{
    /// <summary>Starts the run and returns at once; poll <see cref="GetProgress"/>. A second Start is refused.</summary>
    Task Start(Scenario scenario, ScenarioRunOptions options);

    [AlwaysInterleave]
    Task<ScenarioProgress> GetProgress();

    /// <summary>Takes (removes) up to maxLines captured lines of each kind, oldest first.</summary>
    [AlwaysInterleave]
    Task<ScenarioCapture> TakeCapture(int maxLines);

    /// <summary>The finished run's report without per_cpu. Throws <see cref="ScenarioRunException"/> unless the run is Done.</summary>
    [AlwaysInterleave]
    Task<ScenarioReport> GetReport();

    /// <summary>per_cpu entries of hosts [firstHost, firstHost + hostCount) in fleet order (empty when per_cpu is not listed).</summary>
    [AlwaysInterleave]
    Task<ImmutableArray<CpuReport>> GetPerCpu(long firstHost, int hostCount);

    /// <summary>Stops the run after the window in progress.</summary>
    [AlwaysInterleave]
    Task Cancel();

    /// <summary>Forgets the run and its host grains.</summary>
    Task Shutdown();
}

/// <summary>
/// One simulated host of one scenario run: owns the host's deterministic engine
/// (Grains/Simulation/HostSimulation) and runs it a window at a time. Key:
/// <see cref="ScenarioHostKey"/> (run id and host name); placed on a silo by host.
/// </summary>
public interface IScenarioHostGrain : IGrainWithStringKey
{
    /// <summary>Builds the host's engine (group index into the fleet, host index within the group).</summary>
    Task Init(Scenario scenario, int group, int hostIndex, HostRunOptions options);

    /// <summary>Runs virtual time [window x window_ns, (window + 1) x window_ns). Windows come in order, each once.</summary>
    Task<HostWindowStats> RunWindow(long window);

    /// <summary>After the last window: the host's totals and its conservation check (the engine is dropped; totals stay).</summary>
    Task<HostFinal> Finish();

    /// <summary>After Finish: every CPU's totals in CPU order (LostPerWindow left empty: the scenario grain keeps it).</summary>
    Task<ImmutableArray<CpuReport>> GetPerCpu();

    /// <summary>Forgets the engine.</summary>
    Task Shutdown();
}

/// <summary>What a host grain is asked to keep and return.</summary>
[GenerateSerializer, Immutable]
public sealed record HostRunOptions
{
    /// <summary>Return trace_pipe lines per window.</summary>
    [Id(0)] public bool CaptureTrace { get; init; }
    /// <summary>Return consumed records (JSON Lines) per window.</summary>
    [Id(1)] public bool CaptureRecords { get; init; }
    /// <summary>Return each CPU's lost count per window (the heat map).</summary>
    [Id(2)] public bool CpuLostPerWindow { get; init; }
    /// <summary>Start trace_pipe lines with "HOST: " (fleets of more than one host).</summary>
    [Id(3)] public bool PrefixTraceWithHost { get; init; }
    /// <summary>Keep each CPU's totals for <see cref="IScenarioHostGrain.GetPerCpu"/> (the report lists CPUs).</summary>
    [Id(4)] public bool PerCpuTotals { get; init; }
}

/// <summary>One host's statistics for one window.</summary>
[GenerateSerializer, Immutable]
public sealed record HostWindowStats
{
    [Id(0)] public long Window { get; init; }
    /// <summary>
    /// Sums over the host's CPUs for this window; RingHighWaterBytes is the fullest any ring got in
    /// the window, RecordsInRingAtEnd the records in rings at its end, ConsumerLagP99Ns unused.
    /// </summary>
    [Id(1)] public ScenarioCounters Counters { get; init; } = ScenarioCounters.Zero;
    /// <summary>Consumer lag of the records consumed in this window.</summary>
    [Id(2)] public ScenarioHistogram Lag { get; init; } = ScenarioHistogram.Empty;
    /// <summary>Lost samples of each CPU in this window (only when asked: fleets up to 4,096 CPUs).</summary>
    [Id(3)] public ImmutableArray<long> CpuLost { get; init; } = [];
    [Id(4)] public ImmutableArray<string> TraceLines { get; init; } = [];
    [Id(5)] public ImmutableArray<string> Records { get; init; } = [];
}

/// <summary>One host at the end of the run.</summary>
[GenerateSerializer, Immutable]
public sealed record HostFinal
{
    [Id(0)] public ScenarioCounters Totals { get; init; } = ScenarioCounters.Zero;
    [Id(1)] public ScenarioHistogram Lag { get; init; } = ScenarioHistogram.Empty;
    [Id(2)] public ConservationReport Conservation { get; init; } = new();
    /// <summary>Losses as the agent sees them and the host's first loss (report.json lost_views).</summary>
    [Id(3)] public LostView Lost { get; init; } = new();
}

/// <summary>
/// Lost samples in the agent's view beside the kernel's (lost): PERF_RECORD_LOST records its readers
/// took (one lost callback each) and samples dropped that no LOST record carries yet (rb->lost at the
/// end: the kernel writes it with the next output that finds room); and the first loss: when, on
/// which CPU, and what the reader was doing then.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record LostView
{
    [Id(0)] public long LostCallbacks { get; init; }
    [Id(1)] public long LostUnwritten { get; init; }
    /// <summary>-1: no loss.</summary>
    [Id(2)] public long FirstLossNs { get; init; } = -1;
    [Id(3)] public string FirstLossHost { get; init; } = "";
    [Id(4)] public int FirstLossCpu { get; init; }
    /// <summary>What the reader was doing (Reader.Doing): paused, not scheduled, asleep, woken, busy, stalled, or "no reader".</summary>
    [Id(5)] public string FirstLossReader { get; init; } = "";
}

using System.Collections.Immutable;

namespace BpfTraceSim.Contracts.Grains;

/// <summary>How a scenario run is carried out (what `bpfsim run` passes on from its options).</summary>
[GenerateSerializer, Immutable]
public sealed record ScenarioRunOptions
{
    /// <summary>CPUs up to which per_cpu lists every CPU without being asked.</summary>
    public const long PerCpuLimit = 4096;

    /// <summary>List every CPU in per_cpu even past <see cref="PerCpuLimit"/> CPUs (--per-cpu).</summary>
    [Id(0)] public bool PerCpu { get; init; }
    /// <summary>Keep trace_pipe lines (--trace-pipe).</summary>
    [Id(1)] public bool CaptureTrace { get; init; }
    /// <summary>Keep the records readers consume, as JSON Lines (--records).</summary>
    [Id(2)] public bool CaptureRecords { get; init; }
    /// <summary>Concurrent host calls per window; 0: Environment.ProcessorCount x 4 on the scenario grain's silo.</summary>
    [Id(3)] public int Parallelism { get; init; }
    /// <summary>Captured lines kept waiting for the client before the run pauses until they are taken.</summary>
    [Id(4)] public int MaxPendingCaptureLines { get; init; } = 1_000_000;

    public bool ListsPerCpu(long cpus) => PerCpu || cpus <= PerCpuLimit;
}

public enum ScenarioRunState
{
    NotStarted,
    Running,
    Done,
    Failed,
    Cancelled,
}

/// <summary>What the client polls while a run goes on.</summary>
[GenerateSerializer, Immutable]
public sealed record ScenarioProgress
{
    [Id(0)] public ScenarioRunState State { get; init; }
    [Id(1)] public long WindowsDone { get; init; }
    [Id(2)] public long WindowCount { get; init; }
    [Id(3)] public long VirtualNsDone { get; init; }
    [Id(4)] public long DurationNs { get; init; }
    [Id(5)] public long HelperCalls { get; init; }
    [Id(6)] public long Firings { get; init; }
    [Id(7)] public long Lost { get; init; }
    /// <summary>Why the run failed (State Failed).</summary>
    [Id(8)] public string? Error { get; init; }
    /// <summary>Captured trace_pipe lines / JSON Lines records waiting to be taken.</summary>
    [Id(9)] public long PendingCaptureLines { get; init; }
}

/// <summary>Captured output in run order: window by window, hosts in fleet order within a window.</summary>
[GenerateSerializer, Immutable]
public sealed record ScenarioCapture
{
    /// <summary>trace_pipe lines, each with its newline.</summary>
    [Id(0)] public ImmutableArray<string> TraceLines { get; init; } = [];
    /// <summary>One JSON object per record, without newline.</summary>
    [Id(1)] public ImmutableArray<string> Records { get; init; } = [];

    public static readonly ScenarioCapture Empty = new();
    public bool IsEmpty => TraceLines.IsDefaultOrEmpty && Records.IsDefaultOrEmpty;
}

/// <summary>A run that cannot go on or whose result is wrong (e.g. a conservation failure).</summary>
[GenerateSerializer]
public sealed class ScenarioRunException : Exception
{
    public ScenarioRunException(string message) : base(message) { }
}

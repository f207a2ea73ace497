using System.Collections.Immutable;
using BpfTraceSim.Contracts.Grains;
using BpfTraceSim.Contracts.Scenarios;

namespace BpfTraceSim.Grains.Checkpoints;

/// <summary>
/// A scenario grain at a window boundary: what it needs to go on from WindowsDone on another silo
/// (the scenario and options, the sums so far, the heat maps, the captured lines not yet taken), or,
/// once the run ended, its outcome. The scenario grain's persistent state (<see cref="CheckpointStorage"/>).
/// </summary>
[GenerateSerializer]
public sealed record ScenarioCheckpoint
{
    [Id(0)] public Scenario Scenario { get; init; } = null!;
    [Id(1)] public ScenarioRunOptions Options { get; init; } = new();
    [Id(2)] public ScenarioRunState State { get; init; }
    [Id(3)] public string? Error { get; init; }
    [Id(4)] public long WindowsDone { get; init; }
    [Id(5)] public long HelperCalls { get; init; }
    [Id(6)] public long Firings { get; init; }
    [Id(7)] public long Lost { get; init; }
    [Id(8)] public ImmutableArray<WindowReport> Windows { get; init; } = [];
    /// <summary>Heat maps, row-major, WindowsDone columns per row (null when not kept).</summary>
    [Id(9)] public long[]? CpuLost { get; init; }
    [Id(10)] public long[]? HostLost { get; init; }
    [Id(11)] public ImmutableArray<string> TraceLines { get; init; } = [];
    [Id(12)] public ImmutableArray<string> Records { get; init; } = [];
    [Id(13)] public ScenarioReport? Report { get; init; }
    [Id(14)] public int Every { get; init; }
}

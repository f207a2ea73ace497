using System.Collections.Immutable;

namespace BpfTraceSim.Contracts.Grains;

/// <summary>
/// A consumer-lag histogram on the wire: the engine's log-linear buckets (Grains/Simulation
/// LagHistogram) as data, so hosts' histograms merge exactly on the scenario grain and the fleet's
/// p99 is what the engine would compute over all the samples.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record ScenarioHistogram
{
    /// <summary>Index of the first bucket in <see cref="Counts"/>.</summary>
    [Id(0)] public int FirstBucket { get; init; }
    [Id(1)] public ImmutableArray<long> Counts { get; init; } = [];
    [Id(2)] public long Min { get; init; }
    [Id(3)] public long Max { get; init; }

    public static readonly ScenarioHistogram Empty = new();
}

using System.Collections.Immutable;
using BpfTraceSim.Contracts.Scenarios;

namespace BpfTraceSim.Client.Sweeps;

/// <summary>One point of the grid: an index per parameter (row-major in --vary order, the last parameter varying fastest).</summary>
public sealed record SweepPoint(int Index, ImmutableArray<int> ValueIndexes, ImmutableArray<KeyValuePair<string, string>> Assignments);

/// <summary>One run: a point at one seed, its concrete scenario and the cache key (ScenarioDigest of it, seed included).</summary>
public sealed record SweepJob(SweepPoint Point, int SeedIndex, ulong Seed, Scenario Scenario, string Digest);

/// <summary>
/// The grid of a sweep over one scenario file: the product of the parameters' values, every point
/// built and validated (ScenarioPaths.Apply re-parses it) before anything runs. Seeds use common
/// random numbers: seed i is the file's seed + i at every point, so two points differ only by
/// their parameters.
/// </summary>
public sealed class SweepPlan
{
    /// <summary>Most points a sweep may have.</summary>
    public const int MaxPoints = 100_000;

    private readonly Scenario[] _scenarios;

    private SweepPlan(string file, Scenario baseScenario, ImmutableArray<SweepParameter> parameters, int seeds, Scenario[] scenarios, ImmutableArray<SweepPoint> points)
    {
        File = file;
        Base = baseScenario;
        Parameters = parameters;
        Seeds = seeds;
        _scenarios = scenarios;
        Points = points;
    }

    public string File { get; }
    /// <summary>The file as written (its seed is the base of the seed list).</summary>
    public Scenario Base { get; }
    public ImmutableArray<SweepParameter> Parameters { get; }
    public int Seeds { get; }
    public ImmutableArray<SweepPoint> Points { get; }

    /// <summary>Seed i of every point: the file's seed + i (wrapping), so `bpfsim run --seed` reproduces a row.</summary>
    public ulong SeedAt(int i) => unchecked(Base.Seed + (ulong)i);

    /// <summary>The point with these value indexes (one per parameter).</summary>
    public SweepPoint PointAt(ReadOnlySpan<int> valueIndexes)
    {
        int index = 0;
        for (int p = 0; p < Parameters.Length; p++) index = index * Parameters[p].Values.Length + valueIndexes[p];
        return Points[index];
    }

    public SweepJob Job(SweepPoint point, int seedIndex)
    {
        ulong seed = SeedAt(seedIndex);
        var s = _scenarios[point.Index] with { Seed = seed };
        return new SweepJob(point, seedIndex, seed, s, ScenarioDigest.Compute(s));
    }

    /// <summary>
    /// Parses the file and builds every point. Refusals: <see cref="ScenarioException"/> (the file,
    /// or a point whose path or value the setter/parser refuses: its Field names the path) and
    /// <see cref="SweepUsageException"/> (no parameters, duplicates, too many points, bad seeds).
    /// </summary>
    public static SweepPlan Build(string file, IReadOnlyList<SweepParameter> parameters, int seeds)
    {
        if (seeds < 1 || seeds > 10_000) throw new SweepUsageException($"--seeds {seeds}: must be between 1 and 10000");
        if (parameters.Count == 0) throw new SweepUsageException("nothing to sweep: give at least one --vary PATH=VALUES");
        var dup = parameters.GroupBy(p => p.Path, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null) throw new SweepUsageException($"--vary {dup.Key} is given twice: list all its values in one --vary");
        long count = 1;
        foreach (var p in parameters)
        {
            count *= p.Values.Length;
            if (count > MaxPoints) throw new SweepUsageException($"the grid has more than {MaxPoints.ToString("N0", System.Globalization.CultureInfo.InvariantCulture)} points");
        }

        string text;
        try
        {
            text = System.IO.File.ReadAllText(file);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ScenarioException(new ScenarioError { File = file, Message = "cannot read the file: " + e.Message }, e);
        }
        var baseScenario = ScenarioParser.Parse(text, file);

        var points = ImmutableArray.CreateBuilder<SweepPoint>((int)count);
        var scenarios = new Scenario[count];
        // A refusal names the first point that breaks, so check each parameter's values alone first:
        // a bad path or value is then reported once, as the user wrote it.
        foreach (var p in parameters)
            if (SweepTransport.IsPseudo(p.Path))
                foreach (var v in p.Values)
                    SweepTransport.Check(p.Path, v);
        if (parameters.Count > 1)
            foreach (var p in parameters)
                if (!SweepTransport.IsPseudo(p.Path))
                    foreach (var v in p.Values)
                        ScenarioPaths.Apply(text, [new KeyValuePair<string, string>(p.Path, v)], file);
        int[] idx = new int[parameters.Count];
        for (int i = 0; i < count; i++)
        {
            int rest = i;
            for (int p = parameters.Count - 1; p >= 0; p--)
            {
                idx[p] = rest % parameters[p].Values.Length;
                rest /= parameters[p].Values.Length;
            }
            var assignments = ImmutableArray.CreateBuilder<KeyValuePair<string, string>>(parameters.Count);
            for (int p = 0; p < parameters.Count; p++) assignments.Add(new(parameters[p].Path, parameters[p].Values[idx[p]]));
            var a = assignments.MoveToImmutable();
            scenarios[i] = Concrete(text, a, file);
            points.Add(new SweepPoint(i, [.. idx], a));
        }
        return new SweepPlan(file, baseScenario, [.. parameters], seeds, scenarios, points.MoveToImmutable());
    }

    /// <summary>One point's scenario: the real paths set in the YAML, then the transport/memory pseudo-parameters (SweepTransport).</summary>
    private static Scenario Concrete(string text, ImmutableArray<KeyValuePair<string, string>> a, string file)
    {
        string? transport = null, memory = null;
        var real = new List<KeyValuePair<string, string>>(a.Length);
        foreach (var kv in a)
        {
            if (kv.Key == SweepTransport.TransportPath) transport = kv.Value;
            else if (kv.Key == SweepTransport.MemoryPath) memory = kv.Value;
            else real.Add(kv);
        }
        var s = ScenarioPaths.Apply(text, real, file);
        return transport is null && memory is null ? s : SweepTransport.Apply(s, transport, memory);
    }
}

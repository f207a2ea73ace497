using System.Collections.Immutable;
using System.Globalization;
using BpfTraceSim.Contracts.Grains;

namespace BpfTraceSim.Client.Sweeps;

/// <summary>A point's totals at each seed (index = seed index).</summary>
public sealed record PointResult(SweepPoint Point, ImmutableArray<ScenarioCounters> Seeds)
{
    public double Worst(SweepTarget t) => t.Worst(Seeds.Select(s => SweepMetrics.Get(s, t.Metric)));

    /// <summary>The target holds at every seed.</summary>
    public bool Meets(SweepTarget t) => Seeds.All(s => t.Holds(SweepMetrics.Get(s, t.Metric)));

    public double Mean(string metric) => Seeds.Average(s => SweepMetrics.Get(s, metric));
}

/// <summary>Which parameter is the cost: its cheapest value meeting the target is searched for.</summary>
public sealed record SweepObjective(string Path, int Parameter, bool Maximize)
{
    /// <summary>The parameter's value indexes from cheapest to dearest.</summary>
    public int[] CostOrder(SweepParameter p)
    {
        int[] asc = p.Ascending();
        if (Maximize) Array.Reverse(asc);
        return asc;
    }

    public string Verb => Maximize ? "largest" : "smallest";
}

/// <summary>What the search decided (sweep.json's "result").</summary>
public sealed record SweepOutcome
{
    /// <summary>"none" (no target), "grid" (every point) or "bisection".</summary>
    public string Search { get; init; } = "none";
    /// <summary>A target was given and some point meets it at every seed.</summary>
    public bool Found { get; init; }
    public int? Chosen { get; init; }
    /// <summary>The chosen point with the cost parameter one step cheaper / dearer (others unchanged).</summary>
    public int? Cheaper { get; init; }
    public int? Dearer { get; init; }
    /// <summary>Bisection found loss not monotone at the neighbours and ran every value instead.</summary>
    public bool NotMonotone { get; init; }
    /// <summary>Points meeting the target, of those run.</summary>
    public int Meeting { get; init; }
    /// <summary>
    /// With several parameters: for each setting of the others (grid order), the cheapest point
    /// meeting the target there (null: none does).
    /// </summary>
    public ImmutableArray<(string Others, int? Point)> Frontier { get; init; } = [];
    /// <summary>The plain-language answer (printed on stdout, kept in sweep.json).</summary>
    public string Message { get; init; } = "";
}

/// <summary>
/// Finds the cheapest setting meeting a target at every seed.
/// With one parameter: bisection over its values in cost order. This assumes the target's metric
/// is monotone in the parameter (more ring pages, a faster reader or a lower rate never raise the
/// expected loss: for M/M/1/K, P_K falls as K grows and as rho falls), which holds in expectation
/// but not necessarily for every seed; so the answer is checked at its neighbours (the cheaper one
/// must fail, the dearer one must meet) and, if that check fails, every value is run.
/// With several parameters (or --exhaustive): every point is run and the cheapest meeting point
/// is taken (ties: the best worst-seed metric, then grid order).
/// </summary>
public static class SweepSearch
{
    /// <summary>Runs the points given (each at every seed) and returns their results.</summary>
    public delegate Task<IReadOnlyList<PointResult>> Evaluate(IReadOnlyList<SweepPoint> points);

    public static async Task<(SweepOutcome Outcome, SortedDictionary<int, PointResult> Results)> RunAsync(
        SweepPlan plan, SweepTarget? target, SweepObjective? objective, bool exhaustive, Evaluate evaluate)
    {
        var results = new SortedDictionary<int, PointResult>();
        async Task Run(IEnumerable<SweepPoint> points)
        {
            var todo = points.Where(p => !results.ContainsKey(p.Index)).DistinctBy(p => p.Index).ToList();
            if (todo.Count == 0) return;
            foreach (var r in await evaluate(todo)) results[r.Point.Index] = r;
        }

        if (target is null)
        {
            await Run(plan.Points);
            return (new SweepOutcome { Search = "grid" }, results);
        }
        if (objective is null)
        {
            await Run(plan.Points);
            int meeting = results.Values.Count(r => r.Meets(target));
            return (new SweepOutcome
            {
                Search = "grid",
                Found = meeting > 0,
                Meeting = meeting,
                Message = meeting > 0
                    ? $"{meeting} of {results.Count} points meet {target} at every seed"
                    : NoneMessage(plan, target, results, null),
            }, results);
        }
        if (plan.Parameters.Length == 1 && !exhaustive)
            return await Bisect(plan, target, objective, results, Run);

        await Run(plan.Points);
        return (Grid(plan, target, objective, results, "grid", notMonotone: false), results);
    }

    private static async Task<(SweepOutcome, SortedDictionary<int, PointResult>)> Bisect(
        SweepPlan plan, SweepTarget target, SweepObjective objective, SortedDictionary<int, PointResult> results,
        Func<IEnumerable<SweepPoint>, Task> run)
    {
        var p = plan.Parameters[0];
        int[] order = objective.CostOrder(p);
        SweepPoint At(int k) => plan.Points[order[k]];
        bool Meets(int k) => results[order[k]].Meets(target);
        int n = order.Length;

        // The two ends first (together, so their seeds run side by side).
        await run([At(0), At(n - 1)]);
        if (!Meets(n - 1))
        {
            var dearest = results[order[n - 1]];
            string msg = $"no value of {p.Path} meets {target} at every seed: even {p.Path}={p.Values[order[n - 1]]} " +
                         $"gives {target.Metric} {Fmt(dearest.Worst(target))} at its worst seed " +
                         $"(bisection assumes {target.Metric} improves as {p.Path} gets dearer, so the cheaper values were not all run; --exhaustive runs them)";
            return (new SweepOutcome { Search = "bisection", Found = false, Message = msg, Meeting = results.Values.Count(r => r.Meets(target)) }, results);
        }
        int lo = -1, hi = n - 1;
        if (Meets(0)) hi = 0;
        else lo = 0;
        while (hi - lo > 1)
        {
            int mid = lo + (hi - lo) / 2;
            await run([At(mid)]);
            if (Meets(mid)) hi = mid;
            else lo = mid;
        }
        // Verify at the neighbours: lo (already run) fails by construction; the dearer one must meet.
        if (hi + 1 < n) await run([At(hi + 1)]);
        bool monotone = (hi + 1 >= n || Meets(hi + 1)) && (lo < 0 || !Meets(lo));
        if (!monotone)
        {
            await run(plan.Points);
            return (Grid(plan, target, objective, results, "bisection", notMonotone: true), results);
        }
        return (Describe(plan, target, objective, results, "bisection", At(hi).Index,
            lo >= 0 ? At(lo).Index : null, hi + 1 < n ? At(hi + 1).Index : null, notMonotone: false), results);
    }

    private static SweepOutcome Grid(SweepPlan plan, SweepTarget target, SweepObjective objective,
        SortedDictionary<int, PointResult> results, string search, bool notMonotone)
    {
        var cost = objective.CostOrder(plan.Parameters[objective.Parameter]);
        int[] rank = new int[cost.Length];
        for (int k = 0; k < cost.Length; k++) rank[cost[k]] = k;
        bool lowerBetter = target.Op is not (">=" or ">");
        PointResult? best = null;
        foreach (var r in results.Values)
        {
            if (!r.Meets(target)) continue;
            if (best is null) { best = r; continue; }
            int a = rank[r.Point.ValueIndexes[objective.Parameter]], b = rank[best.Point.ValueIndexes[objective.Parameter]];
            if (a != b) { if (a < b) best = r; continue; }
            double wa = r.Worst(target), wb = best.Worst(target);
            if (wa != wb && (lowerBetter ? wa < wb : wa > wb)) best = r;
        }
        var frontier = Frontier(plan, target, objective, results, rank);
        if (best is null)
            return new SweepOutcome { Search = search, Found = false, NotMonotone = notMonotone, Message = NoneMessage(plan, target, results, objective) };
        int k0 = rank[best.Point.ValueIndexes[objective.Parameter]];
        int? Neighbour(int k)
        {
            if (k < 0 || k >= cost.Length) return null;
            int[] idx = [.. best.Point.ValueIndexes];
            idx[objective.Parameter] = cost[k];
            var pt = plan.PointAt(idx);
            return results.ContainsKey(pt.Index) ? pt.Index : null;
        }
        var outcome = Describe(plan, target, objective, results, search, best.Point.Index, Neighbour(k0 - 1), Neighbour(k0 + 1), notMonotone);
        if (frontier.IsEmpty) return outcome;
        var lines = new List<string> { outcome.Message, $"cheapest {objective.Path} meeting {target} for each setting of the other parameters:" };
        foreach (var (others, point) in frontier.Take(64))
            lines.Add($"  {others}: " + (point is { } i
                ? $"{plan.Parameters[objective.Parameter].Values[plan.Points[i].ValueIndexes[objective.Parameter]]} ({target.Metric} {Fmt(results[i].Worst(target))} at its worst seed)"
                : "none meets"));
        if (frontier.Length > 64) lines.Add($"  ... and {frontier.Length - 64} more (sweep.json, result.frontier)");
        return outcome with { Frontier = frontier, Message = string.Join("\n", lines) };
    }

    /// <summary>For every setting of the parameters other than the objective's, the cheapest meeting point.</summary>
    private static ImmutableArray<(string Others, int? Point)> Frontier(SweepPlan plan, SweepTarget target, SweepObjective objective,
        SortedDictionary<int, PointResult> results, int[] rank)
    {
        if (plan.Parameters.Length < 2) return [];
        var groups = new SortedDictionary<int, (string Others, int? Point)>();
        foreach (var r in results.Values)
        {
            // Group key: the point's index with the objective's value index set to 0.
            int[] idx = [.. r.Point.ValueIndexes];
            idx[objective.Parameter] = 0;
            int key = plan.PointAt(idx).Index;
            string others = string.Join(", ", r.Point.Assignments.Where((_, i) => i != objective.Parameter).Select(a => $"{a.Key}={a.Value}"));
            if (!groups.TryGetValue(key, out var g)) groups[key] = g = (others, null);
            if (!r.Meets(target)) continue;
            if (g.Point is not { } cur || rank[r.Point.ValueIndexes[objective.Parameter]] < rank[plan.Points[cur].ValueIndexes[objective.Parameter]])
                groups[key] = (others, r.Point.Index);
        }
        return [.. groups.Values];
    }

    private static SweepOutcome Describe(SweepPlan plan, SweepTarget target, SweepObjective objective,
        SortedDictionary<int, PointResult> results, string search, int chosen, int? cheaper, int? dearer, bool notMonotone)
    {
        var c = results[chosen];
        var lines = new List<string>
        {
            $"cheapest setting meeting {target} at every seed ({plan.Seeds} seed{(plan.Seeds == 1 ? "" : "s")}, {objective.Verb} {objective.Path}): " +
            $"{Params(c.Point)}: {target.Metric} {Fmt(c.Worst(target))} at its worst seed (mean {Fmt(c.Mean(target.Metric))})",
        };
        void Neighbour(string which, int? idx)
        {
            if (idx is not { } i) { lines.Add($"  {which}: none ({objective.Path} has no {which} value)"); return; }
            var r = results[i];
            lines.Add($"  {which} neighbour {Params(r.Point)}: {target.Metric} {Fmt(r.Worst(target))} at its worst seed " +
                      $"(mean {Fmt(r.Mean(target.Metric))}): {(r.Meets(target) ? "meets" : "fails")}");
        }
        Neighbour("cheaper", cheaper);
        Neighbour("dearer", dearer);
        if (notMonotone)
            lines.Add($"  {target.Metric} is not monotone in {objective.Path} at the bisection's answer: every value was run and the cheapest meeting one taken");
        return new SweepOutcome
        {
            Search = search,
            Found = true,
            Chosen = chosen,
            Cheaper = cheaper,
            Dearer = dearer,
            NotMonotone = notMonotone,
            Meeting = results.Values.Count(r => r.Meets(target)),
            Message = string.Join("\n", lines),
        };
    }

    private static string NoneMessage(SweepPlan plan, SweepTarget target, SortedDictionary<int, PointResult> results, SweepObjective? objective)
    {
        bool lowerBetter = target.Op is not (">=" or ">");
        var best = lowerBetter
            ? results.Values.MinBy(r => r.Worst(target))!
            : results.Values.MaxBy(r => r.Worst(target))!;
        return $"no point meets {target} at every seed ({results.Count} point{(results.Count == 1 ? "" : "s")} run, {plan.Seeds} seed{(plan.Seeds == 1 ? "" : "s")} each): " +
               $"the closest, {Params(best.Point)}, gives {target.Metric} {Fmt(best.Worst(target))} at its worst seed" +
               (objective is null ? "" : $"; widen the values of {objective.Path} or relax the target");
    }

    internal static string Params(SweepPoint p) => string.Join(", ", p.Assignments.Select(a => $"{a.Key}={a.Value}"));

    internal static string Fmt(double v) =>
        v == Math.Floor(v) && Math.Abs(v) < 1e15 ? v.ToString("0", CultureInfo.InvariantCulture) : v.ToString("G6", CultureInfo.InvariantCulture);
}

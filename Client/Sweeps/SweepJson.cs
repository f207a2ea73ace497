using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using System.Text.Json;
using BpfTraceSim.Client.Reports;
using BpfTraceSim.Contracts.Grains;

namespace BpfTraceSim.Client.Sweeps;

/// <summary>
/// sweep.json, written by hand so that field order, layout and number formatting are fixed: the
/// same sweep and seeds give the same bytes whatever the number of silos, the parallelism or the
/// order in which runs finished (rows are in point order, then seed order; nothing measured in
/// wall time goes in). Numbers as report.json writes them (integers invariant, ratios "R").
/// </summary>
public static class SweepJson
{
    public const string Format = "bpfsim-sweep-v1";

    public static string ToJson(SweepPlan plan, SweepTarget? target, SweepObjective? objective, SweepOutcome outcome,
        IReadOnlyDictionary<int, PointResult> results)
    {
        var w = new StringBuilder(4096);
        w.Append("{\n");
        w.Append("  \"format\": ").Append(S(Format)).Append(",\n");
        w.Append("  \"scenario\": ").Append(S(plan.Base.Name)).Append(",\n");
        w.Append("  \"file\": ").Append(S(Path.GetFileName(plan.File))).Append(",\n");
        w.Append("  \"seed\": ").Append(plan.Base.Seed.ToString(CultureInfo.InvariantCulture)).Append(",\n");
        w.Append("  \"seeds\": [");
        for (int i = 0; i < plan.Seeds; i++) w.Append(i == 0 ? "" : ", ").Append(plan.SeedAt(i).ToString(CultureInfo.InvariantCulture));
        w.Append("],\n");
        w.Append("  \"parameters\": [");
        for (int p = 0; p < plan.Parameters.Length; p++)
        {
            var par = plan.Parameters[p];
            w.Append(p == 0 ? "\n    " : ",\n    ").Append("{ \"path\": ").Append(S(par.Path)).Append(", \"values\": [");
            for (int v = 0; v < par.Values.Length; v++) w.Append(v == 0 ? "" : ", ").Append(S(par.Values[v]));
            w.Append("] }");
        }
        w.Append(plan.Parameters.IsEmpty ? "],\n" : "\n  ],\n");
        w.Append("  \"target\": ").Append(target is null ? "null" : S(target.Text)).Append(",\n");
        w.Append("  \"objective\": ").Append(objective is null ? "null"
            : $"{{ \"{(objective.Maximize ? "maximize" : "minimize")}\": {S(objective.Path)} }}").Append(",\n");
        w.Append("  \"result\": { \"search\": ").Append(S(outcome.Search))
         .Append(", \"found\": ").Append(target is null ? "null" : ReportJson.Bool(outcome.Found))
         .Append(", \"chosen\": ").Append(N(outcome.Chosen))
         .Append(", \"cheaper\": ").Append(N(outcome.Cheaper))
         .Append(", \"dearer\": ").Append(N(outcome.Dearer))
         .Append(", \"not_monotone\": ").Append(ReportJson.Bool(outcome.NotMonotone))
         .Append(", \"points_meeting\": ").Append(target is null ? "null" : ReportJson.Int(outcome.Meeting))
         .Append(", \"frontier\": [");
        for (int i = 0; i < outcome.Frontier.Length; i++)
            w.Append(i == 0 ? "" : ", ").Append(N(outcome.Frontier[i].Point));
        w.Append("], \"message\": ").Append(S(outcome.Message)).Append(" },\n");

        w.Append("  \"points\": [");
        bool first = true;
        foreach (var r in results.Values)
        {
            w.Append(first ? "\n    " : ",\n    ");
            first = false;
            w.Append("{ \"point\": ").Append(ReportJson.Int(r.Point.Index)).Append(", \"params\": ");
            Params(w, r.Point);
            w.Append(", \"seeds\": ").Append(ReportJson.Int(r.Seeds.Length));
            var ratios = r.Seeds.Select(s => s.LostRatio).ToList();
            w.Append(", \"lost_ratio_mean\": ").Append(ReportJson.Ratio(ratios.Average()))
             .Append(", \"lost_ratio_min\": ").Append(ReportJson.Ratio(ratios.Min()))
             .Append(", \"lost_ratio_max\": ").Append(ReportJson.Ratio(ratios.Max()));
            if (target is not null)
                w.Append(", \"target_worst\": ").Append(ReportJson.Ratio(r.Worst(target)))
                 .Append(", \"meets\": ").Append(ReportJson.Bool(r.Meets(target)));
            w.Append(" }");
        }
        w.Append(first ? "],\n" : "\n  ],\n");

        w.Append("  \"rows\": [");
        first = true;
        foreach (var r in results.Values)
        {
            for (int s = 0; s < r.Seeds.Length; s++)
            {
                var t = r.Seeds[s];
                w.Append(first ? "\n    " : ",\n    ");
                first = false;
                w.Append("{ \"point\": ").Append(ReportJson.Int(r.Point.Index))
                 .Append(", \"seed_index\": ").Append(ReportJson.Int(s))
                 .Append(", \"seed\": ").Append(plan.SeedAt(s).ToString(CultureInfo.InvariantCulture))
                 .Append(", \"params\": ");
                Params(w, r.Point);
                foreach (var m in SweepMetrics.Names)
                {
                    w.Append(", \"").Append(m).Append("\": ");
                    w.Append(m == "lost_ratio" ? ReportJson.Ratio(t.LostRatio) : ReportJson.Int((long)SweepMetrics.Get(t, m)));
                }
                w.Append(", \"digest\": ").Append(S(plan.Job(r.Point, s).Digest)).Append(" }");
            }
        }
        w.Append(first ? "]\n" : "\n  ]\n");
        w.Append("}\n");
        return w.ToString();
    }

    private static void Params(StringBuilder w, SweepPoint p)
    {
        w.Append("{ ");
        for (int i = 0; i < p.Assignments.Length; i++)
            w.Append(i == 0 ? "" : ", ").Append(S(p.Assignments[i].Key)).Append(": ").Append(S(p.Assignments[i].Value));
        w.Append(" }");
    }

    private static string S(string s) => ReportJson.Str(s);

    private static string N(int? v) => v is { } x ? ReportJson.Int(x) : "null";

    /// <summary>Whether a parsed JSON document is a sweep.json.</summary>
    public static bool IsSweep(JsonElement root) =>
        root.ValueKind == JsonValueKind.Object && root.TryGetProperty("format", out var f) &&
        f.ValueKind == JsonValueKind.String && f.GetString() == Format;

    /// <summary>Reads a sweep.json back (for `bpfsim report` and the HTML page).</summary>
    public static SweepDocument Load(JsonElement root)
    {
        try
        {
            var parameters = root.GetProperty("parameters").EnumerateArray()
                .Select(p => new SweepParameter(p.GetProperty("path").GetString()!, [.. p.GetProperty("values").EnumerateArray().Select(v => v.GetString()!)]))
                .ToImmutableArray();
            var target = root.GetProperty("target") is { ValueKind: JsonValueKind.String } t ? SweepTarget.Parse(t.GetString()!) : null;
            SweepObjective? objective = null;
            if (root.GetProperty("objective") is { ValueKind: JsonValueKind.Object } o)
            {
                bool max = o.TryGetProperty("maximize", out var pm);
                string path = (max ? pm : o.GetProperty("minimize")).GetString()!;
                objective = new SweepObjective(path, parameters.IndexOf(parameters.First(p => p.Path == path)), max);
            }
            var res = root.GetProperty("result");
            int? Opt(string name) => res.GetProperty(name) is { ValueKind: JsonValueKind.Number } e ? e.GetInt32() : null;
            var rows = new List<SweepRow>();
            foreach (var r in root.GetProperty("rows").EnumerateArray())
            {
                var metrics = new Dictionary<string, double>(StringComparer.Ordinal);
                foreach (var m in SweepMetrics.Names) metrics[m] = r.GetProperty(m).GetDouble();
                var values = parameters.Select(p => r.GetProperty("params").GetProperty(p.Path).GetString()!).ToImmutableArray();
                rows.Add(new SweepRow(r.GetProperty("point").GetInt32(), r.GetProperty("seed_index").GetInt32(), r.GetProperty("seed").GetUInt64(), values, metrics));
            }
            return new SweepDocument
            {
                Scenario = root.GetProperty("scenario").GetString()!,
                File = root.GetProperty("file").GetString()!,
                Seeds = [.. root.GetProperty("seeds").EnumerateArray().Select(s => s.GetUInt64())],
                Parameters = parameters,
                Target = target,
                Objective = objective,
                Search = res.GetProperty("search").GetString()!,
                Found = res.GetProperty("found").ValueKind == JsonValueKind.True,
                Chosen = Opt("chosen"),
                Cheaper = Opt("cheaper"),
                Dearer = Opt("dearer"),
                Message = res.GetProperty("message").GetString()!,
                Rows = [.. rows],
            };
        }
        catch (Exception e) when (e is KeyNotFoundException or InvalidOperationException or FormatException or SweepUsageException)
        {
            throw new ReportFormatException("not a readable sweep.json: " + e.Message);
        }
    }
}

/// <summary>One row of sweep.json: a point at one seed.</summary>
public sealed record SweepRow(int Point, int SeedIndex, ulong Seed, ImmutableArray<string> Values, IReadOnlyDictionary<string, double> Metrics);

/// <summary>sweep.json as read back.</summary>
public sealed record SweepDocument
{
    public string Scenario { get; init; } = "";
    public string File { get; init; } = "";
    public ImmutableArray<ulong> Seeds { get; init; } = [];
    public ImmutableArray<SweepParameter> Parameters { get; init; } = [];
    public SweepTarget? Target { get; init; }
    public SweepObjective? Objective { get; init; }
    public string Search { get; init; } = "";
    public bool Found { get; init; }
    public int? Chosen { get; init; }
    public int? Cheaper { get; init; }
    public int? Dearer { get; init; }
    public string Message { get; init; } = "";
    public ImmutableArray<SweepRow> Rows { get; init; } = [];

    /// <summary>Rows grouped by point, in point order.</summary>
    public IReadOnlyList<(int Point, ImmutableArray<string> Values, IReadOnlyList<SweepRow> Seeds)> Points() =>
        [.. Rows.GroupBy(r => r.Point).OrderBy(g => g.Key).Select(g => (g.Key, g.First().Values, (IReadOnlyList<SweepRow>)[.. g.OrderBy(r => r.SeedIndex)]))];

    public bool Meets(IReadOnlyList<SweepRow> seeds) => Target is { } t && seeds.All(r => t.Holds(r.Metrics[t.Metric]));

    /// <summary>The metric the plots and table lead with: the target's, else lost_ratio.</summary>
    public string Metric => Target?.Metric ?? "lost_ratio";
}

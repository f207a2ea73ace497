using System.Text;

namespace BpfTraceSim.Client.Sweeps;

/// <summary>
/// `bpfsim report sweep.json`: the points as an aligned plain-text table (one line per point,
/// summed over its seeds), the chosen one marked, then the answer the sweep gave.
/// </summary>
public static class SweepTable
{
    public static IReadOnlyList<string> Headers(SweepDocument d)
    {
        var h = new List<string> { "seeds" };
        if (d.Target is { } t && t.Metric != "lost_ratio") h.Add(t.Metric + " worst");
        h.AddRange(["lost_ratio mean", "lost_ratio max", "-ENOSPC mean", "ring high water max", "lag p99 max (ns)", "wakeups mean"]);
        if (d.Target is not null) h.Add("meets");
        return h;
    }

    public static IReadOnlyList<string> Cells(SweepDocument d, int point, IReadOnlyList<SweepRow> seeds)
    {
        double Mean(string m) => seeds.Average(s => s.Metrics[m]);
        double Max(string m) => seeds.Max(s => s.Metrics[m]);
        var c = new List<string> { seeds.Count.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        if (d.Target is { } t && t.Metric != "lost_ratio") c.Add(SweepSearch.Fmt(t.Worst(seeds.Select(s => s.Metrics[t.Metric]))));
        c.Add(SweepSearch.Fmt(Mean("lost_ratio")));
        c.Add(SweepSearch.Fmt(Max("lost_ratio")));
        c.Add(SweepSearch.Fmt(Mean("enospc")));
        c.Add(SweepSearch.Fmt(Max("ring_high_water_bytes")));
        c.Add(SweepSearch.Fmt(Max("consumer_lag_p99_ns")));
        c.Add(SweepSearch.Fmt(Mean("wakeups")));
        if (d.Target is not null) c.Add((d.Meets(seeds) ? "yes" : "no") + (point == d.Chosen ? "  <- chosen" : ""));
        return c;
    }

    public static string Render(SweepDocument d)
    {
        var sb = new StringBuilder();
        sb.Append("sweep of ").Append(d.Scenario).Append(" (").Append(d.File).Append("): ")
          .Append(string.Join(" x ", d.Parameters.Select(p => $"{p.Path} ({p.Values.Length} values)")))
          .Append(", ").Append(d.Seeds.Length).Append(d.Seeds.Length == 1 ? " seed" : " seeds")
          .Append(", search ").Append(d.Search);
        if (d.Target is not null) sb.Append(", target ").Append(d.Target.Text);
        sb.Append('\n');
        var header = d.Parameters.Select(p => p.Path).Concat(Headers(d)).ToList();
        var rows = new List<List<string>> { header };
        int nParams = d.Parameters.Length;
        foreach (var p in d.Points()) rows.Add([.. p.Values, .. Cells(d, p.Point, p.Seeds)]);
        int cols = header.Count;
        var width = new int[cols];
        foreach (var r in rows) for (int i = 0; i < cols; i++) width[i] = Math.Max(width[i], r[i].Length);
        foreach (var r in rows)
        {
            var line = new StringBuilder();
            for (int i = 0; i < cols; i++)
            {
                if (i > 0) line.Append("  ");
                // Parameters left-aligned, numbers right-aligned; the last column (meets) left-aligned.
                bool left = i < nParams || (d.Target is not null && i == cols - 1);
                line.Append(left ? r[i].PadRight(width[i]) : r[i].PadLeft(width[i]));
            }
            sb.Append(line.ToString().TrimEnd()).Append('\n');
        }
        if (d.Message.Length > 0) sb.Append('\n').Append(d.Message).Append('\n');
        return sb.ToString();
    }
}

using BpfTraceSim.Contracts.Scenarios;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using BpfTraceSim.Contracts.Grains;
using BpfTraceSim.Kernel;
using ScottPlot;

namespace BpfTraceSim.Client.Reports;

/// <summary>
/// report.html: one self-contained page (no scripts, no outside files) with the totals and plots
/// drawn by ScottPlot as inline SVG: loss per CPU (or host) over time, the return values of each
/// helper, ring fill over time, consumer lag over time and records per window.
/// </summary>
public static partial class ReportHtml
{
    /// <summary>Most heat map rows drawn (one per CPU, else one per host).</summary>
    public const int MaxHeatRows = 4096;

    /// <summary>The plots' titles, as the page shows them (tests look for them).</summary>
    public static class Titles
    {
        public const string LossHeatCpu = "Loss per CPU over time";
        public const string LossHeatHost = "Loss per host over time";
        public const string RingFill = "Ring fill over time";
        public const string ConsumerLag = "Consumer lag over time";
        public const string Records = "Records per window";
        public static string Helper(string name) => "Return values of " + name;
    }

    public static string Render(ScenarioReport r, IReadOnlyList<CpuReport> perCpu)
    {
        var sb = new StringBuilder(64 * 1024);
        string title = $"bpfsim report: {r.Scenario}";
        sb.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>")
          .Append(E(title)).Append("</title>\n<style>\n").Append(Css).Append("</style>\n</head>\n<body>\n");
        sb.Append("<h1>").Append(E(title)).Append("</h1>\n");
        sb.Append("<p class=\"meta\">seed ").Append(r.Seed.ToString(CultureInfo.InvariantCulture))
          .Append(" &middot; ").Append(Count(r.Hosts)).Append(r.Hosts == 1 ? " host" : " hosts")
          .Append(" &middot; ").Append(Count(r.Cpus)).Append(r.Cpus == 1 ? " CPU" : " CPUs")
          .Append(" &middot; ").Append(E(Units.Duration(r.DurationNs))).Append(" virtual time in ")
          .Append(Count(r.Windows.Length)).Append(" windows of ").Append(E(Units.Duration(r.WindowNs)))
          .Append(" &middot; digest <code>").Append(E(r.Digest)).Append("</code></p>\n");

        Totals(sb, r);

        int plot = 0;
        // Loss heat map: CPUs when listed, else hosts.
        var cpuRows = perCpu.Where(c => !c.LostPerWindow.IsDefaultOrEmpty).ToList();
        if (cpuRows.Count > 0 && cpuRows.Count <= MaxHeatRows)
            Figure(sb, ref plot, "loss-heatmap", Titles.LossHeatCpu, Heat(r, Titles.LossHeatCpu, [.. cpuRows.Select(c => (c.Host + "/" + c.Cpu, c.LostPerWindow))], "CPU"), 900, HeatHeight(cpuRows.Count));
        else
        {
            var hostRows = r.PerHost.Where(h => !h.LostPerWindow.IsDefaultOrEmpty).ToList();
            if (hostRows.Count > 0 && hostRows.Count <= MaxHeatRows)
                Figure(sb, ref plot, "loss-heatmap", Titles.LossHeatHost, Heat(r, Titles.LossHeatHost, [.. hostRows.Select(h => (h.Host, h.LostPerWindow))], "host"), 900, HeatHeight(hostRows.Count));
            else
                sb.Append("<p class=\"note\">No loss heat map: the fleet has more than ").Append(Count(MaxHeatRows)).Append(" hosts and CPUs are not listed.</p>\n");
        }

        foreach (var helper in r.Totals.Helpers.Select(h => h.Helper).Distinct())
            Figure(sb, ref plot, "helper-" + helper, Titles.Helper(helper), HelperBars(r, helper), 900, 320);

        double[] xs = [.. r.Windows.Select(w => w.StartNs / 1e9)];
        double endS = r.DurationNs / 1e9;
        Figure(sb, ref plot, "ring-fill", Titles.RingFill, Lines(Titles.RingFill, "bytes", xs, endS,
            ("fullest ring in the window", [.. r.Windows.Select(w => (double)w.RingFillMaxBytes)]),
            ("high water over the run", [.. r.Windows.Select(_ => (double)r.Totals.RingHighWaterBytes)])), 900, 320);
        Figure(sb, ref plot, "consumer-lag", Titles.ConsumerLag, Lines(Titles.ConsumerLag, "p99 lag (ms)", xs, endS,
            ("p99 of records consumed in the window", [.. r.Windows.Select(w => w.ConsumerLagP99Ns / 1e6)]),
            ("p99 over the run", [.. r.Windows.Select(_ => r.Totals.ConsumerLagP99Ns / 1e6)])), 900, 320);
        Figure(sb, ref plot, "records", Titles.Records, Lines(Titles.Records, "records", xs, endS,
            ("written", [.. r.Windows.Select(w => (double)w.RecordsWritten)]),
            ("consumed", [.. r.Windows.Select(w => (double)w.RecordsConsumed)]),
            ("lost", [.. r.Windows.Select(w => (double)w.Lost)])), 900, 320);

        Hosts(sb, r);
        sb.Append("</body>\n</html>\n");
        return sb.ToString();
    }

    private static int HeatHeight(int rows) => Math.Clamp(160 + rows * 6, 300, 900);

    private static void Totals(StringBuilder sb, ScenarioReport r)
    {
        var t = r.Totals;
        if (!r.Warnings.IsDefaultOrEmpty)
        {
            sb.Append("<h2>Warnings</h2>\n<ul class=\"warnings\">\n");
            foreach (string w in r.Warnings) sb.Append("<li>").Append(E(w)).Append("</li>\n");
            sb.Append("</ul>\n");
        }
        if (r.LostViews is { FirstLossNs: >= 0 } lv)
        {
            sb.Append("<h2>What went wrong</h2>\n<table class=\"totals\">\n");
            Row(sb, "first loss", $"{E(lv.FirstLossHost)} CPU {lv.FirstLossCpu} at {lv.FirstLossNs / 1e6:0.###} ms (window {lv.FirstLossNs / Math.Max(1, r.WindowNs)})");
            Row(sb, "the reader was", E(lv.FirstLossReader));
            Row(sb, "lost (kernel)", Count(t.Lost));
            Row(sb, "lost seen by the agent", $"{Count(t.LostReported)} in {Count(lv.LostCallbacks)} lost callbacks; {Count(lv.LostUnwritten)} with no LOST record written yet");
            sb.Append("</table>\n");
        }
        if (r.RingMemory is { } mem)
        {
            sb.Append("<h2>Ring memory</h2>\n<table class=\"totals\">\n");
            foreach (var g in mem.Groups)
                Row(sb, $"group {g.Group}", $"{g.Rings} rings, {RingMemory.Bytes(g.BytesPerHost)} per host ({RingMemory.Bytes(g.PageSize)} pages, kernel {g.Kernel}, " +
                    $"memlock {RingMemory.Bytes(g.Memlock)}, maps: {g.Accounting}), {RingMemory.Bytes(g.BytesPerHost * g.Hosts)} for {g.Hosts} hosts");
            Row(sb, "fleet", RingMemory.Bytes(mem.FleetBytes));
            sb.Append("</table>\n");
        }
        sb.Append("<h2>Totals</h2>\n<table class=\"totals\">\n");
        Row(sb, "firings", Count(t.Firings));
        Row(sb, "helper calls", Count(t.HelperCalls));
        Row(sb, "records written", $"{Count(t.RecordsWritten)} ({Count(t.BytesWritten)} bytes)");
        Row(sb, "records consumed", Count(t.RecordsConsumed));
        Row(sb, "records in rings at the end", Count(t.RecordsInRingAtEnd));
        Row(sb, "lost", $"{Count(t.Lost)} ({Percent(t.LostRatio)})");
        Row(sb, "ring high water", $"{Count(t.RingHighWaterBytes)} bytes");
        Row(sb, "consumer lag p99", Units.Duration(t.ConsumerLagP99Ns));
        Row(sb, "wake-ups", Count(t.Wakeups));
        var k = r.Conservation;
        Row(sb, "conservation", (k.Ok ? "ok: " : "FAILED: ") +
            $"{Count(k.RecordsWritten)} written = {Count(k.RecordsConsumed)} consumed + {Count(k.RecordsInRingAtEnd)} in rings");
        sb.Append("</table>\n");
        if (!t.Helpers.IsDefaultOrEmpty)
        {
            sb.Append("<h2>Helpers</h2>\n<table class=\"helpers\">\n<tr><th>helper</th><th>return</th><th>count</th><th>share</th></tr>\n");
            foreach (var g in t.Helpers.GroupBy(h => h.Helper))
            {
                long all = g.Sum(h => h.Count);
                foreach (var h in g)
                    sb.Append("<tr><td>").Append(E(h.Helper)).Append("</td><td>").Append(E(ReturnLabel(h.Return)))
                      .Append("</td><td class=\"n\">").Append(Count(h.Count)).Append("</td><td class=\"n\">")
                      .Append(Percent(all == 0 ? 0 : (double)h.Count / all)).Append("</td></tr>\n");
            }
            sb.Append("</table>\n");
        }
    }

    private static void Hosts(StringBuilder sb, ScenarioReport r)
    {
        if (r.PerHost.IsDefaultOrEmpty) return;
        const int Top = 50;
        var top = r.PerHost.OrderByDescending(h => h.Counters.Lost).ThenBy(h => h.Counters.Lost == 0).Take(Top).ToList();
        sb.Append("<h2>Loss per host</h2>\n");
        if (r.PerHost.Length > Top) sb.Append("<p class=\"note\">The ").Append(Top).Append(" hosts that lost the most, of ").Append(Count(r.PerHost.Length)).Append(".</p>\n");
        sb.Append("<table class=\"hosts\">\n<tr><th>host</th><th>CPUs</th><th>firings</th><th>records written</th><th>lost</th><th>lost ratio</th><th>ring high water</th><th>lag p99</th></tr>\n");
        foreach (var h in top)
        {
            var c = h.Counters;
            sb.Append("<tr><td>").Append(E(h.Host)).Append("</td><td class=\"n\">").Append(Count(h.Cpus))
              .Append("</td><td class=\"n\">").Append(Count(c.Firings)).Append("</td><td class=\"n\">").Append(Count(c.RecordsWritten))
              .Append("</td><td class=\"n\">").Append(Count(c.Lost)).Append("</td><td class=\"n\">").Append(Percent(c.LostRatio))
              .Append("</td><td class=\"n\">").Append(Count(c.RingHighWaterBytes)).Append("</td><td class=\"n\">")
              .Append(E(Units.Duration(c.ConsumerLagP99Ns))).Append("</td></tr>\n");
        }
        sb.Append("</table>\n");
    }

    private static void Row(StringBuilder sb, string name, string value) =>
        sb.Append("<tr><th>").Append(E(name)).Append("</th><td>").Append(E(value)).Append("</td></tr>\n");

    private static void Figure(StringBuilder sb, ref int index, string id, string title, Plot plot, int width, int height)
    {
        string svg = plot.GetSvgXml(width, height);
        sb.Append("<figure class=\"plot\" id=\"").Append(E(id)).Append("\" data-title=\"").Append(E(title)).Append("\">\n");
        sb.Append(InlineSvg(svg, "p" + index.ToString(CultureInfo.InvariantCulture)));
        sb.Append("\n<figcaption>").Append(E(title)).Append("</figcaption>\n</figure>\n");
        index++;
    }

    /// <summary>
    /// The SVG without its XML declaration, its ids made unique to this plot and independent of how
    /// many plots the process drew before (Skia numbers clip paths per process), and bitmaps
    /// (the heat map) drawn as pixels, not blurred.
    /// </summary>
    internal static string InlineSvg(string svg, string prefix)
    {
        int start = svg.IndexOf("<svg", StringComparison.Ordinal);
        if (start > 0) svg = svg[start..];
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (Match m in IdAttr().Matches(svg))
            map.TryAdd(m.Groups[1].Value, prefix + "-" + map.Count.ToString(CultureInfo.InvariantCulture));
        if (map.Count > 0)
        {
            svg = IdRef().Replace(svg, m =>
                map.TryGetValue(m.Groups[2].Value, out var n) ? m.Groups[1].Value + n + m.Groups[3].Value : m.Value);
        }
        svg = svg.Replace("<image ", "<image style=\"image-rendering:pixelated\" ", StringComparison.Ordinal);
        return svg.Trim();
    }

    [GeneratedRegex("id=\"([^\"]+)\"")]
    private static partial Regex IdAttr();

    [GeneratedRegex("(id=\"|#)([A-Za-z_][A-Za-z0-9_-]*)([\"\\)])")]
    private static partial Regex IdRef();

    private static Plot Heat(ScenarioReport r, string title, IReadOnlyList<(string Label, System.Collections.Immutable.ImmutableArray<long> Lost)> rows, string what)
    {
        int windows = r.Windows.Length;
        var data = new double[rows.Count, Math.Max(windows, 1)];
        // Row 0 at the top: the first CPU of the first host.
        for (int i = 0; i < rows.Count; i++)
            for (int w = 0; w < windows && w < rows[i].Lost.Length; w++)
                data[i, w] = rows[i].Lost[w];
        var plot = new Plot();
        var hm = plot.Add.Heatmap(data);
        hm.Colormap = new ScottPlot.Colormaps.Turbo();
        hm.Smooth = false;
        double most = 0;
        foreach (double v in data) most = Math.Max(most, v);
        hm.ManualRange = new ScottPlot.Range(0, most > 0 ? most : 1); // 0 lost is always the coldest colour
        double end = r.DurationNs / 1e9;
        hm.Extent = new CoordinateRect(0, end > 0 ? end : 1, 0, rows.Count);
        var bar = plot.Add.ColorBar(hm);
        bar.Label = "lost samples in the window";
        plot.Title(title);
        plot.XLabel("virtual time (s)");
        plot.YLabel(what + " (fleet order, first at the top)");
        if (rows.Count <= 16)
        {
            var ticks = new ScottPlot.TickGenerators.NumericManual();
            for (int i = 0; i < rows.Count; i++) ticks.AddMajor(rows.Count - i - 0.5, rows[i].Label);
            plot.Axes.Left.TickGenerator = ticks;
        }
        plot.Axes.SetLimits(0, end > 0 ? end : 1, 0, rows.Count);
        return plot;
    }

    private static Plot HelperBars(ScenarioReport r, string helper)
    {
        var counts = r.Totals.Helpers.Where(h => h.Helper == helper).ToList();
        var plot = new Plot();
        var bars = new List<Bar>();
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        for (int i = 0; i < counts.Count; i++)
        {
            var h = counts[i];
            bars.Add(new Bar
            {
                Position = i,
                Value = h.Count,
                FillColor = h.Return < 0 ? Colors.FireBrick : Colors.SteelBlue,
                Label = Count(h.Count),
            });
            ticks.AddMajor(i, ReturnLabel(h.Return));
        }
        var plottable = plot.Add.Bars(bars);
        plottable.ValueLabelStyle.FontSize = 12;
        plot.Axes.Bottom.TickGenerator = ticks;
        plot.Axes.Margins(bottom: 0, top: 0.15);
        plot.Title(Titles.Helper(helper));
        plot.XLabel("return value");
        plot.YLabel("calls");
        return plot;
    }

    /// <summary>Step lines over the windows: each window's value holds from its start to the next window's (the last to the end).</summary>
    private static Plot Lines(string title, string yLabel, double[] xs, double end, params (string Name, double[] Ys)[] series)
    {
        var plot = new Plot();
        double max = 0;
        foreach (var (name, ys) in series)
        {
            if (xs.Length == 0) continue;
            double[] x = [.. xs, end];
            double[] y = [.. ys, ys[^1]];
            var s = plot.Add.Scatter(x, y);
            s.LegendText = name;
            s.MarkerSize = 0;
            s.LineWidth = 2;
            s.ConnectStyle = ConnectStyle.StepHorizontal;
            foreach (double v in ys) max = Math.Max(max, v);
        }
        plot.ShowLegend(Alignment.LowerRight);
        plot.Title(title);
        plot.XLabel("virtual time (s)");
        plot.YLabel(yLabel);
        // Counts and sizes: the axis starts at 0 so a small change does not look like a cliff.
        plot.Axes.SetLimits(0, end > 0 ? end : 1, 0, max > 0 ? max * 1.15 : 1);
        return plot;
    }

    internal static string ReturnLabel(long ret) =>
        ret < 0 && Errno.Name(ret) is { } name ? $"{ret.ToString(CultureInfo.InvariantCulture)} {name}" : ret.ToString(CultureInfo.InvariantCulture);

    internal static string Count(long n) => n.ToString("N0", CultureInfo.InvariantCulture);

    internal static string Percent(double ratio) => (ratio * 100).ToString("0.####", CultureInfo.InvariantCulture) + " %";

    private static string E(string s) => WebUtility.HtmlEncode(s);

    private const string Css = """
        body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 960px; color: #222; }
        h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
        .meta, .note { color: #555; }
        table { border-collapse: collapse; margin: .5em 0; }
        th, td { padding: .2em .8em; border-bottom: 1px solid #ddd; text-align: left; }
        td.n { text-align: right; font-variant-numeric: tabular-nums; }
        figure.plot { margin: 1.5em 0; }
        figure.plot svg { display: block; max-width: 100%; height: auto; }
        figcaption { color: #555; font-size: .9em; }

        """;
}

/// <summary>Durations as people read them, in the scenario file's units.</summary>
internal static class Units
{
    public static string Duration(long ns)
    {
        if (ns == 0) return "0";
        (double v, string u) = ns switch
        {
            >= 60_000_000_000 when ns % 60_000_000_000 == 0 => (ns / 60e9, "m"),
            >= 1_000_000_000 => (ns / 1e9, "s"),
            >= 1_000_000 => (ns / 1e6, "ms"),
            >= 1_000 => (ns / 1e3, "us"),
            _ => (ns, "ns"),
        };
        return v.ToString("0.###", CultureInfo.InvariantCulture) + " " + u;
    }
}

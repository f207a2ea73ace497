using System.Globalization;
using System.Net;
using System.Text;
using BpfTraceSim.Client.Reports;
using ScottPlot;

namespace BpfTraceSim.Client.Sweeps;

/// <summary>
/// sweep.html: one self-contained page (inline SVG drawn by ScottPlot, no scripts) with the loss
/// surface: for one parameter the metric against its values (every seed as a dot, the seeds'
/// range as a bar, their mean as a line); for two a heat map of the worst seed (or mean without a
/// target) with the target's boundary drawn between meeting and failing cells; the target as a
/// dashed line and the chosen point marked; then the table of points.
/// </summary>
public static class SweepHtml
{
    public static class Titles
    {
        public const string Lines = "Loss against the parameter";
        public const string Heat = "Loss surface";
    }

    public static string Render(SweepDocument d)
    {
        var sb = new StringBuilder(64 * 1024);
        string title = $"bpfsim sweep: {d.Scenario}";
        sb.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>").Append(E(title))
          .Append("</title>\n<style>\n").Append(Css).Append("</style>\n</head>\n<body>\n<h1>").Append(E(title)).Append("</h1>\n");
        sb.Append("<p class=\"meta\">").Append(E(d.File)).Append(" &middot; ").Append(d.Seeds.Length).Append(d.Seeds.Length == 1 ? " seed" : " seeds")
          .Append(" (").Append(E(string.Join(", ", d.Seeds.Take(8)))).Append(d.Seeds.Length > 8 ? ", ..." : "").Append(") &middot; ")
          .Append(E(string.Join(" x ", d.Parameters.Select(p => $"{p.Path} ({p.Values.Length})")))).Append(" &middot; search ").Append(E(d.Search));
        if (d.Target is not null) sb.Append(" &middot; target <code>").Append(E(d.Target.Text)).Append("</code>");
        sb.Append("</p>\n");
        if (d.Message.Length > 0) sb.Append("<pre class=\"answer\">").Append(E(d.Message)).Append("</pre>\n");

        var points = d.Points();
        if (points.Count > 0)
        {
            if (d.Parameters.Length == 1) Figure(sb, "loss-lines", Titles.Lines, LinePlot(d, points), 900, 420);
            else if (d.Parameters.Length == 2)
            {
                Figure(sb, "loss-heatmap", Titles.Heat, HeatPlot(d, points), 900, 520);
                sb.Append("<p class=\"note\">Each cell: ").Append(d.Target is null ? "the mean over seeds" : "the worst seed")
                  .Append(d.Target is null ? "." : "; white line: the target's boundary; white dots: points meeting it at every seed; black circle: the chosen point.")
                  .Append("</p>\n");
            }
            else sb.Append("<p class=\"note\">No plot: more than two parameters vary; see the table.</p>\n");
        }
        Table(sb, d, points);
        sb.Append("</body>\n</html>\n");
        return sb.ToString();
    }

    /// <summary>Metric values as plotted: log10 when they are positive and span more than two decades (zeros drawn at the floor).</summary>
    private sealed class Scale
    {
        public bool Log { get; }
        private readonly double _floor;

        public Scale(IEnumerable<double> values)
        {
            var pos = values.Where(v => v > 0).ToList();
            if (pos.Count >= 2 && pos.Max() / pos.Min() > 100)
            {
                Log = true;
                _floor = pos.Min() / 2;
            }
        }

        public double Y(double v) => Log ? Math.Log10(Math.Max(v, _floor)) : v;

        public string Label(string metric) => Log ? $"{metric} (log10; 0 drawn at the floor)" : metric;
    }

    private static Plot LinePlot(SweepDocument d, IReadOnlyList<(int Point, System.Collections.Immutable.ImmutableArray<string> Values, IReadOnlyList<SweepRow> Seeds)> points)
    {
        var par = d.Parameters[0];
        string metric = d.Metric;
        // x: the value's rank from lowest to highest (categorical: powers of two are evenly spaced).
        int[] asc = par.Ascending();
        var rank = new int[asc.Length];
        for (int k = 0; k < asc.Length; k++) rank[asc[k]] = k;
        var all = points.SelectMany(p => p.Seeds.Select(s => s.Metrics[metric])).ToList();
        if (d.Target is not null) all.Add(d.Target.Bound);
        var scale = new Scale(all);

        var plot = new Plot();
        var ordered = points.OrderBy(p => rank[par.Values.IndexOf(p.Values[0])]).ToList();
        var xs = new List<double>();
        var means = new List<double>();
        var dotX = new List<double>();
        var dotY = new List<double>();
        foreach (var p in ordered)
        {
            double x = rank[par.Values.IndexOf(p.Values[0])];
            var ys = p.Seeds.Select(s => s.Metrics[metric]).ToList();
            xs.Add(x);
            means.Add(scale.Y(ys.Average()));
            foreach (double y in ys)
            {
                dotX.Add(x);
                dotY.Add(scale.Y(y));
            }
            var bar = plot.Add.Line(x, scale.Y(ys.Min()), x, scale.Y(ys.Max()));
            bar.LineWidth = 3;
            bar.Color = Colors.SteelBlue.WithAlpha(0.5);
        }
        var dots = plot.Add.ScatterPoints(dotX.ToArray(), dotY.ToArray());
        dots.MarkerSize = 4;
        dots.Color = Colors.Gray;
        dots.LegendText = "each seed";
        var mean = plot.Add.Scatter(xs.ToArray(), means.ToArray());
        mean.LegendText = "mean over seeds";
        mean.LineWidth = 2;
        mean.MarkerSize = 6;
        mean.Color = Colors.SteelBlue;
        if (d.Target is { } t)
        {
            var line = plot.Add.HorizontalLine(scale.Y(t.Bound));
            line.LinePattern = LinePattern.Dashed;
            line.Color = Colors.FireBrick;
            line.LegendText = "target " + t.Text;
        }
        if (d.Chosen is { } c && points.FirstOrDefault(p => p.Point == c) is { Seeds: not null } chosen)
        {
            double x = rank[par.Values.IndexOf(chosen.Values[0])];
            var m = plot.Add.Marker(x, scale.Y(d.Target!.Worst(chosen.Seeds.Select(s => s.Metrics[metric]))), MarkerShape.OpenCircle, 18, Colors.FireBrick);
            m.LegendText = "chosen: " + par.Values[par.Values.IndexOf(chosen.Values[0])];
        }
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        int every = Math.Max(1, asc.Length / 16);
        for (int k = 0; k < asc.Length; k += every) ticks.AddMajor(k, par.Values[asc[k]]);
        plot.Axes.Bottom.TickGenerator = ticks;
        plot.Axes.SetLimitsX(-0.5, asc.Length - 0.5);
        plot.ShowLegend(Alignment.UpperRight);
        plot.Title(Titles.Lines);
        plot.XLabel(par.Path);
        plot.YLabel(scale.Label(metric));
        return plot;
    }

    private static Plot HeatPlot(SweepDocument d, IReadOnlyList<(int Point, System.Collections.Immutable.ImmutableArray<string> Values, IReadOnlyList<SweepRow> Seeds)> points)
    {
        var px = d.Parameters[0];
        var py = d.Parameters[1];
        string metric = d.Metric;
        int[] ax = px.Ascending(), ay = py.Ascending();
        var rx = new int[ax.Length];
        var ry = new int[ay.Length];
        for (int k = 0; k < ax.Length; k++) rx[ax[k]] = k;
        for (int k = 0; k < ay.Length; k++) ry[ay[k]] = k;
        double Cell(IReadOnlyList<SweepRow> seeds)
        {
            var ys = seeds.Select(s => s.Metrics[metric]);
            return d.Target is { } t ? t.Worst(ys) : ys.Average();
        }
        var scale = new Scale(points.Select(p => Cell(p.Seeds)));
        int w = ax.Length, h = ay.Length;
        var data = new double[h, w];
        var meets = new bool?[h, w];
        for (int r = 0; r < h; r++) for (int c = 0; c < w; c++) data[r, c] = double.NaN;
        foreach (var p in points)
        {
            int c = rx[px.Values.IndexOf(p.Values[0])];
            int r = h - 1 - ry[py.Values.IndexOf(p.Values[1])]; // row 0 at the top: the highest value of the second parameter
            data[r, c] = scale.Y(Cell(p.Seeds));
            if (d.Target is not null) meets[r, c] = d.Meets(p.Seeds);
        }
        var plot = new Plot();
        var hm = plot.Add.Heatmap(data);
        hm.Colormap = new ScottPlot.Colormaps.Turbo();
        hm.Smooth = false;
        hm.Extent = new CoordinateRect(-0.5, w - 0.5, -0.5, h - 0.5);
        var bar = plot.Add.ColorBar(hm);
        bar.Label = (d.Target is null ? "mean " : "worst seed ") + scale.Label(metric);
        // The target's boundary: an edge between a meeting and a failing cell.
        if (d.Target is not null)
        {
            void Edge(double x1, double y1, double x2, double y2)
            {
                var l = plot.Add.Line(x1, y1, x2, y2);
                l.LineWidth = 3;
                l.Color = Colors.White;
            }
            for (int r = 0; r < h; r++)
                for (int c = 0; c < w; c++)
                {
                    double cx = c, cy = h - 1 - r;
                    if (c + 1 < w && meets[r, c] is { } a && meets[r, c + 1] is { } b && a != b) Edge(cx + 0.5, cy - 0.5, cx + 0.5, cy + 0.5);
                    if (r + 1 < h && meets[r, c] is { } a2 && meets[r + 1, c] is { } b2 && a2 != b2) Edge(cx - 0.5, cy - 0.5, cx + 0.5, cy - 0.5);
                }
            var ok = new List<Coordinates>();
            for (int r = 0; r < h; r++) for (int c = 0; c < w; c++) if (meets[r, c] == true) ok.Add(new Coordinates(c, h - 1 - r));
            if (ok.Count > 0)
            {
                var m = plot.Add.Markers(ok.ToArray(), MarkerShape.FilledCircle, 5, Colors.White);
                m.LegendText = "meets " + d.Target.Text;
            }
        }
        if (d.Chosen is { } chosenIndex && points.FirstOrDefault(p => p.Point == chosenIndex) is { Seeds: not null } chosen)
        {
            var m = plot.Add.Marker(rx[px.Values.IndexOf(chosen.Values[0])], ry[py.Values.IndexOf(chosen.Values[1])], MarkerShape.OpenCircle, 22, Colors.Black);
            m.LineWidth = 3;
            m.LegendText = "chosen";
        }
        var xt = new ScottPlot.TickGenerators.NumericManual();
        for (int k = 0; k < w; k += Math.Max(1, w / 16)) xt.AddMajor(k, px.Values[ax[k]]);
        var yt = new ScottPlot.TickGenerators.NumericManual();
        for (int k = 0; k < h; k += Math.Max(1, h / 16)) yt.AddMajor(k, py.Values[ay[k]]);
        plot.Axes.Bottom.TickGenerator = xt;
        plot.Axes.Left.TickGenerator = yt;
        plot.Axes.SetLimits(-0.5, w - 0.5, -0.5, h - 0.5);
        plot.HideLegend();
        plot.Title(Titles.Heat);
        plot.XLabel(px.Path);
        plot.YLabel(py.Path);
        return plot;
    }

    private static void Table(StringBuilder sb, SweepDocument d, IReadOnlyList<(int Point, System.Collections.Immutable.ImmutableArray<string> Values, IReadOnlyList<SweepRow> Seeds)> points)
    {
        sb.Append("<h2>Points</h2>\n<table class=\"points\">\n<tr>");
        foreach (var p in d.Parameters) sb.Append("<th>").Append(E(p.Path)).Append("</th>");
        foreach (var h in SweepTable.Headers(d)) sb.Append("<th>").Append(E(h)).Append("</th>");
        sb.Append("</tr>\n");
        foreach (var p in points)
        {
            sb.Append(p.Point == d.Chosen ? "<tr class=\"chosen\">" : "<tr>");
            foreach (var v in p.Values) sb.Append("<td>").Append(E(v)).Append("</td>");
            foreach (var c in SweepTable.Cells(d, p.Point, p.Seeds)) sb.Append("<td class=\"n\">").Append(E(c)).Append("</td>");
            sb.Append("</tr>\n");
        }
        sb.Append("</table>\n");
    }

    private static void Figure(StringBuilder sb, string id, string title, Plot plot, int width, int height)
    {
        sb.Append("<figure class=\"plot\" id=\"").Append(E(id)).Append("\" data-title=\"").Append(E(title)).Append("\">\n")
          .Append(ReportHtml.InlineSvg(plot.GetSvgXml(width, height), id))
          .Append("\n<figcaption>").Append(E(title)).Append("</figcaption>\n</figure>\n");
    }

    private static string E(string s) => WebUtility.HtmlEncode(s);

    private const string Css = """
        body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 960px; color: #222; }
        h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
        .meta, .note { color: #555; }
        pre.answer { background: #f4f4f4; padding: .8em; white-space: pre-wrap; }
        table { border-collapse: collapse; margin: .5em 0; font-size: .85em; }
        th, td { padding: .2em .8em; border-bottom: 1px solid #ddd; text-align: left; }
        td.n { text-align: right; font-variant-numeric: tabular-nums; }
        tr.chosen { background: #fff3c4; font-weight: bold; }
        figure.plot { margin: 1.5em 0; }
        figure.plot svg { display: block; max-width: 100%; height: auto; }
        figcaption { color: #555; font-size: .9em; }

        """;

    internal static string Num(double v) => SweepSearch.Fmt(v);

    internal static string Invariant(long v) => v.ToString(CultureInfo.InvariantCulture);
}

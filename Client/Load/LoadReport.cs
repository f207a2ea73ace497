using System.Globalization;
using System.Text;
using System.Text.Json;
using ScottPlot;

namespace BpfTraceSim.Client.Load;

/// <summary>load.json (machine-readable) and load.html (latency percentiles, throughput over time).</summary>
internal static class LoadReport
{
    private static readonly double[] Percentiles = [50, 90, 99, 99.9];

    public static double Us(LoadResult r, double percentile) =>
        r.Latency.TotalCount == 0 ? 0 : r.Latency.GetValueAtPercentile(percentile) / 1000.0;

    public static double MaxUs(LoadResult r) => r.Latency.TotalCount == 0 ? 0 : r.Latency.GetValueAtPercentile(100) / 1000.0;

    public static string Json(LoadResult r)
    {
        var o = r.Options;
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("mode", o.Rate is null ? "closed" : "open");
            w.WriteNumber("duration_s", Math.Round(r.Seconds, 3));
            w.WriteNumber("warmup_s", o.Warmup.TotalSeconds);
            w.WriteNumber("cpus", o.Cpus);
            w.WriteNumber("batch", o.Batch);
            if (o.Rate is double rate) w.WriteNumber("target_calls_per_s", rate);
            else w.WriteNumber("callers", o.Callers);
            w.WriteStartArray("mix");
            foreach (var m in o.Mix) w.WriteStringValue(m.ToString());
            w.WriteEndArray();
            w.WriteNumber("helper_calls", r.Calls);
            w.WriteNumber("grain_calls", r.GrainCalls);
            w.WriteNumber("helper_calls_per_s", Math.Round(r.CallsPerSecond, 1));
            w.WriteStartObject("grain_call_latency_us");
            foreach (double p in Percentiles) w.WriteNumber("p" + p.ToString(CultureInfo.InvariantCulture).Replace(".", "", StringComparison.Ordinal), Math.Round(Us(r, p), 2));
            w.WriteNumber("max", Math.Round(MaxUs(r), 2));
            w.WriteEndObject();
            w.WriteStartObject("returns");
            foreach (var (call, rets) in r.Returns.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                w.WriteStartObject(call);
                foreach (var (ret, n) in rets.OrderBy(kv => kv.Key)) w.WriteNumber(ret.ToString(CultureInfo.InvariantCulture), n);
                w.WriteEndObject();
            }
            w.WriteEndObject();
            w.WriteStartArray("per_second");
            foreach (var s in r.PerSecond)
            {
                w.WriteStartObject();
                w.WriteNumber("second", s.Second);
                w.WriteNumber("helper_calls", s.Calls);
                w.WriteNumber("p99_us", Math.Round(s.P99Us, 2));
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray()) + "\n";
    }

    public static string Html(LoadResult r)
    {
        var sb = new StringBuilder();
        sb.Append("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>bpfsim load</title>")
          .Append("<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}</style>")
          .Append("</head><body><h1>bpfsim load</h1>");
        sb.Append("<table><tr><th>helper calls/s</th><th>helper calls</th><th>grain calls</th><th>batch</th>");
        foreach (double p in Percentiles) sb.Append($"<th>p{p.ToString(CultureInfo.InvariantCulture)} µs</th>");
        sb.Append("<th>max µs</th></tr><tr>")
          .Append($"<td>{r.CallsPerSecond:N0}</td><td>{r.Calls:N0}</td><td>{r.GrainCalls:N0}</td><td>{r.Options.Batch}</td>");
        foreach (double p in Percentiles) sb.Append($"<td>{Us(r, p):N1}</td>");
        sb.Append($"<td>{MaxUs(r):N1}</td></tr></table>");
        sb.Append("<h2>Grain call latency by percentile</h2>").Append(Figure(LatencyPlot(r), "latency-percentiles"));
        sb.Append("<h2>Throughput over time</h2>").Append(Figure(ThroughputPlot(r), "throughput"));
        sb.Append("</body></html>\n");
        return sb.ToString();
    }

    private static string Figure(Plot plot, string id) => $"<figure id=\"{id}\">{plot.GetSvgXml(800, 360)}</figure>";

    private static Plot LatencyPlot(LoadResult r)
    {
        var plot = new Plot();
        var xs = new List<double>();
        var ys = new List<double>();
        // x: the "nines" (log10 of 1/(1-p)), the usual HdrHistogram percentile view.
        foreach (double p in new[] { 0, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99 })
        {
            if (r.Latency.TotalCount == 0) break;
            xs.Add(-Math.Log10(1 - p / 100.0));
            ys.Add(Us(r, p));
        }
        var s = plot.Add.Scatter(xs.ToArray(), ys.ToArray());
        s.LegendText = "grain call latency";
        plot.Title("Latency by percentile");
        plot.XLabel("percentile (0, 90, 99, 99.9, 99.99 at 0..4)");
        plot.YLabel("µs");
        return plot;
    }

    private static Plot ThroughputPlot(LoadResult r)
    {
        var plot = new Plot();
        double[] xs = [.. r.PerSecond.Select(s => (double)s.Second)];
        double[] ys = [.. r.PerSecond.Select(s => (double)s.Calls)];
        if (xs.Length > 0) plot.Add.Scatter(xs, ys);
        plot.Title("Helper calls per second");
        plot.XLabel("second");
        plot.YLabel("helper calls");
        return plot;
    }
}

using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using BpfTraceSim.Contracts.Grains;

namespace BpfTraceSim.Client.Reports;

/// <summary>
/// Writes report.json by hand, not through a serializer, so that field order, layout and number
/// formatting are fixed (docs/scenarios.md): the same scenario and seed give the same bytes. The
/// core fields come first in the contract's order; extensions follow them. Layout: one field per
/// line at the top and in totals; one line per per_cpu, window and per_host entry. Integers in
/// invariant decimal; lost_ratio as the shortest string that round-trips the double; "\n" line ends;
/// UTF-8 without BOM.
/// </summary>
public static class ReportJson
{
    /// <summary>Hosts per per_cpu page asked of the scenario grain.</summary>
    public const int HostsPerPage = 64;

    /// <summary>Reads per_cpu entries of hosts [first, first + count).</summary>
    public delegate Task<ImmutableArray<CpuReport>> PerCpuPages(long firstHost, int hostCount);

    public static async Task WriteAsync(TextWriter w, ScenarioReport r, PerCpuPages? perCpu, CancellationToken ct = default)
    {
        w.Write("{\n");
        Field(w, 1, "scenario", Str(r.Scenario));
        Field(w, 1, "seed", r.Seed.ToString(CultureInfo.InvariantCulture));
        Field(w, 1, "duration_ns", Int(r.DurationNs));
        Field(w, 1, "hosts", Int(r.Hosts));
        Field(w, 1, "cpus", Int(r.Cpus));
        w.Write("  \"totals\": {\n");
        WriteTotals(w, r.Totals);
        w.Write("  },\n");

        w.Write("  \"per_cpu\": [");
        bool first = true;
        if (r.PerCpuListed && perCpu is not null)
        {
            for (long h = 0; h < r.Hosts; h += HostsPerPage)
            {
                ct.ThrowIfCancellationRequested();
                int n = (int)Math.Min(HostsPerPage, r.Hosts - h);
                foreach (var c in await perCpu(h, n))
                {
                    w.Write(first ? "\n    " : ",\n    ");
                    first = false;
                    var sb = new StringBuilder(256);
                    sb.Append("{ \"host\": ").Append(Str(c.Host)).Append(", \"cpu\": ").Append(Int(c.Cpu)).Append(", ");
                    InlineCounters(sb, c.Counters);
                    sb.Append(", \"lost_per_window\": ");
                    IntArray(sb, c.LostPerWindow);
                    sb.Append(" }");
                    w.Write(sb);
                }
            }
        }
        w.Write(first ? "],\n" : "\n  ],\n");

        w.Write("  \"windows\": [");
        for (int i = 0; i < r.Windows.Length; i++)
        {
            var x = r.Windows[i];
            w.Write(i == 0 ? "\n    " : ",\n    ");
            w.Write(
                $"{{ \"start_ns\": {Int(x.StartNs)}, \"lost\": {Int(x.Lost)}, \"records_written\": {Int(x.RecordsWritten)}, " +
                $"\"ring_fill_max_bytes\": {Int(x.RingFillMaxBytes)}, \"firings\": {Int(x.Firings)}, \"helper_calls\": {Int(x.HelperCalls)}, " +
                $"\"helper_errors\": {Int(x.HelperErrors)}, \"records_consumed\": {Int(x.RecordsConsumed)}, \"wakeups\": {Int(x.Wakeups)}, " +
                $"\"records_in_ring\": {Int(x.RecordsInRing)}, \"consumer_lag_p99_ns\": {Int(x.ConsumerLagP99Ns)} }}");
        }
        w.Write(r.Windows.IsDefaultOrEmpty ? "],\n" : "\n  ],\n");

        var k = r.Conservation;
        w.Write($"  \"conservation\": {{ \"ok\": {Bool(k.Ok)}, \"records_written\": {Int(k.RecordsWritten)}, " +
                $"\"records_consumed\": {Int(k.RecordsConsumed)}, \"records_in_ring_at_end\": {Int(k.RecordsInRingAtEnd)}, " +
                $"\"records_overwritten\": {Int(k.RecordsOverwritten)}, \"records_invisible\": {Int(k.RecordsInvisible)}, \"rings\": {Int(k.Rings)} }},\n");

        // Extensions.
        Field(w, 1, "per_cpu_listed", Bool(r.PerCpuListed));
        Field(w, 1, "window_ns", Int(r.WindowNs));
        Field(w, 1, "digest", Str(r.Digest));
        w.Write("  \"per_host\": [");
        for (int i = 0; i < r.PerHost.Length; i++)
        {
            var hr = r.PerHost[i];
            w.Write(i == 0 ? "\n    " : ",\n    ");
            var sb = new StringBuilder(256);
            sb.Append("{ \"host\": ").Append(Str(hr.Host)).Append(", \"cpus\": ").Append(Int(hr.Cpus)).Append(", ");
            InlineCounters(sb, hr.Counters);
            sb.Append(", \"lost_per_window\": ");
            IntArray(sb, hr.LostPerWindow);
            sb.Append(" }");
            w.Write(sb);
        }
        // Optional sections, each only when it has something: a comma goes before each one that follows.
        w.Write(r.PerHost.IsDefaultOrEmpty ? "]" : "\n  ]");
        if (r.LostViews is { } lv)
        {
            string firstLoss = lv.FirstLossNs < 0 ? "null" :
                $"{{ \"time_ns\": {Int(lv.FirstLossNs)}, \"window\": {Int(lv.FirstLossNs / Math.Max(1, r.WindowNs))}, \"host\": {Str(lv.FirstLossHost)}, " +
                $"\"cpu\": {Int(lv.FirstLossCpu)}, \"reader\": {Str(lv.FirstLossReader)} }}";
            w.Write($",\n  \"lost_views\": {{ \"lost\": {Int(r.Totals.Lost)}, \"lost_reported\": {Int(r.Totals.LostReported)}, " +
                $"\"lost_callbacks\": {Int(lv.LostCallbacks)}, \"lost_unwritten\": {Int(lv.LostUnwritten)}, \"first_loss\": {firstLoss} }}");
        }
        if (r.RingMemory is { } mem)
        {
            w.Write(",\n  \"ring_memory\": {\n    \"groups\": [");
            for (int i = 0; i < mem.Groups.Length; i++)
            {
                var g = mem.Groups[i];
                w.Write(i == 0 ? "\n      " : ",\n      ");
                w.Write($"{{ \"group\": {Str(g.Group)}, \"hosts\": {Int(g.Hosts)}, \"page_size\": {Int(g.PageSize)}, \"kernel\": {Str(g.Kernel)}, " +
                    $"\"rings_per_host\": {Int(g.Rings)}, \"data_bytes_per_host\": {Int(g.DataBytesPerHost)}, \"bytes_per_host\": {Int(g.BytesPerHost)}, \"bytes\": {Int(g.BytesPerHost * g.Hosts)}, " +
                    $"\"memlock\": {(g.Memlock == long.MaxValue ? "null" : Int(g.Memlock))}, \"accounting\": {Str(g.Accounting)}, " +
                    $"\"map_charge_bytes\": {Int(g.MapChargeBytes)}, \"pinned_bytes\": {Int(g.PinnedBytes)} }}");
            }
            w.Write($"\n    ],\n    \"fleet_bytes\": {Int(mem.FleetBytes)}\n  }}");
        }
        if (!r.Fitted.IsDefaultOrEmpty)
        {
            w.Write(",\n  \"fitted\": [");
            for (int i = 0; i < r.Fitted.Length; i++)
            {
                var fp = r.Fitted[i];
                w.Write((i == 0 ? "\n    " : ",\n    ") + $"{{ \"program\": {Str(fp.Program)}, \"model\": \"on_off\", \"cpus\": [");
                for (int j = 0; j < fp.Cpus.Length; j++)
                {
                    var c = fp.Cpus[j];
                    w.Write((j == 0 ? "\n      " : ",\n      ") +
                        $"{{ \"cpu\": {Int(c.Cpu)}, \"events\": {Int(c.Events)}, \"bursts\": {Int(c.Bursts)}, \"threshold_ns\": {Int(c.ThresholdNs)}, " +
                        $"\"on_rate_per_sec\": {Ratio(c.OnRatePerSec)}, \"mean_on_ns\": {Ratio(c.MeanOnNs)}, \"mean_off_ns\": {Ratio(c.MeanOffNs)} }}");
                }
                w.Write(fp.Cpus.IsDefaultOrEmpty ? "] }" : "\n    ] }");
            }
            w.Write("\n  ]");
        }
        if (!r.Warnings.IsDefaultOrEmpty)
        {
            w.Write(",\n  \"warnings\": [");
            for (int i = 0; i < r.Warnings.Length; i++)
                w.Write((i == 0 ? "\n    " : ",\n    ") + Str(r.Warnings[i]));
            w.Write("\n  ]");
        }
        w.Write("\n");
        w.Write("}\n");
        await w.FlushAsync(ct);
    }

    /// <summary>The whole file as a string (tests, small reports).</summary>
    public static string ToJson(ScenarioReport r, IReadOnlyList<CpuReport> perCpu)
    {
        var sw = new StringWriter { NewLine = "\n" };
        var byHost = perCpu.GroupBy(c => c.Host).ToList();
        WriteAsync(sw, r, (first, count) =>
        {
            var page = ImmutableArray.CreateBuilder<CpuReport>();
            for (long h = first; h < first + count && h < byHost.Count; h++) page.AddRange(byHost[(int)h]);
            return Task.FromResult(page.ToImmutable());
        }).GetAwaiter().GetResult();
        return sw.ToString();
    }

    private static void WriteTotals(TextWriter w, ScenarioCounters t)
    {
        Field(w, 2, "firings", Int(t.Firings));
        var sb = new StringBuilder();
        Helpers(sb, t.Helpers);
        Field(w, 2, "helpers", sb.ToString());
        Field(w, 2, "records_written", Int(t.RecordsWritten));
        Field(w, 2, "bytes_written", Int(t.BytesWritten));
        Field(w, 2, "records_consumed", Int(t.RecordsConsumed));
        Field(w, 2, "records_in_ring_at_end", Int(t.RecordsInRingAtEnd));
        Field(w, 2, "lost", Int(t.Lost));
        Field(w, 2, "lost_ratio", Ratio(t.LostRatio));
        Field(w, 2, "ring_high_water_bytes", Int(t.RingHighWaterBytes));
        Field(w, 2, "consumer_lag_p99_ns", Int(t.ConsumerLagP99Ns));
        Field(w, 2, "wakeups", Int(t.Wakeups));
        Field(w, 2, "lost_reported", Int(t.LostReported));
        Field(w, 2, "records_overwritten", Int(t.RecordsOverwritten));
        Field(w, 2, "records_invisible", Int(t.RecordsInvisible), last: true);
    }

    /// <summary>The counters of totals on one line, in the same order (per_cpu, per_host).</summary>
    private static void InlineCounters(StringBuilder sb, ScenarioCounters t)
    {
        sb.Append("\"firings\": ").Append(Int(t.Firings));
        sb.Append(", \"helpers\": ");
        Helpers(sb, t.Helpers);
        sb.Append(", \"records_written\": ").Append(Int(t.RecordsWritten));
        sb.Append(", \"bytes_written\": ").Append(Int(t.BytesWritten));
        sb.Append(", \"records_consumed\": ").Append(Int(t.RecordsConsumed));
        sb.Append(", \"records_in_ring_at_end\": ").Append(Int(t.RecordsInRingAtEnd));
        sb.Append(", \"lost\": ").Append(Int(t.Lost));
        sb.Append(", \"lost_ratio\": ").Append(Ratio(t.LostRatio));
        sb.Append(", \"ring_high_water_bytes\": ").Append(Int(t.RingHighWaterBytes));
        sb.Append(", \"consumer_lag_p99_ns\": ").Append(Int(t.ConsumerLagP99Ns));
        sb.Append(", \"wakeups\": ").Append(Int(t.Wakeups));
        sb.Append(", \"lost_reported\": ").Append(Int(t.LostReported));
        sb.Append(", \"records_overwritten\": ").Append(Int(t.RecordsOverwritten));
        sb.Append(", \"records_invisible\": ").Append(Int(t.RecordsInvisible));
    }

    /// <summary>{ "helper": { "ret": count, ... }, ... } in the counters' order (name, then return descending).</summary>
    private static void Helpers(StringBuilder sb, ImmutableArray<HelperReturnCount> helpers)
    {
        if (helpers.IsDefaultOrEmpty)
        {
            sb.Append("{}");
            return;
        }
        sb.Append("{ ");
        string? current = null;
        foreach (var h in helpers)
        {
            if (h.Helper != current)
            {
                if (current is not null) sb.Append(" }, ");
                sb.Append(Str(h.Helper)).Append(": { ");
                current = h.Helper;
            }
            else sb.Append(", ");
            sb.Append('"').Append(Int(h.Return)).Append("\": ").Append(Int(h.Count));
        }
        sb.Append(" } }");
    }

    private static void IntArray(StringBuilder sb, ImmutableArray<long> values)
    {
        sb.Append('[');
        if (!values.IsDefault)
        {
            for (int i = 0; i < values.Length; i++)
            {
                if (i > 0) sb.Append(", ");
                sb.Append(Int(values[i]));
            }
        }
        sb.Append(']');
    }

    private static void Field(TextWriter w, int depth, string name, string value, bool last = false)
    {
        w.Write(depth == 1 ? "  \"" : "    \"");
        w.Write(name);
        w.Write("\": ");
        w.Write(value);
        w.Write(last ? "\n" : ",\n");
    }

    internal static string Int(long v) => v.ToString(CultureInfo.InvariantCulture);

    internal static string Bool(bool v) => v ? "true" : "false";

    /// <summary>The shortest round-trip form ("R"), which .NET writes as valid JSON (e.g. 0.0015625, 1E-07).</summary>
    internal static string Ratio(double v) =>
        double.IsFinite(v) ? v.ToString("R", CultureInfo.InvariantCulture) : "0";

    /// <summary>A JSON string: quotes, backslash and control characters escaped, the rest as is.</summary>
    internal static string Str(string s)
    {
        var sb = new StringBuilder(s.Length + 2);
        sb.Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (c < 0x20 || c is '\u2028' or '\u2029') sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        return sb.Append('"').ToString();
    }
}

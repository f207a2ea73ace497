using System.Globalization;
using System.Text;
using System.Text.Json;
using BpfTraceSim.Kernel;

namespace BpfTraceSim.Client.Reports;

/// <summary>A file that parses as JSON but is not a report.json.</summary>
public sealed class ReportFormatException(string message) : Exception(message);

/// <summary>
/// The terminal summary of a report.json (`bpfsim report`): plain text with aligned columns, so
/// it reads the same in a terminal, a pipe or a CI log. Reads only what the file says (core
/// fields; per_host when present, else per_cpu summed by host).
/// </summary>
public static class ReportSummary
{
    public static string Render(JsonElement root, int top = 10)
    {
        var sb = new StringBuilder();
        string name = Str(root, "scenario");
        string seed = Get(root, "seed").GetRawText();
        long hosts = Int(root, "hosts"), cpus = Int(root, "cpus"), duration = Int(root, "duration_ns");
        int windows = Arr(root, "windows").GetArrayLength();
        sb.Append(name).Append(" (seed ").Append(seed).Append("): ")
          .Append(N(hosts)).Append(hosts == 1 ? " host, " : " hosts, ").Append(N(cpus)).Append(cpus == 1 ? " CPU, " : " CPUs, ")
          .Append(Units.Duration(duration)).Append(" of virtual time in ").Append(N(windows)).Append(windows == 1 ? " window\n" : " windows\n");
        if (root.TryGetProperty("digest", out var digest) && digest.ValueKind == JsonValueKind.String)
            sb.Append("digest ").Append(digest.GetString()).Append('\n');

        var t = Get(root, "totals");
        long written = Int(t, "records_written"), lost = Int(t, "lost");
        var k = Get(root, "conservation");
        var rows = new List<string[]>
        {
            new[] { "firings", N(Int(t, "firings")), "" },
            new[] { "helper calls", N(HelperCalls(Get(t, "helpers"))), "" },
            new[] { "records written", N(written), $"({N(Int(t, "bytes_written"))} bytes)" },
            new[] { "records consumed", N(Int(t, "records_consumed")), "" },
            new[] { "records in rings at end", N(Int(t, "records_in_ring_at_end")), "" },
            new[] { "lost", N(lost), $"({Pct(Get(t, "lost_ratio").GetDouble())} of outputs that reached a ring)" },
            new[] { "ring high water", N(Int(t, "ring_high_water_bytes")), "bytes" },
            new[] { "consumer lag p99", Units.Duration(Int(t, "consumer_lag_p99_ns")), "" },
            new[] { "wake-ups", N(Int(t, "wakeups")), "" },
            new[] { "conservation", Get(k, "ok").GetBoolean() ? "ok" : "FAILED",
                $"{N(Int(k, "records_written"))} written = {N(Int(k, "records_consumed"))} consumed + {N(Int(k, "records_in_ring_at_end"))} in rings" },
        };
        sb.Append("\ntotals\n");
        Table(sb, rows, rightAligned: [false, true, false]);

        var helpers = Helpers(Get(t, "helpers"));
        if (helpers.Count > 0)
        {
            sb.Append("\nhelpers\n");
            var hr = new List<string[]>();
            foreach (var g in helpers.GroupBy(h => h.Helper))
            {
                long all = g.Sum(h => h.Count);
                bool firstRow = true;
                foreach (var h in g)
                {
                    hr.Add([firstRow ? h.Helper : "", ReportHtml.ReturnLabel(h.Ret), N(h.Count), Pct(all == 0 ? 0 : (double)h.Count / all)]);
                    firstRow = false;
                }
            }
            Table(sb, hr, rightAligned: [false, false, true, true]);
        }

        sb.Append("\ntop errors\n");
        var errors = helpers.Where(h => h.Ret < 0).OrderByDescending(h => h.Count).ThenBy(h => h.Helper, StringComparer.Ordinal).ThenByDescending(h => h.Ret).Take(top).ToList();
        if (errors.Count == 0) sb.Append("  none: every helper call succeeded\n");
        else
        {
            var er = new List<string[]>();
            foreach (var e in errors)
            {
                long calls = helpers.Where(h => h.Helper == e.Helper).Sum(h => h.Count);
                er.Add([e.Helper, ReportHtml.ReturnLabel(e.Ret), N(e.Count), $"({Pct((double)e.Count / calls)} of its calls)"]);
            }
            Table(sb, er, rightAligned: [false, false, true, false]);
        }

        var perHost = PerHost(root);
        sb.Append("\nloss per host");
        if (perHost.Count == 0) sb.Append(": not in this report (per_cpu not listed and no per_host)\n");
        else
        {
            var shown = perHost.OrderByDescending(h => h.Lost).ThenBy(h => h.Index).Take(top).ToList();
            sb.Append(perHost.Count > shown.Count ? $" (the {shown.Count} that lost the most, of {N(perHost.Count)})\n" : "\n");
            var lr = new List<string[]> { new[] { "host", "cpus", "firings", "written", "lost", "lost ratio" } };
            foreach (var h in shown)
                lr.Add([h.Host, N(h.Cpus), N(h.Firings), N(h.Written), N(h.Lost), Pct(h.Written + h.Lost == 0 ? 0 : (double)h.Lost / (h.Written + h.Lost))]);
            Table(sb, lr, rightAligned: [false, true, true, true, true, true]);
        }
        return sb.ToString();
    }

    private sealed record HostRow(int Index, string Host, long Cpus, long Firings, long Written, long Lost);

    private static List<HostRow> PerHost(JsonElement root)
    {
        var list = new List<HostRow>();
        if (root.TryGetProperty("per_host", out var ph) && ph.ValueKind == JsonValueKind.Array && ph.GetArrayLength() > 0)
        {
            foreach (var h in ph.EnumerateArray())
                list.Add(new HostRow(list.Count, Str(h, "host"), Int(h, "cpus"), Int(h, "firings"), Int(h, "records_written"), Int(h, "lost")));
            return list;
        }
        var byHost = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var c in Arr(root, "per_cpu").EnumerateArray())
        {
            string host = Str(c, "host");
            if (!byHost.TryGetValue(host, out int i))
            {
                i = list.Count;
                byHost[host] = i;
                list.Add(new HostRow(i, host, 0, 0, 0, 0));
            }
            var r = list[i];
            list[i] = r with { Cpus = r.Cpus + 1, Firings = r.Firings + Int(c, "firings"), Written = r.Written + Int(c, "records_written"), Lost = r.Lost + Int(c, "lost") };
        }
        return list;
    }

    private sealed record HelperRet(string Helper, long Ret, long Count);

    private static List<HelperRet> Helpers(JsonElement helpers)
    {
        var list = new List<HelperRet>();
        if (helpers.ValueKind != JsonValueKind.Object) throw new ReportFormatException("not a bpfsim report: totals.helpers is not an object");
        foreach (var h in helpers.EnumerateObject())
            foreach (var r in h.Value.EnumerateObject())
            {
                if (!long.TryParse(r.Name, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long ret))
                    throw new ReportFormatException($"not a bpfsim report: totals.helpers.{h.Name} has return value \"{r.Name}\"");
                list.Add(new HelperRet(h.Name, ret, r.Value.GetInt64()));
            }
        return list;
    }

    private static long HelperCalls(JsonElement helpers) => Helpers(helpers).Sum(h => h.Count);

    /// <summary>Rows as columns two spaces apart, indented by two; empty trailing cells trimmed.</summary>
    private static void Table(StringBuilder sb, List<string[]> rows, bool[] rightAligned)
    {
        int cols = rows.Max(r => r.Length);
        var widths = new int[cols];
        foreach (var r in rows)
            for (int i = 0; i < r.Length; i++) widths[i] = Math.Max(widths[i], r[i].Length);
        foreach (var r in rows)
        {
            var line = new StringBuilder("  ");
            for (int i = 0; i < r.Length; i++)
            {
                if (i > 0) line.Append("  ");
                bool right = i < rightAligned.Length && rightAligned[i];
                line.Append(right ? r[i].PadLeft(widths[i]) : r[i].PadRight(widths[i]));
            }
            sb.Append(line.ToString().TrimEnd()).Append('\n');
        }
    }

    private static JsonElement Get(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) ? v : throw new ReportFormatException($"not a bpfsim report: no \"{name}\"");

    private static JsonElement Arr(JsonElement e, string name) =>
        Get(e, name) is { ValueKind: JsonValueKind.Array } a ? a : throw new ReportFormatException($"not a bpfsim report: \"{name}\" is not a list");

    private static long Int(JsonElement e, string name) =>
        Get(e, name) is { ValueKind: JsonValueKind.Number } n && n.TryGetInt64(out long v) ? v : throw new ReportFormatException($"not a bpfsim report: \"{name}\" is not an integer");

    private static string Str(JsonElement e, string name) =>
        Get(e, name) is { ValueKind: JsonValueKind.String } s ? s.GetString()! : throw new ReportFormatException($"not a bpfsim report: \"{name}\" is not a string");

    private static string N(long n) => n.ToString("N0", CultureInfo.InvariantCulture);

    private static string Pct(double ratio) => (ratio * 100).ToString("0.00", CultureInfo.InvariantCulture) + " %";
}

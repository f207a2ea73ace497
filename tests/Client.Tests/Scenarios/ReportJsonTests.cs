using System.Text.Json;
using BpfTraceSim.Client.Reports;
using BpfTraceSim.Contracts.Grains;

namespace BpfTraceSim.Client.Tests.Scenarios;

/// <summary>report.json's layout, field order and number formatting, on a report built by hand.</summary>
public sealed class ReportJsonTests
{
    internal static ScenarioCounters Counters(long firings, long written, long lost, long consumed, long inRing, params HelperReturnCount[] helpers) => new()
    {
        Firings = firings,
        Helpers = [.. helpers],
        RecordsWritten = written,
        BytesWritten = written * 24,
        RecordsConsumed = consumed,
        RecordsInRingAtEnd = inRing,
        Lost = lost,
        RingHighWaterBytes = 4080,
        ConsumerLagP99Ns = 2_400_000,
        Wakeups = written,
    };

    /// <summary>1 host "web-0" with 2 CPUs, 2 windows of 100 ms; CPU 1 lost 1 of 3 outputs.</summary>
    internal static (ScenarioReport Report, CpuReport[] PerCpu) Sample()
    {
        var cpu0 = Counters(5, 5, 0, 5, 0, new("bpf_perf_event_output", 0, 5), new("bpf_trace_printk", 9, 5));
        var cpu1 = Counters(3, 2, 1, 1, 1, new("bpf_perf_event_output", 0, 2), new("bpf_perf_event_output", -28, 1), new("bpf_trace_printk", 9, 3));
        var totals = Counters(8, 7, 1, 6, 1, new("bpf_perf_event_output", 0, 7), new("bpf_perf_event_output", -28, 1), new("bpf_trace_printk", 9, 8));
        var report = new ScenarioReport
        {
            Scenario = "tiny \"one\"",
            Seed = 18446744073709551615,
            DurationNs = 200_000_000,
            Hosts = 1,
            Cpus = 2,
            Totals = totals,
            PerCpuListed = true,
            Windows =
            [
                new WindowReport { StartNs = 0, Lost = 0, RecordsWritten = 4, RingFillMaxBytes = 96, Firings = 4, HelperCalls = 8, HelperErrors = 0, RecordsConsumed = 4, Wakeups = 4, RecordsInRing = 0, ConsumerLagP99Ns = 1000 },
                new WindowReport { StartNs = 100_000_000, Lost = 1, RecordsWritten = 3, RingFillMaxBytes = 4080, Firings = 4, HelperCalls = 8, HelperErrors = 1, RecordsConsumed = 2, Wakeups = 3, RecordsInRing = 1, ConsumerLagP99Ns = 2_400_000 },
            ],
            Conservation = new ConservationReport { Ok = true, RecordsWritten = 7, RecordsConsumed = 6, RecordsInRingAtEnd = 1, Rings = 2 },
            PerHost = [new HostReport { Host = "web-0", Cpus = 2, Counters = totals, LostPerWindow = [0, 1] }],
            Digest = "abc123",
            WindowNs = 100_000_000,
        };
        CpuReport[] perCpu =
        [
            new() { Host = "web-0", Cpu = 0, Counters = cpu0, LostPerWindow = [0, 0] },
            new() { Host = "web-0", Cpu = 1, Counters = cpu1, LostPerWindow = [0, 1] },
        ];
        return (report, perCpu);
    }

    [Fact]
    public void Layout_order_and_numbers_are_exact()
    {
        var (report, perCpu) = Sample();
        const string expected = """
            {
              "scenario": "tiny \"one\"",
              "seed": 18446744073709551615,
              "duration_ns": 200000000,
              "hosts": 1,
              "cpus": 2,
              "totals": {
                "firings": 8,
                "helpers": { "bpf_perf_event_output": { "0": 7, "-28": 1 }, "bpf_trace_printk": { "9": 8 } },
                "records_written": 7,
                "bytes_written": 168,
                "records_consumed": 6,
                "records_in_ring_at_end": 1,
                "lost": 1,
                "lost_ratio": 0.125,
                "ring_high_water_bytes": 4080,
                "consumer_lag_p99_ns": 2400000,
                "wakeups": 7,
                "lost_reported": 0,
                "records_overwritten": 0,
                "records_invisible": 0
              },
              "per_cpu": [
                { "host": "web-0", "cpu": 0, "firings": 5, "helpers": { "bpf_perf_event_output": { "0": 5 }, "bpf_trace_printk": { "9": 5 } }, "records_written": 5, "bytes_written": 120, "records_consumed": 5, "records_in_ring_at_end": 0, "lost": 0, "lost_ratio": 0, "ring_high_water_bytes": 4080, "consumer_lag_p99_ns": 2400000, "wakeups": 5, "lost_reported": 0, "records_overwritten": 0, "records_invisible": 0, "lost_per_window": [0, 0] },
                { "host": "web-0", "cpu": 1, "firings": 3, "helpers": { "bpf_perf_event_output": { "0": 2, "-28": 1 }, "bpf_trace_printk": { "9": 3 } }, "records_written": 2, "bytes_written": 48, "records_consumed": 1, "records_in_ring_at_end": 1, "lost": 1, "lost_ratio": 0.3333333333333333, "ring_high_water_bytes": 4080, "consumer_lag_p99_ns": 2400000, "wakeups": 2, "lost_reported": 0, "records_overwritten": 0, "records_invisible": 0, "lost_per_window": [0, 1] }
              ],
              "windows": [
                { "start_ns": 0, "lost": 0, "records_written": 4, "ring_fill_max_bytes": 96, "firings": 4, "helper_calls": 8, "helper_errors": 0, "records_consumed": 4, "wakeups": 4, "records_in_ring": 0, "consumer_lag_p99_ns": 1000 },
                { "start_ns": 100000000, "lost": 1, "records_written": 3, "ring_fill_max_bytes": 4080, "firings": 4, "helper_calls": 8, "helper_errors": 1, "records_consumed": 2, "wakeups": 3, "records_in_ring": 1, "consumer_lag_p99_ns": 2400000 }
              ],
              "conservation": { "ok": true, "records_written": 7, "records_consumed": 6, "records_in_ring_at_end": 1, "records_overwritten": 0, "records_invisible": 0, "rings": 2 },
              "per_cpu_listed": true,
              "window_ns": 100000000,
              "digest": "abc123",
              "per_host": [
                { "host": "web-0", "cpus": 2, "firings": 8, "helpers": { "bpf_perf_event_output": { "0": 7, "-28": 1 }, "bpf_trace_printk": { "9": 8 } }, "records_written": 7, "bytes_written": 168, "records_consumed": 6, "records_in_ring_at_end": 1, "lost": 1, "lost_ratio": 0.125, "ring_high_water_bytes": 4080, "consumer_lag_p99_ns": 2400000, "wakeups": 7, "lost_reported": 0, "records_overwritten": 0, "records_invisible": 0, "lost_per_window": [0, 1] }
              ]
            }

            """;
        string json = ReportJson.ToJson(report, perCpu);
        Assert.Equal(expected, json);
        using var doc = JsonDocument.Parse(json); // and it is JSON
        Assert.Equal(0.3333333333333333, doc.RootElement.GetProperty("per_cpu")[1].GetProperty("lost_ratio").GetDouble());
    }

    [Fact]
    public void Per_cpu_not_listed_is_an_empty_list_and_empty_sections_stay_valid()
    {
        var (report, _) = Sample();
        var r = report with { PerCpuListed = false, Windows = [], PerHost = [] };
        string json = ReportJson.ToJson(r, []);
        Assert.Contains("\n  \"per_cpu\": [],\n  \"windows\": [],\n  \"conservation\": {", json);
        Assert.EndsWith("\"per_host\": []\n}\n", json);
        using var doc = JsonDocument.Parse(json);
        Assert.False(doc.RootElement.GetProperty("per_cpu_listed").GetBoolean());
    }

    [Theory]
    [InlineData(0L, 0L, "0")]
    [InlineData(10000L, 6390000L, "0.0015625")]
    [InlineData(1L, 2L, "0.3333333333333333")]
    [InlineData(1L, 0L, "1")]
    [InlineData(1L, 9_999_999L, "1E-07")]
    [InlineData(2L, 1L, "0.6666666666666666")]
    public void Lost_ratio_is_the_shortest_round_trip_double(long lost, long written, string text)
    {
        var c = new ScenarioCounters { Lost = lost, RecordsWritten = written };
        string s = ReportJson.Ratio(c.LostRatio);
        Assert.Equal(text, s);
        // Round trip: the text reads back as exactly lost / (written + lost).
        double expected = lost + written == 0 ? 0.0 : (double)lost / (lost + written);
        Assert.Equal(expected, double.Parse(s, System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public void Ratio_formatting_ignores_the_current_culture()
    {
        var saved = System.Globalization.CultureInfo.CurrentCulture;
        try
        {
            System.Globalization.CultureInfo.CurrentCulture = new System.Globalization.CultureInfo("de-DE");
            var (report, perCpu) = Sample();
            string json = ReportJson.ToJson(report, perCpu);
            Assert.Contains("\"lost_ratio\": 0.125,", json);
            Assert.Contains("\"lost_ratio\": 0.3333333333333333,", json);
        }
        finally
        {
            System.Globalization.CultureInfo.CurrentCulture = saved;
        }
    }

    [Theory]
    [InlineData("plain", "\"plain\"")]
    [InlineData("a\"b\\c", "\"a\\\"b\\\\c\"")]
    [InlineData("tab\there\nnl", "\"tab\\there\\nnl\"")]
    [InlineData("\u0001", "\"\\u0001\"")]
    [InlineData("żółw", "\"żółw\"")]
    public void Strings_are_escaped_as_json(string value, string json)
    {
        Assert.Equal(json, ReportJson.Str(value));
        Assert.Equal(value, JsonSerializer.Deserialize<string>(json));
    }
}

/// <summary>report.html built from a hand-made report: stable bytes, unique SVG ids, every plot present.</summary>
public sealed class ReportHtmlTests
{
    [Fact]
    public void The_same_report_renders_the_same_page_with_unique_ids()
    {
        var (report, perCpu) = ReportJsonTests.Sample();
        string a = ReportHtml.Render(report, perCpu);
        string b = ReportHtml.Render(report, perCpu); // Skia's id counters have moved on in between
        Assert.Equal(a, b);
        var ids = System.Text.RegularExpressions.Regex.Matches(a, "\\bid=\"([^\"]+)\"").Select(m => m.Groups[1].Value).ToList();
        Assert.Equal(ids.Count, ids.Distinct().Count());
        Assert.DoesNotContain("<?xml", a);
        foreach (var title in new[] { ReportHtml.Titles.LossHeatCpu, ReportHtml.Titles.Helper("bpf_perf_event_output"), ReportHtml.Titles.Helper("bpf_trace_printk"),
                                      ReportHtml.Titles.RingFill, ReportHtml.Titles.ConsumerLag, ReportHtml.Titles.Records })
            Assert.Contains($"data-title=\"{title}\"", a);
        Assert.Equal(6, System.Text.RegularExpressions.Regex.Matches(a, "<svg ").Count);
    }

    [Fact]
    public void Without_cpus_the_heat_map_has_a_row_per_host()
    {
        var (report, _) = ReportJsonTests.Sample();
        string html = ReportHtml.Render(report with { PerCpuListed = false }, []);
        Assert.Contains($"data-title=\"{ReportHtml.Titles.LossHeatHost}\"", html);
        Assert.DoesNotContain(ReportHtml.Titles.LossHeatCpu, html);
    }

    [Fact]
    public void Svg_ids_and_their_references_are_renumbered_per_plot()
    {
        const string svg = "<?xml version=\"1.0\"?>\n<svg><clipPath id=\"cl_17\"><rect/></clipPath><g clip-path=\"url(#cl_17)\"><image id=\"img_3\" width=\"2\"/></g><use xlink:href=\"#img_3\"/></svg>";
        Assert.Equal("<svg><clipPath id=\"p4-0\"><rect/></clipPath><g clip-path=\"url(#p4-0)\"><image style=\"image-rendering:pixelated\" id=\"p4-1\" width=\"2\"/></g><use xlink:href=\"#p4-1\"/></svg>",
            ReportHtml.InlineSvg(svg, "p4"));
    }
}

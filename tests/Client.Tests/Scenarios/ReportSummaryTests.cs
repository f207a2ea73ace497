using System.Text.Json;
using BpfTraceSim.Client.Reports;

namespace BpfTraceSim.Client.Tests.Scenarios;

/// <summary>`bpfsim report`'s text, on the hand-built report of <see cref="ReportJsonTests"/>.</summary>
public sealed class ReportSummaryTests
{
    [Fact]
    public void Summary_text_is_exact()
    {
        var (report, perCpu) = ReportJsonTests.Sample();
        using var doc = JsonDocument.Parse(ReportJson.ToJson(report, perCpu));
        const string expected = """
            tiny "one" (seed 18446744073709551615): 1 host, 2 CPUs, 200 ms of virtual time in 2 windows
            digest abc123

            totals
              firings                       8
              helper calls                 16
              records written               7  (168 bytes)
              records consumed              6
              records in rings at end       1
              lost                          1  (12.50 % of outputs that reached a ring)
              ring high water           4,080  bytes
              consumer lag p99         2.4 ms
              wake-ups                      7
              conservation                 ok  7 written = 6 consumed + 1 in rings

            helpers
              bpf_perf_event_output  0           7   87.50 %
                                     -28 ENOSPC  1   12.50 %
              bpf_trace_printk       9           8  100.00 %

            top errors
              bpf_perf_event_output  -28 ENOSPC  1  (12.50 % of its calls)

            loss per host
              host   cpus  firings  written  lost  lost ratio
              web-0     2        8        7     1     12.50 %

            """;
        Assert.Equal(expected, ReportSummary.Render(doc.RootElement));
    }

    [Fact]
    public void Without_per_host_the_hosts_come_from_per_cpu_and_top_limits_the_list()
    {
        var (report, perCpu) = ReportJsonTests.Sample();
        var cpus = perCpu.Concat(perCpu.Select(c => c with { Host = "web-1" })).ToArray();
        using var doc = JsonDocument.Parse(ReportJson.ToJson(report with { PerHost = [], Hosts = 2 }, cpus));
        string text = ReportSummary.Render(doc.RootElement, top: 1);
        // Both hosts lost 1; ties keep fleet order, and only the first is shown.
        Assert.EndsWith("""
            loss per host (the 1 that lost the most, of 2)
              host   cpus  firings  written  lost  lost ratio
              web-0     2        8        7     1     12.50 %

            """, text);
    }

    [Fact]
    public void A_run_without_errors_says_so()
    {
        var (report, perCpu) = ReportJsonTests.Sample();
        var clean = report.Totals with { Helpers = [new("bpf_perf_event_output", 0, 8)] };
        using var doc = JsonDocument.Parse(ReportJson.ToJson(report with { Totals = clean }, perCpu));
        Assert.Contains("\ntop errors\n  none: every helper call succeeded\n", ReportSummary.Render(doc.RootElement));
    }
}

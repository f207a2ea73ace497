using BpfTraceSim.Contracts.Scenarios;
using BpfTraceSim.Grains.Simulation;

namespace BpfTraceSim.Grains.Tests.Simulation;

/// <summary>
/// The field's reported failures (scenarios/field/): each file's header names the source and the
/// outcome it reports; these tests hold the simulator to that outcome and to the configuration
/// warning printed before the run.
/// </summary>
public sealed class FieldScenarioTests
{
    private static global::BpfTraceSim.Contracts.Scenarios.Scenario Field(string file) => ScenarioParser.ParseFile(Path.Combine(SimTestUtil.RepoRoot(), "scenarios", "field", file));

    private static SimCounters Run(global::BpfTraceSim.Contracts.Scenarios.Scenario s) => SimTestUtil.Sum(new HostSimulation(s, 0, 0).RunToEnd());

    [Fact]
    public void A_watermark_of_the_whole_ring_never_wakes_the_reader_and_the_ring_fills()
    {
        var s = Field("watermark-never-wakes.yaml");
        var w = Assert.Single(s.Warnings);
        Assert.Equal("events.out.watermark", w.Field);
        Assert.Equal("32768 bytes is at least the ring's 32768 bytes of data (the kernel caps it there): the ring fills before a wake-up " +
            "comes, unless consumer 'agent' reads it first at its poll timeout (1m)", w.Message);
        var t = Run(s);
        Assert.Equal(0, t.Wakeups);
        Assert.Equal(0, t.RecordsConsumed);
        Assert.Equal(4 * 409, t.RecordsWritten); // 32,768 bytes of 80-byte records per CPU, then every record is lost
        Assert.Equal(t.Firings - t.RecordsWritten, t.Lost);
    }

    [Fact]
    public void A_large_wakeup_events_still_wakes_the_reader_every_half_ring()
    {
        // ring_buffer_init gives the ring a watermark of half its data when none is set: wakeup_events
        // above what the ring holds is no reason for a warning, the reader is still woken.
        string yaml = File.ReadAllText(Path.Combine(SimTestUtil.RepoRoot(), "scenarios", "field", "watermark-never-wakes.yaml"))
            .Replace("watermark: 32768", "wakeup_events: 1000", StringComparison.Ordinal).Replace("poll_timeout: 60s", "poll_timeout: 250ms", StringComparison.Ordinal);
        var s = ScenarioParser.Parse(yaml, "w.yaml");
        Assert.Empty(s.Warnings);
        var t = Run(s);
        Assert.True(t.Wakeups >= t.RecordsWritten * 80 / 16384 - 4, $"{t.Wakeups} wake-ups for {t.RecordsWritten} records of 80 bytes");
    }

    [Fact]
    public void A_ring_of_one_plus_six_pages_is_refused_as_perf_mmap_refuses_it()
    {
        var e = Assert.Throws<ScenarioException>(() => Field("mmap-7-pages.yaml")).Error;
        Assert.Equal("events.out.ring_pages", e.Field);
        Assert.Equal("6 is not a power of two (data pages: 1, 2, 4, 8, ...; 0 maps only the metadata page)", e.Message);
    }

    [Fact]
    public void A_watermark_below_the_ring_gives_no_warning_and_one_above_it_is_accepted_with_the_warning()
    {
        string yaml = File.ReadAllText(Path.Combine(SimTestUtil.RepoRoot(), "scenarios", "field", "watermark-never-wakes.yaml"));
        Assert.Empty(ScenarioParser.Parse(yaml.Replace("watermark: 32768", "watermark: 32767", StringComparison.Ordinal), "w.yaml").Warnings);
        // More than the ring is accepted (the kernel caps it), with the same warning.
        var big = ScenarioParser.Parse(yaml.Replace("watermark: 32768", "watermark: 1000000", StringComparison.Ordinal), "w.yaml");
        Assert.StartsWith("1000000 bytes is at least the ring's 32768 bytes of data", Assert.Single(big.Warnings).Message);
    }

    [Fact]
    public void The_example_scenarios_have_no_warnings()
    {
        foreach (string f in Directory.GetFiles(Path.Combine(SimTestUtil.RepoRoot(), "scenarios"), "*.yaml"))
            Assert.Empty(ScenarioParser.ParseFile(f).Warnings);
    }
}

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
    public void Tracee_on_64_KiB_pages_plans_2_GiB_of_rings_per_node()
    {
        // tracee issue 4817: 1,024 pages x 4 buffers x 8 CPUs on 64 KiB pages.
        var s = Field("tracee-64k-pages.yaml");
        var g = Assert.Single(RingMemory.Plan(s).Groups);
        Assert.Equal(32, g.Rings);
        Assert.Equal(2L << 30, g.DataBytesPerHost);                 // the 2 GB
        Assert.Equal((2L << 30) + 32 * 65536, g.BytesPerHost);      // with each ring's metadata page
        Assert.Equal("ring memory: group 'arm64': 32 rings, 2 GiB of data, 2050 MiB with metadata pages per host (64 KiB pages, kernel 6.8), " +
            "2050 MiB for 1 hosts; fleet 2050 MiB", RingMemory.Plan(s).Summary());
        // The same buffers on 4 KiB pages: 16 times less.
        var small = ScenarioParser.Parse(File.ReadAllText(Path.Combine(SimTestUtil.RepoRoot(), "scenarios", "field", "tracee-64k-pages.yaml"))
            .Replace("page_size: 64KiB", "page_size: 4KiB", StringComparison.Ordinal), "t.yaml");
        Assert.Equal(128L << 20, Assert.Single(RingMemory.Plan(small).Groups).DataBytesPerHost);
        // The simulated rings are 64 MiB each: a ring's high water can pass what 1,024 4 KiB pages would hold.
        var inst = new HostSimulation(s, 0, 0);
        inst.RunToEnd();
        Assert.All(inst.InstancesForTest, i => Assert.Equal(64UL << 20, i.Ring!.Size));
    }

    [Fact]
    public void A_burst_of_20_into_8_pages_keeps_8_and_the_lost_callback_never_fires()
    {
        // bcc issue 2396: everything after the 8th record disappears and no lost callback comes.
        var sim = new HostSimulation(Field("burst-into-8-pages.yaml"), 0, 0);
        var t = SimTestUtil.Sum(sim.RunToEnd());
        Assert.Equal(20, t.Firings);
        Assert.Equal(8, t.RecordsWritten);
        Assert.Equal(12, t.Lost);              // the kernel's count (rb->lost, PERF_FORMAT_LOST)
        Assert.Equal(8, t.RecordsConsumed);
        Assert.Equal(0, t.LostReported);        // no PERF_RECORD_LOST reached the reader: no lost callback
        var ring = Assert.Single(sim.InstancesForTest).Ring!;
        Assert.Equal(12UL, ring.LostPending);   // still waiting for an output with room to write the LOST record
        var view = sim.LostView();
        Assert.Equal(0, view.LostCallbacks);
        Assert.Equal(12, view.LostUnwritten);
        Assert.Equal(0, view.FirstLossNs);      // the 9th record of the burst, while the reader takes 100 us to wake
        Assert.Equal("woken, not running yet", view.FirstLossReader);
    }

    private static string OpensnoopYaml(int pages, bool saturated)
    {
        string yaml = File.ReadAllText(Path.Combine(SimTestUtil.RepoRoot(), "scenarios", "field", "opensnoop-yardstick.yaml"))
            .Replace("ring_pages: 8 }", $"ring_pages: {pages} }}", StringComparison.Ordinal);
        return saturated ? yaml + "    cpu_load: [{ at: 5s, util: 100% }, { at: 5300ms, util: 0 }]\n" : yaml;
    }

    [Theory]
    [InlineData(1, true)]
    [InlineData(2, true)]
    [InlineData(4, true)]
    [InlineData(8, false)]
    [InlineData(16, false)]
    [InlineData(32, false)]
    public void Opensnoop_at_100k_opens_per_second_loses_at_1_to_4_pages_and_not_from_8(int pages, bool loses)
    {
        // bcc PR 2777: "lost events with page sizes 1 - 4, and stopped losing them at 8 and beyond".
        var t = Run(ScenarioParser.Parse(OpensnoopYaml(pages, saturated: false), "o.yaml"));
        Assert.Equal(loses, t.Lost > 0);
        Assert.True(t.Firings > 990_000 && t.Firings < 1_010_000, $"{t.Firings} opens in 10 s");
    }

    [Theory]
    [InlineData(8)]
    [InlineData(16)]
    [InlineData(32)]
    public void Opensnoop_loses_again_at_8_pages_and_more_when_all_CPUs_are_at_100_percent(int pages)
    {
        // bcc PR 2777: "if there's some system activity that drives all CPUs to 100% ... gets many lost events".
        var t = Run(ScenarioParser.Parse(OpensnoopYaml(pages, saturated: true), "o.yaml"));
        // 300 ms without the reader: 4 rings x 7,500 records arrive, at most 4 x 420 fit.
        Assert.True(t.Lost > 25_000, $"{t.Lost} lost");
        Assert.Equal(t.Lost, t.LostReported); // the load goes on after it: every loss gets its LOST record
    }

    [Fact]
    public void The_example_scenarios_have_no_warnings()
    {
        foreach (string f in Directory.GetFiles(Path.Combine(SimTestUtil.RepoRoot(), "scenarios"), "*.yaml"))
            Assert.Empty(ScenarioParser.ParseFile(f).Warnings);
    }
}

using BpfTraceSim.Grains.Simulation;

namespace BpfTraceSim.Grains.Tests.Simulation;

/// <summary>
/// The engine's two levels of per-CPU detail (per-CPU windows, per-CPU totals) change what it
/// returns, never what it counts: the host's sums are the same with and without them, and the
/// per-CPU totals kept in the engine are the per-CPU windows added up.
/// </summary>
public class AccountingDetailTests
{
    // Four CPUs, loss on every one of them and a consumer lag spread over several octaves.
    private const string Yaml = """
        name: detail
        seed: 7
        duration: 400ms
        window: 50ms
        fleet:
          - group: g
            cpus: 4
            tasks:
              - { comm: app, pid: 100, count: 4 }
        events:
          out: { per: cpu, ring_pages: 1, wakeup_events: 8 }
        maps:
          events: { max_entries: cpus }
        slots:
          events: per_cpu
        programs:
          p:
            fire: { process: poisson, rate: 20000/s }
            body:
              - perf_event_output: { map: events, size: { uniform: [8, 200] } }
              - perf_event_output: { map: events, flags: 7, size: 16 }
        consumers:
          agent:
            events: out
            service: { exponential: 30us }
            poll_timeout: 10ms
        """;

    private static global::BpfTraceSim.Contracts.Scenarios.Scenario Scenario() => SimTestUtil.Parse(Yaml);

    [Fact]
    public void Host_sums_do_not_depend_on_the_detail_kept()
    {
        var s = Scenario();
        var full = new HostSimulation(s, 0, 0).RunToEnd();
        var bare = new HostSimulation(s, 0, 0, perCpuWindows: false, perCpuTotals: false).RunToEnd();
        Assert.Equal(full.Count, bare.Count);
        for (int w = 0; w < full.Count; w++)
        {
            Assert.Equal(4, full[w].Cpus.Count);
            Assert.Empty(bare[w].Cpus);
            Assert.Equal(full[w].Totals, bare[w].Totals);
        }
        var total = SimTestUtil.Sum(bare);
        Assert.True(total.Lost > 0, "the scenario must lose samples");
        Assert.True(total.Helpers.Get("bpf_perf_event_output", -7) > 0, "index 7 of 4 entries is -E2BIG");
        Assert.True(total.ConsumerLag.Count > 0);
    }

    [Fact]
    public void Per_cpu_totals_are_the_per_cpu_windows_added_up()
    {
        var sim = new HostSimulation(Scenario(), 0, 0);
        var windows = sim.RunToEnd();
        var totals = sim.CpuTotals();
        Assert.Equal(4, totals.Length);
        for (int c = 0; c < 4; c++) Assert.Equal(SimTestUtil.SumCpu(windows, c), totals[c]);
    }

    [Fact]
    public void Per_cpu_totals_without_per_cpu_windows_are_the_same()
    {
        var a = new HostSimulation(Scenario(), 0, 0);
        a.RunToEnd();
        var b = new HostSimulation(Scenario(), 0, 0, perCpuWindows: false, perCpuTotals: true);
        b.RunToEnd();
        Assert.Equal(a.CpuTotals(), b.CpuTotals());
    }

    [Fact]
    public void Per_cpu_totals_carried_across_a_checkpoint_end_the_same()
    {
        var s = Scenario();
        var straight = new HostSimulation(s, 0, 0, perCpuWindows: false);
        straight.RunToEnd();

        var first = new HostSimulation(s, 0, 0, perCpuWindows: false);
        for (int w = 0; w < 3; w++) first.RunWindow(w);
        var restored = HostSimulation.Restore(s, 0, 0, first.Checkpoint(), perCpuWindows: false);
        restored.RestoreCpuTotals(first.CpuTotals());
        restored.RunToEnd();
        Assert.Equal(straight.CpuTotals(), restored.CpuTotals());
    }

    [Fact]
    public void Host_totals_are_the_windows_added_up_and_survive_a_checkpoint()
    {
        var s = Scenario();
        var straight = new HostSimulation(s, 0, 0, perCpuWindows: false, perCpuTotals: false);
        var windows = straight.RunToEnd();
        Assert.Equal(SimTestUtil.Sum(windows), straight.Totals());

        var first = new HostSimulation(s, 0, 0, perCpuWindows: false, perCpuTotals: false);
        for (int w = 0; w < 5; w++) first.RunWindow(w);
        Assert.Equal(SimTestUtil.Sum(windows.Take(5)), first.Totals());
        var restored = HostSimulation.Restore(s, 0, 0, first.Checkpoint(), perCpuWindows: false, perCpuTotals: false);
        restored.RestoreTotals(first.Totals());
        restored.RunToEnd();
        Assert.Equal(straight.Totals(), restored.Totals());
    }

    [Fact]
    public void Per_cpu_totals_are_refused_when_not_kept()
    {
        var sim = new HostSimulation(Scenario(), 0, 0, perCpuTotals: false);
        sim.RunWindow(0);
        var e = Assert.Throws<InvalidOperationException>(() => sim.CpuTotals());
        Assert.Contains("per-CPU totals are not kept", e.Message);
    }

    [Fact]
    public void Restored_totals_must_match_the_host()
    {
        var sim = new HostSimulation(Scenario(), 0, 0);
        var e = Assert.Throws<CheckpointMismatchException>(() => sim.RestoreCpuTotals(new SimCounters[3]));
        Assert.Contains("3 CPU totals for 4 CPUs", e.Message);
    }
}

using BpfTraceSim.Grains.Simulation;

namespace BpfTraceSim.Grains.Tests.Simulation;

/// <summary>attempts = written + lost and written = consumed + in ring, per ring, on every example.</summary>
public class ConservationTests
{
    public static TheoryData<string> Examples()
    {
        var data = new TheoryData<string>();
        foreach (string f in Directory.GetFiles(Path.Combine(SimTestUtil.RepoRoot(), "scenarios"), "*.yaml").OrderBy(x => x, StringComparer.Ordinal))
            data.Add(Path.GetFileName(f));
        return data;
    }

    private static void AssertCpuConservation(IReadOnlyList<WindowStats> windows, int cpus)
    {
        for (int c = 0; c < cpus; c++)
        {
            var t = SimTestUtil.SumCpu(windows, c);
            Assert.Equal(t.RecordsWritten, t.RecordsConsumed + t.RecordsInRing + t.RecordsOverwritten + t.RecordsInvisible);
            Assert.Equal(t.Attempts, t.RecordsWritten + t.Lost);
            Assert.Equal(t.RecordsWritten, t.Helpers.Get("bpf_perf_event_output", 0) + t.Helpers.Get("bpf_ringbuf_output", 0));
            Assert.True(t.LostReported <= t.Lost, "the reader cannot learn of more losses than happened");
            Assert.Equal(t.RecordsConsumed, t.ConsumerLag.Count);
        }
    }

    /// <summary>A few windows of every host of every example (one host of fleets above 16 hosts).</summary>
    [Theory]
    [MemberData(nameof(Examples))]
    public void Every_example_conserves_records(string file)
    {
        var s = SimTestUtil.Example(file);
        foreach (var host in HostId.All(s))
        {
            if (s.HostCount > 16 && (host.Group != 0 || host.Index != 0)) continue;
            var sim = new HostSimulation(s, host);
            var windows = new List<WindowStats>();
            for (int w = 0; w < Math.Min(10, s.WindowCount); w++) windows.Add(sim.RunWindow(w)); // checks every ring each window
            var result = sim.CheckConservation();
            Assert.True(result.Ok);
            var total = SimTestUtil.Sum(windows);
            Assert.Equal(result.Written, total.RecordsWritten);
            Assert.Equal(result.Consumed, total.RecordsConsumed);
            Assert.Equal(result.InRing, total.RecordsInRing);
            AssertCpuConservation(windows, sim.CpuCount);
        }
    }

    [Theory]
    [InlineData("quick.yaml")]
    [InlineData("cpu-offline.yaml")]
    [InlineData("swapped-slots.yaml")]
    public void Whole_runs_conserve_records(string file)
    {
        var s = SimTestUtil.Example(file);
        var sim = new HostSimulation(s, 0, 0);
        var windows = sim.RunToEnd();
        Assert.Equal(s.WindowCount, windows.Count);
        Assert.True(sim.CheckConservation().Ok);
        AssertCpuConservation(windows, sim.CpuCount);
    }

    [Fact]
    public void A_broken_ring_account_is_an_error_not_a_warning()
    {
        var s = SimTestUtil.Example("healthy.yaml");
        var sim = new HostSimulation(s, 0, 0);
        sim.RunWindow(0);
        sim.InstancesForTest[1].Written++; // a sample the ring never held
        var e = Assert.Throws<ConservationException>(() => sim.CheckConservation());
        Assert.Equal("web-0", e.Host);
        Assert.Equal("out", e.Ring.Event);
        Assert.Equal(1, e.Ring.Instance);
        Assert.False(e.Ring.Ok);
        Assert.Throws<ConservationException>(() => sim.RunWindow(1));
    }
}

using System.CommandLine;
using BpfTraceSim.Client.Commands;
using BpfTraceSim.Client.Reports;
using BpfTraceSim.Client.Sweeps;
using BpfTraceSim.Client.Tests.Scenarios;
using BpfTraceSim.Contracts.Scenarios;

namespace BpfTraceSim.Client.Tests.Sweeps;

/// <summary>The transport and memory pseudo-parameters of `bpfsim sweep` (docs/sweeps.md, "Perf buffer or ring buffer").</summary>
[Collection(ScenarioSiloCollection.Name)]
public sealed class SweepTransportTests(ScenarioSiloFixture silo)
{
    private static readonly string Example = Path.Combine(Repo.Root, "scenarios", "sweep-transport.yaml");

    private static SweepPlan Plan(params string[] vary) => SweepPlan.Build(Example, [.. vary.Select(SweepParameter.Parse)], 1);

    [Fact]
    public void Ringbuf_switches_the_output_map_its_steps_and_its_reader_and_memory_sizes_either()
    {
        var plan = Plan("transport=perf,ringbuf", "memory=32KiB,128KiB");
        var perf = plan.Job(plan.Points[1], 0).Scenario; // perf, 128KiB
        Assert.Equal(8, Assert.Single(perf.Events).RingPages); // 4 CPUs x 8 pages x 4096
        Assert.Equal(MapType.PerfEventArray, Assert.Single(perf.Maps).Type);

        var rb = plan.Job(plan.Points[2], 0).Scenario; // ringbuf, 32KiB
        var map = Assert.Single(rb.Maps);
        Assert.Equal((MapType.Ringbuf, 32768, MapSpec.DefaultLockCostNs), (map.Type, map.MaxEntries!.Value, map.LockCostNs!.Value));
        Assert.Empty(rb.Slots);
        Assert.Empty(rb.Events);
        Assert.All(rb.Programs, p => Assert.IsType<RingbufOutputCall>(Assert.Single(p.Body)));
        var c = Assert.Single(rb.Consumers);
        Assert.Equal(("events", 20_000L), (c.Ringbuf, c.WakeupLatencyNs));
        Assert.Empty(c.Events);
        // The points are different scenarios for the point cache.
        Assert.Equal(4, plan.Points.Select(p => plan.Job(p, 0).Digest).Distinct().Count());
    }

    [Theory]
    [InlineData("transport=perf,udp", "--vary transport: 'udp' is not a transport; expected perf or ringbuf")]
    [InlineData("memory=48KiB", "--vary memory: 49152 bytes is not 4 CPUs x 4096 x a power of 2")]
    [InlineData("memory=lots", "--vary memory: 'lots' is not a size in bytes")]
    public void Bad_transport_or_memory_values_are_refused_before_anything_runs(string vary, string message)
    {
        var e = Assert.Throws<SweepUsageException>(() => Plan(vary));
        Assert.StartsWith(message, e.Message);
    }

    [Fact]
    public void Memory_values_are_sizes_a_numeric_cost_can_minimize()
    {
        var p = SweepParameter.Parse("memory=16KiB..128KiB*2");
        Assert.Equal(new[] { "16KiB", "32KiB", "64KiB", "128KiB" }, p.Values.ToArray());
        Assert.Equal(new[] { 16384.0, 32768, 65536, 131072 }, p.Keys!.Value.ToArray());
    }

    [Fact]
    public async Task The_example_sweep_finds_128KiB_of_perf_buffer_and_32KiB_of_ring_buffer()
    {
        using var tmp = ScenarioSiloFixture.Temp();
        var root = new RootCommand("bpfsim (tests)");
        root.Options.Add(Program.ClusterOption);
        ConnectCluster connect = (_, _) => Task.FromResult((silo.Grains, (IAsyncDisposable?)null));
        root.Subcommands.Add(SweepCommand.Create(connect));
        var stdout = new StringWriter { NewLine = "\n" };
        var stderr = new StringWriter { NewLine = "\n" };
        int exit = await root.Parse(["sweep", Example, "--vary", "transport=perf,ringbuf", "--vary", "memory=16KiB..128KiB*2",
            "--seeds", "2", "--target", "lost_ratio<=0.001", "--minimize", "memory", "--out", tmp["out"], "--quiet"])
            .InvokeAsync(new InvocationConfiguration { Output = stdout, Error = stderr });
        Assert.True(exit == 0, stderr.ToString());
        string o = stdout.ToString();
        Assert.Contains("  transport=perf: 128KiB (lost_ratio 0 at its worst seed)", o);
        Assert.Contains("  transport=ringbuf: 32KiB (lost_ratio 0 at its worst seed)", o);
    }
}

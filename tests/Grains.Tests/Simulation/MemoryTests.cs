using BpfTraceSim.Grains.Simulation;
using Xunit.Abstractions;

namespace BpfTraceSim.Grains.Tests.Simulation;

/// <summary>
/// A simulated CPU must stay small: the large fleet is 8192 hosts x 128 CPUs, to be held in
/// 24 GiB (25 KB per CPU for everything). Accounting-mode rings hold no payload.
/// </summary>
[Collection(nameof(MemoryTests))]
public class MemoryTests(ITestOutputHelper output)
{
    private double BytesPerCpu(global::BpfTraceSim.Contracts.Scenarios.Scenario s, int hosts, int windows) =>
        BytesPerHost(s, hosts, windows) / s.Fleet[0].Cpus;

    private double BytesPerHost(global::BpfTraceSim.Contracts.Scenarios.Scenario s, int hosts, int windows)
    {
        var keep = new HostSimulation[hosts];
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        long before = GC.GetTotalMemory(true);
        for (int h = 0; h < hosts; h++)
        {
            int g = h % s.Fleet.Length;
            // A host may repeat: memory is what counts. No per-CPU detail, as the host grain runs
            // fleets too large for the report to list their CPUs.
            keep[h] = new HostSimulation(s, g, h / s.Fleet.Length % s.Fleet[g].Hosts, perCpuWindows: false, perCpuTotals: false);
            for (int w = 0; w < windows; w++) keep[h].RunWindow(w);
        }
        long after = GC.GetTotalMemory(true);
        double perHost = (double)(after - before) / hosts;
        output.WriteLine($"{s.Name}: {perHost / keep[0].CpuCount:F0} bytes per simulated CPU, {perHost:F0} per host of {keep[0].CpuCount} (measured), " +
                         $"{keep[0].EstimateStateBytes() / (double)keep[0].CpuCount:F0} per CPU estimated");
        GC.KeepAlive(keep);
        return perHost;
    }

    [Fact]
    public void A_large_fleet_cpu_costs_a_few_kilobytes_most_of_them_for_the_records_waiting_in_its_ring()
    {
        // 100 events/s, read every 250 ms: 128 waiting records per CPU (4 bytes each in the kernel ring's queue, 8 in the mirror).
        var s = SimTestUtil.Example("large-fleet.yaml");
        Assert.InRange(BytesPerCpu(s, 16, 2), 1024, 6144);
        // At 10 events/s the mirror is 16 records and the CPU about a kilobyte.
        string text = File.ReadAllText(Path.Combine(SimTestUtil.RepoRoot(), "scenarios", "large-fleet.yaml"));
        Assert.Contains("rate: 100/s", text);
        var sparse = SimTestUtil.Parse(text.Replace("rate: 100/s", "rate: 10/s"));
        Assert.InRange(BytesPerCpu(sparse, 16, 2), 100, 2048);
    }

    [Fact]
    public void A_cpu_whose_program_prints_stays_small_too()
    {
        // A 4-CPU host: what one more CPU costs is measured apart from the host's own state
        // (its histograms and counters), which a 128-CPU host of the large fleet spreads thin.
        var s = SimTestUtil.Example("cpu-offline.yaml") with { DurationNs = 1_000_000_000 };
        var s8 = s with { Fleet = [s.Fleet[0] with { Cpus = 8 }] };
        double host4 = BytesPerHost(s, 16, 3), host8 = BytesPerHost(s8, 16, 3);
        Assert.InRange((host8 - host4) / 4, 100, 4096);
        Assert.InRange(host4 - 4 * (host8 - host4) / 4, 0, 32 * 1024);
    }
}

/// <summary>Heap measurements need the process to themselves: this collection never runs beside another.</summary>
[CollectionDefinition(nameof(MemoryTests), DisableParallelization = true)]
public class MemoryTestsCollection;

using BpfTraceSim.Contracts.Grains;
using BpfTraceSim.Grains.Placement;
using Orleans.Runtime;

namespace BpfTraceSim.Grains.Tests.Scenario;

/// <summary>The simulated-host placement: which part of a key names the host, and how hosts map to silos.</summary>
public sealed class PlacementTests
{
    [Theory]
    [InlineData("web-3", "web-3")]
    [InlineData("web-3/2", "web-3")]
    [InlineData("web-3/exec_trace/2", "web-3")]
    [InlineData("run-1:web-3", "run-1:web-3")]
    [InlineData("/0", "")]
    public void The_host_is_the_key_up_to_the_first_slash(string key, string host) =>
        Assert.Equal(host, SimHostPlacementDirector.HostKey(key).ToString());

    [Fact]
    public void One_silo_takes_every_host()
    {
        for (int i = 0; i < 100; i++) Assert.Equal(0, SimHostPlacementDirector.Pick($"h-{i}", 1));
    }

    [Fact]
    public void The_choice_does_not_depend_on_the_process()
    {
        // Pinned values: string.GetHashCode differs per process, FNV-1a + jump hash does not.
        int[] picks = [.. Enumerable.Range(0, 8).Select(i => SimHostPlacementDirector.Pick($"run:web-{i}", 5))];
        Assert.Equal(Pinned, picks);
    }

    // Computed outside .NET (a Python FNV-1a 64 over the UTF-16 units, then Lamping and Veach's jump hash).
    private static readonly int[] Pinned = [4, 4, 1, 2, 4, 0, 1, 2];

    [Fact]
    public void A_new_silo_takes_hosts_only_from_the_others_and_about_its_share()
    {
        const int keys = 20_000;
        for (int n = 1; n < 8; n++)
        {
            int moved = 0;
            var perSilo = new int[n + 1];
            for (int i = 0; i < keys; i++)
            {
                string k = $"r:g-{i}";
                int before = SimHostPlacementDirector.Pick(k, n), after = SimHostPlacementDirector.Pick(k, n + 1);
                Assert.InRange(before, 0, n - 1);
                if (after != before)
                {
                    Assert.Equal(n, after); // a host only ever moves to the new silo
                    moved++;
                }
                perSilo[after]++;
            }
            double share = 1.0 / (n + 1);
            Assert.InRange(moved / (double)keys, share * 0.85, share * 1.15);
            foreach (int c in perSilo) Assert.InRange(c / (double)keys, share * 0.85, share * 1.15);
        }
    }
}

[Collection(ScenarioClustersCollection.Name)]
public sealed class PlacementClusterTests(ScenarioClusters clusters)
{
    [Fact]
    public async Task Every_host_grain_lands_on_the_silo_its_host_key_picks_and_hosts_spread()
    {
        var cluster = clusters.Three;
        var s = ScenarioClusters.Parse(ScenarioClusters.SmallFleet);
        string run = "placement-" + Guid.NewGuid().ToString("N");
        var (g, p) = await ScenarioClusters.Run(cluster.GrainFactory, s, runId: run);
        Assert.True(p.State == ScenarioRunState.Done, p.Error);
        var mgmt = cluster.GrainFactory.GetGrain<IManagementGrain>(0);
        var silos = (await mgmt.GetHosts(onlyActive: true)).Keys.ToArray();
        Array.Sort(silos);
        Assert.Equal(3, silos.Length);
        var used = new HashSet<SiloAddress>();
        foreach (var group in s.Fleet)
            for (int i = 0; i < group.Hosts; i++)
            {
                string key = ScenarioHostKey.Of(run, group.HostName(i));
                var host = cluster.GrainFactory.GetGrain<IScenarioHostGrain>(key);
                var at = await mgmt.GetActivationAddress(host);
                Assert.Equal(silos[SimHostPlacementDirector.Pick(key, silos.Length)], at);
                used.Add(at!);
            }
        Assert.True(used.Count >= 2, "7 hosts all landed on one silo");
        await g.Shutdown();
    }
}

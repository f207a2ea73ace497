using System.Net;
using BpfTraceSim.Cluster.Tests.Infra;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;
using Orleans.Runtime;

namespace BpfTraceSim.Cluster.Tests;

/// <summary>What both failover tests need: a client through one chosen gateway, and the run's scenario grain.</summary>
internal static class FailoverProbe
{
    public const string ScenarioGrainType = "BpfTraceSim.Grains.ScenarioGrain,";

    /// <summary>A client that talks through this silo's gateway only (never through the victim's).</summary>
    public static async Task<IHost> ConnectAsync(SiloNode gateway, string clusterId)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.UseOrleansClient(c =>
        {
            c.UseStaticClustering(IPEndPoint.Parse(gateway.Gateway));
            c.Configure<ClusterOptions>(o => { o.ClusterId = clusterId; o.ServiceId = "bpfsim"; });
        });
        var host = builder.Build();
        await host.StartAsync();
        return host;
    }

    /// <summary>The run id and silo of the one scenario grain the CLI run starts.</summary>
    public static async Task<(string RunId, SiloAddress Silo)> FindScenarioGrain(IManagementGrain mgmt, Task<(int, string, string)> run)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            var stats = await mgmt.GetDetailedGrainStatistics();
            var s = stats.FirstOrDefault(x => x.GrainType.StartsWith(ScenarioGrainType, StringComparison.Ordinal));
            if (s is not null) return (s.GrainId.Key.ToString()!, s.SiloAddress);
            if (run.IsCompleted) Assert.Fail("the run ended before its scenario grain was seen: " + (await run).Item3);
            Assert.True(DateTime.UtcNow < deadline, "no scenario grain appeared");
            await Task.Delay(50);
        }
    }
}

using System.Net;
using BpfTraceSim.Cluster.Tests.Infra;
using BpfTraceSim.Client.Cluster;
using Orleans.Runtime;

namespace BpfTraceSim.Cluster.Tests;

/// <summary>Three silo processes joined through Redis membership; the dashboard on the first.</summary>
public sealed class ThreeSiloCluster : SiloCluster
{
    protected override int SiloCount => 3;
    protected override bool DashboardOnFirstSilo => true;
}

public sealed class RedisClusterTests(ThreeSiloCluster cluster) : IClassFixture<ThreeSiloCluster>
{
    [Fact]
    public async Task Exec_through_redis_membership_prints_exact_results_and_spreads_hosts_over_silos()
    {
        var (doc, expected) = ExecDocuments.WriteWorlds(12, "redis");
        try
        {
            var (exit, stdout, stderr) = await SiloCluster.RunCliAsync(["exec", doc, "--cluster", cluster.Redis.Uri], cluster.ClientEnv());
            Assert.True(exit == 0, $"exit {exit}: {stderr}\n{cluster.Logs()}");
            Assert.Equal(expected, stdout);

            // Each world is its own simulated host (a fresh random key): 12 of them land on more than one silo.
            // Host grains are gone once their world ends; the program grains stay until idle collection.
            var stats = await cluster.Management.GetGrain<IManagementGrain>(0).GetSimpleGrainStatistics();
            var silos = stats.Where(s => s.GrainType.StartsWith("BpfTraceSim.Grains.ProgramGrain,", StringComparison.Ordinal) && s.ActivationCount > 0)
                .Select(s => s.SiloAddress).Distinct().Count();
            Assert.True(silos >= 2, $"program grains on {silos} silo(s): " + string.Join("; ", stats.Select(s => $"{s.SiloAddress} {s.GrainType} {s.ActivationCount}")));
        }
        finally { File.Delete(doc); }
    }

    [Fact]
    public async Task Exec_through_static_gateways_prints_the_same()
    {
        var (doc, expected) = ExecDocuments.WriteWorlds(2, "static");
        try
        {
            string gateways = string.Join(",", cluster.Nodes.Select(n => n.Gateway));
            var (exit, stdout, stderr) = await SiloCluster.RunCliAsync(["exec", doc, "--cluster", gateways], cluster.ClientEnv());
            Assert.True(exit == 0, $"exit {exit}: {stderr}");
            Assert.Equal(expected, stdout);
        }
        finally { File.Delete(doc); }
    }

    [Fact]
    public async Task Every_silo_answers_healthz_readyz_and_metrics()
    {
        foreach (var node in cluster.Nodes)
        {
            using var health = await SiloCluster.Http.GetAsync(node.Http + "/healthz");
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);
            Assert.Equal("ok\n", await health.Content.ReadAsStringAsync());

            using var ready = await SiloCluster.Http.GetAsync(node.Http + "/readyz");
            Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
            Assert.Equal("ready\n", await ready.Content.ReadAsStringAsync());

            using var metrics = await SiloCluster.Http.GetAsync(node.Http + "/metrics");
            Assert.Equal(HttpStatusCode.OK, metrics.StatusCode);
            Assert.StartsWith("text/plain", metrics.Content.Headers.ContentType?.MediaType);
            string text = await metrics.Content.ReadAsStringAsync();
            Assert.Contains("target_info{service_name=\"bpfsim-silo\"", text);
            Assert.Contains("\norleans_", text); // Orleans' own meter goes out with ours

            // The dashboard is not served on the HTTP port.
            using var dash = await SiloCluster.Http.GetAsync(node.Http + "/dashboard/");
            Assert.Equal(HttpStatusCode.NotFound, dash.StatusCode);
        }
    }

    [Fact]
    public async Task Dashboard_answers_on_its_own_loopback_port_only()
    {
        var first = cluster.Nodes[0];
        string dashboard = $"http://127.0.0.1:{first.DashboardPort}";
        using var page = await SiloCluster.Http.GetAsync(dashboard + "/dashboard/");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        using var health = await SiloCluster.Http.GetAsync(dashboard + "/healthz");
        Assert.Equal(HttpStatusCode.NotFound, health.StatusCode);
        Assert.Equal(0, cluster.Nodes[1].DashboardPort);
    }

    [Fact]
    public async Task A_redis_uri_without_host_is_refused_before_connecting()
    {
        var ex = await Assert.ThrowsAsync<ArgumentException>(() => ClusterConnection.ConnectAsync("redis://"));
        Assert.Equal("--cluster: \"redis://\" is not redis://host:port", ex.Message);
    }
}

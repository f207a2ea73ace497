using System.Diagnostics;
using BpfTraceSim.Cluster.Tests.Infra;

namespace BpfTraceSim.Cluster.Tests;

public sealed class TwoSiloCluster : SiloCluster
{
    protected override int SiloCount => 2;
}

/// <summary>What Kubernetes does to a pod: SIGTERM, then the grace period. The silo must leave cleanly within it.</summary>
public sealed class ShutdownTests(TwoSiloCluster cluster) : IClassFixture<TwoSiloCluster>
{
    [Fact]
    public async Task Sigterm_leaves_membership_within_the_shutdown_timeout_and_the_rest_keeps_serving()
    {
        var leaving = cluster.Nodes[1];
        var clock = Stopwatch.StartNew();
        // The fixture starts silos with ShutdownTimeoutSeconds=10; Kubernetes would wait 10 + 5.
        Assert.True(await leaving.Process.TerminateAsync(TimeSpan.FromSeconds(15)), "silo still running 15 s after SIGTERM:\n" + leaving.Process.Output);
        Assert.Equal(0, leaving.Process.ExitCode);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"shutdown took {clock.Elapsed}");

        // It declared itself dead on the way out: no probe timeouts needed for the other to know.
        var waited = Stopwatch.StartNew();
        await cluster.WaitForActiveAsync(1);
        Assert.True(waited.Elapsed < TimeSpan.FromSeconds(5), $"membership took {waited.Elapsed} to drop the silo");

        var (doc, expected) = ExecDocuments.WriteWorlds(3, "after-shutdown");
        try
        {
            var (exit, stdout, stderr) = await SiloCluster.RunCliAsync(["exec", doc, "--cluster", cluster.Redis.Uri], cluster.ClientEnv());
            Assert.True(exit == 0, $"exit {exit}: {stderr}\n{cluster.Logs()}");
            Assert.Equal(expected, stdout);
        }
        finally { File.Delete(doc); }
    }
}

using BpfTraceSim.Cluster.Tests.Infra;
using BpfTraceSim.Silo;

namespace BpfTraceSim.Cluster.Tests;

/// <summary>Two silos with mutual TLS (silo-to-silo and gateway), certificates from files issued by a test CA.</summary>
public sealed class TlsCluster : SiloCluster
{
    internal TestPki Pki { get; } = new();
    protected override int SiloCount => 2;
    protected override SimTlsOptions SiloTls => Pki.Silo;
    protected override SimTlsOptions ManagementTls => Pki.Client;

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        Pki.Dispose();
    }
}

public sealed class TlsClusterTests(TlsCluster cluster) : IClassFixture<TlsCluster>
{
    private async Task<(int Exit, string Stdout, string Stderr, string Expected)> Exec(SimTlsOptions? tls, bool redis = false, bool refusal = true)
    {
        var (doc, expected) = ExecDocuments.WriteWorlds(2, "tls");
        try
        {
            string target = redis ? cluster.Redis.Uri : cluster.Nodes[0].Gateway;
            _failedHandshakesBefore = FailedHandshakes();
            var env = cluster.ClientEnv(tls);
            // A refused client waits out its connect timeout: keep that short where refusal is the expected end.
            if (refusal) env["BpfSim__ConnectTimeoutSeconds"] = "5";
            var (exit, stdout, stderr) = await SiloCluster.RunCliAsync(["exec", doc, "--cluster", target], env);
            return (exit, stdout, stderr, expected);
        }
        finally { File.Delete(doc); }
    }

    [Fact]
    public async Task Client_with_the_clusters_certificate_gets_exact_results()
    {
        // The two silos became Active through each other's TLS: silo-to-silo works too (fixture).
        var (exit, stdout, stderr, expected) = await Exec(cluster.Pki.Client, refusal: false);
        Assert.True(exit == 0, $"exit {exit}: {stderr}\n{cluster.Logs()}");
        Assert.Equal(expected, stdout);

        (exit, stdout, stderr, expected) = await Exec(cluster.Pki.Client, redis: true, refusal: false);
        Assert.True(exit == 0, $"exit {exit}: {stderr}");
        Assert.Equal(expected, stdout);
    }

    [Fact]
    public async Task Client_with_an_untrusted_certificate_is_refused()
    {
        var (exit, stdout, stderr, _) = await Exec(cluster.Pki.Rogue);
        AssertRefused(exit, stdout, stderr);
    }

    [Fact]
    public async Task Client_without_a_certificate_is_refused()
    {
        var (exit, stdout, stderr, _) = await Exec(new SimTlsOptions { CaPath = cluster.Pki.CaPath });
        AssertRefused(exit, stdout, stderr);
    }

    [Fact]
    public async Task Plain_tcp_client_is_refused()
    {
        var (exit, stdout, stderr, _) = await Exec(null);
        AssertRefused(exit, stdout, stderr);
    }

    [Fact]
    public async Task Client_that_does_not_trust_the_silos_ca_refuses_the_gateway()
    {
        var tls = cluster.Pki.Client;
        tls.CaPath = cluster.Pki.RogueCaPath;
        var (exit, stdout, stderr, _) = await Exec(tls);
        AssertRefused(exit, stdout, stderr, bySilo: false);
    }

    private int _failedHandshakesBefore;

    // The gateway silo logs each refused handshake (TlsServerConnectionMiddleware, Warning).
    private int FailedHandshakes() =>
        cluster.Nodes[0].Process.Output.Split('\n').Count(l => l.Contains("Authentication failed", StringComparison.Ordinal));

    private void AssertRefused(int exit, string stdout, string stderr, bool bySilo = true)
    {
        // Refused in the TLS handshake, not merely slow: the silo saw it fail. (When the client is the one
        // refusing, the silo only sees a reset; the control is the same client with the right CA, which works.)
        if (bySilo) Assert.True(FailedHandshakes() > _failedHandshakesBefore, "the silo logged no failed handshake:\n" + cluster.Nodes[0].Process.Output);
        Assert.Equal(1, exit);
        Assert.Equal("", stdout);
        Assert.Contains($"--cluster {cluster.Nodes[0].Gateway}: no gateway accepted the connection within 5 s", stderr);
    }
}

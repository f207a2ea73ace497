using System.Diagnostics.Metrics;
using BpfTraceSim.Cluster.Tests.Infra;
using BpfTraceSim.Grains.Telemetry;
using BpfTraceSim.Silo;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace BpfTraceSim.Cluster.Tests;

/// <summary>Configuration refusals, certificate loading and the metrics API, without starting a silo.</summary>
public sealed class SiloConfigurationTests
{
    private static readonly Dictionary<string, string> PodEnv = new()
    {
        ["POD_NAME"] = "bpfsim-silo-0",
        ["POD_NAMESPACE"] = "bpfsim",
        ["POD_IP"] = "10.1.2.3",
        ["ORLEANS_SERVICE_ID"] = "bpfsim",
        ["ORLEANS_CLUSTER_ID"] = "bpfsim",
    };

    private static Exception? Configure(SimSiloOptions options, IReadOnlyDictionary<string, string>? env = null)
    {
        try
        {
            Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true })
                .UseOrleans(silo => silo.ConfigureBpfSim(options, k => env is not null && env.TryGetValue(k, out var v) ? v : null));
            return null;
        }
        catch (InvalidOperationException ex) { return ex; }
    }

    [Fact]
    public void Unknown_clustering_is_refused_with_the_known_ones()
    {
        var ex = Configure(new SimSiloOptions { Clustering = "consul" });
        Assert.Equal("BpfSim:Clustering \"consul\" is not known (localhost, redis, kubernetes)", ex?.Message);
    }

    [Fact]
    public void Redis_clustering_needs_a_connection_string()
    {
        var ex = Configure(new SimSiloOptions { Clustering = "redis" });
        Assert.Equal("BpfSim:Clustering \"redis\" needs BpfSim:Redis (a connection string such as 127.0.0.1:6379)", ex?.Message);
        Assert.Null(Configure(new SimSiloOptions { Clustering = "redis", Redis = "127.0.0.1:6379" }));
    }

    [Fact]
    public void Kubernetes_clustering_names_every_missing_pod_variable()
    {
        var ex = Configure(new SimSiloOptions { Clustering = "kubernetes", Redis = "redis:6379" });
        Assert.Equal("BpfSim:Clustering \"kubernetes\" needs the environment variables POD_NAME, POD_NAMESPACE, POD_IP, " +
            "ORLEANS_SERVICE_ID, ORLEANS_CLUSTER_ID (downward API; see k8s/base/silo.yaml)", ex?.Message);

        var partial = new Dictionary<string, string>(PodEnv);
        partial.Remove("POD_IP");
        Assert.Equal("BpfSim:Clustering \"kubernetes\" needs the environment variables POD_IP (downward API; see k8s/base/silo.yaml)",
            Configure(new SimSiloOptions { Clustering = "kubernetes", Redis = "redis:6379" }, partial)?.Message);
        Assert.Null(Configure(new SimSiloOptions { Clustering = "kubernetes", Redis = "redis:6379" }, PodEnv));
    }

    [Fact]
    public void Kubernetes_clustering_takes_ids_and_address_from_the_pod()
    {
        // The hosting package reads the process environment itself (variables no other test uses).
        foreach (var (k, v) in PodEnv) Environment.SetEnvironmentVariable(k, v);
        Environment.SetEnvironmentVariable("ORLEANS_CLUSTER_ID", "from-pod-label");
        try
        {
            var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
            builder.UseOrleans(silo => silo.ConfigureBpfSim(
                new SimSiloOptions { Clustering = "kubernetes", Redis = "redis:6379", ClusterId = "from-config" }, Environment.GetEnvironmentVariable));
            using var host = builder.Build();
            var cluster = host.Services.GetRequiredService<IOptions<ClusterOptions>>().Value;
            Assert.Equal(("from-pod-label", "bpfsim"), (cluster.ClusterId, cluster.ServiceId));
            var endpoints = host.Services.GetRequiredService<IOptions<EndpointOptions>>().Value;
            Assert.Equal(IPAddress.Parse("10.1.2.3"), endpoints.AdvertisedIPAddress);
            Assert.Equal(new IPEndPoint(IPAddress.Any, 11111), endpoints.SiloListeningEndpoint);
            Assert.Equal(new IPEndPoint(IPAddress.Any, 30000), endpoints.GatewayListeningEndpoint);
            Assert.Equal("bpfsim-silo-0", host.Services.GetRequiredService<IOptions<SiloOptions>>().Value.SiloName);
        }
        finally
        {
            foreach (var k in PodEnv.Keys) Environment.SetEnvironmentVariable(k, null);
        }
    }

    [Fact]
    public void Redis_clustering_binds_and_advertises_the_configured_addresses()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.UseOrleans(silo => silo.ConfigureBpfSim(new SimSiloOptions { Clustering = "redis", Redis = "127.0.0.1:1", SiloPort = 12000, GatewayPort = 12001 }));
        using var host = builder.Build();
        var endpoints = host.Services.GetRequiredService<IOptions<EndpointOptions>>().Value;
        Assert.Equal(IPAddress.Loopback, endpoints.AdvertisedIPAddress);
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, 12000), endpoints.SiloListeningEndpoint);
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, 12001), endpoints.GatewayListeningEndpoint);
    }

    [Fact]
    public void Kubernetes_clustering_needs_redis_for_membership()
    {
        var ex = Configure(new SimSiloOptions { Clustering = "kubernetes" }, PodEnv);
        Assert.Equal("BpfSim:Clustering \"kubernetes\" needs BpfSim:Redis (a connection string such as 127.0.0.1:6379)", ex?.Message);
    }

    [Fact]
    public void A_ca_without_a_silo_certificate_is_refused()
    {
        var ex = Configure(new SimSiloOptions { Tls = new SimTlsOptions { CaPath = "/nonexistent/ca.pem" } });
        Assert.Equal("BpfSim:Tls:CaPath is set but BpfSim:Tls:CertificatePath is not: a silo needs its own certificate", ex?.Message);
    }

    [Fact]
    public void Defaults_listen_on_loopback_only()
    {
        var o = new SimSiloOptions();
        Assert.Equal(("localhost", 11111, 30000, 8080, 8081), (o.Clustering, o.SiloPort, o.GatewayPort, o.HttpPort, o.DashboardPort));
        Assert.Equal(["127.0.0.1", "127.0.0.1", "127.0.0.1"], new[] { o.ListenAddress, o.HttpAddress, o.DashboardAddress });
        Assert.False(o.Tls.Enabled);
    }

    [Fact]
    public void Certificates_load_from_pkcs12_and_pem_and_chain_only_to_their_own_ca()
    {
        using var pki = new TestPki();
        using var silo = SiloTls.LoadCertificate(pki.Silo);
        using var client = SiloTls.LoadCertificate(pki.Client);
        using var rogue = SiloTls.LoadCertificate(pki.Rogue);
        Assert.True(silo.HasPrivateKey && client.HasPrivateKey && rogue.HasPrivateKey);
        Assert.Equal("CN=bpfsim-silo", silo.Subject);
        Assert.Equal("CN=bpfsim-client", client.Subject);

        var trusted = SiloTls.PeerValidator(SiloTls.LoadAuthorities(pki.CaPath));
        Assert.True(trusted(silo, null!, System.Net.Security.SslPolicyErrors.RemoteCertificateChainErrors));
        Assert.True(trusted(client, null!, System.Net.Security.SslPolicyErrors.RemoteCertificateChainErrors));
        Assert.False(trusted(rogue, null!, System.Net.Security.SslPolicyErrors.None));

        var wrongPassword = new SimTlsOptions { CertificatePath = pki.SiloPfx, Password = "nope" };
        Assert.ThrowsAny<System.Security.Cryptography.CryptographicException>(() => SiloTls.LoadCertificate(wrongPassword));
        var noKey = new SimTlsOptions { CertificatePath = pki.CaPath };
        Assert.ThrowsAny<System.Security.Cryptography.CryptographicException>(() => SiloTls.LoadCertificate(noKey));
        var missing = Assert.Throws<InvalidOperationException>(() => SiloTls.LoadAuthorities(pki.Dir + "/none.pem"));
        Assert.Equal($"BpfSim:Tls:CaPath: {pki.Dir}/none.pem does not exist", missing.Message);
    }

    [Fact]
    public void Without_a_ca_the_system_store_decides_and_host_names_are_not_checked()
    {
        using var ca = TestPki.CreateCa("x");
        using var leaf = TestPki.Issue(ca, "y");
        var system = SiloTls.PeerValidator(null);
        Assert.True(system(leaf, null!, System.Net.Security.SslPolicyErrors.RemoteCertificateNameMismatch));
        Assert.False(system(leaf, null!, System.Net.Security.SslPolicyErrors.RemoteCertificateChainErrors));
    }

    [Fact]
    public void Helper_results_are_tagged_ok_or_by_errno_name()
    {
        Assert.Equal(["ok", "ok", "EOPNOTSUPP", "EINVAL", "E2BIG", "E99", "E300"],
            new long[] { 0, 24, -95, -22, -7, -99, -300 }.Select(SimMetrics.Result).ToArray());
    }

    [Fact]
    public void Metrics_reach_a_listener_with_their_tags()
    {
        var seen = new List<(string Name, double Value, string Tags)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (i, l) => { if (i.Meter.Name == SimMetrics.MeterName) l.EnableMeasurementEvents(i); };
        void Record(Instrument i, double v, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var t = string.Join(",", tags.ToArray().Select(kv => kv.Key + "=" + kv.Value));
            lock (seen) seen.Add((i.Name, v, t));
        }
        listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Record(i, v, tags));
        listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Record(i, v, tags));
        listener.Start();

        SimMetrics.HelperCall("perf_event_output", -95, 3);
        SimMetrics.HelperCall("trace_printk", 12);
        SimMetrics.RingActivity(records: 5, lost: 2);
        SimMetrics.RingActivity(records: 0, lost: 0);
        long t0 = 1_000_000, t1 = t0 + System.Diagnostics.Stopwatch.Frequency / 4;
        SimMetrics.WindowSimulated(t0, t1);

        lock (seen)
        {
            // Other tests of this assembly may record too: look only for ours.
            Assert.Contains(("bpfsim.helper.calls", 3.0, "helper=perf_event_output,result=EOPNOTSUPP"), seen);
            Assert.Contains(("bpfsim.helper.calls", 1.0, "helper=trace_printk,result=ok"), seen);
            Assert.Contains(("bpfsim.perf.records", 5.0, ""), seen);
            Assert.Contains(("bpfsim.perf.lost", 2.0, ""), seen);
            Assert.Contains(("bpfsim.window.duration", 0.25, ""), seen);
            Assert.DoesNotContain(("bpfsim.perf.records", 0.0, ""), seen);
        }
    }
}

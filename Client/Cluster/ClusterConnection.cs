using System.Net;
using BpfTraceSim.Silo;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;

namespace BpfTraceSim.Client.Cluster;

/// <summary>
/// Where the CLI's grain calls go: an embedded silo in this process (the default, nothing else to
/// start), or a running cluster reached through its gateways (--cluster).
/// </summary>
public sealed class ClusterConnection : IAsyncDisposable
{
    private readonly IHost _host;

    private ClusterConnection(IHost host, bool embedded)
    {
        _host = host;
        Embedded = embedded;
        Grains = host.Services.GetRequiredService<IGrainFactory>();
    }

    public IGrainFactory Grains { get; }
    public bool Embedded { get; }

    /// <summary>
    /// cluster: null for an embedded silo; "host:port[,host:port]" for gateways of a running cluster;
    /// "redis://host:port" to find the gateways in the cluster's Redis membership table.
    /// Environment: BpfSim__ClusterId, BpfSim__ServiceId (default bpfsim) and, for a TLS cluster,
    /// BpfSim__Tls__CertificatePath / __KeyPath / __Password / __CaPath;
    /// BpfSim__ConnectTimeoutSeconds (default 30) bounds the wait for a gateway (docs/cluster.md).
    /// </summary>
    public static async Task<ClusterConnection> ConnectAsync(string? cluster, CancellationToken ct = default)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.Logging.SetMinimumLevel(LogLevel.Error);
        builder.Logging.AddFilter("Orleans", LogLevel.Critical);
        builder.Logging.AddFilter("Microsoft", LogLevel.Critical);
        bool embedded = string.IsNullOrWhiteSpace(cluster);
        int connectTimeoutSeconds = 30;
        if (embedded)
        {
            var options = new SimSiloOptions { SiloPort = 0, GatewayPort = 0, ClusterId = "bpfsim-embedded-" + Environment.ProcessId };
            builder.UseOrleans(silo => silo.ConfigureBpfSim(options));
        }
        else
        {
            var env = new ConfigurationBuilder().AddEnvironmentVariables().Build().GetSection(SimSiloOptions.Section);
            var tls = env.GetSection("Tls").Get<SimTlsOptions>() ?? new SimTlsOptions();
            connectTimeoutSeconds = env.GetValue("ConnectTimeoutSeconds", 30);
            string? redis = ParseRedis(cluster!);
            var gateways = redis is null ? ParseGateways(cluster!) : null;
            builder.UseOrleansClient(client =>
            {
                if (redis is not null) client.UseRedisClustering(o => o.ConfigurationOptions = SiloSetup.RedisOptions(redis));
                else client.UseStaticClustering(gateways!);
                client.Configure<ClusterOptions>(o =>
                {
                    o.ClusterId = env["ClusterId"] ?? "bpfsim";
                    o.ServiceId = env["ServiceId"] ?? "bpfsim";
                });
                if (tls.ClientEnabled) client.UseBpfSimTls(tls);
            });
        }
        // The host must not take SIGINT/SIGTERM for itself (ConsoleLifetime would swallow them and stop
        // the silo under a running scenario): the command's cancellation handles them and exits 130.
        builder.Services.AddSingleton<IHostLifetime, CommandLifetime>();
        var host = builder.Build();
        if (embedded)
        {
            await host.StartAsync(ct);
            return new ClusterConnection(host, embedded);
        }
        // A gateway that refuses our TLS certificate closes the connection and the client would retry forever.
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(connectTimeoutSeconds));
        try
        {
            await host.StartAsync(timeout.Token);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            host.Dispose();
            throw new TimeoutException($"--cluster {cluster}: no gateway accepted the connection within {connectTimeoutSeconds} s " +
                "(check the address, BpfSim__ClusterId and, with TLS, the certificate and CA)");
        }
        return new ClusterConnection(host, embedded);
    }

    /// <summary>"redis://[:password@]host:port[/db]" as a StackExchange.Redis connection string; null if spec is not a redis:// URI.</summary>
    internal static string? ParseRedis(string spec)
    {
        if (!spec.StartsWith("redis://", StringComparison.OrdinalIgnoreCase)) return null;
        if (!Uri.TryCreate(spec, UriKind.Absolute, out var uri) || uri.Host.Length == 0)
            throw new ArgumentException($"--cluster: \"{spec}\" is not redis://host:port");
        string cs = uri.Host + ":" + (uri.IsDefaultPort || uri.Port < 0 ? 6379 : uri.Port);
        string user = Uri.UnescapeDataString(uri.UserInfo);
        int colon = user.IndexOf(':');
        if (colon >= 0 && colon + 1 < user.Length) cs += ",password=" + user[(colon + 1)..];
        string db = uri.AbsolutePath.Trim('/');
        if (db.Length > 0)
        {
            if (!int.TryParse(db, out int n) || n < 0) throw new ArgumentException($"--cluster: \"{spec}\": database \"{db}\" is not a number");
            cs += ",defaultDatabase=" + n;
        }
        return cs;
    }

    internal static IPEndPoint[] ParseGateways(string spec)
    {
        var list = new List<IPEndPoint>();
        foreach (var part in spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!IPEndPoint.TryParse(part, out var ep) || ep.Port == 0)
            {
                var hp = part.Split(':');
                if (hp.Length != 2 || !int.TryParse(hp[1], out int port))
                    throw new ArgumentException($"--cluster: \"{part}\" is not host:port");
                var addr = Dns.GetHostAddresses(hp[0]).FirstOrDefault()
                    ?? throw new ArgumentException($"--cluster: cannot resolve \"{hp[0]}\"");
                ep = new IPEndPoint(addr, port);
            }
            list.Add(ep);
        }
        if (list.Count == 0) throw new ArgumentException("--cluster: no gateway given");
        return [.. list];
    }

    public async ValueTask DisposeAsync()
    {
        // A client that cannot stop in 5 s is disposed anyway.
        await _host.StopAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _host.Dispose();
    }
}

/// <summary>A host lifetime that leaves process signals to the command line (System.CommandLine cancels the command).</summary>
internal sealed class CommandLifetime : IHostLifetime
{
    public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

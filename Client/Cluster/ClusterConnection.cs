using System.Net;
using BpfTraceSim.Silo;
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
    /// cluster: null for an embedded silo; "host:port[,host:port]" for gateways of a running cluster.
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
        if (embedded)
        {
            var options = new SimSiloOptions { SiloPort = 0, GatewayPort = 0, ClusterId = "bpfsim-embedded-" + Environment.ProcessId };
            builder.UseOrleans(silo => silo.ConfigureBpfSim(options));
        }
        else
        {
            var gateways = ParseGateways(cluster!);
            builder.UseOrleansClient(client =>
            {
                client.UseStaticClustering(gateways);
                client.Configure<ClusterOptions>(o =>
                {
                    o.ClusterId = Environment.GetEnvironmentVariable("BpfSim__ClusterId") ?? "bpfsim";
                    o.ServiceId = Environment.GetEnvironmentVariable("BpfSim__ServiceId") ?? "bpfsim";
                });
            });
        }
        var host = builder.Build();
        await host.StartAsync(ct);
        return new ClusterConnection(host, embedded);
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
        try { await _host.StopAsync(TimeSpan.FromSeconds(5)); }
        catch (OperationCanceledException) { }
        _host.Dispose();
    }
}

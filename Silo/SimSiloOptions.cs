using System.Net;
using System.Net.Sockets;

namespace BpfTraceSim.Silo;

/// <summary>
/// How a silo joins its cluster and what it listens on: configuration section "BpfSim" (appsettings.json,
/// environment BpfSim__Key, command line --BpfSim:Key=value). docs/cluster.md lists every key.
/// </summary>
public sealed class SimSiloOptions
{
    /// <summary>Configuration section the silo process binds.</summary>
    public const string Section = "BpfSim";

    /// <summary>localhost (default: a single-process development cluster), redis, or kubernetes (redis membership + pod hosting).</summary>
    public string Clustering { get; set; } = "localhost";
    public string ClusterId { get; set; } = "bpfsim";
    public string ServiceId { get; set; } = "bpfsim";
    /// <summary>Silo-to-silo port; 0 picks a free one.</summary>
    public int SiloPort { get; set; } = 11111;
    /// <summary>Client gateway port; 0 picks a free one.</summary>
    public int GatewayPort { get; set; } = 30000;
    /// <summary>Address the silo and gateway ports bind to (loopback unless configured; kubernetes binds the pod's interfaces).</summary>
    public string ListenAddress { get; set; } = "127.0.0.1";
    /// <summary>Address other silos and clients are told to use; null: ListenAddress, or the host's address when that is 0.0.0.0.</summary>
    public string? AdvertisedAddress { get; set; }
    /// <summary>Redis connection string (StackExchange.Redis syntax, e.g. "127.0.0.1:6379") for membership and the "checkpoints" storage.</summary>
    public string? Redis { get; set; }

    /// <summary>HTTP port for /healthz, /readyz and /metrics (silo process only); 0 turns it off.</summary>
    public int HttpPort { get; set; } = 8080;
    public string HttpAddress { get; set; } = "127.0.0.1";
    /// <summary>Orleans Dashboard port (silo process only, served under /dashboard/); 0 turns it off.</summary>
    public int DashboardPort { get; set; } = 8081;
    public string DashboardAddress { get; set; } = "127.0.0.1";
    /// <summary>Console log format: simple (default) or json (one JSON object per line).</summary>
    public string LogFormat { get; set; } = "simple";
    /// <summary>Minimum log level (Trace..Critical).</summary>
    public string LogLevel { get; set; } = "Warning";
    /// <summary>How long a silo may take to leave the cluster on SIGTERM; pods' terminationGracePeriodSeconds is this + 5.</summary>
    public int ShutdownTimeoutSeconds { get; set; } = 25;
    /// <summary>kubernetes clustering: delete the pod of a silo that membership declared dead (needs RBAC delete on pods).</summary>
    public bool DeleteDefunctSiloPods { get; set; } = true;

    /// <summary>TLS for silo-to-silo and client-to-gateway connections; off unless a certificate is configured.</summary>
    public SimTlsOptions Tls { get; set; } = new();

    public IPAddress Address => ParseAddress(ListenAddress, nameof(ListenAddress));

    internal static IPAddress ParseAddress(string text, string key) =>
        IPAddress.TryParse(text, out var a) ? a : throw new InvalidOperationException($"BpfSim:{key} \"{text}\" is not an IP address");

    /// <summary>A TCP port nobody listens on right now (for embedded silos run side by side).</summary>
    public static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }
}

using System.Net;
using System.Net.Sockets;

namespace BpfTraceSim.Silo;

/// <summary>How a silo joins its cluster: read from configuration section "BpfSim" (appsettings, env BpfSim__*).</summary>
public sealed class SimSiloOptions
{
    /// <summary>localhost (default: a single-process development cluster) or redis.</summary>
    public string Clustering { get; set; } = "localhost";
    public string ClusterId { get; set; } = "bpfsim";
    public string ServiceId { get; set; } = "bpfsim";
    /// <summary>Silo-to-silo port; 0 picks a free one.</summary>
    public int SiloPort { get; set; } = 11111;
    /// <summary>Client gateway port; 0 picks a free one.</summary>
    public int GatewayPort { get; set; } = 30000;
    /// <summary>Address the silo listens on and advertises (loopback unless configured).</summary>
    public string ListenAddress { get; set; } = "127.0.0.1";
    /// <summary>Redis connection string for membership and checkpoints (redis clustering).</summary>
    public string? Redis { get; set; }

    public IPAddress Address => IPAddress.Parse(ListenAddress);

    /// <summary>A TCP port nobody listens on right now (for embedded silos run side by side).</summary>
    public static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }
}

using System.Net;
using System.Net.Sockets;

namespace BpfTraceSim.Cluster.Tests.Infra;

/// <summary>Free loopback TCP ports, never the same one twice in this test run.</summary>
internal static class Ports
{
    private static readonly HashSet<int> Given = [];

    public static int Free()
    {
        lock (Given)
        {
            while (true)
            {
                using var l = new TcpListener(IPAddress.Loopback, 0);
                l.Start();
                int port = ((IPEndPoint)l.LocalEndpoint).Port;
                if (Given.Add(port)) return port;
            }
        }
    }
}

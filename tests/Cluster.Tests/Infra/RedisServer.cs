using System.Net.Sockets;
using System.Text;

namespace BpfTraceSim.Cluster.Tests.Infra;

/// <summary>A throwaway redis-server (Debian package redis-server) on a free loopback port, no persistence.</summary>
internal sealed class RedisServer : IAsyncDisposable
{
    private readonly ChildProcess _process;

    private RedisServer(ChildProcess process, int port)
    {
        _process = process;
        Port = port;
    }

    public int Port { get; }
    public string ConnectionString => $"127.0.0.1:{Port}";
    public string Uri => $"redis://127.0.0.1:{Port}";

    public static async Task<RedisServer> StartAsync()
    {
        string exe = new[] { "/usr/bin/redis-server", "/usr/local/bin/redis-server" }.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("redis-server is not installed (apt-get install -y redis-server; .ci/run does it)");
        int port = Ports.Free();
        var p = ChildProcess.Start("redis", exe,
            ["--port", port.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes"]);
        var server = new RedisServer(p, port);
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (true)
        {
            if (await server.PingAsync()) return server;
            if (p.HasExited || DateTime.UtcNow > deadline)
            {
                await server.DisposeAsync();
                throw new InvalidOperationException("redis-server did not answer PING:\n" + p.Output);
            }
            await Task.Delay(100);
        }
    }

    private async Task<bool> PingAsync()
    {
        try
        {
            using var c = new TcpClient();
            await c.ConnectAsync("127.0.0.1", Port);
            var s = c.GetStream();
            await s.WriteAsync("PING\r\n"u8.ToArray());
            var buf = new byte[16];
            int n = await s.ReadAsync(buf);
            return Encoding.ASCII.GetString(buf, 0, n).StartsWith("+PONG", StringComparison.Ordinal);
        }
        catch (SocketException) { return false; }
        catch (IOException) { return false; }
    }

    public ValueTask DisposeAsync() => _process.DisposeAsync();
}

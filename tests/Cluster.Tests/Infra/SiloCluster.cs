using System.Net.Http;
using BpfTraceSim.Silo;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;
using Orleans.Runtime;

namespace BpfTraceSim.Cluster.Tests.Infra;

/// <summary>One silo process and the ports it was given.</summary>
internal sealed record SiloNode(ChildProcess Process, int SiloPort, int GatewayPort, int HttpPort, int DashboardPort)
{
    public string Gateway => $"127.0.0.1:{GatewayPort}";
    public string Http => $"http://127.0.0.1:{HttpPort}";
}

/// <summary>
/// redis-server plus N real silo processes (bpfsim-silo.dll, BpfSim:Clustering=redis) on free loopback ports,
/// started in parallel; ready once every silo answers /readyz and membership lists all N as Active.
/// </summary>
public abstract class SiloCluster : IAsyncLifetime
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(90);
    private readonly List<SiloNode> _nodes = [];
    private IHost? _management;

    protected abstract int SiloCount { get; }
    /// <summary>TLS of the silos; null: plain TCP.</summary>
    protected virtual SimTlsOptions? SiloTls => null;
    /// <summary>TLS the fixture's own management client uses.</summary>
    protected virtual SimTlsOptions? ManagementTls => null;
    protected virtual bool DashboardOnFirstSilo => false;

    internal RedisServer Redis { get; private set; } = null!;
    internal IReadOnlyList<SiloNode> Nodes => _nodes;
    public string ClusterId { get; } = "test-" + Guid.NewGuid().ToString("N")[..8];
    public IGrainFactory Management => _management!.Services.GetRequiredService<IGrainFactory>();
    public static HttpClient Http { get; } = new() { Timeout = TimeSpan.FromSeconds(10) };

    public async Task InitializeAsync()
    {
        Redis = await RedisServer.StartAsync();
        for (int i = 0; i < SiloCount; i++) _nodes.Add(StartSilo(i));
        try
        {
            await Task.WhenAll(_nodes.Select(WaitReadyAsync));
            _management = await ConnectManagementAsync();
            await WaitForActiveAsync(SiloCount);
        }
        catch (Exception ex)
        {
            throw new InvalidOperationException("cluster did not start: " + ex.Message + "\n" + Logs(), ex);
        }
    }

    private SiloNode StartSilo(int i)
    {
        var node = new SiloNode(null!, Ports.Free(), Ports.Free(), Ports.Free(), DashboardOnFirstSilo && i == 0 ? Ports.Free() : 0);
        var args = new List<string>
        {
            TestPaths.SiloDll,
            "--BpfSim:Clustering=redis",
            $"--BpfSim:Redis={Redis.ConnectionString}",
            $"--BpfSim:ClusterId={ClusterId}",
            $"--BpfSim:SiloPort={node.SiloPort}",
            $"--BpfSim:GatewayPort={node.GatewayPort}",
            $"--BpfSim:HttpPort={node.HttpPort}",
            $"--BpfSim:DashboardPort={node.DashboardPort}",
            "--BpfSim:LogLevel=Warning",
            "--BpfSim:ShutdownTimeoutSeconds=10",
        };
        if (SiloTls is { } tls) args.AddRange(TlsArgs(tls));
        return node with { Process = ChildProcess.Start($"silo{i}", "dotnet", args) };
    }

    private static IEnumerable<string> TlsArgs(SimTlsOptions tls)
    {
        if (tls.CertificatePath is { } c) yield return $"--BpfSim:Tls:CertificatePath={c}";
        if (tls.KeyPath is { } k) yield return $"--BpfSim:Tls:KeyPath={k}";
        if (tls.Password is { } p) yield return $"--BpfSim:Tls:Password={p}";
        if (tls.CaPath is { } a) yield return $"--BpfSim:Tls:CaPath={a}";
    }

    /// <summary>The environment a CLI process needs to reach this cluster, plus its TLS settings.</summary>
    public Dictionary<string, string> ClientEnv(SimTlsOptions? tls = null)
    {
        var env = new Dictionary<string, string> { ["BpfSim__ClusterId"] = ClusterId };
        if (tls?.CertificatePath is { } c) env["BpfSim__Tls__CertificatePath"] = c;
        if (tls?.KeyPath is { } k) env["BpfSim__Tls__KeyPath"] = k;
        if (tls?.Password is { } p) env["BpfSim__Tls__Password"] = p;
        if (tls?.CaPath is { } a) env["BpfSim__Tls__CaPath"] = a;
        return env;
    }

    private static async Task WaitReadyAsync(SiloNode node)
    {
        var deadline = DateTime.UtcNow + StartTimeout;
        while (true)
        {
            if (node.Process.HasExited) throw new InvalidOperationException($"{node.Process.Name} exited with {node.Process.ExitCode}");
            try
            {
                using var r = await Http.GetAsync(node.Http + "/readyz");
                if (r.IsSuccessStatusCode) return;
            }
            catch (HttpRequestException) { }
            catch (TaskCanceledException) { }
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{node.Process.Name} not ready after {StartTimeout}");
            await Task.Delay(200);
        }
    }

    private async Task<IHost> ConnectManagementAsync()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.UseOrleansClient(c =>
        {
            c.UseRedisClustering(o => o.ConfigurationOptions = SiloSetup.RedisOptions(Redis.ConnectionString));
            c.Configure<ClusterOptions>(o => { o.ClusterId = ClusterId; o.ServiceId = "bpfsim"; });
            if (ManagementTls is { } tls) c.UseBpfSimTls(tls);
        });
        var host = builder.Build();
        await host.StartAsync();
        return host;
    }

    /// <summary>Waits until membership lists exactly n Active silos.</summary>
    public async Task WaitForActiveAsync(int n)
    {
        var mgmt = Management.GetGrain<IManagementGrain>(0);
        var deadline = DateTime.UtcNow + StartTimeout;
        Dictionary<SiloAddress, SiloStatus> hosts;
        while ((hosts = await mgmt.GetHosts(onlyActive: true)).Count != n)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{hosts.Count} of {n} silos Active");
            await Task.Delay(250);
        }
    }

    /// <summary>Runs `bpfsim ARGS` (the CLI dll) as a process: exit code, stdout, stderr.</summary>
    public static async Task<(int Exit, string Stdout, string Stderr)> RunCliAsync(IEnumerable<string> args, IReadOnlyDictionary<string, string>? env = null, TimeSpan? timeout = null)
    {
        var psi = new System.Diagnostics.ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = TestPaths.RepoRoot,
        };
        psi.ArgumentList.Add(TestPaths.ClientDll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith("BpfSim__", StringComparison.OrdinalIgnoreCase)).ToList())
            psi.Environment.Remove(key);
        if (env is not null) foreach (var (k, v) in env) psi.Environment[k] = v;
        using var p = System.Diagnostics.Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        try { await p.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"bpfsim {string.Join(' ', args)} did not finish:\n{await stdout}\n{await stderr}");
        }
        return (p.ExitCode, await stdout, await stderr);
    }

    public string Logs() => string.Join("\n", _nodes.Select(n => $"--- {n.Process.Name}\n{n.Process.Output}")) ;

    public virtual async Task DisposeAsync()
    {
        if (_management is not null)
        {
            try { await _management.StopAsync(TimeSpan.FromSeconds(2)); } catch (OperationCanceledException) { }
            _management.Dispose();
        }
        await Task.WhenAll(_nodes.Select(n => n.Process.DisposeAsync().AsTask()));
        if (Redis is not null) await Redis.DisposeAsync();
    }
}

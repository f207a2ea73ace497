using System.CommandLine;
using System.Runtime.CompilerServices;
using BpfTraceSim.Client.Commands;
using BpfTraceSim.Client.Reports;
using BpfTraceSim.Grains;
using BpfTraceSim.Silo;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace BpfTraceSim.Client.Tests.Scenarios;

/// <summary>
/// One embedded silo configured as the CLI's (SiloSetup) plus the simulated-host placement, shared
/// by the scenario tests; `bpfsim run` and `bpfsim report` are invoked through their System.CommandLine
/// commands with captured stdout/stderr.
/// </summary>
public sealed class ScenarioSiloFixture : IAsyncLifetime
{
    private IHost? _host;

    public IGrainFactory Grains => _host!.Services.GetRequiredService<IGrainFactory>();

    public async Task InitializeAsync()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        var options = new SimSiloOptions { SiloPort = 0, GatewayPort = 0, ClusterId = "scenario-tests-" + Environment.ProcessId };
        builder.UseOrleans(silo => silo.ConfigureBpfSim(options).AddSimHostPlacement());
        _host = builder.Build();
        await _host.StartAsync();
    }

    public async Task DisposeAsync()
    {
        if (_host is null) return;
        await _host.StopAsync(TimeSpan.FromSeconds(5));
        _host.Dispose();
    }

    /// <summary>Runs a bpfsim command line (run, report) against this silo: exit code, stdout, stderr.</summary>
    public async Task<(int Exit, string Stdout, string Stderr)> Bpfsim(params string[] args)
    {
        var root = new RootCommand("bpfsim (tests)");
        root.Options.Add(Program.ClusterOption);
        root.Subcommands.Add(RunCommand.Create((_, _) => Task.FromResult((Grains, (IAsyncDisposable?)null))));
        root.Subcommands.Add(ReportCommand.Create());
        var stdout = new StringWriter { NewLine = "\n" };
        var stderr = new StringWriter { NewLine = "\n" };
        int exit = await root.Parse(args).InvokeAsync(new InvocationConfiguration { Output = stdout, Error = stderr });
        return (exit, stdout.ToString(), stderr.ToString());
    }

    public static string RepoRoot([CallerFilePath] string here = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", "..", ".."));

    public static string Example(string name) => Path.Combine(RepoRoot(), "scenarios", name);

    /// <summary>A fresh directory under the temp folder (deleted by the caller's using).</summary>
    public static TempDir Temp() => new();

    public sealed class TempDir : IDisposable
    {
        public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "bpfsim-test-" + Guid.NewGuid().ToString("N"));

        public string this[string name] => System.IO.Path.Combine(Path, name);

        public void Dispose()
        {
            if (Directory.Exists(Path)) Directory.Delete(Path, recursive: true);
        }
    }
}

[CollectionDefinition(Name)]
public sealed class ScenarioSiloCollection : ICollectionFixture<ScenarioSiloFixture>
{
    public const string Name = "scenario silo";
}

using System.Text;
using System.Text.Json;
using BpfTraceSim.Client.Cluster;
using BpfTraceSim.Client.Exec;

namespace BpfTraceSim.Client.Tests;

/// <summary>One embedded silo (the CLI's default) shared by the exec tests of this assembly.</summary>
public sealed class EmbeddedSiloFixture : IAsyncLifetime
{
    private ClusterConnection? _cluster;

    public async Task InitializeAsync() => _cluster = await ClusterConnection.ConnectAsync(null);

    public async Task DisposeAsync()
    {
        if (_cluster is not null) await _cluster.DisposeAsync();
    }

    public Task<IGrainFactory> Grains() => Task.FromResult(_cluster!.Grains);

    /// <summary>Runs an exec document as `bpfsim exec` would: output lines, error text and exit code.</summary>
    public async Task<(int Exit, List<JsonElement> Lines, string Stderr)> Exec(string document, string? baseDir = null)
    {
        var runner = new ExecRunner(() => Task.FromResult(_cluster!.Grains));
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int exit = await runner.RunAsync(Encoding.UTF8.GetBytes(document), baseDir ?? Directory.GetCurrentDirectory(), stdout, stderr, CancellationToken.None);
        var lines = new List<JsonElement>();
        foreach (var line in stdout.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries))
            lines.Add(JsonDocument.Parse(line).RootElement.Clone());
        return (exit, lines, stderr.ToString());
    }

    /// <summary>The results array of a single valid world.</summary>
    public async Task<JsonElement[]> Results(string document)
    {
        var (exit, lines, err) = await Exec(document);
        Assert.True(exit == 0, err);
        return [.. Assert.Single(lines).GetProperty("results").EnumerateArray()];
    }
}

[CollectionDefinition(Name)]
public sealed class SiloCollection : ICollectionFixture<EmbeddedSiloFixture>
{
    public const string Name = "embedded silo";
}

using BpfTraceSim.Contracts.Grains;
using BpfTraceSim.Grains.Checkpoints;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Storage;
using Orleans.TestingHost;

namespace BpfTraceSim.Grains.Tests.Scenario;

/// <summary>
/// Checkpoints through the grain storage "checkpoints" (process memory in a test cluster) with
/// BpfSim:Checkpoints:EveryWindows=1: every window stores every host and the scenario grain.
/// </summary>
public sealed class CheckpointStorageTests : IAsyncLifetime
{
    private TestCluster _cluster = null!;

    public async Task InitializeAsync()
    {
        var b = new TestClusterBuilder { Options = { InitialSilosCount = 1 } };
        b.Properties[CheckpointPolicy.ConfigKey] = "1";
        b.AddSiloBuilderConfigurator<ScenarioClusters.Configurator>();
        _cluster = b.Build();
        await _cluster.DeployAsync();
    }

    public async Task DisposeAsync()
    {
        await _cluster.StopAllSilosAsync();
        await _cluster.DisposeAsync();
    }

    private IGrainStorage Storage =>
        ((InProcessSiloHandle)_cluster.Primary!).SiloHost.Services.GetRequiredKeyedService<IGrainStorage>(CheckpointStorage.Name);

    [Fact]
    public async Task Checkpointing_every_window_gives_the_report_of_a_run_without_and_shutdown_deletes_the_checkpoints()
    {
        var s = ScenarioClusters.Parse(ScenarioClusters.SmallFleet);
        var (g, p) = await ScenarioClusters.Run(_cluster.GrainFactory, s);
        Assert.True(p.State == ScenarioRunState.Done, p.Error);

        var stored = new GrainState<ScenarioCheckpoint>();
        await Storage.ReadStateAsync(CheckpointStorage.StateName, g.GetGrainId(), stored);
        Assert.True(stored.RecordExists);
        Assert.Equal(ScenarioRunState.Done, stored.State!.State);
        Assert.Equal(4, stored.State.WindowsDone);
        Assert.Equal(1, stored.State.Every);

        var host = new GrainState<HostCheckpoint>();
        var hostId = _cluster.GrainFactory.GetGrain<IScenarioHostGrain>(new ScenarioHostKey(g.GetPrimaryKeyString(), "b-3").ToString()).GetGrainId();
        await Storage.ReadStateAsync(CheckpointStorage.StateName, hostId, host);
        Assert.True(host.RecordExists);
        Assert.Equal(4, host.State!.Window); // the last boundary is always stored

        // The same bytes as the run on a cluster without checkpoints (ScenarioClusters' default: never).
        await using var plain = new PlainCluster();
        var (g0, p0) = await ScenarioClusters.Run(plain.Cluster.GrainFactory, s);
        Assert.True(p0.State == ScenarioRunState.Done, p0.Error);
        Assert.Equal(await ScenarioClusters.Snapshot(g0), await ScenarioClusters.Snapshot(g));

        await g.Shutdown();
        stored = new GrainState<ScenarioCheckpoint>();
        await Storage.ReadStateAsync(CheckpointStorage.StateName, g.GetGrainId(), stored);
        Assert.False(stored.RecordExists);
        host = new GrainState<HostCheckpoint>();
        await Storage.ReadStateAsync(CheckpointStorage.StateName, hostId, host);
        Assert.False(host.RecordExists);
    }

    /// <summary>
    /// The ETag guard: while the run waits for its captured lines to be taken, another writer stores
    /// the run's checkpoint (as a second activation of the run would). The activation's next write
    /// (the outcome of a cancel) is refused; it must not overwrite, but stop and deactivate. The run
    /// then goes on in a new activation from what is stored, and ends done with the same report.
    /// </summary>
    [Fact]
    public async Task A_superseded_activation_never_overwrites_the_checkpoint_and_the_run_goes_on_from_it()
    {
        var s = ScenarioClusters.Parse(ScenarioClusters.SmallFleet);
        var g = _cluster.GrainFactory.GetGrain<IScenarioGrain>("etag-" + Guid.NewGuid().ToString("N"));
        await g.Start(s, new ScenarioRunOptions { CaptureTrace = true, MaxPendingCaptureLines = 1 });
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(1);
        ScenarioProgress p;
        while ((p = await g.GetProgress()).WindowsDone < 1)
        {
            Assert.True(DateTime.UtcNow < deadline, "the first window did not end");
            await Task.Delay(20);
        }
        Assert.Equal(ScenarioRunState.Running, p.State);
        Assert.True(p.PendingCaptureLines > 1); // paused after window 0's boundary was stored

        // The boundary's checkpoint is stored right after the progress shows the window: wait for it.
        var other = new GrainState<ScenarioCheckpoint>();
        while (true)
        {
            await Storage.ReadStateAsync(CheckpointStorage.StateName, g.GetGrainId(), other);
            if (other.State?.WindowsDone >= 1) break;
            Assert.True(DateTime.UtcNow < deadline, "window 0's checkpoint was not stored");
            await Task.Delay(20);
        }
        Assert.Equal(1, other.State!.WindowsDone);
        await Storage.WriteStateAsync(CheckpointStorage.StateName, g.GetGrainId(), other); // a new ETag

        await g.Cancel();
        while ((p = await g.GetProgress()).State == ScenarioRunState.Running)
        {
            Assert.True(DateTime.UtcNow < deadline, "the run did not end");
            await g.TakeCapture(int.MaxValue);
            await Task.Delay(20);
        }
        Assert.True(p.State == ScenarioRunState.Done, $"{p.State}: {p.Error}");
        await using var plain = new PlainCluster();
        var (g0, _) = await ScenarioClusters.Run(plain.Cluster.GrainFactory, s);
        Assert.Equal(await ScenarioClusters.Snapshot(g0), await ScenarioClusters.Snapshot(g));
    }

    /// <summary>A one-silo cluster with the default policy (memory storage: no checkpoints between windows).</summary>
    private sealed class PlainCluster : IAsyncDisposable
    {
        public TestCluster Cluster { get; }

        public PlainCluster()
        {
            var b = new TestClusterBuilder { Options = { InitialSilosCount = 1 } };
            b.AddSiloBuilderConfigurator<ScenarioClusters.Configurator>();
            Cluster = b.Build();
            Cluster.Deploy();
        }

        public async ValueTask DisposeAsync()
        {
            await Cluster.StopAllSilosAsync();
            await Cluster.DisposeAsync();
        }
    }
}

using System.Collections.Immutable;
using BpfTraceSim.Contracts.Grains;
using BpfTraceSim.Contracts.Scenarios;
using BpfTraceSim.Grains.Checkpoints;
using BpfTraceSim.Grains.Runs;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace BpfTraceSim.Grains;

/// <summary>
/// One scenario run, as long-running work: <see cref="Start"/> sets the run up and starts the run
/// loop (<see cref="ScenarioRunLoop"/>) on this activation, <see cref="GetProgress"/> is its status,
/// <see cref="GetReport"/> its result. The pieces: <see cref="ScenarioFleet"/> (set-up),
/// <see cref="HostCalls"/> (failover calls to the hosts), <see cref="ScenarioSums"/> (aggregation and
/// the report), <see cref="CaptureQueue"/> (captured lines); this class holds them together and owns
/// the checkpoint.
/// Failover: the grain checkpoints itself (its persistent state, <see cref="CheckpointStorage"/>) at
/// the same boundaries as the hosts and, once done, its outcome: a new activation (its own silo was
/// lost) reads it and goes on by itself from the last boundary (the client only has to keep polling).
/// A write the storage refuses for its ETag means another activation of the run wrote since: this one
/// stops its run loop and deactivates instead of overwriting.
/// </summary>
public sealed class ScenarioGrain(
    [PersistentState(CheckpointStorage.StateName, CheckpointStorage.Name)] IPersistentState<ScenarioCheckpoint> checkpoint)
    : Grain, IScenarioGrain
{
    private ScenarioFleet? _fleet;
    private HostCalls? _calls;
    private ScenarioSums? _sums;
    private readonly CaptureQueue _capture = new();
    private int _every;
    private readonly LongRunningWork<RunOutcome> _work = new();
    private RunOutcome? _outcome;  // set when the run ended (or read from the checkpoint of an ended run)
    private bool _superseded;      // another activation wrote the checkpoint: this one stops

    private string RunId => this.GetPrimaryKeyString();

    private ScenarioRunState State => _outcome?.State ?? (_fleet is null ? ScenarioRunState.NotStarted : ScenarioRunState.Running);

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // A new activation of a started run: its silo was lost (or it was collected); go on from the checkpoint.
        if (!checkpoint.RecordExists) return Task.CompletedTask;
        var c = checkpoint.State;
        if (c.Scenario is null) throw new ScenarioRunException($"run {RunId}: the stored checkpoint is empty");
        SetUp(c.Scenario, c.Options, c.Every);
        _sums!.Restore(c);
        _capture.Restore(c.TraceLines, c.Records);
        if (c.State == ScenarioRunState.Running) StartLoop();
        else _outcome = new RunOutcome(c.State, c.Error, c.Report);
        return Task.CompletedTask;
    }

    public async Task Start(Scenario scenario, ScenarioRunOptions options)
    {
        if (_fleet is not null) throw new ScenarioRunException($"run {RunId} was already started");
        if (scenario.WindowNs <= 0 || scenario.DurationNs <= 0 || scenario.DurationNs % scenario.WindowNs != 0)
            throw new ScenarioRunException("the scenario's duration must be a positive multiple of its window");
        SetUp(scenario, options, CheckpointPolicy.Every(CheckpointPolicy.Configured(ServiceProvider), scenario.HostCount));
        await SaveCheckpoint(null);
        StartLoop();
    }

    private void SetUp(Scenario scenario, ScenarioRunOptions options, int every)
    {
        _every = every;
        _fleet = new ScenarioFleet(scenario, options, RunId, GrainFactory);
        _calls = new HostCalls(_fleet, every);
        _sums = new ScenarioSums(_fleet);
    }

    /// <summary>The run loop as this activation's long-running work; its outcome is kept and checkpointed.</summary>
    private void StartLoop()
    {
        var loop = new ScenarioRunLoop(_fleet!, _calls!, _sums!, _capture, _every, () => SaveCheckpoint(null),
            () => this.DelayDeactivation(TimeSpan.FromMinutes(10)));
        _work.Start(async cancel =>
        {
            var outcome = await loop.Run(cancel);
            // Stored first, shown after: a superseded activation reports no outcome (the other one goes on).
            await SaveCheckpoint(outcome);
            if (!_superseded) _outcome = outcome;
            return outcome;
        });
    }

    /// <summary>This grain at the boundary it has reached (or, given, its outcome), in its persistent state.</summary>
    private async Task SaveCheckpoint(RunOutcome? outcome)
    {
        var state = outcome?.State ?? State;
        if (_superseded || (_every == 0 && state == ScenarioRunState.Running && _sums!.WindowsDone > 0)) return;
        var fleet = _fleet!;
        checkpoint.State = _sums!.Into(new ScenarioCheckpoint
        {
            Scenario = fleet.Scenario,
            Options = fleet.Options,
            State = state,
            Error = outcome?.Error,
            TraceLines = _capture.TraceLines,
            Records = _capture.Records,
            Report = outcome?.Report,
            Every = _every,
        });
        try
        {
            if (await checkpoint.TryWriteAsync()) return;
            _superseded = true;
            Log()?.LogWarning("run {Run}: another activation stored a checkpoint; this one stops", RunId);
            _work.Cancel();
            DeactivateOnIdle();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Not fatal while this activation lives: it only matters if this grain's silo is lost before the next one.
            Log()?.LogWarning(e, "run {Run}: checkpoint at window {Window} not stored", RunId, _sums.WindowsDone);
        }
    }

    private ILogger? Log() => ServiceProvider.GetService<ILogger<ScenarioGrain>>();

    public Task<ScenarioProgress> GetProgress()
    {
        var s = _fleet?.Scenario;
        long done = _sums?.WindowsDone ?? 0;
        return Task.FromResult(new ScenarioProgress
        {
            State = State,
            WindowsDone = done,
            WindowCount = s?.WindowCount ?? 0,
            VirtualNsDone = s is null ? 0 : done * s.WindowNs,
            DurationNs = s?.DurationNs ?? 0,
            HelperCalls = _sums?.HelperCalls ?? 0,
            Firings = _sums?.Firings ?? 0,
            Lost = _sums?.Lost ?? 0,
            Error = _outcome?.Error,
            PendingCaptureLines = _capture.Pending,
        });
    }

    public Task<ScenarioCapture> TakeCapture(int maxLines) => Task.FromResult(_capture.Take(maxLines));

    public Task<ScenarioReport> GetReport() => State switch
    {
        ScenarioRunState.Done => Task.FromResult(_outcome!.Report!),
        ScenarioRunState.Failed or ScenarioRunState.Cancelled => throw new ScenarioRunException(_outcome!.Error ?? "the run failed"),
        var state => throw new ScenarioRunException($"run {RunId} is {state}, not done"),
    };

    public async Task<ImmutableArray<CpuReport>> GetPerCpu(long firstHost, int hostCount)
    {
        var state = State;
        if (state != ScenarioRunState.Done) throw new ScenarioRunException($"run {RunId} is {state}, not done");
        var fleet = _fleet!;
        if (!fleet.Options.ListsPerCpu(fleet.Scenario.CpuCount)) return [];
        long end = Math.Min(fleet.Hosts.Length, firstHost + Math.Max(hostCount, 0));
        if (firstHost < 0 || firstHost >= end) return [];
        long windows = fleet.Scenario.WindowCount;
        var pages = await Task.WhenAll(Enumerable.Range((int)firstHost, (int)(end - firstHost))
            .Select(h => _calls!.Call(h, windows, _ => fleet.Hosts[h].Grain.GetPerCpu(), finishAfterResume: true)));
        var b = ImmutableArray.CreateBuilder<CpuReport>();
        for (int i = 0; i < pages.Length; i++)
        {
            int h = (int)firstHost + i;
            foreach (var c in pages[i]) b.Add(_sums!.WithLostPerWindow(h, c));
        }
        return b.ToImmutable();
    }

    public Task Cancel()
    {
        _work.Cancel();
        return Task.CompletedTask;
    }

    public async Task Shutdown()
    {
        // The loop stops after the window in progress; then nothing writes the checkpoint any more.
        await _work.StopAsync();
        await checkpoint.ClearAsync();
        if (_fleet is not null) await _fleet.ShutdownHosts();
        DeactivateOnIdle();
    }
}

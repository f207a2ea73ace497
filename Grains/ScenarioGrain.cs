using System.Collections.Immutable;
using BpfTraceSim.Contracts.Grains;
using BpfTraceSim.Contracts.Scenarios;
using BpfTraceSim.Grains.Simulation;
using BpfTraceSim.Grains.Checkpoints;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.Serialization;
using ContractReturn = BpfTraceSim.Contracts.Grains.HelperReturnCount;

namespace BpfTraceSim.Grains;

/// <summary>
/// Drives one scenario run in virtual time: every host grain runs window w (a bounded number of
/// calls at a time) before any runs w + 1; the window's statistics are summed over hosts in fleet
/// order, never in the order replies arrive, so the report is the same whatever the silos and the
/// scheduling. At the end each host checks conservation of its rings; a failure fails the run.
/// The run goes on in the background of the activation; the client polls progress.
/// Failover: a host call that fails because the host's silo was lost (or timed out) is answered by
/// resuming that host at the window asked (IScenarioHostRecovery.Resume: its last checkpoint, then
/// the windows in between again) and asking again; a window is summed once, from one answer per
/// host, so nothing is counted twice. The grain checkpoints itself at the same boundaries as the
/// hosts and, once done, its outcome: a new activation (its own silo was lost) reads it and goes on
/// by itself from the last boundary (the client only has to keep polling).
/// </summary>
public sealed class ScenarioGrain : Grain, IScenarioGrain
{
    /// <summary>Rows times windows up to which lost counts per window are kept per host and per CPU (the heat maps).</summary>
    private const long MaxHeatCells = 4_000_000;
    /// <summary>How long a host may stay unreachable before the run fails (membership must declare its silo dead first).</summary>
    private static readonly TimeSpan RecoveryLimit = TimeSpan.FromMinutes(3);

    private Scenario? _scenario;
    private ScenarioRunOptions _options = new();
    private HostRef[] _hosts = [];
    private ScenarioRunState _state = ScenarioRunState.NotStarted;
    private string? _error;
    private bool _cancel;
    private int _every;
    private HostRunOptions _hostOptions = new();

    private long _windowsDone, _helperCalls, _firings, _lost;
    private readonly List<WindowReport> _windows = [];
    private readonly LagHistogram.Builder _windowLag = new(); // one window's lag over the hosts, reused
    private long[][]? _cpuLost;          // [flat cpu][window], fleets up to the per-CPU limit
    private long[][]? _hostLost;         // [host][window]
    private long[] _cpuBase = [];        // flat index of each host's CPU 0
    private ScenarioReport? _report;

    private readonly Queue<string> _traceLines = new();
    private readonly Queue<string> _records = new();
    private TaskCompletionSource? _captureTaken;

    private ICheckpointSlot? _slot;
    private ICheckpointSlot Slot => _slot ??= CheckpointStore.Open(ServiceProvider, this.GetGrainId());

    private sealed record HostRef(int Group, int Index, string Name, int Cpus, IScenarioHostGrain Grain, IScenarioHostRecovery Recovery);

    /// <summary>Host calls that failed for a lost silo or a timeout and were recovered (tests, logs).</summary>
    internal long Recoveries { get; private set; }

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // A new activation of a started run: its silo was lost (or it was collected); go on from the checkpoint.
        var blob = await Slot.ReadAsync();
        if (blob is null) return;
        var serializer = ServiceProvider.GetRequiredService<Serializer>();
        var c = serializer.Deserialize<ScenarioCheckpoint>(blob.Data)
            ?? throw new ScenarioRunException($"run {this.GetPrimaryKeyString()}: the stored checkpoint is empty");
        Restore(c);
        if (_state == ScenarioRunState.Running) _ = RunAsync(resumed: true);
    }

    public async Task Start(Scenario scenario, ScenarioRunOptions options)
    {
        if (_state != ScenarioRunState.NotStarted)
            throw new ScenarioRunException($"run {this.GetPrimaryKeyString()} was already started");
        if (scenario.WindowNs <= 0 || scenario.DurationNs <= 0 || scenario.DurationNs % scenario.WindowNs != 0)
            throw new ScenarioRunException("the scenario's duration must be a positive multiple of its window");
        _scenario = scenario;
        _options = options;
        _state = ScenarioRunState.Running;
        _every = CheckpointPolicy.Every(CheckpointPolicy.Configured(ServiceProvider), scenario.HostCount);
        Setup();
        await SaveCheckpoint();
        // Runs on this activation's scheduler, between the calls it serves (progress polls).
        _ = RunAsync(resumed: false);
    }

    /// <summary>Host list, CPU offsets, heat maps and host options: all derived from the scenario and options.</summary>
    private void Setup()
    {
        var scenario = _scenario!;
        string run = this.GetPrimaryKeyString();
        var hosts = new List<HostRef>();
        for (int g = 0; g < scenario.Fleet.Length; g++)
        {
            var group = scenario.Fleet[g];
            for (int i = 0; i < group.Hosts; i++)
            {
                string name = group.HostName(i);
                string key = ScenarioHostKey.Of(run, name);
                hosts.Add(new HostRef(g, i, name, group.Cpus, GrainFactory.GetGrain<IScenarioHostGrain>(key), GrainFactory.GetGrain<IScenarioHostRecovery>(key)));
            }
        }
        _hosts = [.. hosts];
        long windows = scenario.WindowCount;
        long cpus = scenario.CpuCount;
        bool cpuHeat = cpus <= ScenarioRunOptions.PerCpuLimit && cpus * windows <= MaxHeatCells;
        _hostOptions = new HostRunOptions
        {
            CaptureTrace = _options.CaptureTrace,
            CaptureRecords = _options.CaptureRecords,
            CpuLostPerWindow = cpuHeat,
            PrefixTraceWithHost = _hosts.Length > 1,
            PerCpuTotals = _options.ListsPerCpu(cpus),
        };
        _cpuBase = new long[_hosts.Length];
        long flat = 0;
        for (int h = 0; h < _hosts.Length; h++)
        {
            _cpuBase[h] = flat;
            flat += _hosts[h].Cpus;
        }
        _cpuLost = cpuHeat ? NewJagged(cpus, windows) : null;
        _hostLost = (long)_hosts.Length * windows <= MaxHeatCells ? NewJagged(_hosts.Length, windows) : null;
    }

    private async Task RunAsync(bool resumed)
    {
        var scenario = _scenario!;
        try
        {
            long windows = scenario.WindowCount;
            long from = _windowsDone;
            // Every host to window `from`: a fresh engine at the start; after a resume, whatever each host has to do.
            await ForEachHost(h => CallHost(h, from, async r =>
            {
                await r.Resume(scenario, _hosts[h].Group, _hosts[h].Index, _hostOptions, from, _every);
                return 0;
            }, resumeFirst: false));

            var results = new HostWindowStats[_hosts.Length];
            for (long w = from; w < windows && !_cancel; w++)
            {
                long window = w;
                await ForEachHost(async h => results[h] = await CallHost(h, window, _ => _hosts[h].Grain.RunWindow(window)));
                Aggregate(window, results);
                Array.Clear(results);
                _windowsDone = w + 1;
                this.DelayDeactivation(TimeSpan.FromMinutes(10));
                // Before any host is asked the next window: hosts never store a boundary past this grain's.
                if (CheckpointPolicy.IsBoundary(_windowsDone, _every, windows)) await SaveCheckpoint();
                while (_traceLines.Count + _records.Count > _options.MaxPendingCaptureLines && !_cancel)
                {
                    _captureTaken = new TaskCompletionSource();
                    await _captureTaken.Task;
                }
            }
            if (_cancel)
            {
                _state = ScenarioRunState.Cancelled;
                _error = $"cancelled after {_windowsDone} of {windows} windows";
                await SaveCheckpoint();
                return;
            }

            var finals = new HostFinal[_hosts.Length];
            await ForEachHost(async h => finals[h] = await CallHost(h, windows, _ => _hosts[h].Grain.Finish()));
            _report = BuildReport(scenario, finals);
            if (!_report.Conservation.Ok)
            {
                var failures = _report.Conservation.Failures;
                _error = "conservation check failed (records_written != records_consumed + records_in_ring_at_end on " +
                         $"{failures.Length} ring(s)): " + string.Join("; ", failures.Take(10)) +
                         (failures.Length > 10 ? $"; and {failures.Length - 10} more" : "");
                _state = ScenarioRunState.Failed;
                await SaveCheckpoint();
                return;
            }
            _state = ScenarioRunState.Done;
            await SaveCheckpoint();
        }
        catch (Exception e)
        {
            _error = Describe(e);
            _state = ScenarioRunState.Failed;
            await SaveCheckpoint();
        }
    }

    private static string Describe(Exception e)
    {
        while (e is AggregateException { InnerExceptions.Count: 1 } a) e = a.InnerExceptions[0];
        return e is ScenarioRunException ? e.Message : $"{e.GetType().Name}: {e.Message}";
    }

    /// <summary>
    /// What a lost host looks like to its caller: the call timed out (a window can also outlast
    /// the response timeout: the host then answers the repeat from the window it kept), the silo
    /// was declared dead, the message could not be delivered, or the activation is new.
    /// </summary>
    internal static bool IsHostLoss(Exception e) =>
        e is TimeoutException or SiloUnavailableException or OrleansMessageRejectionException or HostLostException
        || e.GetType().Name == "ConnectionFailedException"
        || (e is OrleansException && e.InnerException is { } inner && IsHostLoss(inner));

    /// <summary>
    /// Calls host h; when the host is lost, resumes it at window (its checkpoint, then the windows
    /// in between again, on whichever silo the placement now gives it) and calls again.
    /// </summary>
    private async Task<T> CallHost<T>(int h, long window, Func<IScenarioHostRecovery, Task<T>> call, bool resumeFirst = true, bool finishAfterResume = false)
    {
        var host = _hosts[h];
        long start = Environment.TickCount64;
        int delayMs = 100;
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                return await call(host.Recovery);
            }
            catch (Exception e) when (IsHostLoss(e) && Environment.TickCount64 - start < RecoveryLimit.TotalMilliseconds)
            {
            }
            Recoveries++;
            if (attempt > 1)
            {
                await Task.Delay(delayMs);
                delayMs = Math.Min(delayMs * 2, 2000);
            }
            if (!resumeFirst) continue;
            try
            {
                await host.Recovery.Resume(_scenario!, host.Group, host.Index, _hostOptions, window, _every);
                if (finishAfterResume) await host.Grain.Finish();
            }
            catch (Exception e) when (IsHostLoss(e) && Environment.TickCount64 - start < RecoveryLimit.TotalMilliseconds)
            {
            }
        }
    }

    /// <summary>This grain at the boundary it has reached (or its outcome), in its checkpoint slot.</summary>
    private async Task SaveCheckpoint()
    {
        if (_every == 0 && _state == ScenarioRunState.Running && _windowsDone > 0) return;
        var c = new ScenarioCheckpoint
        {
            Scenario = _scenario!,
            Options = _options,
            State = _state,
            Error = _error,
            WindowsDone = _windowsDone,
            HelperCalls = _helperCalls,
            Firings = _firings,
            Lost = _lost,
            Windows = [.. _windows],
            CpuLost = Flatten(_cpuLost, _windowsDone),
            HostLost = Flatten(_hostLost, _windowsDone),
            TraceLines = [.. _traceLines],
            Records = [.. _records],
            Report = _report,
            Every = _every,
        };
        var serializer = ServiceProvider.GetRequiredService<Serializer>();
        try
        {
            await Slot.WriteAsync(new CheckpointBlob { Window = _windowsDone, Data = serializer.SerializeToArray(c) });
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Not fatal while this activation lives: it only matters if this grain's silo is lost before the next one.
            ServiceProvider.GetService<ILogger<ScenarioGrain>>()?.LogWarning(e, "run {Run}: checkpoint at window {Window} not stored", this.GetPrimaryKeyString(), _windowsDone);
        }
    }

    private void Restore(ScenarioCheckpoint c)
    {
        _scenario = c.Scenario;
        _options = c.Options;
        _state = c.State;
        _error = c.Error;
        _every = c.Every;
        Setup();
        _windowsDone = c.WindowsDone;
        _helperCalls = c.HelperCalls;
        _firings = c.Firings;
        _lost = c.Lost;
        _windows.Clear();
        _windows.AddRange(c.Windows);
        Unflatten(c.CpuLost, _cpuLost, c.WindowsDone);
        Unflatten(c.HostLost, _hostLost, c.WindowsDone);
        _traceLines.Clear();
        foreach (var l in c.TraceLines) _traceLines.Enqueue(l);
        _records.Clear();
        foreach (var r in c.Records) _records.Enqueue(r);
        _report = c.Report;
    }

    private static long[]? Flatten(long[][]? rows, long columns)
    {
        if (rows is null) return null;
        var flat = new long[rows.LongLength * columns];
        for (long i = 0; i < rows.LongLength; i++) Array.Copy(rows[i], 0, flat, i * columns, columns);
        return flat;
    }

    private static void Unflatten(long[]? flat, long[][]? rows, long columns)
    {
        if (flat is null || rows is null) return;
        for (long i = 0; i < rows.LongLength; i++) Array.Copy(flat, i * columns, rows[i], 0, columns);
    }

    private static long[][] NewJagged(long rows, long cols)
    {
        var a = new long[rows][];
        for (long i = 0; i < rows; i++) a[i] = new long[cols];
        return a;
    }

    /// <summary>
    /// Calls f for every host index with at most Parallelism calls in flight. The workers run on
    /// this activation's scheduler; results go to slots by host index, so order of completion
    /// does not matter.
    /// </summary>
    private Task ForEachHost(Func<int, Task> f)
    {
        int parallelism = _options.Parallelism > 0 ? _options.Parallelism : Environment.ProcessorCount * 4;
        int next = 0;
        int n = _hosts.Length;
        async Task Worker()
        {
            while (true)
            {
                int h = next++;
                if (h >= n) return;
                await f(h);
            }
        }
        var workers = new Task[Math.Min(parallelism, n)];
        for (int i = 0; i < workers.Length; i++) workers[i] = Worker();
        return Task.WhenAll(workers);
    }

    /// <summary>Sums one window over the hosts in host order and queues its captured lines.</summary>
    private void Aggregate(long window, HostWindowStats[] results)
    {
        long lost = 0, written = 0, fill = 0, firings = 0, calls = 0, errors = 0, consumed = 0, wakeups = 0, inRing = 0;
        var lag = _windowLag;
        for (int h = 0; h < results.Length; h++)
        {
            var s = results[h];
            var c = s.Counters;
            lost += c.Lost;
            written += c.RecordsWritten;
            fill = Math.Max(fill, c.RingHighWaterBytes);
            firings += c.Firings;
            consumed += c.RecordsConsumed;
            wakeups += c.Wakeups;
            inRing += c.RecordsInRingAtEnd;
            foreach (var r in c.Helpers)
            {
                calls += r.Count;
                if (r.Return < 0) errors += r.Count;
            }
            AddLag(lag, s.Lag);
            if (_hostLost is not null) _hostLost[h][window] = c.Lost;
            if (_cpuLost is not null && !s.CpuLost.IsDefaultOrEmpty)
                for (int cpu = 0; cpu < s.CpuLost.Length; cpu++) _cpuLost[_cpuBase[h] + cpu][window] = s.CpuLost[cpu];
            foreach (var line in s.TraceLines) _traceLines.Enqueue(line);
            foreach (var line in s.Records) _records.Enqueue(line);
        }
        _windows.Add(new WindowReport
        {
            StartNs = window * _scenario!.WindowNs,
            Lost = lost,
            RecordsWritten = written,
            RingFillMaxBytes = fill,
            Firings = firings,
            HelperCalls = calls,
            HelperErrors = errors,
            RecordsConsumed = consumed,
            Wakeups = wakeups,
            RecordsInRing = inRing,
            ConsumerLagP99Ns = lag.BuildAndReuse().Percentile(99),
        });
        _helperCalls += calls;
        _firings += firings;
        _lost += lost;
    }

    private static void AddLag(LagHistogram.Builder sum, ScenarioHistogram h)
    {
        if (!h.Counts.IsDefaultOrEmpty) sum.Add(h.FirstBucket, h.Counts.AsSpan(), h.Min, h.Max);
    }

    private ScenarioReport BuildReport(Scenario scenario, HostFinal[] finals)
    {
        var helpers = new Dictionary<(string, long), long>();
        long firings = 0, written = 0, bytes = 0, consumed = 0, inRing = 0, lost = 0, high = 0, wakeups = 0;
        long lostReported = 0, overwritten = 0, invisible = 0;
        long cWritten = 0, cConsumed = 0, cInRing = 0, cOverwritten = 0, cInvisible = 0, rings = 0;
        bool ok = true;
        var failures = ImmutableArray.CreateBuilder<string>();
        var lag = new LagHistogram.Builder();
        var perHost = ImmutableArray.CreateBuilder<HostReport>(_hosts.Length);
        for (int h = 0; h < finals.Length; h++)
        {
            var f = finals[h];
            var t = f.Totals;
            firings += t.Firings;
            foreach (var r in t.Helpers)
                helpers[(r.Helper, r.Return)] = helpers.GetValueOrDefault((r.Helper, r.Return)) + r.Count;
            written += t.RecordsWritten;
            bytes += t.BytesWritten;
            consumed += t.RecordsConsumed;
            inRing += t.RecordsInRingAtEnd;
            lost += t.Lost;
            high = Math.Max(high, t.RingHighWaterBytes);
            wakeups += t.Wakeups;
            lostReported += t.LostReported;
            overwritten += t.RecordsOverwritten;
            invisible += t.RecordsInvisible;
            AddLag(lag, f.Lag);
            var k = f.Conservation;
            ok &= k.Ok;
            failures.AddRange(k.Failures);
            cWritten += k.RecordsWritten;
            cConsumed += k.RecordsConsumed;
            cInRing += k.RecordsInRingAtEnd;
            cOverwritten += k.RecordsOverwritten;
            cInvisible += k.RecordsInvisible;
            rings += k.Rings;
            perHost.Add(new HostReport
            {
                Host = _hosts[h].Name,
                Cpus = _hosts[h].Cpus,
                Counters = t,
                LostPerWindow = _hostLost is null ? [] : ImmutableArray.Create(_hostLost[h]),
            });
        }
        var sorted = helpers.Select(kv => new ContractReturn(kv.Key.Item1, kv.Key.Item2, kv.Value))
            .OrderBy(r => r.Helper, StringComparer.Ordinal).ThenByDescending(r => r.Return);
        return new ScenarioReport
        {
            Scenario = scenario.Name,
            Seed = scenario.Seed,
            DurationNs = scenario.DurationNs,
            Hosts = _hosts.Length,
            Cpus = scenario.CpuCount,
            Totals = new ScenarioCounters
            {
                Firings = firings,
                Helpers = [.. sorted],
                RecordsWritten = written,
                BytesWritten = bytes,
                RecordsConsumed = consumed,
                RecordsInRingAtEnd = inRing,
                Lost = lost,
                RingHighWaterBytes = high,
                ConsumerLagP99Ns = lag.Build().Percentile(99),
                Wakeups = wakeups,
                LostReported = lostReported,
                RecordsOverwritten = overwritten,
                RecordsInvisible = invisible,
            },
            PerCpuListed = _options.ListsPerCpu(scenario.CpuCount),
            Windows = [.. _windows],
            Conservation = new ConservationReport
            {
                Ok = ok,
                RecordsWritten = cWritten,
                RecordsConsumed = cConsumed,
                RecordsInRingAtEnd = cInRing,
                RecordsOverwritten = cOverwritten,
                RecordsInvisible = cInvisible,
                Rings = rings,
                Failures = failures.ToImmutable(),
            },
            PerHost = perHost.MoveToImmutable(),
            Digest = ScenarioDigest.Compute(scenario),
            WindowNs = scenario.WindowNs,
        };
    }

    public Task<ScenarioProgress> GetProgress()
    {
        var s = _scenario;
        return Task.FromResult(new ScenarioProgress
        {
            State = _state,
            WindowsDone = _windowsDone,
            WindowCount = s?.WindowCount ?? 0,
            VirtualNsDone = s is null ? 0 : _windowsDone * s.WindowNs,
            DurationNs = s?.DurationNs ?? 0,
            HelperCalls = _helperCalls,
            Firings = _firings,
            Lost = _lost,
            Error = _error,
            PendingCaptureLines = _traceLines.Count + _records.Count,
        });
    }

    public Task<ScenarioCapture> TakeCapture(int maxLines)
    {
        if (_traceLines.Count == 0 && _records.Count == 0) return Task.FromResult(ScenarioCapture.Empty);
        var trace = ImmutableArray.CreateBuilder<string>(Math.Min(maxLines, _traceLines.Count));
        while (trace.Count < maxLines && _traceLines.TryDequeue(out var l)) trace.Add(l);
        var records = ImmutableArray.CreateBuilder<string>(Math.Min(maxLines, _records.Count));
        while (records.Count < maxLines && _records.TryDequeue(out var r)) records.Add(r);
        _captureTaken?.TrySetResult();
        return Task.FromResult(new ScenarioCapture { TraceLines = trace.ToImmutable(), Records = records.ToImmutable() });
    }

    public Task<ScenarioReport> GetReport() => _state switch
    {
        ScenarioRunState.Done => Task.FromResult(_report!),
        ScenarioRunState.Failed or ScenarioRunState.Cancelled => throw new ScenarioRunException(_error ?? "the run failed"),
        _ => throw new ScenarioRunException($"run {this.GetPrimaryKeyString()} is {_state}, not done"),
    };

    public async Task<ImmutableArray<CpuReport>> GetPerCpu(long firstHost, int hostCount)
    {
        if (_state != ScenarioRunState.Done) throw new ScenarioRunException($"run {this.GetPrimaryKeyString()} is {_state}, not done");
        if (!_options.ListsPerCpu(_scenario!.CpuCount)) return [];
        long end = Math.Min(_hosts.Length, firstHost + Math.Max(hostCount, 0));
        if (firstHost < 0 || firstHost >= end) return [];
        long windows = _scenario.WindowCount;
        var pages = await Task.WhenAll(Enumerable.Range((int)firstHost, (int)(end - firstHost))
            .Select(h => CallHost(h, windows, _ => _hosts[h].Grain.GetPerCpu(), finishAfterResume: true)));
        var b = ImmutableArray.CreateBuilder<CpuReport>();
        for (int i = 0; i < pages.Length; i++)
        {
            long h = firstHost + i;
            foreach (var c in pages[i])
                b.Add(_cpuLost is null ? c : c with { LostPerWindow = ImmutableArray.Create(_cpuLost[_cpuBase[h] + c.Cpu]) });
        }
        return b.ToImmutable();
    }

    public Task Cancel()
    {
        _cancel = true;
        _captureTaken?.TrySetResult();
        return Task.CompletedTask;
    }

    public async Task Shutdown()
    {
        _cancel = true;
        await Slot.ClearAsync();
        _captureTaken?.TrySetResult();
        var hosts = _hosts;
        int parallelism = _options.Parallelism > 0 ? _options.Parallelism : Environment.ProcessorCount * 4;
        for (int i = 0; i < hosts.Length; i += parallelism)
            await Task.WhenAll(hosts.Skip(i).Take(parallelism).Select(h => h.Grain.Shutdown()));
        DeactivateOnIdle();
    }
}

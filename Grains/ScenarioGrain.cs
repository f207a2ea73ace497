using System.Collections.Immutable;
using BpfTraceSim.Contracts.Grains;
using BpfTraceSim.Contracts.Scenarios;
using BpfTraceSim.Grains.Simulation;
using ContractReturn = BpfTraceSim.Contracts.Grains.HelperReturnCount;

namespace BpfTraceSim.Grains;

/// <summary>
/// Drives one scenario run in virtual time: every host grain runs window w (a bounded number of
/// calls at a time) before any runs w + 1; the window's statistics are summed over hosts in fleet
/// order, never in the order replies arrive, so the report is the same whatever the silos and the
/// scheduling. At the end each host checks conservation of its rings; a failure fails the run.
/// The run goes on in the background of the activation; the client polls progress.
/// </summary>
public sealed class ScenarioGrain : Grain, IScenarioGrain
{
    /// <summary>Rows times windows up to which lost counts per window are kept per host and per CPU (the heat maps).</summary>
    private const long MaxHeatCells = 4_000_000;

    private Scenario? _scenario;
    private ScenarioRunOptions _options = new();
    private HostRef[] _hosts = [];
    private ScenarioRunState _state = ScenarioRunState.NotStarted;
    private string? _error;
    private bool _cancel;

    private long _windowsDone, _helperCalls, _firings, _lost;
    private readonly List<WindowReport> _windows = [];
    private long[][]? _cpuLost;          // [flat cpu][window], fleets up to the per-CPU limit
    private long[][]? _hostLost;         // [host][window]
    private long[] _cpuBase = [];        // flat index of each host's CPU 0
    private ScenarioReport? _report;

    private readonly Queue<string> _traceLines = new();
    private readonly Queue<string> _records = new();
    private TaskCompletionSource? _captureTaken;

    private sealed record HostRef(int Group, int Index, string Name, int Cpus, IScenarioHostGrain Grain);

    public Task Start(Scenario scenario, ScenarioRunOptions options)
    {
        if (_state != ScenarioRunState.NotStarted)
            throw new ScenarioRunException($"run {this.GetPrimaryKeyString()} was already started");
        if (scenario.WindowNs <= 0 || scenario.DurationNs <= 0 || scenario.DurationNs % scenario.WindowNs != 0)
            throw new ScenarioRunException("the scenario's duration must be a positive multiple of its window");
        _scenario = scenario;
        _options = options;
        _state = ScenarioRunState.Running;
        string run = this.GetPrimaryKeyString();
        var hosts = new List<HostRef>();
        for (int g = 0; g < scenario.Fleet.Length; g++)
        {
            var group = scenario.Fleet[g];
            for (int i = 0; i < group.Hosts; i++)
            {
                string name = group.HostName(i);
                hosts.Add(new HostRef(g, i, name, group.Cpus, GrainFactory.GetGrain<IScenarioHostGrain>(ScenarioHostKey.Of(run, name))));
            }
        }
        _hosts = [.. hosts];
        // Runs on this activation's scheduler, between the calls it serves (progress polls).
        _ = RunAsync();
        return Task.CompletedTask;
    }

    private async Task RunAsync()
    {
        var scenario = _scenario!;
        try
        {
            long windows = scenario.WindowCount;
            long cpus = scenario.CpuCount;
            bool cpuHeat = cpus <= ScenarioRunOptions.PerCpuLimit && cpus * windows <= MaxHeatCells;
            var hostOptions = new HostRunOptions
            {
                CaptureTrace = _options.CaptureTrace,
                CaptureRecords = _options.CaptureRecords,
                CpuLostPerWindow = cpuHeat,
                PrefixTraceWithHost = _hosts.Length > 1,
            };
            _cpuBase = new long[_hosts.Length];
            long flat = 0;
            for (int h = 0; h < _hosts.Length; h++)
            {
                _cpuBase[h] = flat;
                flat += _hosts[h].Cpus;
            }
            if (cpuHeat) _cpuLost = NewJagged(cpus, windows);
            if ((long)_hosts.Length * windows <= MaxHeatCells) _hostLost = NewJagged(_hosts.Length, windows);

            await ForEachHost(h => _hosts[h].Grain.Init(scenario, _hosts[h].Group, _hosts[h].Index, hostOptions));

            var results = new HostWindowStats[_hosts.Length];
            for (long w = 0; w < windows && !_cancel; w++)
            {
                long window = w;
                await ForEachHost(async h => results[h] = await Retry(() => _hosts[h].Grain.RunWindow(window)));
                Aggregate(window, results);
                Array.Clear(results);
                _windowsDone = w + 1;
                this.DelayDeactivation(TimeSpan.FromMinutes(10));
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
                return;
            }

            var finals = new HostFinal[_hosts.Length];
            await ForEachHost(async h => finals[h] = await Retry(() => _hosts[h].Grain.Finish()));
            _report = BuildReport(scenario, finals);
            if (!_report.Conservation.Ok)
            {
                var failures = _report.Conservation.Failures;
                _error = "conservation check failed (records_written != records_consumed + records_in_ring_at_end on " +
                         $"{failures.Length} ring(s)): " + string.Join("; ", failures.Take(10)) +
                         (failures.Length > 10 ? $"; and {failures.Length - 10} more" : "");
                _state = ScenarioRunState.Failed;
                return;
            }
            _state = ScenarioRunState.Done;
        }
        catch (Exception e)
        {
            _error = Describe(e);
            _state = ScenarioRunState.Failed;
        }
    }

    private static string Describe(Exception e)
    {
        while (e is AggregateException { InnerExceptions.Count: 1 } a) e = a.InnerExceptions[0];
        return e is ScenarioRunException ? e.Message : $"{e.GetType().Name}: {e.Message}";
    }

    /// <summary>
    /// A host window can outlast the response timeout; the call is repeated, and the host grain
    /// answers a repeat with the result it kept (it runs each window once).
    /// </summary>
    private static async Task<T> Retry<T>(Func<Task<T>> call)
    {
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                return await call();
            }
            catch (TimeoutException) when (attempt < 10)
            {
            }
        }
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
        var lag = LagHistogram.Empty;
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
            lag = lag.Merge(ScenarioConvert.Histogram(s.Lag));
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
            ConsumerLagP99Ns = lag.Percentile(99),
        });
        _helperCalls += calls;
        _firings += firings;
        _lost += lost;
    }

    private ScenarioReport BuildReport(Scenario scenario, HostFinal[] finals)
    {
        var helpers = new Dictionary<(string, long), long>();
        long firings = 0, written = 0, bytes = 0, consumed = 0, inRing = 0, lost = 0, high = 0, wakeups = 0;
        long lostReported = 0, overwritten = 0, invisible = 0;
        long cWritten = 0, cConsumed = 0, cInRing = 0, cOverwritten = 0, cInvisible = 0, rings = 0;
        bool ok = true;
        var failures = ImmutableArray.CreateBuilder<string>();
        var lag = LagHistogram.Empty;
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
            lag = lag.Merge(ScenarioConvert.Histogram(f.Lag));
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
                ConsumerLagP99Ns = lag.Percentile(99),
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
        var pages = await Task.WhenAll(Enumerable.Range((int)firstHost, (int)(end - firstHost)).Select(h => _hosts[h].Grain.GetPerCpu()));
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
        _captureTaken?.TrySetResult();
        var hosts = _hosts;
        int parallelism = _options.Parallelism > 0 ? _options.Parallelism : Environment.ProcessorCount * 4;
        for (int i = 0; i < hosts.Length; i += parallelism)
            await Task.WhenAll(hosts.Skip(i).Take(parallelism).Select(h => h.Grain.Shutdown()));
        DeactivateOnIdle();
    }
}

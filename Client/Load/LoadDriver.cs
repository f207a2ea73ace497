using System.Collections.Immutable;
using System.Diagnostics;
using BpfTraceSim.Contracts.Exec;
using BpfTraceSim.Contracts.Grains;
using BpfTraceSim.Kernel;
using BpfTraceSim.Kernel.Perf;
using HdrHistogram;

namespace BpfTraceSim.Client.Load;

/// <summary>A second of the measured run: helper calls completed and their grain-call latencies.</summary>
internal sealed record LoadSecond(int Second, long Calls, double P99Us);

/// <summary>The outcome of a load run.</summary>
internal sealed record LoadResult(
    LoadOptions Options,
    long Calls,
    long GrainCalls,
    double Seconds,
    LongHistogram Latency,
    IReadOnlyList<LoadSecond> PerSecond,
    IReadOnlyDictionary<string, IReadOnlyDictionary<long, long>> Returns)
{
    public double CallsPerSecond => Calls / Seconds;
}

/// <summary>
/// Drives helper calls against one simulated host in wall-clock time: closed loop (N callers, one
/// grain call outstanding each) or open loop at a target rate, latency per grain call in an
/// HdrHistogram (open loop measures from the intended start, so coordinated omission is corrected).
/// </summary>
internal sealed class LoadDriver(IGrainFactory grains, LoadOptions options)
{
    private static readonly long HighestNs = (long)TimeSpan.FromMinutes(5).TotalMicroseconds * 1000;
    private readonly object _gate = new();
    private LongHistogram _latency = new(HighestNs, 3);
    private LongHistogram _interval = new(HighestNs, 3);
    private long _calls, _grainCalls, _intervalCalls;
    private bool _measuring;
    private readonly Dictionary<string, Dictionary<long, long>> _returns = new();

    /// <summary>Called about once a second with (elapsed measured seconds, calls in that second, p99 us, total calls).</summary>
    public Action<double, long, double, long>? Progress { get; init; }

    public async Task<LoadResult> RunAsync(CancellationToken ct)
    {
        string host = $"load-{Guid.NewGuid():N}";
        await grains.GetGrain<IHostGrain>(host).Boot(World(host, options.Cpus));
        var steps = Steps();
        try
        {
            // Warm up (not counted), then measure.
            using (var warm = CancellationTokenSource.CreateLinkedTokenSource(ct))
            {
                warm.CancelAfter(options.Warmup);
                await Drive(host, steps, warm.Token, Stopwatch.GetTimestamp());
            }
            lock (_gate)
            {
                _latency = new LongHistogram(HighestNs, 3);
                _calls = _grainCalls = 0;
                _returns.Clear();
                _measuring = true;
            }
            var perSecond = new List<LoadSecond>();
            long start = Stopwatch.GetTimestamp();
            using var measure = CancellationTokenSource.CreateLinkedTokenSource(ct);
            measure.CancelAfter(options.Duration);
            var ticker = Tick(perSecond, start, measure.Token);
            await Drive(host, steps, measure.Token, start);
            await ticker;
            double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            lock (_gate)
            {
                _measuring = false;
                var returns = _returns.ToDictionary(kv => kv.Key, kv => (IReadOnlyDictionary<long, long>)kv.Value);
                return new LoadResult(options, _calls, _grainCalls, seconds, _latency, perSecond, returns);
            }
        }
        finally
        {
            await grains.GetGrain<IHostGrain>(host).Shutdown();
        }
    }

    private async Task Tick(List<LoadSecond> perSecond, long start, CancellationToken ct)
    {
        int second = 0;
        while (!ct.IsCancellationRequested)
        {
            // Cancellation ends the last second early; it is still reported.
            await Task.Delay(TimeSpan.FromSeconds(1), ct).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            long calls, total;
            double p99;
            lock (_gate)
            {
                calls = _intervalCalls;
                total = _calls;
                p99 = _interval.TotalCount > 0 ? _interval.GetValueAtPercentile(99) / 1000.0 : 0;
                _intervalCalls = 0;
                _interval = new LongHistogram(HighestNs, 3);
            }
            if (ct.IsCancellationRequested && calls == 0) break;
            perSecond.Add(new LoadSecond(++second, calls, p99));
            Progress?.Invoke(Stopwatch.GetElapsedTime(start).TotalSeconds, calls, p99, total);
        }
    }

    private Task Drive(string host, (string Name, ExecStep Step)[] steps, CancellationToken ct, long start) =>
        options.Rate is double rate ? OpenLoop(host, steps, rate, ct, start) : ClosedLoop(host, steps, ct);

    private async Task ClosedLoop(string host, (string Name, ExecStep Step)[] steps, CancellationToken ct)
    {
        var callers = new Task[options.Callers];
        for (int i = 0; i < callers.Length; i++)
        {
            var (name, step) = steps[i % steps.Length];
            step = step with { Cpu = i % options.Cpus };
            var program = grains.GetProgramGrain(new ProgramKey(host, "load", step.Cpu));
            callers[i] = Task.Run(async () =>
            {
                while (!ct.IsCancellationRequested)
                {
                    long t0 = Stopwatch.GetTimestamp();
                    await Call(program, name, step, t0);
                }
            }, CancellationToken.None);
        }
        await Task.WhenAll(callers);
    }

    /// <summary>Grain calls start at fixed intervals whatever the latency; each is timed from its intended start.</summary>
    private async Task OpenLoop(string host, (string Name, ExecStep Step)[] steps, double rate, CancellationToken ct, long start)
    {
        double perSecond = rate / options.Batch;
        long intervalTicks = Math.Max(1, (long)(Stopwatch.Frequency / perSecond));
        var inflight = new List<Task>();
        long n = 0;
        while (!ct.IsCancellationRequested)
        {
            long intended = start + n * intervalTicks;
            long now = Stopwatch.GetTimestamp();
            if (intended > now)
            {
                var wait = TimeSpan.FromSeconds((double)(intended - now) / Stopwatch.Frequency);
                if (wait > TimeSpan.FromMilliseconds(1))
                {
                    try { await Task.Delay(wait, ct); }
                    catch (OperationCanceledException) { break; }
                }
                continue;
            }
            var (name, step) = steps[(int)(n % steps.Length)];
            step = step with { Cpu = (int)(n % options.Cpus) };
            var program = grains.GetProgramGrain(new ProgramKey(host, "load", step.Cpu));
            inflight.Add(Call(program, name, step, intended));
            if (inflight.Count >= 4096)
            {
                await Task.WhenAll(inflight);
                inflight.Clear();
            }
            n++;
        }
        await Task.WhenAll(inflight);
    }

    private async Task Call(IProgramGrain program, string name, ExecStep step, long t0)
    {
        BatchResult? batch = null;
        StepResult? single = null;
        if (options.Batch == 1) single = await program.Invoke(step);
        else batch = await program.InvokeBatch(step, options.Batch);
        long ns = (long)(Stopwatch.GetElapsedTime(t0).TotalMicroseconds * 1000);
        lock (_gate)
        {
            _latency.RecordValue(Math.Min(ns, HighestNs));
            _interval.RecordValue(Math.Min(ns, HighestNs));
            _calls += options.Batch;
            _intervalCalls += options.Batch;
            _grainCalls++;
            if (!_measuring) return;
            if (!_returns.TryGetValue(name, out var r)) _returns[name] = r = new Dictionary<long, long>();
            if (batch is not null)
                foreach (var (ret, count) in batch.Returns) r[ret] = r.GetValueOrDefault(ret) + count;
            else
                r[single!.Ret ?? 0] = r.GetValueOrDefault(single.Ret ?? 0) + 1;
        }
    }

    /// <summary>One host, an output event (overwrite ring: never full) and a cpu-clock counter per CPU.</summary>
    private static WorldSpec World(string host, int cpus)
    {
        var events = ImmutableArray.CreateBuilder<EventSpec>();
        var outSlots = ImmutableArray.CreateBuilder<string?>();
        var clkSlots = ImmutableArray.CreateBuilder<string?>();
        for (int c = 0; c < cpus; c++)
        {
            events.Add(new EventSpec { Name = $"out{c}", Id = (ulong)(2 * c + 1), Cpu = c, RingPages = 8, Overwrite = true, SampleType = PerfConstants.PERF_SAMPLE_RAW });
            events.Add(new EventSpec { Name = $"clk{c}", Id = (ulong)(2 * c + 2), Cpu = c, Config = PerfConstants.PERF_COUNT_SW_CPU_CLOCK });
            outSlots.Add($"out{c}");
            clkSlots.Add($"clk{c}");
        }
        return new WorldSpec
        {
            Id = host,
            Cpus = cpus,
            Tasks = [new TaskSpec(1000, "loadgen", 0, 1000)],
            Maps = [new MapSpec("events", "perf_event_array", cpus), new MapSpec("counters", "perf_event_array", cpus)],
            Events = events.ToImmutable(),
            Slots = ImmutableDictionary<string, ImmutableArray<string?>>.Empty
                .Add("events", outSlots.ToImmutable())
                .Add("counters", clkSlots.ToImmutable()),
        };
    }

    private static readonly byte[] VprintkFormat = "%d %d %d\n\0"u8.ToArray();

    private (string Name, ExecStep Step)[] Steps()
    {
        var list = new List<(string, ExecStep)>();
        foreach (var call in options.Mix)
        {
            var step = call.Kind switch
            {
                "output" => new ExecStep { Call = StepCall.PerfEventOutput, Map = "events", Flags = BpfFlags.BPF_F_CURRENT_CPU, Data = new byte[call.Size], Size = (ulong)call.Size },
                "read" => new ExecStep { Call = StepCall.PerfEventRead, Map = "counters", Flags = BpfFlags.BPF_F_CURRENT_CPU },
                "read_value" => new ExecStep { Call = StepCall.PerfEventReadValue, Map = "counters", Flags = BpfFlags.BPF_F_CURRENT_CPU, Size = 24, BufSize = 24 },
                _ => new ExecStep
                {
                    Call = StepCall.TraceVprintk,
                    Fmt = VprintkFormat,
                    FmtSize = (ulong)VprintkFormat.Length,
                    Args = [new ArgSpec { Value = 1 }, new ArgSpec { Value = 2 }, new ArgSpec { Value = 3 }],
                },
            };
            list.Add((call.ToString(), step));
        }
        return [.. list];
    }
}

using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using BpfTraceSim.Client.Reports;
using BpfTraceSim.Contracts.Grains;
using BpfTraceSim.Contracts.Scenarios;
using Spectre.Console;

namespace BpfTraceSim.Client.Sweeps;

/// <summary>What `bpfsim sweep` was asked to do.</summary>
public sealed record SweepRequest
{
    public required string ScenarioPath { get; init; }
    /// <summary>--vary options as written (PATH=VALUES).</summary>
    public IReadOnlyList<string> Vary { get; init; } = [];
    public int Seeds { get; init; } = 1;
    /// <summary>Output and cache directory; null: out/sweep-&lt;scenario name&gt;/.</summary>
    public string? OutDir { get; init; }
    public IReadOnlyList<string> Targets { get; init; } = [];
    public string? Minimize { get; init; }
    public string? Maximize { get; init; }
    /// <summary>Run every point even when one parameter would allow bisection.</summary>
    public bool Exhaustive { get; init; }
    /// <summary>Runs in flight at once; 0: the processors here (embedded) or processors x silos (cluster).</summary>
    public int Parallel { get; init; }
    public bool Quiet { get; init; }
    public string? Cluster { get; init; }
}

/// <summary>A run of the sweep that failed (the engine refused it or broke conservation).</summary>
public sealed class SweepRunFailedException(string message) : Exception(message);

/// <summary>
/// `bpfsim sweep`: builds and validates every point first (a bad path or value: exit 2, nothing
/// runs), then runs each point at each seed as its own scenario grain (hosts placed as usual),
/// as many at once as the silos' processors allow, skipping runs already in DIR/points; then writes
/// sweep.json and sweep.html through temporary files renamed into place and prints the answer.
/// Exit codes: 0 done (and the target met, if one was given), 1 no point meets the target or a run
/// failed, 2 a refused scenario, path, value or option, 130 interrupted (finished runs are kept).
/// </summary>
public sealed class SweepRunner(ConnectCluster connect, TextWriter stdout, TextWriter stderr, bool stderrIsTerminal)
{
    public const int ExitNotMet = 1;

    private int _run, _cached;

    /// <summary>Runs simulated by this sweep (not found in the cache).</summary>
    public int RunsSimulated => _run;
    /// <summary>Runs taken from DIR/points.</summary>
    public int RunsCached => _cached;
    public string? OutputDirectory { get; private set; }

    public async Task<int> RunAsync(SweepRequest req, CancellationToken ct)
    {
        SweepPlan plan;
        SweepTarget? target;
        SweepObjective? objective;
        try
        {
            var parameters = req.Vary.Select(SweepParameter.Parse).ToList();
            plan = SweepPlan.Build(req.ScenarioPath, parameters, req.Seeds);
            (target, objective) = Goal(req, plan);
        }
        catch (ScenarioException e)
        {
            await stderr.WriteLineAsync(e.Error.ToString());
            return ScenarioException.ExitCode;
        }
        catch (SweepUsageException e)
        {
            await stderr.WriteLineAsync("bpfsim sweep: " + e.Message);
            return SweepUsageException.ExitCode;
        }
        string outDir = Path.GetFullPath(req.OutDir ?? Path.Combine("out", "sweep-" + ScenarioRunner.SafeName(plan.Base.Name)));
        if (File.Exists(outDir))
        {
            await stderr.WriteLineAsync($"bpfsim sweep: --out {outDir} is a file, not a directory");
            return SweepUsageException.ExitCode;
        }
        var cache = new PointCache(outDir);

        IAsyncDisposable? owner = null;
        var wall = Stopwatch.StartNew();
        try
        {
            var (grains, o) = await connect(req.Cluster, ct);
            owner = o;
            int parallel = req.Parallel > 0 ? req.Parallel : await DefaultParallelism(grains, req.Cluster is null);
            var progress = new Progress(this, plan, stderr, req.Quiet, wall);
            SweepSearch.Evaluate evaluate = points => Evaluate(grains, plan, cache, points, parallel, progress, ct);

            (SweepOutcome Outcome, SortedDictionary<int, PointResult> Results)? searched = null;
            if (!req.Quiet && stderrIsTerminal)
            {
                var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(stderr) });
                await console.Progress().AutoClear(false)
                    .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new SpinnerColumn())
                    .StartAsync(async ctx =>
                    {
                        progress.Bar = ctx.AddTask("points", maxValue: plan.Points.Length);
                        searched = await SweepSearch.RunAsync(plan, target, objective, req.Exhaustive, evaluate);
                        progress.Bar.Value = progress.Bar.MaxValue;
                    });
            }
            else searched = await SweepSearch.RunAsync(plan, target, objective, req.Exhaustive, evaluate);
            var found = searched!.Value;

            string json = SweepJson.ToJson(plan, target, objective, found.Outcome, found.Results);
            using var doc = JsonDocument.Parse(json);
            string html = SweepHtml.Render(SweepJson.Load(doc.RootElement));
            WriteAtomically(outDir, "sweep.json", json);
            WriteAtomically(outDir, "sweep.html", html);
            OutputDirectory = outDir;

            if (found.Outcome.Message.Length > 0) await stdout.WriteLineAsync(found.Outcome.Message);
            if (!req.Quiet)
            {
                double secs = wall.Elapsed.TotalSeconds;
                int points = found.Results.Count;
                await stderr.WriteLineAsync(
                    $"bpfsim sweep: {points} point{(points == 1 ? "" : "s")} x {plan.Seeds} seed{(plan.Seeds == 1 ? "" : "s")}: " +
                    $"{_run} run{(_run == 1 ? "" : "s")} simulated, {_cached} from {cache.Directory}, {parallel} at a time, " +
                    $"in {secs.ToString("0.0", CultureInfo.InvariantCulture)} s " +
                    $"({(points / Math.Max(secs, 1e-3)).ToString("0.##", CultureInfo.InvariantCulture)} points/s); " +
                    $"wrote {Path.Combine(outDir, "sweep.json")} and sweep.html");
            }
            return target is not null && !found.Outcome.Found ? ExitNotMet : 0;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            await stderr.WriteLineAsync($"bpfsim sweep: interrupted; {_run} finished run(s) kept in {cache.Directory}, a rerun continues from there");
            return ScenarioRunner.ExitInterrupted;
        }
        catch (SweepRunFailedException e)
        {
            await stderr.WriteLineAsync("bpfsim sweep: " + e.Message);
            return ScenarioRunner.ExitFailed;
        }
        finally
        {
            if (owner is not null) await owner.DisposeAsync();
        }
    }

    private static (SweepTarget?, SweepObjective?) Goal(SweepRequest req, SweepPlan plan)
    {
        if (req.Targets.Count > 1) throw new SweepUsageException("give one --target");
        var target = req.Targets.Count == 1 ? SweepTarget.Parse(req.Targets[0]) : null;
        if (req.Minimize is not null && req.Maximize is not null) throw new SweepUsageException("give --minimize or --maximize, not both");
        string? path = req.Minimize ?? req.Maximize;
        if (path is null) return (target, null);
        string opt = req.Minimize is not null ? "--minimize" : "--maximize";
        if (target is null) throw new SweepUsageException($"{opt} {path} needs a --target to meet");
        int index = plan.Parameters.IndexOf(plan.Parameters.FirstOrDefault(p => p.Path == path)!);
        if (index < 0)
            throw new SweepUsageException($"{opt} {path}: not a swept parameter (swept: {string.Join(", ", plan.Parameters.Select(p => p.Path))})");
        if (plan.Parameters[index].Keys is null)
            throw new SweepUsageException($"{opt} {path}: its values are not all numbers, so they have no cheapest");
        return (target, new SweepObjective(path, index, Maximize: req.Maximize is not null));
    }

    private static async Task<int> DefaultParallelism(IGrainFactory grains, bool embedded)
    {
        if (embedded) return Environment.ProcessorCount;
        try
        {
            var hosts = await grains.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true);
            return Environment.ProcessorCount * Math.Max(1, hosts.Count);
        }
        catch (Exception)
        {
            return Environment.ProcessorCount * 2;
        }
    }

    /// <summary>Runs every (point, seed) not in the cache, at most `parallel` at once; results in point order.</summary>
    private async Task<IReadOnlyList<PointResult>> Evaluate(IGrainFactory grains, SweepPlan plan, PointCache cache,
        IReadOnlyList<SweepPoint> points, int parallel, Progress progress, CancellationToken ct)
    {
        var totals = new ScenarioCounters[points.Count][];
        var left = new int[points.Count];
        var queue = new ConcurrentQueue<(int Slot, SweepJob Job)>();
        for (int i = 0; i < points.Count; i++)
        {
            totals[i] = new ScenarioCounters[plan.Seeds];
            left[i] = plan.Seeds;
            int cachedHere = 0;
            for (int s = 0; s < plan.Seeds; s++)
            {
                var job = plan.Job(points[i], s);
                if (cache.TryGet(job.Digest, job.Seed, out var t))
                {
                    totals[i][s] = t;
                    left[i]--;
                    cachedHere++;
                    Interlocked.Increment(ref _cached);
                }
                else queue.Enqueue((i, job));
            }
            if (left[i] == 0) progress.PointDone(points[i], totals[i], cachedHere);
        }
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        async Task Worker()
        {
            while (!stop.IsCancellationRequested && queue.TryDequeue(out var item))
            {
                var t = await RunOne(grains, item.Job, stop.Token);
                cache.Put(item.Job.Digest, item.Job.Seed, t);
                Interlocked.Increment(ref _run);
                totals[item.Slot][item.Job.SeedIndex] = t;
                if (Interlocked.Decrement(ref left[item.Slot]) == 0) progress.PointDone(points[item.Slot], totals[item.Slot], 0);
            }
        }
        var workers = Enumerable.Range(0, Math.Min(parallel, Math.Max(queue.Count, 1))).Select(_ => Task.Run(async () =>
        {
            try { await Worker(); }
            catch { stop.Cancel(); throw; }
        })).ToArray();
        try
        {
            await Task.WhenAll(workers);
        }
        catch (Exception) when (workers.Any(w => w.IsFaulted))
        {
            // The first real failure, not the cancellations it caused in the other workers.
            var e = workers.Where(w => w.IsFaulted).SelectMany(w => w.Exception!.InnerExceptions).FirstOrDefault(x => x is not OperationCanceledException)
                    ?? workers.First(w => w.IsFaulted).Exception!.InnerExceptions[0];
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e).Throw();
        }
        ct.ThrowIfCancellationRequested();
        return [.. Enumerable.Range(0, points.Count).Select(i => new PointResult(points[i], [.. totals[i]]))];
    }

    /// <summary>One scenario grain per run: start, poll until it ends, take the totals, forget it.</summary>
    private async Task<ScenarioCounters> RunOne(IGrainFactory grains, SweepJob job, CancellationToken ct)
    {
        string runId = $"sweep-{job.Digest[..16]}-{Guid.NewGuid():N}";
        var grain = grains.GetGrain<IScenarioGrain>(runId);
        try
        {
            await grain.Start(job.Scenario, new ScenarioRunOptions());
            int delay = 2;
            ScenarioProgress p;
            while (true)
            {
                await Task.Delay(delay, ct);
                delay = Math.Min(delay * 2, 50);
                p = await grain.GetProgress();
                if (p.State is not (ScenarioRunState.Running or ScenarioRunState.NotStarted)) break;
            }
            if (p.State != ScenarioRunState.Done)
                throw new SweepRunFailedException($"{SweepSearch.Params(job.Point)} at seed {job.Seed}: the run failed: {p.Error ?? p.State.ToString()}");
            var report = await grain.GetReport();
            return report.Totals;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            await Reports.BestEffort.Run(grain.Cancel, stderr, "sweep", "cancel a run");
            throw;
        }
        catch (ScenarioRunException e)
        {
            throw new SweepRunFailedException($"{SweepSearch.Params(job.Point)} at seed {job.Seed}: {e.Message}");
        }
        finally
        {
            await Reports.BestEffort.Run(grain.Shutdown, stderr, "sweep", "shut a run down (its grains idle out by themselves)");
        }
    }

    private static void WriteAtomically(string dir, string name, string text)
    {
        Directory.CreateDirectory(dir);
        string tmp = Path.Combine(dir, $".{name}.{Environment.ProcessId}.tmp");
        try
        {
            File.WriteAllText(tmp, text, new UTF8Encoding(false));
            File.Move(tmp, Path.Combine(dir, name), overwrite: true);
        }
        finally
        {
            File.Delete(tmp);
        }
    }

    /// <summary>Progress over points: a bar on a terminal, else one line per finished point.</summary>
    private sealed class Progress(SweepRunner owner, SweepPlan plan, TextWriter stderr, bool quiet, Stopwatch wall)
    {
        private readonly Lock _lock = new();
        private int _done;

        public ProgressTask? Bar { get; set; }

        public void PointDone(SweepPoint point, ScenarioCounters[] seeds, int cached)
        {
            lock (_lock)
            {
                _done++;
                double worst = seeds.Max(s => s.LostRatio);
                if (Bar is not null)
                {
                    Bar.Value = Math.Min(_done, Bar.MaxValue);
                    Bar.Description = Markup.Escape($"{_done}/{plan.Points.Length} points, {owner._run} runs, last {SweepSearch.Params(point)}");
                    return;
                }
                if (quiet) return;
                stderr.WriteLine($"bpfsim sweep: [{_done}/{plan.Points.Length}] {SweepSearch.Params(point)}: lost_ratio max " +
                                 $"{SweepSearch.Fmt(worst)} over {seeds.Length} seed{(seeds.Length == 1 ? "" : "s")}" +
                                 (cached > 0 ? $" ({cached} from cache)" : "") +
                                 $", wall {wall.Elapsed.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)} s");
            }
        }
    }
}

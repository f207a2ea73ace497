using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using BpfTraceSim.Client.Cluster;
using BpfTraceSim.Contracts.Grains;
using BpfTraceSim.Contracts.Scenarios;
using Spectre.Console;

namespace BpfTraceSim.Client.Reports;

/// <summary>What `bpfsim run` was asked to do.</summary>
public sealed record RunRequest
{
    public required string ScenarioPath { get; init; }
    /// <summary>Output directory; null: out/&lt;scenario name&gt;/.</summary>
    public string? OutDir { get; init; }
    public ulong? Seed { get; init; }
    public bool PerCpu { get; init; }
    public string? TracePipe { get; init; }
    public string? Records { get; init; }
    public bool Quiet { get; init; }
    /// <summary>Concurrent host calls per window (0: the scenario grain's default).</summary>
    public int Parallelism { get; init; }
    /// <summary>Gateways of a running cluster; null: an embedded silo.</summary>
    public string? Cluster { get; init; }
}

/// <summary>How the runner reaches grains: the CLI connects (embedded silo or --cluster); tests hand in their own.</summary>
public delegate Task<(IGrainFactory Grains, IAsyncDisposable? Owner)> ConnectCluster(string? cluster, CancellationToken ct);

/// <summary>
/// `bpfsim run`: parses the scenario (a refused file: its error on stderr, exit 2, nothing
/// written), starts a scenario grain, shows progress on stderr, then writes report.json and
/// report.html through temporary files renamed into place, so a failed run leaves nothing behind.
/// Exit codes: 0 done, 1 the run failed (conservation, engine error), 2 a refused scenario or
/// unusable option, 130 interrupted.
/// </summary>
public sealed class ScenarioRunner(ConnectCluster connect, TextWriter stderr, bool stderrIsTerminal)
{
    public const int ExitFailed = 1;
    public const int ExitInterrupted = 130;
    private const int CaptureBatch = 50_000;

    public static ConnectCluster Default => async (cluster, ct) =>
    {
        var c = await ClusterConnection.ConnectAsync(cluster, ct);
        return (c.Grains, c);
    };

    /// <summary>Where the reports of a run went (for callers that print or test them).</summary>
    public string? ReportDirectory { get; private set; }

    public async Task<int> RunAsync(RunRequest req, CancellationToken ct)
    {
        Scenario scenario;
        try
        {
            scenario = ScenarioParser.ParseFile(req.ScenarioPath);
        }
        catch (ScenarioException e)
        {
            await stderr.WriteLineAsync(e.Error.ToString());
            return ScenarioException.ExitCode;
        }
        if (req.Seed is { } seed) scenario = scenario with { Seed = seed };
        foreach (var w in scenario.Warnings)
            await stderr.WriteLineAsync($"bpfsim run: warning: {w}");
        if (scenario.Fleet.Any(g => g.HasMemoryFields))
            await stderr.WriteLineAsync($"bpfsim run: {RingMemory.Plan(scenario).Summary()}");
        foreach (var fp in FittedProgram.Of(scenario))
            foreach (var c in fp.Cpus)
                await stderr.WriteLineAsync($"bpfsim run: program {fp.Program} fitted on/off: {c.Summary()}");
        string outDir = Path.GetFullPath(req.OutDir ?? Path.Combine("out", SafeName(scenario.Name)));
        if (File.Exists(outDir))
        {
            await stderr.WriteLineAsync($"bpfsim run: --out {outDir} is a file, not a directory");
            return ScenarioException.ExitCode;
        }

        var options = new ScenarioRunOptions
        {
            PerCpu = req.PerCpu,
            CaptureTrace = req.TracePipe is not null,
            CaptureRecords = req.Records is not null,
            Parallelism = req.Parallelism,
        };
        PendingFile? trace = null, records = null;
        IAsyncDisposable? owner = null;
        IScenarioGrain? grain = null;
        try
        {
            trace = req.TracePipe is null ? null : PendingFile.Create(req.TracePipe);
            records = req.Records is null ? null : PendingFile.Create(req.Records);
            var (grains, o) = await connect(req.Cluster, ct);
            owner = o;
            string runId = $"{SafeName(scenario.Name)}-{Guid.NewGuid():N}";
            grain = grains.GetGrain<IScenarioGrain>(runId);
            var wall = Stopwatch.StartNew();
            await grain.Start(scenario, options);

            ScenarioProgress last = await Watch(grain, scenario, req.Quiet, wall, trace, records, ct);
            if (last.State != ScenarioRunState.Done)
            {
                await stderr.WriteLineAsync($"bpfsim run: {req.ScenarioPath}: the run failed: {last.Error ?? last.State.ToString()}");
                return ExitFailed;
            }
            var report = await grain.GetReport();
            await WriteReports(grain, report, outDir, ct);
            trace?.Commit();
            records?.Commit();
            ReportDirectory = outDir;
            if (!req.Quiet)
            {
                var t = report.Totals;
                await stderr.WriteLineAsync(
                    $"bpfsim run: {scenario.Name}: {Count(t.Firings)} firings, {Count(t.HelperCalls)} helper calls, " +
                    $"{Count(t.Lost)} lost ({(t.LostRatio * 100).ToString("0.###", CultureInfo.InvariantCulture)} %) " +
                    $"in {wall.Elapsed.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)} s; " +
                    $"wrote {Path.Combine(outDir, "report.json")} and report.html");
            }
            return 0;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            if (grain is not null)
            {
                await BestEffort.Run(grain.Cancel, stderr, "run", "cancel the run");
            }
            await stderr.WriteLineAsync("bpfsim run: interrupted; nothing written");
            return ExitInterrupted;
        }
        catch (ScenarioRunException e)
        {
            await stderr.WriteLineAsync($"bpfsim run: {req.ScenarioPath}: {e.Message}");
            return ExitFailed;
        }
        catch (ArgumentException e) when (grain is null)
        {
            // --cluster that is not host:port[,host:port]
            await stderr.WriteLineAsync($"bpfsim run: {e.Message}");
            return ScenarioException.ExitCode;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            await stderr.WriteLineAsync($"bpfsim run: cannot write the output: {e.Message}; nothing written");
            return ExitFailed;
        }
        catch (OrleansException e)
        {
            await stderr.WriteLineAsync($"bpfsim run: the cluster failed: {e.Message}; nothing written");
            return ExitFailed;
        }
        finally
        {
            trace?.Dispose();
            records?.Dispose();
            if (grain is not null)
            {
                await BestEffort.Run(grain.Shutdown, stderr, "run", "shut the run down (its grains idle out by themselves)");
            }
            if (owner is not null) await owner.DisposeAsync();
        }
    }

    /// <summary>Polls the run until it ends, draining captured lines and showing progress.</summary>
    private async Task<ScenarioProgress> Watch(IScenarioGrain grain, Scenario scenario, bool quiet, Stopwatch wall,
        PendingFile? trace, PendingFile? records, CancellationToken ct)
    {
        ScenarioProgress p = await grain.GetProgress();
        async Task<ScenarioProgress> Step()
        {
            await Task.Delay(p.WindowsDone == 0 ? 50 : 150, ct);
            p = await SurvivingSiloLoss(async () =>
            {
                await Drain(grain, trace, records);
                return await grain.GetProgress();
            }, ct);
            return p;
        }
        bool Running() => p.State is ScenarioRunState.Running or ScenarioRunState.NotStarted;

        if (!quiet && stderrIsTerminal)
        {
            var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(stderr) });
            await console.Progress()
                .AutoClear(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(),
                         new ElapsedTimeColumn(), new RemainingTimeColumn(), new SpinnerColumn())
                .StartAsync(async ctx =>
                {
                    var task = ctx.AddTask(Markup.Escape(scenario.Name), maxValue: Math.Max(1, scenario.DurationNs));
                    while (Running())
                    {
                        await Step();
                        task.Value = p.VirtualNsDone;
                        task.Description = Markup.Escape(Line(scenario, p, wall, withName: true));
                    }
                    task.Value = p.VirtualNsDone;
                });
        }
        else
        {
            var nextLine = TimeSpan.FromSeconds(2);
            while (Running())
            {
                await Step();
                if (!quiet && (wall.Elapsed >= nextLine || !Running()))
                {
                    await stderr.WriteLineAsync("bpfsim run: " + Line(scenario, p, wall, withName: true) +
                        $", wall {Seconds(wall.Elapsed.TotalSeconds)}{Eta(p, wall)}");
                    nextLine = wall.Elapsed + TimeSpan.FromSeconds(2);
                }
            }
        }
        await Drain(grain, trace, records);
        return p;
    }

    /// <summary>
    /// A poll that fails because the silo holding the scenario grain died is repeated: the next call
    /// activates the grain on a survivor, which resumes the run from its checkpoint. Gives up after
    /// three minutes, as the scenario grain does for a lost host.
    /// </summary>
    private static async Task<T> SurvivingSiloLoss<T>(Func<Task<T>> call, CancellationToken ct)
    {
        var deadline = Stopwatch.StartNew();
        var backoff = TimeSpan.FromMilliseconds(100);
        while (true)
        {
            try
            {
                return await call();
            }
            catch (Exception e) when (SiloLoss.Is(e) && deadline.Elapsed < TimeSpan.FromMinutes(3))
            {
                await Task.Delay(backoff, ct);
                backoff = TimeSpan.FromMilliseconds(Math.Min(2000, backoff.TotalMilliseconds * 2));
            }
        }
    }

    /// <summary>A call whose failure does not change the run's outcome (the cluster may be gone): said on stderr, not thrown.</summary>
    private static async Task Drain(IScenarioGrain grain, PendingFile? trace, PendingFile? records)
    {
        if (trace is null && records is null) return;
        while (true)
        {
            var c = await grain.TakeCapture(CaptureBatch);
            if (c.IsEmpty) return;
            if (trace is not null) foreach (var l in c.TraceLines) trace.Writer.Write(l);
            if (records is not null) foreach (var r in c.Records) { records.Writer.Write(r); records.Writer.Write('\n'); }
            if (c.TraceLines.Length < CaptureBatch && c.Records.Length < CaptureBatch) return;
        }
    }

    private static string Line(Scenario s, ScenarioProgress p, Stopwatch wall, bool withName)
    {
        double secs = Math.Max(wall.Elapsed.TotalSeconds, 1e-3);
        var sb = new StringBuilder();
        if (withName) sb.Append(s.Name).Append(": ");
        sb.Append(Units.Duration(p.VirtualNsDone)).Append(" / ").Append(Units.Duration(s.DurationNs)).Append(" virtual, ")
          .Append(Count((long)(p.HelperCalls / secs))).Append(" helper calls/s");
        if (p.Lost > 0) sb.Append(", ").Append(Count(p.Lost)).Append(" lost");
        return sb.ToString();
    }

    private static string Eta(ScenarioProgress p, Stopwatch wall)
    {
        if (p.VirtualNsDone <= 0 || p.VirtualNsDone >= p.DurationNs) return "";
        double left = wall.Elapsed.TotalSeconds * (p.DurationNs - p.VirtualNsDone) / p.VirtualNsDone;
        return ", ETA " + Seconds(left);
    }

    private static string Seconds(double s) => s.ToString("0.0", CultureInfo.InvariantCulture) + " s";

    private static string Count(long n) => n.ToString("N0", CultureInfo.InvariantCulture);

    /// <summary>report.json and report.html via temporary files in the directory, renamed into place.</summary>
    private static async Task WriteReports(IScenarioGrain grain, ScenarioReport report, string outDir, CancellationToken ct)
    {
        IReadOnlyList<CpuReport> perCpu = [];
        bool inMemory = report.PerCpuListed && report.Cpus <= ScenarioRunOptions.PerCpuLimit;
        if (inMemory)
        {
            var all = new List<CpuReport>((int)report.Cpus);
            for (long h = 0; h < report.Hosts; h += ReportJson.HostsPerPage)
                all.AddRange(await grain.GetPerCpu(h, (int)Math.Min(ReportJson.HostsPerPage, report.Hosts - h)));
            perCpu = all;
        }
        ReportJson.PerCpuPages pages = inMemory
            ? (first, count) => Task.FromResult(Page(perCpu, report, first, count))
            : (first, count) => grain.GetPerCpu(first, count);

        Directory.CreateDirectory(outDir);
        string jsonTmp = Path.Combine(outDir, $".report.json.{Environment.ProcessId}.tmp");
        string htmlTmp = Path.Combine(outDir, $".report.html.{Environment.ProcessId}.tmp");
        try
        {
            await using (var w = new StreamWriter(jsonTmp, false, new UTF8Encoding(false), 1 << 16))
                await ReportJson.WriteAsync(w, report, pages, ct);
            await File.WriteAllTextAsync(htmlTmp, ReportHtml.Render(report, perCpu), new UTF8Encoding(false), ct);
            File.Move(jsonTmp, Path.Combine(outDir, "report.json"), overwrite: true);
            File.Move(htmlTmp, Path.Combine(outDir, "report.html"), overwrite: true);
        }
        finally
        {
            File.Delete(jsonTmp);
            File.Delete(htmlTmp);
        }
    }

    /// <summary>The CPUs of hosts [first, first + count) from a list in fleet order.</summary>
    private static ImmutableArray<CpuReport> Page(IReadOnlyList<CpuReport> all, ScenarioReport r, long first, int count)
    {
        // Hosts are in fleet order and each lists its CPUs; find the host boundaries by name changes.
        var b = ImmutableArray.CreateBuilder<CpuReport>();
        long host = -1;
        string? prev = null;
        foreach (var c in all)
        {
            if (c.Host != prev) { host++; prev = c.Host; }
            if (host >= first + count) break;
            if (host >= first) b.Add(c);
        }
        return b.ToImmutable();
    }

    /// <summary>A name usable in a grain key and a directory: letters, digits, '-', '_', '.'.</summary>
    internal static string SafeName(string name)
    {
        var sb = new StringBuilder(name.Length);
        foreach (char c in name) sb.Append(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_');
        string s = sb.ToString().Trim('.');
        return s.Length == 0 ? "scenario" : s;
    }

    /// <summary>A capture file written beside its final name and renamed into place only when the run succeeds.</summary>
    private sealed class PendingFile : IDisposable
    {
        private readonly string _final;
        private readonly string _tmp;
        private bool _committed;

        private PendingFile(string final)
        {
            _final = Path.GetFullPath(final);
            string? dir = Path.GetDirectoryName(_final);
            if (dir is not null) Directory.CreateDirectory(dir);
            _tmp = Path.Combine(dir ?? ".", $".{Path.GetFileName(_final)}.{Environment.ProcessId}.tmp");
            Writer = new StreamWriter(_tmp, false, new UTF8Encoding(false), 1 << 16);
        }

        public static PendingFile Create(string path) => new(path);

        public StreamWriter Writer { get; }

        public void Commit()
        {
            Writer.Flush();
            Writer.Dispose();
            File.Move(_tmp, _final, overwrite: true);
            _committed = true;
        }

        public void Dispose()
        {
            if (_committed) return;
            Writer.Dispose();
            File.Delete(_tmp);
        }
    }
}

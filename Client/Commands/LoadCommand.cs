using System.CommandLine;
using BpfTraceSim.Client.Cluster;
using BpfTraceSim.Client.Load;
using Spectre.Console;

namespace BpfTraceSim.Client.Commands;

/// <summary>`bpfsim load`: wall-clock load on the CPU grains, with throughput and latency percentiles.</summary>
internal static class LoadCommand
{
    public static Command Create()
    {
        var duration = new Option<TimeSpan>("--duration") { Description = "How long to measure (e.g. 10s, 00:01:00).", DefaultValueFactory = _ => TimeSpan.FromSeconds(10), CustomParser = DurationArgument };
        var warmup = new Option<TimeSpan>("--warmup") { Description = "Load before measuring, not counted.", DefaultValueFactory = _ => TimeSpan.FromSeconds(2), CustomParser = DurationArgument };
        var mix = new Option<string>("--mix") { Description = "Helper calls, comma separated: output[:SIZE], read, read_value, vprintk.", DefaultValueFactory = _ => "output:64,read,read_value,vprintk" };
        var batch = new Option<int>("--batch") { Description = "Helper calls per grain call (1 = unbatched: one helper per grain call).", DefaultValueFactory = _ => 1000 };
        var callers = new Option<int>("--callers") { Description = "Closed loop: concurrent callers, each with one grain call outstanding.", DefaultValueFactory = _ => 16 };
        var rate = new Option<double?>("--rate") { Description = "Open loop: target helper calls per second (latency corrected for coordinated omission)." };
        var cpus = new Option<int>("--cpus") { Description = "Simulated CPUs (CPU grains) of the host under load.", DefaultValueFactory = _ => 4 };
        var outDir = new Option<string>("--out") { Description = "Where load.json and load.html go.", DefaultValueFactory = _ => Path.Combine("out", "load") };
        var cmd = new Command("load",
            "Drive helper calls against CPU grains in wall-clock time (closed loop, or open loop at --rate), print throughput and " +
            "latency percentiles live and at the end, and write load.json and load.html.")
        {
            duration, warmup, mix, batch, callers, rate, cpus, outDir,
        };
        cmd.SetAction(async (parse, ct) =>
        {
            LoadOptions options;
            try
            {
                options = new LoadOptions
                {
                    Mix = [.. parse.GetValue(mix)!.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(LoadCall.Parse)],
                    Duration = parse.GetValue(duration),
                    Warmup = parse.GetValue(warmup),
                    Batch = Positive(parse.GetValue(batch), "--batch"),
                    Callers = Positive(parse.GetValue(callers), "--callers"),
                    Rate = parse.GetValue(rate) is double r ? (r > 0 ? r : throw new ArgumentException("--rate must be positive")) : null,
                    Cpus = Positive(parse.GetValue(cpus), "--cpus") is var n && n <= BpfTraceSim.Kernel.SimLimits.MaxCpus ? n
                        : throw new ArgumentException($"--cpus must be at most {BpfTraceSim.Kernel.SimLimits.MaxCpus} (CPUs of one host)"),
                };
                if (options.Mix.Count == 0) throw new ArgumentException("--mix names no helper call");
                if (options.Duration <= TimeSpan.Zero) throw new ArgumentException("--duration must be positive");
            }
            catch (ArgumentException ex)
            {
                Console.Error.WriteLine($"bpfsim load: {ex.Message}");
                return 2;
            }
            await using var cluster = await ClusterConnection.ConnectAsync(parse.GetValue(Program.ClusterOption), ct);
            var table = new Table().AddColumns("elapsed", "helper calls/s", "p99 µs (this second)", "helper calls");
            bool live = !Console.IsErrorRedirected && AnsiConsole.Profile.Capabilities.Interactive;
            LoadResult result = null!;
            var driver = new LoadDriver(cluster.Grains, options)
            {
                Progress = (elapsed, calls, p99, total) =>
                {
                    if (live) table.AddRow($"{elapsed:F0}s", $"{calls:N0}", $"{p99:N1}", $"{total:N0}");
                    else Console.Error.WriteLine($"bpfsim load: {elapsed:F0}s {calls:N0} calls/s p99 {p99:N1} µs");
                },
            };
            Console.Error.WriteLine($"bpfsim load: {options.Mix.Count} call kinds on {options.Cpus} CPU grains, batch {options.Batch}, " +
                (options.Rate is double r2 ? $"open loop at {r2:N0} calls/s" : $"{options.Callers} callers") + $", warm-up {options.Warmup.TotalSeconds}s, measuring {options.Duration.TotalSeconds}s");
            if (live) await AnsiConsole.Live(table).StartAsync(async ctx =>
            {
                using var refresh = new Timer(_ => ctx.Refresh(), null, 500, 500);
                result = await driver.RunAsync(ct);
            });
            else result = await driver.RunAsync(ct);

            var summary = new Table().AddColumns("helper calls/s", "helper calls", "grain calls", "p50 µs", "p90 µs", "p99 µs", "p99.9 µs", "max µs");
            summary.AddRow($"{result.CallsPerSecond:N0}", $"{result.Calls:N0}", $"{result.GrainCalls:N0}", $"{LoadReport.Us(result, 50):N1}",
                $"{LoadReport.Us(result, 90):N1}", $"{LoadReport.Us(result, 99):N1}", $"{LoadReport.Us(result, 99.9):N1}", $"{LoadReport.MaxUs(result):N1}");
            AnsiConsole.Write(summary);
            string dir = parse.GetValue(outDir)!;
            Directory.CreateDirectory(dir);
            await WriteAtomic(Path.Combine(dir, "load.json"), LoadReport.Json(result), ct);
            await WriteAtomic(Path.Combine(dir, "load.html"), LoadReport.Html(result), ct);
            Console.Error.WriteLine($"bpfsim load: wrote {Path.Combine(dir, "load.json")} and load.html");
            return 0;
        });
        return cmd;
    }

    // A bad value is a parse error (exit 2, one line), not an exception out of the parser.
    private static TimeSpan DurationArgument(System.CommandLine.Parsing.ArgumentResult r)
    {
        try { return ParseDuration(r.Tokens[0].Value); }
        catch (ArgumentException e)
        {
            r.AddError(e.Message);
            return default;
        }
    }

    private static int Positive(int v, string name) => v > 0 ? v : throw new ArgumentException($"{name} must be positive");

    private static async Task WriteAtomic(string path, string text, CancellationToken ct)
    {
        string tmp = path + ".tmp";
        await File.WriteAllTextAsync(tmp, text, ct);
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>"10s", "500ms", "2m" or a TimeSpan ("00:00:10").</summary>
    internal static TimeSpan ParseDuration(string s)
    {
        s = s.Trim();
        foreach (var (unit, scale) in new[] { ("ms", 1e-3), ("s", 1.0), ("m", 60.0), ("h", 3600.0) })
            if (s.EndsWith(unit, StringComparison.Ordinal) && double.TryParse(s[..^unit.Length], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double v) && !(unit == "s" && s.EndsWith("ms", StringComparison.Ordinal)))
                return TimeSpan.FromSeconds(v * scale);
        if (TimeSpan.TryParse(s, System.Globalization.CultureInfo.InvariantCulture, out var ts)) return ts;
        throw new ArgumentException($"\"{s}\" is not a duration (10s, 500ms, 2m)");
    }
}

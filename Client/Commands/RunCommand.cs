using System.CommandLine;
using BpfTraceSim.Client.Reports;

namespace BpfTraceSim.Client.Commands;

/// <summary>`bpfsim run SCENARIO.yaml`: a fleet scenario in virtual time, written as report.json and report.html.</summary>
internal static class RunCommand
{
    public static Command Create(ConnectCluster? connect = null)
    {
        var file = new Argument<string>("SCENARIO") { Description = "The scenario file (YAML; see docs/scenarios.md)." };
        var outDir = new Option<string?>("--out", "-o")
        {
            Description = "Directory for report.json and report.html (created if missing; default out/<scenario name>/). " +
                          "Both are written to temporary files first and renamed into place, so a failed run leaves no partial report.",
            HelpName = "DIR",
        };
        var seed = new Option<ulong?>("--seed")
        {
            Description = "Use this seed instead of the file's (every random stream derives from it: the same seed gives the same report, byte for byte).",
            HelpName = "N",
        };
        var perCpu = new Option<bool>("--per-cpu")
        {
            Description = "List every CPU in per_cpu even when the fleet has more than 4,096 CPUs (up to 4,096 they are always listed).",
        };
        var tracePipe = new Option<string?>("--trace-pipe")
        {
            Description = "Keep what bpf_trace_printk/vprintk wrote: trace_pipe lines, window by window, hosts in fleet order " +
                          "(with more than one host each line starts with \"HOST: \").",
            HelpName = "FILE",
        };
        var records = new Option<string?>("--records")
        {
            Description = "Keep the records the readers consumed as JSON Lines: host, cpu, event, type (sample or lost), " +
                          "write_ns, consume_ns, size, lost, data (hex, header included).",
            HelpName = "FILE",
        };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "No progress and no closing summary on stderr (errors are still printed)." };
        var parallelism = new Option<int>("--parallelism")
        {
            Description = "Host calls in flight per window (default: 4 x the processors of the scenario grain's silo).",
            HelpName = "N",
            Hidden = true,
        };
        var cmd = new Command("run",
            "Simulate a fleet scenario in virtual time and write report.json (fixed fields and order: the same scenario and seed " +
            "give the same bytes) and report.html (plots). Progress goes to stderr. Runs on an embedded silo unless --cluster is given. " +
            "Exit codes: 0 done; 1 the run failed (e.g. a ring broke conservation); 2 the scenario file was refused " +
            "(FILE:LINE:COLUMN: FIELD: MESSAGE on stderr, nothing written); 130 interrupted.")
        {
            file, outDir, seed, perCpu, tracePipe, records, quiet, parallelism,
        };
        cmd.SetAction(async (parse, ct) =>
        {
            var stderr = parse.InvocationConfiguration.Error;
            var runner = new ScenarioRunner(connect ?? ScenarioRunner.Default, stderr,
                stderrIsTerminal: ReferenceEquals(stderr, Console.Error) && !Console.IsErrorRedirected);
            return await runner.RunAsync(new RunRequest
            {
                ScenarioPath = parse.GetValue(file)!,
                OutDir = parse.GetValue(outDir),
                Seed = parse.GetValue(seed),
                PerCpu = parse.GetValue(perCpu),
                TracePipe = parse.GetValue(tracePipe),
                Records = parse.GetValue(records),
                Quiet = parse.GetValue(quiet),
                Parallelism = parse.GetValue(parallelism),
                Cluster = parse.GetValue(Program.ClusterOption),
            }, ct);
        });
        return cmd;
    }
}

using System.CommandLine;
using BpfTraceSim.Client.Reports;
using BpfTraceSim.Client.Sweeps;

namespace BpfTraceSim.Client.Commands;

/// <summary>`bpfsim sweep SCENARIO.yaml --vary PATH=VALUES ...`: the scenario over a grid of settings, and the cheapest safe one.</summary>
internal static class SweepCommand
{
    public static Command Create(ConnectCluster? connect = null)
    {
        var file = new Argument<string>("SCENARIO") { Description = "The scenario file (YAML; see docs/scenarios.md and docs/sweeps.md)." };
        var vary = new Option<string[]>("--vary")
        {
            Description = "A field by its YAML path and its values: PATH=V1,V2,... (YAML values; commas inside {} [] do not split), " +
                          "or ranges A..B*F (A, A*F, ... up to B: 8..256*2) and A..B+S (A, A+S, ... up to B: 1..10+1, 10us..50us+10us). " +
                          "Repeat for a grid (the product of the lists).",
            HelpName = "PATH=VALUES",
            Arity = ArgumentArity.OneOrMore,
            AllowMultipleArgumentsPerToken = false,
        };
        var seeds = new Option<int>("--seeds")
        {
            Description = "Runs per point; seed i is the file's seed + i at every point (common random numbers).",
            DefaultValueFactory = _ => 1,
            HelpName = "N",
        };
        var outDir = new Option<string?>("--out", "-o")
        {
            Description = "Directory for sweep.json, sweep.html and the finished runs (points/, reused by a rerun); default out/sweep-<scenario name>/.",
            HelpName = "DIR",
        };
        var target = new Option<string[]>("--target")
        {
            Description = "A report total to meet at every seed: TOTAL OP NUMBER, e.g. 'lost_ratio<=0.001', 'consumer_lag_p99_ns<2000000', 'lost==0'. " +
                          "Totals: " + string.Join(", ", SweepMetrics.Names) + ".",
            HelpName = "EXPR",
        };
        var minimize = new Option<string?>("--minimize")
        {
            Description = "Find the smallest value of this swept parameter meeting the target (bisection when it is the only parameter).",
            HelpName = "PATH",
        };
        var maximize = new Option<string?>("--maximize")
        {
            Description = "Find the largest value of this swept parameter meeting the target (e.g. the slowest consumer, the largest wakeup_events).",
            HelpName = "PATH",
        };
        var exhaustive = new Option<bool>("--exhaustive") { Description = "Run every point even when bisection would do." };
        var parallel = new Option<int>("--parallel")
        {
            Description = "Runs at once (default: the processors of this machine on the embedded silo; processors x silos on a cluster).",
            HelpName = "N",
        };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "No progress and no closing summary on stderr." };
        var cmd = new Command("sweep",
            "Run a scenario at every point of a grid of settings (each point at --seeds seeds), write sweep.json (one row per point and " +
            "seed, fixed order: the same sweep gives the same bytes) and sweep.html (loss surface), and with --target and --minimize/--maximize " +
            "print the cheapest setting that meets the target at every seed. Finished runs are kept in DIR/points and not run again. " +
            "Exit codes: 0 done (target met); 1 no point meets the target, or a run failed; 2 a refused scenario, path, value or option " +
            "(nothing runs); 130 interrupted.")
        {
            file, vary, seeds, outDir, target, minimize, maximize, exhaustive, parallel, quiet,
        };
        cmd.SetAction(async (parse, ct) =>
        {
            var stderr = parse.InvocationConfiguration.Error;
            var runner = new SweepRunner(connect ?? ScenarioRunner.Default, parse.InvocationConfiguration.Output, stderr,
                stderrIsTerminal: ReferenceEquals(stderr, Console.Error) && !Console.IsErrorRedirected);
            return await runner.RunAsync(new SweepRequest
            {
                ScenarioPath = parse.GetValue(file)!,
                Vary = parse.GetValue(vary) ?? [],
                Seeds = parse.GetValue(seeds),
                OutDir = parse.GetValue(outDir),
                Targets = parse.GetValue(target) ?? [],
                Minimize = parse.GetValue(minimize),
                Maximize = parse.GetValue(maximize),
                Exhaustive = parse.GetValue(exhaustive),
                Parallel = parse.GetValue(parallel),
                Quiet = parse.GetValue(quiet),
                Cluster = parse.GetValue(Program.ClusterOption),
            }, ct);
        });
        return cmd;
    }
}

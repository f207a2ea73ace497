using System.CommandLine;
using BpfTraceSim.Client.Cluster;
using BpfTraceSim.Contracts.Grains;
using BpfTraceSim.Contracts.Scenarios;

namespace BpfTraceSim.Client.Commands;

/// <summary>
/// `bpfsim trace-pipe`: follow what bpf_trace_printk / bpf_trace_vprintk write in a simulation, as
/// `cat /sys/kernel/tracing/trace_pipe` does: a consuming reader that blocks until lines come.
/// </summary>
internal static class TracePipeCommand
{
    public static Command Create()
    {
        var target = new Argument<string>("SCENARIO|RUN_ID")
        {
            Description = "A scenario file to run (on the embedded silo or --cluster) while following its trace_pipe, or the run id " +
                          "of a run in progress on --cluster that was started with --trace-pipe.",
        };
        var cmd = new Command("trace-pipe",
            "Print trace_pipe lines of a running simulation as they are written (follow mode), until the run ends. Like the real " +
            "trace_pipe it consumes what it reads: another reader of the same run gets the other lines.")
        {
            target,
        };
        cmd.SetAction(async (parse, ct) =>
        {
            string what = parse.GetValue(target)!;
            string? cluster = parse.GetValue(Program.ClusterOption);
            bool isFile = File.Exists(what);
            if (!isFile && cluster is null)
            {
                Console.Error.WriteLine($"bpfsim trace-pipe: {what} is not a scenario file (a run id needs --cluster)");
                return 2;
            }
            Scenario? scenario = null;
            if (isFile)
            {
                try { scenario = ScenarioParser.ParseFile(what); }
                catch (ScenarioException ex)
                {
                    Console.Error.WriteLine($"bpfsim trace-pipe: {ex.Error}");
                    return ScenarioException.ExitCode;
                }
            }
            await using var connection = await ClusterConnection.ConnectAsync(cluster, ct);
            string runId = isFile ? $"trace-{Guid.NewGuid():N}" : what;
            var grain = connection.Grains.GetGrain<IScenarioGrain>(runId);
            if (scenario is not null)
            {
                await grain.Start(scenario, new ScenarioRunOptions { CaptureTrace = true });
                Console.Error.WriteLine($"bpfsim trace-pipe: following run {runId}");
            }
            try
            {
                return await Follow(grain, runId, ct);
            }
            finally
            {
                if (scenario is not null) await grain.Shutdown();
            }
        });
        return cmd;
    }

    private static async Task<int> Follow(IScenarioGrain grain, string runId, CancellationToken ct)
    {
        var stdout = Console.Out;
        while (!ct.IsCancellationRequested)
        {
            var progress = await grain.GetProgress();
            var capture = await grain.TakeCapture(10_000);
            foreach (var line in capture.TraceLines) await stdout.WriteAsync(line);
            if (!capture.TraceLines.IsDefaultOrEmpty) await stdout.FlushAsync(ct);
            if (progress.State == ScenarioRunState.NotStarted)
            {
                Console.Error.WriteLine($"bpfsim trace-pipe: no run {runId} on this cluster");
                return 2;
            }
            bool ended = progress.State is ScenarioRunState.Done or ScenarioRunState.Failed or ScenarioRunState.Cancelled;
            if (ended && progress.PendingCaptureLines == 0 && capture.IsEmpty)
            {
                if (progress.State == ScenarioRunState.Done) return 0;
                Console.Error.WriteLine($"bpfsim trace-pipe: the run ended: {progress.Error ?? progress.State.ToString()}");
                return 1;
            }
            if (capture.IsEmpty)
            {
                try { await Task.Delay(200, ct); }
                catch (OperationCanceledException) { break; }
            }
        }
        return 130;
    }
}

using BpfTraceSim.Contracts.Grains;
using BpfTraceSim.Grains.Checkpoints;

namespace BpfTraceSim.Grains.Runs;

/// <summary>How a run ended (or, while it runs, nothing yet).</summary>
internal sealed record RunOutcome(ScenarioRunState State, string? Error, ScenarioReport? Report);

/// <summary>
/// The run loop in virtual time: every host runs window w (a bounded number of calls at a time)
/// before any runs w + 1; each window is summed once, from one answer per host, so nothing is
/// counted twice. At the end each host checks conservation of its rings; a failure fails the run.
/// boundary is called at the checkpoint boundaries, after the window is summed and before any host
/// is asked the next one, so hosts never store a boundary past the scenario grain's.
/// </summary>
internal sealed class ScenarioRunLoop(ScenarioFleet fleet, HostCalls calls, ScenarioSums sums, CaptureQueue capture, int every,
    Func<Task> boundary, Action windowDone)
{
    public async Task<RunOutcome> Run(CancellationToken cancel)
    {
        try
        {
            long windows = fleet.Scenario.WindowCount;
            long from = sums.WindowsDone;
            await calls.ResumeAll(from);

            var hosts = fleet.Hosts;
            var results = new HostWindowStats[hosts.Length];
            for (long w = from; w < windows && !cancel.IsCancellationRequested; w++)
            {
                long window = w;
                await fleet.ForEachHost(async h => results[h] = await calls.Call(h, window, _ => hosts[h].Grain.RunWindow(window)));
                sums.Add(window, results);
                capture.Add(results);
                Array.Clear(results);
                windowDone();
                if (CheckpointPolicy.IsBoundary(sums.WindowsDone, every, windows)) await boundary();
                await capture.WaitBelow(fleet.Options.MaxPendingCaptureLines, cancel);
            }
            if (cancel.IsCancellationRequested)
                return new RunOutcome(ScenarioRunState.Cancelled, $"cancelled after {sums.WindowsDone} of {windows} windows", null);

            var finals = new HostFinal[hosts.Length];
            await fleet.ForEachHost(async h => finals[h] = await calls.Call(h, windows, _ => hosts[h].Grain.Finish()));
            var report = sums.Report(finals);
            if (!report.Conservation.Ok)
            {
                var failures = report.Conservation.Failures;
                string error = "conservation check failed (records_written != records_consumed + records_in_ring_at_end on " +
                               $"{failures.Length} ring(s)): " + string.Join("; ", failures.Take(10)) +
                               (failures.Length > 10 ? $"; and {failures.Length - 10} more" : "");
                return new RunOutcome(ScenarioRunState.Failed, error, report);
            }
            return new RunOutcome(ScenarioRunState.Done, null, report);
        }
        catch (Exception e)
        {
            return new RunOutcome(ScenarioRunState.Failed, Describe(e), null);
        }
    }

    private static string Describe(Exception e)
    {
        while (e is AggregateException { InnerExceptions.Count: 1 } a) e = a.InnerExceptions[0];
        return e is ScenarioRunException ? e.Message : $"{e.GetType().Name}: {e.Message}";
    }
}

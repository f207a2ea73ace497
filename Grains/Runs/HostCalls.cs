using BpfTraceSim.Contracts.Grains;
using BpfTraceSim.Grains.Checkpoints;

namespace BpfTraceSim.Grains.Runs;

/// <summary>
/// Failover calls to a run's hosts. A host call that fails because the host's silo was lost (or
/// timed out) is answered by resuming that host at the window asked (IScenarioHostRecovery.Resume:
/// its last checkpoint, then the windows in between again, on whichever silo the placement now
/// gives it) and asking again, with backoff, for up to <see cref="RecoveryLimit"/>.
/// </summary>
internal sealed class HostCalls(ScenarioFleet fleet, int every)
{
    /// <summary>How long a host may stay unreachable before the run fails (membership must declare its silo dead first).</summary>
    public static readonly TimeSpan RecoveryLimit = TimeSpan.FromMinutes(3);

    /// <summary>Host calls that failed for a lost silo or a timeout and were recovered (tests, logs).</summary>
    public long Recoveries { get; private set; }

    /// <summary>
    /// What a lost host looks like to its caller: its silo is lost (<see cref="SiloLoss"/>; a window
    /// can also outlast the response timeout: the host then answers the repeat from the window it
    /// kept), or the activation is new.
    /// </summary>
    public static bool IsHostLoss(Exception e) => e is HostLostException || SiloLoss.Is(e);

    /// <summary>Makes every host ready for window from: a fresh engine at the start; after a resume, whatever each host has to do.</summary>
    public Task ResumeAll(long from) => fleet.ForEachHost(h => Call(h, from, async r =>
    {
        await Resume(h, r, from);
        return 0;
    }, resumeFirst: false));

    /// <summary>
    /// Calls host h; when the host is lost, resumes it at window (and, with finishAfterResume,
    /// finishes it again) and calls again.
    /// </summary>
    public async Task<T> Call<T>(int h, long window, Func<IScenarioHostRecovery, Task<T>> call, bool resumeFirst = true, bool finishAfterResume = false)
    {
        var host = fleet.Hosts[h];
        long start = Environment.TickCount64;
        int delayMs = 100;
        for (int attempt = 1; ; attempt++)
        {
            var lost = await Attempt(() => call(host.Recovery), start);
            if (lost.Done) return lost.Value!;
            Recoveries++;
            if (attempt > 1)
            {
                await Task.Delay(delayMs);
                delayMs = Math.Min(delayMs * 2, 2000);
            }
            if (!resumeFirst) continue;
            await Attempt(async () =>
            {
                await Resume(h, host.Recovery, window);
                if (finishAfterResume) await host.Grain.Finish();
                return 0;
            }, start);
        }
    }

    private Task Resume(int h, IScenarioHostRecovery r, long window) =>
        r.Resume(fleet.Scenario, fleet.Hosts[h].Group, fleet.Hosts[h].Index, fleet.HostOptions, window, every);

    /// <summary>One try: its value, or Done = false when the host was lost (within the recovery limit); anything else is thrown.</summary>
    private static async Task<(bool Done, T? Value)> Attempt<T>(Func<Task<T>> call, long start)
    {
        try
        {
            return (true, await call());
        }
        catch (Exception e) when (IsHostLoss(e) && Environment.TickCount64 - start < RecoveryLimit.TotalMilliseconds)
        {
            return (false, default);
        }
    }
}

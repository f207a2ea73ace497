using BpfTraceSim.Contracts.Grains;
using BpfTraceSim.Contracts.Scenarios;

namespace BpfTraceSim.Grains.Checkpoints;

/// <summary>
/// The recovery side of a scenario host grain (same grain as <see cref="IScenarioHostGrain"/>, same key).
/// </summary>
public interface IScenarioHostRecovery : IGrainWithStringKey
{
    /// <summary>
    /// Makes the host ready to run window next (or to Finish when window is the window count):
    /// a no-op for a host already there; otherwise the newest stored checkpoint at or before
    /// window is restored (or the engine is built from scratch) and the windows up to window are
    /// run again, deterministically, without returning their statistics. every: windows between
    /// checkpoints (0: none).
    /// </summary>
    Task Resume(Scenario scenario, int group, int hostIndex, HostRunOptions options, long window, int every);
}

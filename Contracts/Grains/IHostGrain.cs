using BpfTraceSim.Contracts.Exec;

namespace BpfTraceSim.Contracts.Grains;

/// <summary>
/// A simulated host: its CPUs, tasks, maps and which event each slot holds. Slot updates and task
/// moves go through it and are pushed to the CPU grains. Key: the host's id.
/// </summary>
public interface IHostGrain : IGrainWithStringKey
{
    /// <summary>Boots the host: creates its CPU grains with their events and pushes the slots.</summary>
    Task Boot(WorldSpec world);

    /// <summary>A step that changes or reads host-wide state (time, tasks, slots, events, trace_pipe).</summary>
    Task<StepResult> Apply(ExecStep step);

    /// <summary>Forgets the host and its CPUs' state.</summary>
    Task Shutdown();
}

using System.Collections.Immutable;
using BpfTraceSim.Contracts.Exec;
using BpfTraceSim.Contracts.Grains;
using BpfTraceSim.Grains.Exec;

using BpfTraceSim.Grains.Placement;

namespace BpfTraceSim.Grains;

/// <summary>One simulated CPU: owns a CpuKernel and serves the helper calls made on this CPU.</summary>
[SimHostPlacement]
public sealed class CpuGrain(HostObjects objects) : Grain, ICpuGrain
{
    private CpuKernel? _kernel;

    private CpuKernel Kernel => _kernel ?? throw new InvalidOperationException($"CPU {this.GetPrimaryKeyString()} was not booted");

    public Task Boot(WorldSpec world, int cpu)
    {
        string key = this.GetPrimaryKeyString();
        _kernel = new CpuKernel(world, cpu, objects, key[..key.LastIndexOf('/')]);
        return Task.CompletedTask;
    }

    public Task<StepResult> Invoke(ExecStep step) => Task.FromResult(Kernel.Invoke(step));

    public Task<BatchResult> InvokeBatch(ExecStep step, int count) => Task.FromResult(Kernel.InvokeBatch(step, count));

    public Task UpdateSlots(string map, ImmutableArray<string?> slots, long version)
    {
        Kernel.SetSlots(map, slots);
        return Task.CompletedTask;
    }

    public Task Advance(ulong ns)
    {
        Kernel.Advance(ns);
        return Task.CompletedTask;
    }

    public Task SetEnabled(string ev, bool enabled)
    {
        Kernel.SetEnabled(ev, enabled);
        return Task.CompletedTask;
    }

    public Task<ImmutableArray<PerfEventHandoff>> MoveTask(int pid, int to, ImmutableArray<PerfEventHandoff> arriving) =>
        Task.FromResult(Kernel.MoveTask(pid, to, arriving));

    public Task<StepResult> Consume(string ev) => Task.FromResult(Kernel.Consume(ev));

    public Task<ImmutableArray<TraceEntry>> DrainTrace() => Task.FromResult(Kernel.DrainTrace());

    public Task Shutdown()
    {
        _kernel = null;
        DeactivateOnIdle();
        return Task.CompletedTask;
    }
}

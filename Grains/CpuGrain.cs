using System.Collections.Immutable;
using BpfTraceSim.Contracts.Exec;
using BpfTraceSim.Contracts.Grains;
using BpfTraceSim.Grains.Exec;
using BpfTraceSim.Kernel;

using BpfTraceSim.Grains.Placement;
using BpfTraceSim.Grains.Telemetry;

namespace BpfTraceSim.Grains;

/// <summary>One simulated CPU: owns a CpuKernel and serves the helper calls made on this CPU.</summary>
[SimHostPlacement]
public sealed class CpuGrain(HostObjects objects) : Grain, ICpuGrain
{
    private CpuKernel? _kernel;

    private CpuKernel Kernel => _kernel ?? throw new InvalidOperationException($"CPU {this.GetPrimaryKeyString()} was not booted");

    public Task Boot(WorldSpec world, int cpu)
    {
        _kernel = new CpuKernel(world, cpu, objects, CpuKey.Parse(this.GetPrimaryKeyString()).Host);
        return Task.CompletedTask;
    }

    public Task<StepResult> Invoke(ExecStep step)
    {
        var result = Kernel.Invoke(step);
        if (result.Ret is long ret && HelperName(step.Call) is { } helper) SimMetrics.HelperCall(helper, ret);
        return Task.FromResult(result);
    }

    public Task<BatchResult> InvokeBatch(ExecStep step, int count)
    {
        var result = Kernel.InvokeBatch(step, count);
        if (HelperName(step.Call) is { } helper)
            foreach (var (ret, n) in result.Returns) SimMetrics.HelperCall(helper, ret, n);
        return Task.FromResult(result);
    }

    /// <summary>The kernel helper a step calls (metrics are tagged with its prototype's name), or null for other steps.</summary>
    private static string? HelperName(StepCall call) =>
        StepKinds.Of(call) is { IsHelper: true } kind ? HelperProtos.Of(kind.HelperId)!.Name : null;

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

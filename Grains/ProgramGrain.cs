using BpfTraceSim.Contracts.Exec;
using BpfTraceSim.Contracts.Grains;

using BpfTraceSim.Grains.Placement;

namespace BpfTraceSim.Grains;

/// <summary>
/// A program loaded on a host, running on one CPU: its helper calls go to that CPU's grain.
/// Keeps the run count as bpf_prog_info's run_cnt.
/// </summary>
[SimHostPlacement]
public sealed class ProgramGrain : Grain, IProgramGrain
{
    private ulong _runs;

    private ICpuGrain? _cpu;

    /// <summary>The CPU grain this program runs on: same host, the step's CPU.</summary>
    private ICpuGrain Cpu(int cpu)
    {
        return _cpu ??= GrainFactory.GetCpuGrain(ProgramKey.Parse(this.GetPrimaryKeyString()).CpuKey with { Cpu = cpu });
    }

    public Task<StepResult> Invoke(ExecStep step)
    {
        _runs++;
        return Cpu(step.Cpu).Invoke(step);
    }

    public Task<BatchResult> InvokeBatch(ExecStep step, int count)
    {
        _runs += (ulong)count;
        return Cpu(step.Cpu).InvokeBatch(step, count);
    }

    public Task<ProgramStats> GetStats() => Task.FromResult(new ProgramStats(_runs));
}

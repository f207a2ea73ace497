using BpfTraceSim.Contracts.Exec;
using BpfTraceSim.Contracts.Grains;

namespace BpfTraceSim.Grains;

/// <summary>
/// A program loaded on a host, running on one CPU: its helper calls go to that CPU's grain.
/// Keeps run count and (simulated) run time as bpf_prog_info does.
/// </summary>
public sealed class ProgramGrain : Grain, IProgramGrain
{
    private ulong _runs;

    public async Task<StepResult> Invoke(ExecStep step)
    {
        var key = this.GetPrimaryKeyString();
        int slash = key.IndexOf('/');
        string host = key[..slash];
        _runs++;
        return await GrainFactory.GetGrain<ICpuGrain>($"{host}/{step.Cpu}").Invoke(step);
    }

    public Task<ProgramStats> GetStats() => Task.FromResult(new ProgramStats(_runs, 0));
}

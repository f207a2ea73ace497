using BpfTraceSim.Contracts.Exec;
using BpfTraceSim.Contracts.Grains;

namespace BpfTraceSim.Grains;

public sealed class SeqFileGrain : Grain, ISeqFileGrain
{
    public Task<StepResult> Apply(WorldSpec world, ExecStep step) => throw new InvalidOperationException("seq files: pending");
}

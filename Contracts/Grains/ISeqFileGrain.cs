using BpfTraceSim.Contracts.Exec;

namespace BpfTraceSim.Contracts.Grains;

/// <summary>
/// The seq_file of a bpf_iter link: the iterator program's output per object and the reads user
/// space makes of it. Key: "{host}/{seq}".
/// </summary>
public interface ISeqFileGrain : IGrainWithStringKey
{
    Task<StepResult> Apply(WorldSpec world, ExecStep step);
}

using System.Collections.Immutable;
using BpfTraceSim.Contracts.Exec;

namespace BpfTraceSim.Contracts.Grains;

/// <summary>
/// The seq_file of a bpf_iter link: the iterator program's output per object and the reads user
/// space makes of it. Key: <see cref="SeqFileKey"/>.
/// </summary>
public interface ISeqFileGrain : IGrainWithStringKey
{
    /// <summary>
    /// A seq step. seq_printf / seq_write / seq_printf_btf report the return of their object's FIRST
    /// run, which happens when user space reads: their result has no ret yet (see Finish).
    /// </summary>
    Task<StepResult> Apply(WorldSpec world, ExecStep step);

    /// <summary>
    /// The first-run returns of every deferred step, in order. Objects no read() reached yet are run
    /// now, as a final read to the end would run them.
    /// </summary>
    Task<ImmutableArray<long>> Finish();
}

using BpfTraceSim.Contracts.Exec;

namespace BpfTraceSim.Contracts.Grains;

/// <summary>
/// Run statistics of a loaded program, as bpf_prog_info's run_cnt. There is no run_time_ns: an exec
/// program's helper calls take no simulated time (only advance_ns steps move the clock), so the
/// kernel's sum of run durations has nothing to measure here.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record ProgramStats([property: Id(0)] ulong RunCount);

/// <summary>
/// A BPF program loaded on a host, running on one CPU: it invokes the helpers against that CPU's
/// grain and keeps its run count. Key: <see cref="ProgramKey"/>.
/// </summary>
public interface IProgramGrain : IGrainWithStringKey
{
    Task<StepResult> Invoke(ExecStep step);

    /// <summary>`count` invocations of the program, each making the step's helper call on this CPU.</summary>
    Task<BatchResult> InvokeBatch(ExecStep step, int count);
    Task<ProgramStats> GetStats();
}

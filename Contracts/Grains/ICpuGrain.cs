using System.Collections.Immutable;
using BpfTraceSim.Contracts.Exec;

namespace BpfTraceSim.Contracts.Grains;

/// <summary>
/// One simulated CPU of one host: the perf events bound to it with their rings, its copy of every
/// slot and of the host's event metadata, its trace buffer and nesting counters. A helper call made
/// on CPU k is served by CPU grain k alone. Key: <see cref="CpuKey"/>.
/// </summary>
public interface ICpuGrain : IGrainWithStringKey
{
    Task Boot(WorldSpec world, int cpu);

    /// <summary>A helper call made by a program running on this CPU.</summary>
    Task<StepResult> Invoke(ExecStep step);

    /// <summary>The same helper call made `count` times in a row (batched invocations: one grain call, many helper calls).</summary>
    Task<BatchResult> InvokeBatch(ExecStep step, int count);

    /// <summary>The host's new slot contents for one map (with the host's version number).</summary>
    Task UpdateSlots(string map, ImmutableArray<string?> slots, long version);

    /// <summary>Simulated time passes with every task running on its CPU.</summary>
    Task Advance(ulong ns);

    Task SetEnabled(string ev, bool enabled);

    /// <summary>
    /// A task moves to CPU `to`. The CPU it leaves hands back the live state of its per-task events;
    /// the CPU it joins takes `arriving` over and counts the migration and context switch.
    /// </summary>
    Task<ImmutableArray<PerfEventHandoff>> MoveTask(int pid, int to, ImmutableArray<PerfEventHandoff> arriving);

    /// <summary>Reads every record in an event's ring, as a perf buffer consumer would.</summary>
    Task<StepResult> Consume(string ev);

    /// <summary>Takes the entries written to this CPU's trace buffer since the last call.</summary>
    Task<ImmutableArray<TraceEntry>> DrainTrace();

    /// <summary>Forgets this CPU's state (the world is over).</summary>
    Task Shutdown();
}

/// <summary>A perf event's live state moving between CPU grains with its task.</summary>
[GenerateSerializer, Immutable]
public sealed record PerfEventHandoff([property: Id(0)] string Name, [property: Id(1)] byte[] State);

/// <summary>One trace buffer entry, for trace_pipe's merge across CPUs.</summary>
[GenerateSerializer, Immutable]
public sealed record TraceEntry([property: Id(0)] ulong TimestampNs, [property: Id(1)] int Cpu, [property: Id(2)] long Sequence, [property: Id(3)] byte[] Line);

/// <summary>What a batch of helper calls returned: how many calls gave each return value.</summary>
[GenerateSerializer, Immutable]
public sealed record BatchResult([property: Id(0)] long Calls, [property: Id(1)] ImmutableDictionary<long, long> Returns);

namespace BpfTraceSim.Kernel;

/// <summary>A simulated task (task_struct's pid, tgid and comm). Pid 0 is a CPU's idle task.</summary>
public sealed record SimTask(int Pid, int Tgid, string Comm)
{
    /// <summary>The idle task every CPU runs when nothing else does (comm "&lt;idle&gt;" as trace_pipe shows it).</summary>
    public static readonly SimTask Idle = new(0, 0, "<idle>");
}

/// <summary>What the program interrupted: it sets the per-CPU nesting level and the trace line's flags.</summary>
public enum ExecContext
{
    Task = 0,
    Softirq = 1,
    Hardirq = 2,
    Nmi = 3,
}

/// <summary>
/// Where and when a helper runs: smp_processor_id(), current, the context kind and simulated time.
/// Passed by value into every helper so the kernel model never reads a clock of its own.
/// </summary>
public readonly record struct HelperContext(int Cpu, SimTask Current, ExecContext Context, ulong NowNs)
{
    /// <summary>preempt_count's preempt depth as trace_pipe's 4th flag column shows it for a BPF program.</summary>
    public int PreemptDepth { get; init; } = 2;
}

namespace BpfTraceSim.Kernel;

/// <summary>
/// A simulated task (task_struct's pid, tgid, comm and credentials). Pid 0 is a CPU's idle task.
/// Every task is in the initial pid namespace and runs as uid/gid 0 unless given others.
/// </summary>
public sealed record SimTask(int Pid, int Tgid, string Comm)
{
    /// <summary>The idle task every CPU runs when nothing else does (comm "&lt;idle&gt;" as trace_pipe shows it).</summary>
    public static readonly SimTask Idle = new(0, 0, "<idle>");

    /// <summary>current_cred()'s uid and gid, as seen from the initial user namespace.</summary>
    public uint Uid { get; init; }
    public uint Gid { get; init; }

    /// <summary>Where the simulated task_struct of pid lives (bpf_get_current_task): stable per task; each CPU has its own idle task.</summary>
    public static ulong TaskStructAddress(int pid, int cpu) =>
        pid == 0 ? IdleTaskBase + (ulong)cpu * TaskStructStride : TaskBase + (ulong)(uint)pid * TaskStructStride;

    private const ulong TaskBase = 0xffff_8890_0000_0000UL, IdleTaskBase = 0xffff_888f_0000_0000UL, TaskStructStride = 0x4000;
}

/// <summary>
/// The initial pid namespace as /proc/self/ns/pid shows it to stat(2): the nsfs device and
/// PROC_PID_INIT_INO. bpf_get_ns_current_pid_tgid matches its dev/ino arguments against these.
/// </summary>
public static class SimPidNs
{
    /// <summary>st_dev of nsfs (the simulated machine's; on Linux it is the nsfs superblock's anonymous device).</summary>
    public const ulong Dev = 4;
    /// <summary>PROC_PID_INIT_INO (include/linux/proc_ns.h).</summary>
    public const ulong Ino = 0xEFFFFFFC;
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

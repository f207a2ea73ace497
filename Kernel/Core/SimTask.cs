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

    /// <summary>
    /// The ips get_perf_callchain would walk in the kernel and in user space, innermost first (what
    /// bpf_get_stackid / bpf_get_stack see); null: <see cref="SimStacks"/>' defaults.
    /// </summary>
    public ulong[]? KernelStack { get; init; }
    public ulong[]? UserStack { get; init; }

    /// <summary>Where the simulated task_struct of pid lives (bpf_get_current_task): stable per task; each CPU has its own idle task.</summary>
    public static ulong TaskStructAddress(int pid, int cpu) =>
        pid == 0 ? IdleTaskBase + (ulong)cpu * TaskStructStride : TaskBase + (ulong)(uint)pid * TaskStructStride;

    private const ulong TaskBase = 0xffff_8890_0000_0000UL, IdleTaskBase = 0xffff_888f_0000_0000UL, TaskStructStride = 0x4000;
}

/// <summary>
/// The simulated task_struct behind bpf_get_current_task(_btf)'s address: mapped into a world's
/// simulated kernel memory the first time a program asks for current (so a world whose programs never
/// do pays nothing), refreshed on each ask with pid, tgid, comm and thread_info.cpu at the offsets the
/// simulated vmlinux BTF declares (TaskStructLayout), so bpf_probe_read_kernel, BPF_CORE_READ and
/// direct PTR_TO_BTF_ID loads read the task's values. Read-only to programs, like the kernel's.
/// </summary>
public static class SimTaskMemory
{
    /// <summary>The address of task's task_struct on cpu, mapped and up to date in mem.</summary>
    public static ulong Current(SimMemory mem, SimTask task, int cpu)
    {
        ulong addr = SimTask.TaskStructAddress(task.Pid, cpu);
        var bytes = mem.Find(addr) is { } r && r.Start == addr ? r.Bytes : mem.MapAt(addr, new byte[Btf.TaskStructLayout.Size], writable: false).Bytes;
        Fill(bytes, task, cpu);
        return addr;
    }

    private static void Fill(Span<byte> b, SimTask task, int cpu)
    {
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(b[(int)Btf.TaskStructLayout.Cpu..], (uint)cpu);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(b[(int)Btf.TaskStructLayout.Pid..], task.Pid);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(b[(int)Btf.TaskStructLayout.Tgid..], task.Tgid);
        var comm = b.Slice((int)Btf.TaskStructLayout.Comm, (int)Btf.TaskStructLayout.CommLen);
        comm.Clear();
        // the same bytes bpf_get_current_comm copies: the UTF-8 name cut to TASK_COMM_LEN - 1, NUL-padded
        var room = comm[..^1];
        if (System.Text.Unicode.Utf8.FromUtf16(task.Comm, room, out _, out _) == System.Buffers.OperationStatus.DestinationTooSmall)
            System.Text.Encoding.UTF8.GetBytes(task.Comm).AsSpan(0, room.Length).CopyTo(room); // a cut inside a character
    }
}

/// <summary>
/// A task's synthetic stacks when its world gives none (docs/kernel-semantics.md §14): every task,
/// the idle task too, is in the kernel on the read(2) path, vfs_read+0x1d, ksys_read+0x73,
/// __x64_sys_read+0x19 (at the host's kallsyms addresses, an offset past a resized symbol's end
/// taken as its last byte); a listed task's user stack is main+0x36 of a non-PIE binary under glibc's
/// start code (0x4011a6, 0x7f3c8a229d90, 0x7f3c8a229e40); the idle task, a kernel thread without an
/// mm, has no user stack.
/// </summary>
public static class SimStacks
{
    private static readonly (string Name, ulong Offset)[] KernelFrames = [("vfs_read", 0x1d), ("ksys_read", 0x73), ("__x64_sys_read", 0x19)];
    private static readonly ulong[] UserFrames = [0x4011a6, 0x7f3c_8a22_9d90, 0x7f3c_8a22_9e40];
    private static readonly Printk.Kallsyms Defaults = new();

    /// <summary>Frames of the default kernel stack (the scratch <see cref="Kernel"/> needs).</summary>
    public const int DefaultKernelDepth = 3;

    /// <summary>
    /// The kernel stack of task: its own, or the default resolved into scratch (at least
    /// <see cref="DefaultKernelDepth"/> long) at kallsyms' addresses (the default symbols' without one).
    /// </summary>
    public static ReadOnlySpan<ulong> Kernel(SimTask task, Printk.Kallsyms? kallsyms, Span<ulong> scratch)
    {
        if (task.KernelStack is { } own) return own;
        var k = kallsyms ?? Defaults;
        int n = 0;
        foreach (var (name, off) in KernelFrames)
            if (k.TryGetAddress(name, out ulong a)) scratch[n++] = a + Math.Min(off, k.SizeOf(name) - 1);
        return scratch[..n];
    }

    /// <summary>The user stack of task: its own, the default for a process, none for the idle task.</summary>
    public static ReadOnlySpan<ulong> User(SimTask task) => task.UserStack ?? (task.Pid == 0 ? ReadOnlySpan<ulong>.Empty : UserFrames);
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

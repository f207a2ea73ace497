namespace BpfTraceSim.Kernel;

/// <summary>
/// The per-CPU areas behind per-CPU kernel variables: a per-CPU variable's "address" (its kallsyms
/// value, <see cref="Printk.Kallsyms.PerCpuData"/>) is an offset, and CPU n's copy lives at
/// __per_cpu_offset[n] + that offset (per_cpu_ptr / this_cpu_ptr). The page holding a copy is mapped
/// read-only into a world's simulated kernel memory the first time a program asks for it
/// (bpf_per_cpu_ptr / bpf_this_cpu_ptr), zeroed except struct rq's cpu (CPU n's runqueue says n).
/// </summary>
public static class SimPerCpu
{
    /// <summary>__per_cpu_offset[0] (chosen; above the task_structs), then one 2 MiB area per CPU.</summary>
    public const ulong Base = 0xffff_88a0_0000_0000UL, Stride = 0x20_0000;
    private const ulong Page = 0x1000;

    /// <summary>__per_cpu_offset[cpu].</summary>
    public static ulong Offset(int cpu) => Base + (ulong)(uint)cpu * Stride;

    /// <summary>per_cpu_ptr(ptr, cpu): CPU cpu's copy of the per-CPU variable at offset ptr, its page mapped in mem.</summary>
    public static ulong Ptr(SimMemory mem, ulong ptr, int cpu)
    {
        ulong addr = Offset(cpu) + ptr;
        ulong page = addr & ~(Page - 1);
        if (mem.Find(page) is null) mem.MapAt(page, Fill(page, cpu), writable: false);
        return addr;
    }

    private static byte[] Fill(ulong page, int cpu)
    {
        var b = new byte[Page];
        ulong rq = Offset(cpu) + Printk.Kallsyms.PerCpuData["runqueues"] + Btf.RqLayout.Cpu;
        if (rq - page <= Page - 4) System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan((int)(rq - page)), cpu);
        return b;
    }
}

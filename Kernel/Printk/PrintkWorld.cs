using System.Numerics;

namespace BpfTraceSim.Kernel.Printk;

/// <summary>
/// Per-CPU state of the printf-like helpers: bpf_bprintf_nest_level with its three buffer sets
/// (bin_args 512 + buf 1024 each, kernel/bpf/helpers.c), and this CPU's trace ring buffer.
/// </summary>
public sealed class PrintkCpu
{
    internal readonly byte[][] BinArgs = new byte[BpfFlags.MAX_BPRINTF_NEST_LEVEL][];
    internal readonly byte[][] Bufs = new byte[BpfFlags.MAX_BPRINTF_NEST_LEVEL][];

    public PrintkCpu(int cpu, int bufferSizeKb = TraceRing.DefaultBufferSizeKb)
    {
        Cpu = cpu;
        for (int i = 0; i < BinArgs.Length; i++)
        {
            BinArgs[i] = new byte[BpfFlags.MAX_BPRINTF_BIN_ARGS];
            Bufs[i] = new byte[BpfFlags.MAX_BPRINTF_BUF];
        }
        Trace = new TraceRing(cpu, bufferSizeKb);
    }

    public int Cpu { get; }

    /// <summary>
    /// bpf_bprintf_nest_level: how many printf-like helpers on this CPU hold buffers right now. An
    /// exec layer simulating a helper interrupted mid-call raises it; a 4th holder gets -EBUSY.
    /// </summary>
    public int NestLevel { get; set; }

    /// <summary>This CPU's part of the trace buffer (what trace_pipe reads).</summary>
    public TraceRing Trace { get; }
}

/// <summary>
/// What the printf helpers need from a simulated machine: its memory, its kallsyms, the per-boot
/// %p hashing key (from a seed, so runs are reproducible) and its CPUs.
/// </summary>
public sealed class PrintkWorld
{
    private readonly PrintkCpu[] _cpus;
    private readonly ulong _k0, _k1;

    public PrintkWorld(SimMemory memory, Kallsyms kallsyms, ulong pointerHashSeed, int cpus = 1,
        int bufferSizeKb = TraceRing.DefaultBufferSizeKb)
        : this(memory, kallsyms, pointerHashSeed, NewCpus(cpus, bufferSizeKb)) { }

    private static PrintkCpu[] NewCpus(int cpus, int bufferSizeKb)
    {
        if (cpus < 1) throw new ArgumentOutOfRangeException(nameof(cpus));
        var list = new PrintkCpu[cpus];
        for (int i = 0; i < cpus; i++) list[i] = new PrintkCpu(i, bufferSizeKb);
        return list;
    }

    /// <summary>A world over CPUs whose printk state already exists (each CPU model owns its trace ring).</summary>
    public PrintkWorld(SimMemory memory, Kallsyms kallsyms, ulong pointerHashSeed, PrintkCpu[] cpus)
    {
        if (cpus.Length < 1) throw new ArgumentOutOfRangeException(nameof(cpus));
        Memory = memory;
        Kallsyms = kallsyms;
        PointerHashSeed = pointerHashSeed;
        ulong s = pointerHashSeed;
        _k0 = SplitMix(ref s);
        _k1 = SplitMix(ref s);
        _cpus = cpus;
        TracePipe = new TracePipe(_cpus);
    }

    public SimMemory Memory { get; }
    public Kallsyms Kallsyms { get; }
    public ulong PointerHashSeed { get; }
    public int CpuCount => _cpus.Length;
    public PrintkCpu Cpu(int cpu) => _cpus[cpu];
    public IReadOnlyList<PrintkCpu> Cpus => _cpus;

    /// <summary>The consuming reader of all CPUs' trace buffers (/sys/kernel/tracing/trace_pipe).</summary>
    public TracePipe TracePipe { get; }

    /// <summary>ptr_to_hashval on 64-bit: SipHash-2-4 of the pointer under the per-boot key, low 32 bits.</summary>
    public uint HashPointer(ulong ptr) => (uint)SipHash.Hash24(_k0, _k1, ptr);

    private static ulong SplitMix(ref ulong s)
    {
        ulong z = s += 0x9e37_79b9_7f4a_7c15UL;
        z = (z ^ (z >> 30)) * 0xbf58_476d_1ce4_e5b9UL;
        z = (z ^ (z >> 27)) * 0x94d0_49bb_1331_11ebUL;
        return z ^ (z >> 31);
    }
}

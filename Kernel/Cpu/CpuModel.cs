using BpfTraceSim.Kernel.Perf;
using BpfTraceSim.Kernel.Printk;
using BpfTraceSim.Kernel.Ringbuf;
using BpfTraceSim.Kernel.Seq;

namespace BpfTraceSim.Kernel;

/// <summary>
/// One simulated CPU's kernel state and the tracing helpers that run against it: its view of every
/// perf event array's slots, the perf helpers' nesting (bpf_trace_nest_level), the printf helpers'
/// buffers and this CPU's trace ring, and the seq_file an iterator shows on it. Every helper call a
/// program makes on this CPU goes through here, in the kernel's check order (PerfHelpers,
/// PrintkHelpers, SeqHelpers), whoever owns the model: a CPU grain (exec, load) owns one, a scenario
/// host's engine owns all of its host's. A call on CPU k never touches another CPU's buffers:
/// cross-CPU outcomes come from the events' metadata, as in the kernel.
/// </summary>
public sealed class CpuModel
{
    private PrintkCpu? _printk;
    private readonly int _printkBufferKb;

    /// <param name="cpu">The CPU number (smp_processor_id).</param>
    /// <param name="maps">This CPU's perf event arrays, by the owner's map index. An owner whose CPUs
    /// always see the same slots (the scenario engine) may hand every CPU the same arrays.</param>
    /// <param name="printk">The printf helpers' per-CPU state; null = allocated on first use (a CPU that
    /// never prints keeps no bprintf buffers: million-CPU fleets).</param>
    /// <param name="printkBufferKb">Trace ring size when this model allocates its own printk state.</param>
    public CpuModel(int cpu, PerfEventArray[]? maps = null, PrintkCpu? printk = null,
        int printkBufferKb = TraceRing.DefaultBufferSizeKb)
    {
        Cpu = cpu;
        Maps = maps ?? [];
        _printk = printk;
        _printkBufferKb = printkBufferKb;
        Perf = new PerfCpu(cpu);
    }

    public int Cpu { get; }

    /// <summary>This CPU's perf event arrays (its copies of the host's slots), by map index.</summary>
    public PerfEventArray[] Maps { get; set; }

    /// <summary>bpf_trace_nest_level and the sample-data slots of the perf helpers.</summary>
    public PerfCpu Perf { get; }

    /// <summary>bpf_bprintf_nest_level, the bprintf buffers and this CPU's part of the trace buffer.</summary>
    public PrintkCpu Printk
    {
        get => _printk ?? (UntracedPrintk ? t_untraced ??= new PrintkCpu(0, bufferSizeKb: 1) : _printk = new PrintkCpu(Cpu, _printkBufferKb));
        set => _printk = value;
    }

    /// <summary>Printk state exists (something printed or it was given).</summary>
    public bool HasPrintk => _printk is not null;

    /// <summary>
    /// Nobody reads this CPU's trace (a scenario that does not keep it): its printf helpers use one
    /// small buffer set per thread instead of their own. Helpers never nest across a call and the
    /// returns do not depend on what the trace ring held, so results are the same and a million
    /// CPUs keep no trace buffers.
    /// </summary>
    public bool UntracedPrintk { get; init; }

    [ThreadStatic] private static PrintkCpu? t_untraced;

    /// <summary>The world programs on this CPU see: their memory, kallsyms and the %p key.</summary>
    public PrintkWorld? ProgramWorld { get; set; }

    /// <summary>The seq_file of the iterator object being shown on this CPU, or null outside an iterator.</summary>
    public SeqFile? Seq { get; set; }

    /// <summary>The vmlinux BTF bpf_seq_printf_btf prints with, or null; built on first use from <see cref="VmlinuxBtfSource"/>.</summary>
    public Btf.Btf? VmlinuxBtf
    {
        get => _btf ??= VmlinuxBtfSource?.Invoke();
        set => _btf = value;
    }

    /// <summary>Builds the vmlinux BTF when a helper first needs it (it is large and most programs never print BTF).</summary>
    public Func<Btf.Btf?>? VmlinuxBtfSource { get; set; }

    private Btf.Btf? _btf;

    // ------------------------------------------------------------------ perf (kernel/trace/bpf_trace.c)

    /// <summary>bpf_perf_event_output into map m of this CPU.</summary>
    public long PerfEventOutput(in HelperContext ctx, int m, ulong flags, ReadOnlySpan<byte> data) =>
        PerfHelpers.PerfEventOutput(in ctx, Perf, Maps[m], flags, data);

    /// <summary>bpf_perf_event_output into a map given by reference (a BPF object's map bound to this CPU's array).</summary>
    public long PerfEventOutput(in HelperContext ctx, PerfEventArray map, ulong flags, ReadOnlySpan<byte> data) =>
        PerfHelpers.PerfEventOutput(in ctx, Perf, map, flags, data);

    /// <summary>bpf_perf_event_read: the counter, or the negative errno in the same u64.</summary>
    public ulong PerfEventRead(in HelperContext ctx, int m, ulong flags) => PerfHelpers.PerfEventRead(in ctx, Maps[m], flags);

    public ulong PerfEventRead(in HelperContext ctx, PerfEventArray map, ulong flags) => PerfHelpers.PerfEventRead(in ctx, map, flags);

    /// <summary>bpf_perf_event_read_value into buf (its length is the size argument).</summary>
    public long PerfEventReadValue(in HelperContext ctx, int m, ulong flags, Span<byte> buf) =>
        PerfHelpers.PerfEventReadValue(in ctx, Maps[m], flags, buf);

    public long PerfEventReadValue(in HelperContext ctx, PerfEventArray map, ulong flags, Span<byte> buf) =>
        PerfHelpers.PerfEventReadValue(in ctx, map, flags, buf);

    /// <summary>The event a perf helper with these flags would reach on this CPU (null where the helper fails before it).</summary>
    public PerfEvent? SlotOf(int m, ulong flags) => Maps[m].SlotOf(flags, Cpu);

    // ------------------------------------------------------------------ ring buffer (kernel/bpf/ringbuf.c)

    /// <summary>
    /// The host's ring buffer maps. Unlike the perf event arrays these are not per-CPU copies: a
    /// ring is shared by all CPUs, so every CPU model of a host holds the same ring objects.
    /// </summary>
    public BpfRingbuf[] Ringbufs { get; set; } = [];

    /// <summary>bpf_ringbuf_output into ring rb.</summary>
    public long RingbufOutput(in HelperContext ctx, BpfRingbuf rb, ulong flags, ReadOnlySpan<byte> data) =>
        RingbufHelpers.RingbufOutput(in ctx, rb, data, flags);

    /// <summary>bpf_ringbuf_reserve: the sample's address, or 0 (NULL).</summary>
    public ulong RingbufReserve(in HelperContext ctx, BpfRingbuf rb, ulong size, ulong flags) =>
        RingbufHelpers.RingbufReserve(in ctx, rb, size, flags);

    /// <summary>
    /// bpf_ringbuf_submit (discard false) or bpf_ringbuf_discard of a sample pointer. The ring is
    /// found from the pointer, as bpf_ringbuf_restore_from_rec finds it from the record header.
    /// False when the pointer is not a live reservation of any of this host's rings (the verifier
    /// refuses such a program; exec reports it so).
    /// </summary>
    public bool RingbufCommit(ulong sample, ulong flags, bool discard)
    {
        foreach (var rb in Ringbufs)
        {
            long off = rb.ReservationOf(sample);
            if (off < 0) continue;
            RingbufHelpers.RingbufCommit(rb, off, flags, discard);
            return true;
        }
        return false;
    }

    /// <summary>bpf_ringbuf_query of ring rb.</summary>
    public static ulong RingbufQuery(BpfRingbuf rb, ulong flags) => RingbufHelpers.RingbufQuery(rb, flags);

    // ------------------------------------------------------------------ printf (kernel/trace/bpf_trace.c, kernel/bpf/helpers.c)

    /// <summary>bpf_trace_printk with its three arguments, reading memory through world.</summary>
    public long TracePrintk(in HelperContext ctx, PrintkWorld world, ReadOnlySpan<byte> fmt, ulong a1, ulong a2, ulong a3) =>
        PrintkHelpers.TracePrintk(in ctx, Printk, world, fmt, a1, a2, a3);

    /// <summary>bpf_trace_vprintk with its argument words (dataIsNull: a constant NULL args pointer).</summary>
    public long TraceVprintk(in HelperContext ctx, PrintkWorld world, ReadOnlySpan<byte> fmt, ReadOnlySpan<byte> data, bool dataIsNull) =>
        PrintkHelpers.TraceVprintk(in ctx, Printk, world, fmt, data, dataIsNull);

    /// <summary>bpf_snprintf into str (its length is str_size).</summary>
    public long Snprintf(in HelperContext ctx, PrintkWorld world, Span<byte> str, ReadOnlySpan<byte> fmt, ReadOnlySpan<byte> data, bool dataIsNull) =>
        PrintkHelpers.Snprintf(in ctx, Printk, world, str, fmt, data, dataIsNull);

    // ------------------------------------------------------------------ seq_file (kernel/trace/bpf_trace.c)

    /// <summary>bpf_seq_printf into the seq_file m.</summary>
    public long SeqPrintf(SeqFile m, PrintkWorld world, ReadOnlySpan<byte> fmt, ReadOnlySpan<byte> data, bool dataIsNull) =>
        SeqHelpers.SeqPrintf(m, Printk, world, fmt, data, dataIsNull);

    /// <summary>bpf_seq_write into the seq_file m.</summary>
    public static long SeqWrite(SeqFile m, ReadOnlySpan<byte> data) => SeqHelpers.SeqWrite(m, data);

    /// <summary>bpf_snprintf_btf into str (any CPU: it needs no CPU state, only the world's memory).</summary>
    public static long SnprintfBtf(Span<byte> str, Btf.Btf btf, PrintkWorld world, in BtfPtr ptr, uint ptrSize, ulong flags) =>
        Btf.BtfHelpers.SnprintfBtf(str, btf, world, in ptr, ptrSize, flags);

    /// <summary>bpf_seq_printf_btf into the seq_file m.</summary>
    public static long SeqPrintfBtf(SeqFile m, Btf.Btf btf, PrintkWorld world, in BtfPtr ptr, uint ptrSize, ulong flags) =>
        SeqHelpers.SeqPrintfBtf(m, btf, world, in ptr, ptrSize, flags);
}

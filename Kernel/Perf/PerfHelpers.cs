using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using static BpfTraceSim.Kernel.BpfFlags;
using static BpfTraceSim.Kernel.Perf.PerfConstants;

namespace BpfTraceSim.Kernel.Perf;

/// <summary>The perf helpers of tracing programs (kernel/trace/bpf_trace.c), checks in the kernel's order.</summary>
public static class PerfHelpers
{
    /// <summary>
    /// bpf_perf_event_output (tracing): flags, then the per-CPU sample-data nesting, then
    /// __bpf_perf_event_output. 0, or -EINVAL / -EBUSY / -E2BIG / -ENOENT / -EOPNOTSUPP / -ENOSPC.
    /// </summary>
    public static long PerfEventOutput(in HelperContext ctx, PerfCpu cpu, PerfEventArray map, ulong flags, ReadOnlySpan<byte> data)
    {
        // Flags before nesting, as the first draft ordered them; current kernels check nesting first (docs/kernel-semantics.md §2).
        if ((flags & ~BPF_F_INDEX_MASK) != 0) return -Errno.EINVAL;
        int level = cpu.Enter();
        long err = level > PerfCpu.MaxNestLevel ? -Errno.EBUSY : BpfPerfEventOutput(in ctx, map, flags, data);
        cpu.Exit();
        return err;
    }

    /// <summary>
    /// __bpf_perf_event_output: index (BPF_F_CURRENT_CPU = this CPU), max_entries, empty slot,
    /// event kind (before the CPU), oncpu, then perf_event_output.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static long BpfPerfEventOutput(in HelperContext ctx, PerfEventArray map, ulong flags, ReadOnlySpan<byte> data)
    {
        long err = map.Lookup(flags, ctx.Cpu, out var perfEvent);
        if (err != 0) return err;
        var attr = perfEvent!.Attr;
        if (attr.Type != PERF_TYPE_SOFTWARE || attr.Config != PERF_COUNT_SW_BPF_OUTPUT) return -Errno.EINVAL;
        if (perfEvent.OnCpu(in ctx) != ctx.Cpu) return -Errno.EOPNOTSUPP;
        return perfEvent.PerfEventOutput(in ctx, data);
    }

    /// <summary>bpf_perf_event_read: the counter, or the negative errno in the same u64.</summary>
    public static ulong PerfEventRead(in HelperContext ctx, PerfEventArray map, ulong flags)
    {
        long err = GetMapPerfCounter(in ctx, map, flags, out ulong value, out _, out _);
        if (err != 0) return (ulong)err;
        return value;
    }

    /// <summary>
    /// bpf_perf_event_read_value(map, flags, buf, size = buf.Length): a size other than
    /// sizeof(struct bpf_perf_event_value) is -EINVAL before anything else; every error zeroes
    /// exactly size bytes; success writes counter, enabled, running.
    /// </summary>
    public static long PerfEventReadValue(in HelperContext ctx, PerfEventArray map, ulong flags, Span<byte> buf)
    {
        if (buf.Length != BpfPerfEventValueSize)
        {
            buf.Clear();
            return -Errno.EINVAL;
        }
        long err = GetMapPerfCounter(in ctx, map, flags, out ulong value, out ulong enabled, out ulong running);
        if (err != 0)
        {
            buf.Clear();
            return err;
        }
        BinaryPrimitives.WriteUInt64LittleEndian(buf, value);
        BinaryPrimitives.WriteUInt64LittleEndian(buf[8..], enabled);
        BinaryPrimitives.WriteUInt64LittleEndian(buf[16..], running);
        return 0;
    }

    /// <summary>get_map_perf_counter: flags, index (CURRENT_CPU), max_entries, empty slot, then perf_event_read_local.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static long GetMapPerfCounter(in HelperContext ctx, PerfEventArray map, ulong flags,
        out ulong value, out ulong enabled, out ulong running)
    {
        value = enabled = running = 0;
        if ((flags & ~BPF_F_INDEX_MASK) != 0) return -Errno.EINVAL;
        long err = map.Lookup(flags, ctx.Cpu, out var perfEvent);
        if (err != 0) return err;
        return PerfEventReadLocal(in ctx, perfEvent!, out value, out enabled, out running);
    }

    /// <summary>
    /// perf_event_read_local: inherit, per-task event of another task, per-CPU event of another
    /// CPU (all before pinned), pinned and not active here; then the count and the times. The
    /// simulated counters are always current (time moves only in Advance), so "bringing the
    /// count up to date" is a no-op and an inactive event simply reads its last values.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static long PerfEventReadLocal(in HelperContext ctx, PerfEvent perfEvent,
        out ulong value, out ulong enabled, out ulong running)
    {
        value = enabled = running = 0;
        var attr = perfEvent.Attr;
        if (attr.Inherit) return -Errno.EOPNOTSUPP;
        if (perfEvent.Pid != -1 && perfEvent.Pid != ctx.Current.Pid) return -Errno.EINVAL;
        if (perfEvent.Pid == -1 && perfEvent.Cpu != ctx.Cpu) return -Errno.EINVAL;
        if (attr.Pinned && perfEvent.OnCpu(in ctx) != ctx.Cpu) return -Errno.EBUSY;
        value = perfEvent.Count;
        enabled = perfEvent.TimeEnabled;
        running = perfEvent.TimeRunning;
        return 0;
    }
}

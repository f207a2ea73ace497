using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;
using static BpfTraceSim.Kernel.Perf.PerfConstants;

namespace BpfTraceSim.Kernel.Perf;

/// <summary>Everything a PerfEvent holds (ring included), for moving a per-task event between CPU grains.</summary>
public sealed record PerfEventState(
    ulong Id,
    PerfEventAttr Attr,
    int Cpu,
    int Pid,
    bool Enabled,
    ulong Count,
    ulong TimeEnabled,
    ulong TimeRunning,
    PerfRingState? Ring);

/// <summary>
/// A perf event as perf_event_open creates it (struct perf_event): per-CPU (Pid -1) or per-task,
/// its counter and times in simulated nanoseconds, and optionally its mmapped ring. A copy
/// without a ring is the metadata other CPUs keep to answer oncpu questions.
/// </summary>
public sealed class PerfEvent
{
    private readonly int _fixedSize; // header + fixed sample fields, from sample_type

    public PerfEvent(ulong id, PerfEventAttr attr, int cpu, int pid, PerfRing? ring = null)
    {
        Id = id;
        Attr = attr;
        Cpu = cpu;
        Pid = pid;
        Ring = ring;
        Enabled = !attr.Disabled;
        _fixedSize = PerfEventHeaderSize + 8 * BitOperations.PopCount(attr.SampleType & FixedSampleFields);
    }

    /// <summary>event->id (PERF_SAMPLE_ID/STREAM_ID, the LOST record's id).</summary>
    public ulong Id { get; }
    public PerfEventAttr Attr { get; }
    /// <summary>event->cpu: the CPU it is bound to, -1 for any.</summary>
    public int Cpu { get; }
    /// <summary>The owner task's pid for a per-task event; -1 for a per-CPU event.</summary>
    public int Pid { get; }
    public bool IsPerTask => Pid != -1;
    /// <summary>Enabled (state >= INACTIVE); disabled at open when attr.disabled.</summary>
    public bool Enabled { get; private set; }
    public ulong Count { get; private set; }
    /// <summary>total_time_enabled (ns).</summary>
    public ulong TimeEnabled { get; private set; }
    /// <summary>total_time_running (ns).</summary>
    public ulong TimeRunning { get; private set; }
    /// <summary>The mmapped ring; null when never mmapped (or on a metadata-only copy).</summary>
    public PerfRing? Ring { get; }

    /// <summary>The owner's bookkeeping for this event (the scenario engine's instance); the kernel model never reads it.</summary>
    public object? Owner { get; set; }

    /// <summary>PERF_EVENT_IOC_ENABLE.</summary>
    public void Enable() => Enabled = true;

    /// <summary>PERF_EVENT_IOC_DISABLE: count and times stay where they were.</summary>
    public void Disable() => Enabled = false;

    /// <summary>
    /// Simulated time passes: an enabled event adds ns to its enabled time, and when it was
    /// actually counting (running) to its running time; clock events also add ns to the count.
    /// </summary>
    public void Advance(ulong ns, bool running)
    {
        if (!Enabled) return;
        TimeEnabled += ns;
        if (!running) return;
        TimeRunning += ns;
        if (Attr.IsClock) Count += ns;
    }

    /// <summary>Whether the event counts while its task runs on taskCpu (per-CPU events: always).</summary>
    public bool RunsOn(int taskCpu) => Cpu == -1 || Cpu == taskCpu || !IsPerTask;

    /// <summary>Software occurrences (a cpu-migration, a context switch) while enabled.</summary>
    public void AddCount(ulong n)
    {
        if (Enabled) Count += n;
    }

    /// <summary>
    /// event->oncpu at this moment: a per-CPU event is active on its CPU while enabled; a per-task
    /// event is active on ctx.Cpu only while its task is current there and its cpu allows it.
    /// Tasks run only while current, so a task that is not current has its events inactive.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int OnCpu(in HelperContext ctx)
    {
        if (!Enabled) return -1;
        if (Pid == -1) return Cpu;
        return ctx.Current.Pid == Pid && (Cpu == -1 || Cpu == ctx.Cpu) ? ctx.Cpu : -1;
    }

    /// <summary>
    /// perf_event_output for a BPF sample: sizes the record from sample_type (header.size is a
    /// u16 and wraps), reserves it, writes it and ends the output. 0 or -ENOSPC.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal long PerfEventOutput(in HelperContext ctx, ReadOnlySpan<byte> data)
    {
        var ring = Ring;
        if (ring is null) return -Errno.ENOSPC;
        ulong sampleType = Attr.SampleType;
        int size = _fixedSize;
        int rawPadded = 0;
        if ((sampleType & PERF_SAMPLE_RAW) != 0)
        {
            rawPadded = (data.Length + 4 + 7) & ~7;
            size += rawPadded;
        }
        int ret = ring.PerfOutputBegin((ushort)size, Id, out ulong pos, out ulong handleWakeup);
        if (ret != 0) return ret;
        if (ring.CapturePayload) PerfOutputSample(ring, pos, in ctx, (ushort)size, rawPadded, data);
        ring.PerfOutputEnd(handleWakeup);
        return 0;
    }

    /// <summary>perf_output_sample: header, the fixed fields in ABI order, RAW; RAW padding is skipped, not zeroed.</summary>
    private void PerfOutputSample(PerfRing ring, ulong pos, in HelperContext ctx, ushort headerSize, int rawPadded, ReadOnlySpan<byte> data)
    {
        ulong st = Attr.SampleType;
        Span<byte> buf = stackalloc byte[PerfEventHeaderSize + 8 * 8 + 4];
        BinaryPrimitives.WriteUInt32LittleEndian(buf, PERF_RECORD_SAMPLE);
        BinaryPrimitives.WriteUInt16LittleEndian(buf[4..], PERF_RECORD_MISC_KERNEL);
        BinaryPrimitives.WriteUInt16LittleEndian(buf[6..], headerSize);
        int o = PerfEventHeaderSize;
        if ((st & FixedSampleFields) != 0)
        {
            if ((st & PERF_SAMPLE_IP) != 0) { BinaryPrimitives.WriteUInt64LittleEndian(buf[o..], 0); o += 8; }
            if ((st & PERF_SAMPLE_TID) != 0)
            {
                BinaryPrimitives.WriteInt32LittleEndian(buf[o..], ctx.Current.Tgid);
                BinaryPrimitives.WriteInt32LittleEndian(buf[(o + 4)..], ctx.Current.Pid);
                o += 8;
            }
            if ((st & PERF_SAMPLE_TIME) != 0) { BinaryPrimitives.WriteUInt64LittleEndian(buf[o..], ctx.NowNs); o += 8; }
            if ((st & PERF_SAMPLE_ADDR) != 0) { BinaryPrimitives.WriteUInt64LittleEndian(buf[o..], 0); o += 8; }
            if ((st & PERF_SAMPLE_ID) != 0) { BinaryPrimitives.WriteUInt64LittleEndian(buf[o..], Id); o += 8; }
            if ((st & PERF_SAMPLE_STREAM_ID) != 0) { BinaryPrimitives.WriteUInt64LittleEndian(buf[o..], Id); o += 8; }
            if ((st & PERF_SAMPLE_CPU) != 0)
            {
                BinaryPrimitives.WriteInt32LittleEndian(buf[o..], ctx.Cpu);
                BinaryPrimitives.WriteUInt32LittleEndian(buf[(o + 4)..], 0);
                o += 8;
            }
            // bpf_perf_event_output initialises the sample with period 0.
            if ((st & PERF_SAMPLE_PERIOD) != 0) { BinaryPrimitives.WriteUInt64LittleEndian(buf[o..], 0); o += 8; }
        }
        if ((st & PERF_SAMPLE_RAW) == 0)
        {
            ring.Write(pos, buf[..o]);
            return;
        }
        BinaryPrimitives.WriteUInt32LittleEndian(buf[o..], (uint)(rawPadded - 4));
        o += 4;
        ring.Write(pos, buf[..o]);
        ring.Write(pos + (ulong)o, data);
    }

    /// <summary>
    /// perf_event_open as the simulator offers it. Returns 0 and the event, or a negative errno:
    /// -EINVAL for pid and cpu both -1, sample_type bits the model cannot fill (READ, CALLCHAIN,
    /// registers, stacks, anything above RAW), a ring size that is not a power of two, breakpoint
    /// events; -ENOENT for hardware/hw-cache/raw events without a PMU, unknown software configs
    /// and unknown types.
    /// </summary>
    public static int PerfEventOpen(PerfEventAttr attr, int pid, int cpu, ulong id, bool worldHasPmu,
        int? ringPages, bool overwrite, bool capturePayload, out PerfEvent? perfEvent)
    {
        perfEvent = null;
        if ((attr.SampleType & ~SupportedSampleType) != 0) return -Errno.EINVAL;
        if (pid < -1 || cpu < -1) return -Errno.EINVAL;
        if (pid == -1 && cpu == -1) return -Errno.EINVAL;
        switch (attr.Type)
        {
            case PERF_TYPE_SOFTWARE:
                if (attr.Config >= PERF_COUNT_SW_MAX) return -Errno.ENOENT;
                break;
            case PERF_TYPE_HARDWARE:
                if (!worldHasPmu) return -Errno.ENOENT;
                if (attr.Config >= PERF_COUNT_HW_MAX) return -Errno.ENOENT;
                break;
            case PERF_TYPE_HW_CACHE:
            case PERF_TYPE_RAW:
                if (!worldHasPmu) return -Errno.ENOENT;
                break;
            case PERF_TYPE_TRACEPOINT:
                break;
            case PERF_TYPE_BREAKPOINT:
                return -Errno.EINVAL; // breakpoint address/type attributes are not modelled
            default:
                return -Errno.ENOENT;
        }
        PerfRing? ring = null;
        if (ringPages is int pages)
        {
            // perf_mmap: the data part must be 0 or a power of two pages.
            if (pages < 0 || (pages != 0 && !BitOperations.IsPow2(pages))) return -Errno.EINVAL;
            ring = new PerfRing(pages, overwrite, capturePayload, attr.SampleType, attr.WakeupEvents, attr.Watermark);
        }
        perfEvent = new PerfEvent(id, attr, cpu, pid, ring);
        return 0;
    }

    /// <summary>A copy of this event's metadata without its ring, for CPUs that only ask about oncpu.</summary>
    public PerfEvent MetadataCopy()
    {
        var e = new PerfEvent(Id, Attr, Cpu, Pid, null)
        {
            Enabled = Enabled,
            Count = Count,
            TimeEnabled = TimeEnabled,
            TimeRunning = TimeRunning,
        };
        return e;
    }

    public PerfEventState ExportState() =>
        new(Id, Attr, Cpu, Pid, Enabled, Count, TimeEnabled, TimeRunning, Ring?.ExportState());

    public static PerfEvent FromState(PerfEventState s) =>
        new(s.Id, s.Attr, s.Cpu, s.Pid, s.Ring is null ? null : PerfRing.FromState(s.Ring))
        {
            Enabled = s.Enabled,
            Count = s.Count,
            TimeEnabled = s.TimeEnabled,
            TimeRunning = s.TimeRunning,
        };
}

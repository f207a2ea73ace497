using BpfTraceSim.Kernel.Perf;
using System.Runtime.CompilerServices;

namespace BpfTraceSim.Grains.Simulation;

/// <summary>
/// One entry of a ring as the engine mirrors it: a sample or a PERF_RECORD_LOST, with what the
/// reader needs, in 16 bytes (a large fleet keeps a queue of these per CPU): the time, and one word
/// for the CPU, the flag and the size or the lost count. Where the record starts is the kernel
/// ring's to say (entry i of the mirror is record i of the ring).
/// </summary>
internal readonly struct RingEntry
{
    private const int CpuBits = 20, SizeBits = 17;
    private const long CpuMask = (1L << CpuBits) - 1, SizeMask = (1L << SizeBits) - 1;
    private const long LostFlag = long.MinValue;
    /// <summary>The largest lost count an entry holds (2^43 - 1).</summary>
    public const long MaxLost = (1L << (63 - CpuBits)) - 1;

    private readonly long _packed; // bit 63 lost; bits 0-19 CPU; a sample's size or a LOST record's count from bit 20

    private RingEntry(long time, long packed)
    {
        Time = time;
        _packed = packed;
    }

    /// <summary>A sample of size bytes written by cpu at time.</summary>
    public static RingEntry Sample(long time, int cpu, int size) =>
        new(time, ((long)(size & SizeMask) << CpuBits) | (cpu & CpuMask));

    /// <summary>A PERF_RECORD_LOST carrying lost, in front of cpu's write at time.</summary>
    public static RingEntry LostRecord(long time, int cpu, long lost) =>
        new(time, LostFlag | (Math.Min(lost, MaxLost) << CpuBits) | (cpu & CpuMask));

    /// <summary>Virtual time of the write.</summary>
    public long Time { get; }
    public bool IsLost => _packed < 0;
    /// <summary>For a LOST record, the count it carries; -1 for a sample.</summary>
    public long Lost => IsLost ? (_packed & long.MaxValue) >> CpuBits : -1;
    /// <summary>The CPU that wrote it.</summary>
    public int Cpu => (int)(_packed & CpuMask);
    /// <summary>Bytes it occupies.</summary>
    public int Size => IsLost ? PerfConstants.LostRecordSize : (int)((_packed >> CpuBits) & SizeMask);
}

/// <summary>
/// The engine's mirror of a ring's record queue: what the kernel ring does not keep, the time each
/// record was written (and, for a per-task ring, the CPU that wrote it), in 8 bytes per record (4
/// more per-task). Entry i is record i of the kernel ring: its size and lost count are read from
/// there. A growable circular buffer with indexed access from the oldest entry, so a per_batch
/// reader walks it without removing entries until the tail moves.
/// </summary>
internal sealed class RingQueue
{
    private const long LostFlag = long.MinValue;

    // The entries (bit 63: a LOST record, bits 0-62: the time) live in _a[_base .. _base + _mask]: a
    // queue's own array, or its slice of a slab shared by the host's per-CPU queues (one large
    // object the GC neither copies nor walks per CPU). _cpus (per-task rings) is indexed alike.
    private long[] _a;
    private int[]? _cpus;
    private int _base, _mask;
    private int _first;
    private PerfRing _ring;
    private readonly int _cpu;

    /// <param name="ring">The kernel ring this queue mirrors.</param>
    /// <param name="cpu">The CPU every record comes from (a per-CPU ring), or -1: each record's own (a per-task ring).</param>
    /// <param name="capacity">Entries to start with (a power of two).</param>
    public RingQueue(PerfRing ring, int cpu, int capacity = 4)
    {
        _ring = ring;
        _cpu = cpu;
        _a = new long[System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(capacity, 4))];
        _mask = _a.Length - 1;
        if (cpu < 0) _cpus = new int[_a.Length];
    }

    /// <summary>A per-CPU ring's queue on slab[offset .. offset + capacity) (capacity a power of two); it moves to its own array if it outgrows it.</summary>
    public RingQueue(PerfRing ring, int cpu, long[] slab, int offset, int capacity)
    {
        if (!System.Numerics.BitOperations.IsPow2(capacity) || offset < 0 || offset + capacity > slab.Length)
            throw new ArgumentOutOfRangeException(nameof(capacity));
        ArgumentOutOfRangeException.ThrowIfNegative(cpu);
        _ring = ring;
        _cpu = cpu;
        _a = slab;
        _base = offset;
        _mask = capacity - 1;
    }

    /// <summary>The kernel ring mirrored (replaced when a checkpoint restores the event).</summary>
    public PerfRing Ring
    {
        get => _ring;
        set => _ring = value;
    }

    public int Count { get; private set; }

    /// <summary>Samples (not LOST records) in the queue.</summary>
    public int Samples { get; private set; }

    /// <summary>Entry i (0: the oldest), with the size and lost count of the kernel ring's record i.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public RingEntry At(int i)
    {
        int slot = (_first + i) & _mask;
        long w = _a[_base + slot];
        int cpu = _cpus is null ? _cpu : _cpus[slot];
        return w < 0
            ? RingEntry.LostRecord(w & long.MaxValue, cpu, _ring.RecordLostAt(i))
            : RingEntry.Sample(w, cpu, _ring.RecordSizeAt(i));
    }

    /// <summary>When entry i was written.</summary>
    public long TimeAt(int i) => _a[_base + ((_first + i) & _mask)] & long.MaxValue;

    /// <summary>Entry i is a PERF_RECORD_LOST.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsLostAt(int i) => _a[_base + ((_first + i) & _mask)] < 0;

    /// <summary>The record the kernel ring just queued was written at time by cpu (lost: it is a PERF_RECORD_LOST).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Push(long time, int cpu, bool lost)
    {
        if (Count == Capacity) Grow();
        int slot = (_first + Count) & _mask;
        _a[_base + slot] = lost ? time | LostFlag : time;
        if (_cpus is not null) _cpus[slot] = cpu;
        Count++;
        if (!lost) Samples++;
    }

    private void Grow()
    {
        var q = new long[Capacity * 2];
        var cpus = _cpus is null ? null : new int[q.Length];
        for (int i = 0; i < Count; i++)
        {
            int slot = (_first + i) & _mask;
            q[i] = _a[_base + slot];
            if (cpus is not null) cpus[i] = _cpus![slot];
        }
        _a = q;
        _cpus = cpus;
        _base = 0;
        _mask = q.Length - 1;
        _first = 0;
    }

    /// <summary>Drops the oldest entry (its record has left the kernel ring, or is about to); returns the CPU that wrote it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int PopOldest()
    {
        long w = _a[_base + _first];
        int cpu = _cpus is null ? _cpu : _cpus[_first];
        _first = (_first + 1) & _mask;
        Count--;
        if (w >= 0) Samples--;
        return cpu;
    }

    public int Capacity => _mask + 1;

    /// <summary>Bytes this queue holds per entry.</summary>
    public int BytesPerEntry => _cpus is null ? 8 : 12;

    public void Clear()
    {
        _first = 0;
        Count = 0;
        Samples = 0;
    }
}

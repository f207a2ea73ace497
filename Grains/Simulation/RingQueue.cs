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
/// record was written (and, for a per-task ring, the CPU that wrote it). Entry i is record i of
/// the kernel ring: its size and lost count are read from there. A growable circular buffer with
/// indexed access from the oldest entry, so a per_batch reader walks it without removing entries
/// until the tail moves. A per-CPU ring's queue keeps 4 bytes a record (a large fleet keeps one per
/// CPU): the time relative to an origin that moves up when the queue empties or its entries are
/// rebased; a queue whose records span more than 2^31 ns, or a per-task ring's, keeps 8 (12).
/// </summary>
internal sealed class RingQueue
{
    private const long LostFlag = long.MinValue;
    private const uint NarrowLost = 1u << 31;
    private const long MaxDelta = NarrowLost - 1;

    // The entries live in _n (narrow: bit 31 a LOST record, bits 0-30 the time minus _origin) or
    // _w (wide: bit 63 a LOST record, bits 0-62 the time), at [_base .. _base + _mask]: a queue's
    // own array, or its slice of a slab shared by the host's per-CPU queues (one object the GC
    // neither walks nor copies per CPU). _cpus (per-task rings, always wide) is indexed alike.
    private uint[]? _n;
    private long[]? _w;
    private long _origin;
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
        int n = (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(capacity, 4));
        if (cpu < 0)
        {
            _w = new long[n];
            _cpus = new int[n];
        }
        else _n = new uint[n];
        _mask = n - 1;
    }

    /// <summary>A per-CPU ring's queue on slab[offset .. offset + capacity) (capacity a power of two); it moves to its own array if it outgrows it.</summary>
    public RingQueue(PerfRing ring, int cpu, uint[] slab, int offset, int capacity)
    {
        if (!System.Numerics.BitOperations.IsPow2(capacity) || offset < 0 || offset + capacity > slab.Length)
            throw new ArgumentOutOfRangeException(nameof(capacity));
        ArgumentOutOfRangeException.ThrowIfNegative(cpu);
        _ring = ring;
        _cpu = cpu;
        _n = slab;
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

    // The entry in slot (of the buffer) in the wide form.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private long Raw(int slot)
    {
        if (_n is { } n)
        {
            uint e = n[_base + slot];
            long t = _origin + (e & MaxDelta);
            return (e & NarrowLost) != 0 ? t | LostFlag : t;
        }
        return _w![_base + slot];
    }

    /// <summary>Entry i (0: the oldest), with the size and lost count of the kernel ring's record i.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public RingEntry At(int i)
    {
        int slot = (_first + i) & _mask;
        long w = Raw(slot);
        int cpu = _cpus is null ? _cpu : _cpus[slot];
        return w < 0
            ? RingEntry.LostRecord(w & long.MaxValue, cpu, _ring.RecordLostAt(i))
            : RingEntry.Sample(w, cpu, _ring.RecordSizeAt(i));
    }

    /// <summary>When entry i was written.</summary>
    public long TimeAt(int i) => Raw((_first + i) & _mask) & long.MaxValue;

    /// <summary>Entry i is a PERF_RECORD_LOST.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsLostAt(int i) => Raw((_first + i) & _mask) < 0;

    /// <summary>The record the kernel ring just queued was written at time by cpu (lost: it is a PERF_RECORD_LOST).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Push(long time, int cpu, bool lost)
    {
        if (Count == Capacity) Grow();
        if (_n is not null)
        {
            if (Count == 0) _origin = time;
            else if ((ulong)(time - _origin) > MaxDelta) Rebase(time); // (may widen the queue)
        }
        int slot = (_first + Count) & _mask;
        if (_n is { } n) n[_base + slot] = (uint)(time - _origin) | (lost ? NarrowLost : 0u);
        else
        {
            _w![_base + slot] = lost ? time | LostFlag : time;
            if (_cpus is not null) _cpus[slot] = cpu;
        }
        Count++;
        if (!lost) Samples++;
    }

    // A time the narrow entries cannot hold: the origin moves to the oldest entry (or the new
    // time, if earlier) when the queue's span then fits, otherwise the queue becomes wide.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void Rebase(long time)
    {
        long oldest = TimeAt(0), newest = TimeAt(Count - 1);
        long origin = Math.Min(oldest, time);
        if (Math.Max(newest, time) - origin > MaxDelta)
        {
            Widen();
            return;
        }
        var n = _n!;
        for (int i = 0; i < Count; i++)
        {
            int at = _base + ((_first + i) & _mask);
            uint e = n[at];
            long t = _origin + (e & MaxDelta);
            n[at] = (uint)(t - origin) | (e & NarrowLost);
        }
        _origin = origin;
    }

    private void Widen()
    {
        var w = new long[Capacity];
        for (int i = 0; i < Count; i++) w[i] = Raw((_first + i) & _mask);
        _w = w;
        _n = null;
        _base = 0;
        _first = 0;
    }

    private void Grow()
    {
        int size = Capacity * 2;
        var cpus = _cpus is null ? null : new int[size];
        if (_n is { } n)
        {
            var q = new uint[size];
            for (int i = 0; i < Count; i++) q[i] = n[_base + ((_first + i) & _mask)];
            _n = q;
        }
        else
        {
            var q = new long[size];
            for (int i = 0; i < Count; i++)
            {
                int slot = (_first + i) & _mask;
                q[i] = _w![_base + slot];
                if (cpus is not null) cpus[i] = _cpus![slot];
            }
            _w = q;
        }
        _cpus = cpus;
        _base = 0;
        _mask = size - 1;
        _first = 0;
    }

    /// <summary>Drops the oldest entry (its record has left the kernel ring, or is about to); returns the CPU that wrote it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int PopOldest()
    {
        bool lost = Raw(_first) < 0;
        int cpu = _cpus is null ? _cpu : _cpus[_first];
        _first = (_first + 1) & _mask;
        Count--;
        if (!lost) Samples--;
        return cpu;
    }

    public int Capacity => _mask + 1;

    /// <summary>Bytes this queue holds per entry.</summary>
    public int BytesPerEntry => _n is not null ? 4 : _cpus is null ? 8 : 12;

    public void Clear()
    {
        _first = 0;
        Count = 0;
        Samples = 0;
    }
}

using BpfTraceSim.Kernel.Perf;
using System.Runtime.CompilerServices;

namespace BpfTraceSim.Grains.Simulation;

/// <summary>
/// One entry of a ring as the engine mirrors it: a sample or a PERF_RECORD_LOST, with what the
/// reader needs, in 24 bytes (a large fleet keeps a queue of these per CPU): the CPU, the flag
/// and the size or the lost count share one word.
/// </summary>
internal readonly struct RingEntry
{
    private const int CpuBits = 20, SizeBits = 17;
    private const long CpuMask = (1L << CpuBits) - 1, SizeMask = (1L << SizeBits) - 1;
    private const long LostFlag = long.MinValue;
    /// <summary>The largest lost count an entry holds (2^43 - 1).</summary>
    public const long MaxLost = (1L << (63 - CpuBits)) - 1;

    private readonly long _packed; // bit 63 lost; bits 0-19 CPU; a sample's size or a LOST record's count from bit 20

    private RingEntry(long time, ulong start, long packed)
    {
        Time = time;
        Start = start;
        _packed = packed;
    }

    /// <summary>A sample of size bytes written by cpu at time at ring position start.</summary>
    public static RingEntry Sample(long time, ulong start, int cpu, int size) =>
        new(time, start, ((long)(size & SizeMask) << CpuBits) | (cpu & CpuMask));

    /// <summary>A PERF_RECORD_LOST carrying lost, in front of cpu's write at time.</summary>
    public static RingEntry LostRecord(long time, ulong start, int cpu, long lost) =>
        new(time, start, LostFlag | (Math.Min(lost, MaxLost) << CpuBits) | (cpu & CpuMask));

    /// <summary>Virtual time of the write.</summary>
    public long Time { get; }
    /// <summary>data_head position where the record starts (for reading its bytes in capture mode).</summary>
    public ulong Start { get; }
    public bool IsLost => _packed < 0;
    /// <summary>For a LOST record, the count it carries; -1 for a sample.</summary>
    public long Lost => IsLost ? (_packed & long.MaxValue) >> CpuBits : -1;
    /// <summary>The CPU that wrote it.</summary>
    public int Cpu => (int)(_packed & CpuMask);
    /// <summary>Bytes it occupies.</summary>
    public int Size => IsLost ? PerfConstants.LostRecordSize : (int)((_packed >> CpuBits) & SizeMask);
}

/// <summary>
/// The engine's mirror of a ring's record queue (the kernel model keeps only sizes): a growable
/// circular buffer with indexed access from the oldest entry, so a per_batch reader walks it
/// without removing entries until the tail moves.
/// </summary>
internal sealed class RingQueue
{
    // The entries live in _a[_base .. _base + _mask]: a queue's own array, or its slice of a slab
    // shared by the host's per-CPU queues (one large object the GC neither copies nor walks per CPU).
    private RingEntry[] _a;
    private int _base, _mask;
    private int _first;

    /// <param name="capacity">Entries to start with (a power of two).</param>
    public RingQueue(int capacity = 4)
    {
        _a = new RingEntry[System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(capacity, 4))];
        _mask = _a.Length - 1;
    }

    /// <summary>A queue on slab[offset .. offset + capacity) (capacity a power of two); it moves to its own array if it outgrows it.</summary>
    public RingQueue(RingEntry[] slab, int offset, int capacity)
    {
        if (!System.Numerics.BitOperations.IsPow2(capacity) || offset < 0 || offset + capacity > slab.Length)
            throw new ArgumentOutOfRangeException(nameof(capacity));
        _a = slab;
        _base = offset;
        _mask = capacity - 1;
    }

    public int Count { get; private set; }

    /// <summary>Samples (not LOST records) in the queue.</summary>
    public int Samples { get; private set; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref RingEntry At(int i) => ref _a[_base + ((_first + i) & _mask)];

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Push(in RingEntry e)
    {
        if (Count == Capacity) Grow();
        _a[_base + ((_first + Count) & _mask)] = e;
        Count++;
        if (!e.IsLost) Samples++;
    }

    private void Grow()
    {
        var q = new RingEntry[Capacity * 2];
        for (int i = 0; i < Count; i++) q[i] = At(i);
        _a = q;
        _base = 0;
        _mask = q.Length - 1;
        _first = 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public RingEntry PopOldest()
    {
        var e = _a[_base + _first];
        _first = (_first + 1) & _mask;
        Count--;
        if (!e.IsLost) Samples--;
        return e;
    }

    public int Capacity => _mask + 1;

    public void Clear()
    {
        _first = 0;
        Count = 0;
        Samples = 0;
    }
}

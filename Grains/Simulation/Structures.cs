using BpfTraceSim.Kernel.Perf;
using System.Runtime.CompilerServices;

namespace BpfTraceSim.Grains.Simulation;

/// <summary>
/// A binary min-heap of pending firings, one per (CPU, program). A key is (time &lt;&lt; SlotBits) |
/// slot with slot = cpu * programs + program, so keys order by time, then CPU, then program (ties
/// break the same way every run) and a comparison is one unsigned compare.
/// </summary>
internal sealed class FiringHeap
{
    // _a[Count] is always ulong.MaxValue: a sentinel right child, so sift-down needs no bounds
    // test for it and picks the smaller child without a branch.
    private ulong[] _a = CreateArray(16);

    public FiringHeap(int slots)
    {
        int bits = 1;
        while ((1L << bits) < slots) bits++;
        SlotBits = bits;
        SlotMask = (1UL << bits) - 1;
        MaxTime = (long)(ulong.MaxValue >> bits);
    }

    private static ulong[] CreateArray(int n)
    {
        var a = new ulong[n];
        a.AsSpan().Fill(ulong.MaxValue);
        return a;
    }

    public int SlotBits { get; }
    public ulong SlotMask { get; }
    /// <summary>The latest time a key can hold.</summary>
    public long MaxTime { get; }

    public int Count { get; private set; }

    public ulong Top => _a[0];

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong Key(long time, int slot) => ((ulong)time << SlotBits) | (uint)slot;

    public void Clear()
    {
        _a.AsSpan(0, Count + 1).Fill(ulong.MaxValue);
        Count = 0;
    }

    public void Push(ulong key)
    {
        if (Count + 1 >= _a.Length)
        {
            var bigger = CreateArray(_a.Length * 2);
            _a.AsSpan(0, Count).CopyTo(bigger);
            _a = bigger;
        }
        int i = Count++;
        var a = _a;
        a[Count] = ulong.MaxValue;
        while (i > 0)
        {
            int parent = (i - 1) >> 1;
            if (key >= a[parent]) break;
            a[i] = a[parent];
            i = parent;
        }
        a[i] = key;
    }

    /// <summary>Replaces the top (the firing that just ran) by the same slot's next firing.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void ReplaceTop(ulong key) => SiftDown(key, 0);

    public void Pop()
    {
        int n = --Count;
        ulong last = _a[n];
        _a[n] = ulong.MaxValue;
        if (n == 0) return;
        SiftDown(last, 0);
    }

    private void SiftDown(ulong key, int i)
    {
        var a = _a;
        int n = Count;
        while (true)
        {
            int child = 2 * i + 1;
            if (child >= n) break;
            ulong l = a[child], r = a[child + 1]; // a[n] is the sentinel
            bool right = r < l;
            ulong c = right ? r : l;
            child += right ? 1 : 0;
            if (c >= key) break;
            a[i] = c;
            i = child;
        }
        a[i] = key;
    }
}

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

/// <summary>
/// Counts of (CPU, helper, return value) for the current window: an open-addressing table with
/// long keys, so counting a call is a multiply, a shift and usually one probe.
/// </summary>
internal sealed class ReturnCounter
{
    private const long Empty = long.MinValue;
    private long[] _keys;
    private long[] _counts;
    private int _mask;
    private int _used;

    public ReturnCounter(int capacity = 16)
    {
        int cap = 16;
        while (cap < capacity * 2) cap *= 2;
        _keys = new long[cap];
        _counts = new long[cap];
        _keys.AsSpan().Fill(Empty);
        _mask = cap - 1;
    }

    public int Used => _used;

    /// <summary>Key of (cpu, helper kind, ret): cpu in 20 bits, kind in 4, ret in 40 (sign-extended back).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long Key(int cpu, int kind, long ret) => ((long)cpu << 44) | ((long)kind << 40) | (ret & 0xff_ffff_ffffL);

    /// <summary>The same (helper kind, ret) key with CPU 0: host-wide counts.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long WithoutCpu(long key) => key & ((1L << 44) - 1);

    public static void Split(long key, out int cpu, out int kind, out long ret)
    {
        cpu = (int)(key >> 44);
        kind = (int)((key >> 40) & 0xf);
        ret = (key << 24) >> 24;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Add(long key) => Add(key, 1);

    public void Add(long key, long n)
    {
        int i = (int)((ulong)(key * unchecked((long)0x9e37_79b9_7f4a_7c15UL)) >> 32) & _mask;
        var keys = _keys;
        while (true)
        {
            long k = keys[i];
            if (k == key)
            {
                _counts[i] += n;
                return;
            }
            if (k == Empty) break;
            i = (i + 1) & _mask;
        }
        keys[i] = key;
        _counts[i] = n;
        if (++_used * 2 > keys.Length) Rehash();
    }

    private void Rehash()
    {
        var oldKeys = _keys;
        var oldCounts = _counts;
        _keys = new long[oldKeys.Length * 2];
        _counts = new long[oldKeys.Length * 2];
        _keys.AsSpan().Fill(Empty);
        _mask = _keys.Length - 1;
        for (int j = 0; j < oldKeys.Length; j++)
        {
            if (oldKeys[j] == Empty) continue;
            int i = (int)((ulong)(oldKeys[j] * unchecked((long)0x9e37_79b9_7f4a_7c15UL)) >> 32) & _mask;
            while (_keys[i] != Empty) i = (i + 1) & _mask;
            _keys[i] = oldKeys[j];
            _counts[i] = oldCounts[j];
        }
    }

    /// <summary>Every (key, count) pair, in table order.</summary>
    public void ForEach(Action<long, long> visit)
    {
        for (int i = 0; i < _keys.Length; i++)
            if (_keys[i] != Empty) visit(_keys[i], _counts[i]);
    }

    public void Clear()
    {
        if (_used == 0) return;
        _keys.AsSpan().Fill(Empty);
        _used = 0;
    }
}

/// <summary>One CPU's counters for the current window (and the samples it wrote that are still unread).</summary>
internal struct CpuWindow
{
    public long Firings, Written, Bytes, Lost, LostReported, Consumed, Overwritten, Invisible, FillMax, Wakeups;
    /// <summary>Samples written by this CPU not yet consumed: carried from window to window.</summary>
    public long InRing;

    /// <summary>Adds another CPU's counters (fill: the maximum).</summary>
    public void Add(in CpuWindow o)
    {
        Firings += o.Firings;
        Written += o.Written;
        Bytes += o.Bytes;
        Lost += o.Lost;
        LostReported += o.LostReported;
        Consumed += o.Consumed;
        Overwritten += o.Overwritten;
        Invisible += o.Invisible;
        if (o.FillMax > FillMax) FillMax = o.FillMax;
        Wakeups += o.Wakeups;
        InRing += o.InRing;
    }

    /// <summary>Adds the same CPUs' next period (in-ring is a level, not a flow: the later value).</summary>
    public void AddLater(in CpuWindow later)
    {
        Add(in later);
        InRing = later.InRing;
    }

    /// <summary>The scalar counters of c (its helper returns and lag are kept elsewhere).</summary>
    public static CpuWindow From(SimCounters c) => new()
    {
        Firings = c.Firings,
        Written = c.RecordsWritten,
        Bytes = c.BytesWritten,
        Lost = c.Lost,
        LostReported = c.LostReported,
        Consumed = c.RecordsConsumed,
        Overwritten = c.RecordsOverwritten,
        Invisible = c.RecordsInvisible,
        FillMax = c.RingFillMaxBytes,
        Wakeups = c.Wakeups,
        InRing = c.RecordsInRing,
    };

    public readonly SimCounters ToCounters(HelperReturns helpers, LagHistogram lag) => new()
    {
        Firings = Firings,
        Helpers = helpers,
        Attempts = Written + Lost,
        RecordsWritten = Written,
        BytesWritten = Bytes,
        Lost = Lost,
        LostReported = LostReported,
        RecordsConsumed = Consumed,
        RecordsInRing = InRing,
        RecordsOverwritten = Overwritten,
        RecordsInvisible = Invisible,
        RingFillMaxBytes = FillMax,
        Wakeups = Wakeups,
        ConsumerLag = lag,
    };
}

/// <summary>A call site's last return key on one CPU and how often it repeated.</summary>
internal struct SiteCount
{
    public long Key;
    public long Count;
}

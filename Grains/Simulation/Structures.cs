using System.Runtime.CompilerServices;

namespace BpfTraceSim.Grains.Simulation;

/// <summary>The next firing of one (CPU, program): ordered by time, then CPU, then program, so ties break the same way every run.</summary>
internal struct FiringEntry
{
    public long Time;
    public int Cpu;
    public int Prog;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly bool Before(in FiringEntry o) =>
        Time < o.Time || (Time == o.Time && (Cpu < o.Cpu || (Cpu == o.Cpu && Prog < o.Prog)));
}

/// <summary>A binary min-heap of firings stored in a struct array (no allocation per operation).</summary>
internal sealed class FiringHeap
{
    private FiringEntry[] _a = new FiringEntry[16];

    public int Count { get; private set; }

    public ref FiringEntry Top => ref _a[0];

    public void Clear() => Count = 0;

    public void Push(in FiringEntry e)
    {
        if (Count == _a.Length) Array.Resize(ref _a, _a.Length * 2);
        int i = Count++;
        var a = _a;
        while (i > 0)
        {
            int parent = (i - 1) >> 1;
            if (!e.Before(in a[parent])) break;
            a[i] = a[parent];
            i = parent;
        }
        a[i] = e;
    }

    /// <summary>Gives the top a new time (its next firing) and restores the order; the common case after a firing.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void ReplaceTopTime(long time)
    {
        var a = _a;
        var e = a[0];
        e.Time = time;
        SiftDown(e, 0);
    }

    public void Pop()
    {
        int n = --Count;
        if (n == 0) return;
        SiftDown(_a[n], 0);
    }

    private void SiftDown(FiringEntry e, int i)
    {
        var a = _a;
        int n = Count;
        while (true)
        {
            int child = 2 * i + 1;
            if (child >= n) break;
            int right = child + 1;
            if (right < n && a[right].Before(in a[child])) child = right;
            if (!a[child].Before(in e)) break;
            a[i] = a[child];
            i = child;
        }
        a[i] = e;
    }
}

/// <summary>One entry of a ring as the engine mirrors it: a sample or a PERF_RECORD_LOST, with what the reader needs.</summary>
internal struct RingEntry
{
    /// <summary>Virtual time of the write.</summary>
    public long Time;
    /// <summary>data_head position where the record starts (for reading its bytes in capture mode).</summary>
    public ulong Start;
    /// <summary>For a LOST record, the count it carries; -1 for a sample.</summary>
    public long Lost;
    /// <summary>The CPU that wrote it.</summary>
    public int Cpu;
    /// <summary>Bytes it occupies.</summary>
    public int Size;

    public readonly bool IsLost => Lost >= 0;
}

/// <summary>
/// The engine's mirror of a ring's record queue (the kernel model keeps only sizes): a growable
/// circular buffer with indexed access from the oldest entry, so a per_batch reader walks it
/// without removing entries until the tail moves.
/// </summary>
internal sealed class RingQueue
{
    private RingEntry[] _a = new RingEntry[4];
    private int _first;

    public int Count { get; private set; }

    /// <summary>Samples (not LOST records) in the queue.</summary>
    public int Samples { get; private set; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref RingEntry At(int i) => ref _a[(_first + i) & (_a.Length - 1)];

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Push(in RingEntry e)
    {
        if (Count == _a.Length) Grow();
        _a[(_first + Count) & (_a.Length - 1)] = e;
        Count++;
        if (!e.IsLost) Samples++;
    }

    private void Grow()
    {
        var q = new RingEntry[_a.Length * 2];
        for (int i = 0; i < Count; i++) q[i] = _a[(_first + i) & (_a.Length - 1)];
        _a = q;
        _first = 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public RingEntry PopOldest()
    {
        var e = _a[_first];
        _first = (_first + 1) & (_a.Length - 1);
        Count--;
        if (!e.IsLost) Samples--;
        return e;
    }

    public int Capacity => _a.Length;

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

    public static void Split(long key, out int cpu, out int kind, out long ret)
    {
        cpu = (int)(key >> 44);
        kind = (int)((key >> 40) & 0xf);
        ret = (key << 24) >> 24;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Add(long key)
    {
        int i = (int)((ulong)(key * unchecked((long)0x9e37_79b9_7f4a_7c15UL)) >> 32) & _mask;
        var keys = _keys;
        while (true)
        {
            long k = keys[i];
            if (k == key)
            {
                _counts[i]++;
                return;
            }
            if (k == Empty) break;
            i = (i + 1) & _mask;
        }
        keys[i] = key;
        _counts[i] = 1;
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

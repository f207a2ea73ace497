using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace BpfTraceSim.Grains.Simulation;

/// <summary>
/// A 4-ary min-heap of pending firings, one per (CPU, program). A key is (time &lt;&lt; SlotBits) |
/// slot with slot = cpu * programs + program, so keys order by time, then CPU, then program (ties
/// break the same way every run) and a comparison is one compare; keys are unique, so the order
/// firings come out in is the keys' order whatever the heap's shape. Keys stay below 2^63 (see
/// <see cref="MaxTime"/>), so the difference of two keys has the sign of their order: sift-down
/// picks the smallest of four children without a branch (a branch there mispredicts half the
/// time). Four children per node halve the levels a replaced top sinks through (4 for a host's
/// 128 CPUs instead of 7), and each level's loads are independent of each other.
/// </summary>
internal sealed class FiringHeap
{
    // _a[Count .. Count + 3] always hold the sentinel: children larger than every key, so
    // sift-down needs no bounds test for a node's last children.
    private const ulong Sentinel = long.MaxValue;
    private const int Pad = 4;
    private ulong[] _a = CreateArray(16);

    public FiringHeap(int slots)
    {
        int bits = 1;
        while ((1L << bits) < slots) bits++;
        SlotBits = bits;
        SlotMask = (1UL << bits) - 1;
        MaxTime = long.MaxValue >> bits;
    }

    private static ulong[] CreateArray(int n)
    {
        var a = new ulong[n];
        a.AsSpan().Fill(Sentinel);
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
        _a.AsSpan(0, Count + Pad).Fill(Sentinel);
        Count = 0;
    }

    public void Push(ulong key)
    {
        if (Count + Pad >= _a.Length)
        {
            var bigger = CreateArray(_a.Length * 2);
            _a.AsSpan(0, Count).CopyTo(bigger);
            _a = bigger;
        }
        int i = Count++;
        var a = _a;
        while (i > 0)
        {
            int parent = (i - 1) >> 2;
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
        _a[n] = Sentinel;
        if (n == 0) return;
        SiftDown(last, 0);
    }

    private void SiftDown(ulong key, int i)
    {
        // Count + Pad <= _a.Length always (sentinels fill _a[Count ..]), so a node whose first
        // child is below Count has all four children in the array.
        ref ulong a = ref MemoryMarshal.GetArrayDataReference(_a);
        int n = Count;
        long k = (long)key;
        while (true)
        {
            int child = 4 * i + 1;
            if (child >= n) break;
            // the smaller of each pair, then of the two: m < 0 selects the second operand
            long c0 = (long)Unsafe.Add(ref a, child), c1 = (long)Unsafe.Add(ref a, child + 1);
            long c2 = (long)Unsafe.Add(ref a, child + 2), c3 = (long)Unsafe.Add(ref a, child + 3);
            long d01 = c1 - c0, m01 = d01 >> 63;
            long d23 = c3 - c2, m23 = d23 >> 63;
            long lo = c0 + (d01 & m01), hi = c2 + (d23 & m23);
            int iLo = child - (int)m01, iHi = child + 2 - (int)m23;
            long d = hi - lo, m = d >> 63;
            long c = lo + (d & m);
            if (c >= k) break;
            Unsafe.Add(ref a, i) = (ulong)c;
            i = iLo + ((iHi - iLo) & (int)m);
        }
        Unsafe.Add(ref a, i) = key;
    }
}

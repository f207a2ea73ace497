using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace BpfTraceSim.Grains.Simulation;

/// <summary>
/// A binary min-heap of pending firings, one per (CPU, program). A key is (time &lt;&lt; SlotBits) |
/// slot with slot = cpu * programs + program, so keys order by time, then CPU, then program (ties
/// break the same way every run) and a comparison is one compare. Keys stay below 2^63 (see
/// <see cref="MaxTime"/>), so the difference of two keys has the sign of their order: sift-down
/// picks the smaller child without a branch (a branch there mispredicts half the time).
/// </summary>
internal sealed class FiringHeap
{
    // _a[Count] is always the sentinel: a right child larger than every key, so sift-down needs no
    // bounds test for it.
    private const ulong Sentinel = long.MaxValue;
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
        _a.AsSpan(0, Count + 1).Fill(Sentinel);
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
        a[Count] = Sentinel;
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
        _a[n] = Sentinel;
        if (n == 0) return;
        SiftDown(last, 0);
    }

    private void SiftDown(ulong key, int i)
    {
        // Count < _a.Length always (the sentinel sits at _a[Count]), so child + 1 <= Count is in the array.
        ref ulong a = ref MemoryMarshal.GetArrayDataReference(_a);
        int n = Count;
        long k = (long)key;
        while (true)
        {
            int child = 2 * i + 1;
            if (child >= n) break;
            long l = (long)Unsafe.Add(ref a, child);
            long d = (long)Unsafe.Add(ref a, child + 1) - l; // < 0: the right child is smaller
            long m = d >> 63;
            long c = l + (d & m);
            if (c >= k) break;
            Unsafe.Add(ref a, i) = (ulong)c;
            i = child - (int)m;
        }
        Unsafe.Add(ref a, i) = key;
    }
}

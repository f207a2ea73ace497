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

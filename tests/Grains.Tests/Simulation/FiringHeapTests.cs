using BpfTraceSim.Grains.Simulation;
using CsCheck;

namespace BpfTraceSim.Grains.Tests.Simulation;

/// <summary>
/// The firing heap hands out pending firings in key order (time, then slot): the order a host's
/// firings run in, so every report depends on it. Checked against a sorted set under any mix of
/// pushes, replace-tops (a slot's next firing) and pops.
/// </summary>
public class FiringHeapTests
{
    [Fact]
    public void Pops_keys_in_order_under_any_mix_of_operations()
    {
        // each op: 0 pop, 1 replace the top by a later key of its slot, 2 push a free slot
        Gen.Select(Gen.Int[1, 300], Gen.Int[0, 2].Array[1, 600], Gen.Long[0, 1000].Array[600]).Sample((slots, ops, gaps) =>
        {
            var heap = new FiringHeap(slots);
            var reference = new SortedSet<ulong>();
            var free = new Stack<int>(Enumerable.Range(0, slots).Reverse());
            long now = 0;
            for (int k = 0; k < ops.Length; k++)
            {
                Assert.Equal(reference.Count, heap.Count);
                if (reference.Count > 0) Assert.Equal(reference.Min, heap.Top);
                int op = reference.Count == 0 ? 2 : ops[k];
                if (op == 2 && free.Count == 0) op = 1;
                switch (op)
                {
                    case 0:
                    {
                        ulong top = heap.Top;
                        reference.Remove(top);
                        free.Push((int)(top & heap.SlotMask));
                        heap.Pop();
                        break;
                    }
                    case 1:
                    {
                        ulong top = heap.Top;
                        now = (long)(top >> heap.SlotBits);
                        ulong next = heap.Key(now + gaps[k], (int)(top & heap.SlotMask));
                        reference.Remove(top);
                        reference.Add(next);
                        heap.ReplaceTop(next);
                        break;
                    }
                    default:
                    {
                        ulong key = heap.Key(now + gaps[k], free.Pop());
                        reference.Add(key);
                        heap.Push(key);
                        break;
                    }
                }
            }
            while (reference.Count > 0)
            {
                Assert.Equal(reference.Min, heap.Top);
                reference.Remove(reference.Min);
                heap.Pop();
            }
            Assert.Equal(0, heap.Count);
        });
    }

    [Fact]
    public void Clear_empties_the_heap_for_a_rebuild()
    {
        var heap = new FiringHeap(64);
        for (int s = 63; s >= 0; s--) heap.Push(heap.Key(1000 - s, s));
        heap.Clear();
        Assert.Equal(0, heap.Count);
        heap.Push(heap.Key(5, 3));
        heap.Push(heap.Key(5, 1));
        Assert.Equal(heap.Key(5, 1), heap.Top);
        heap.Pop();
        Assert.Equal(heap.Key(5, 3), heap.Top);
    }
}

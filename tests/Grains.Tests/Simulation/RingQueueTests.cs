using BpfTraceSim.Grains.Simulation;
using CsCheck;

namespace BpfTraceSim.Grains.Tests.Simulation;

/// <summary>The engine's ring mirror: packed entries and queues on a shared slab.</summary>
public class RingQueueTests
{
    [Fact]
    public void Entries_give_back_what_they_were_made_of()
    {
        Gen.Select(Gen.Long[0, long.MaxValue], Gen.ULong, Gen.Int[0, 8191], Gen.Int[0, 65535]).Sample((time, start, cpu, size) =>
        {
            var e = RingEntry.Sample(time, start, cpu, size);
            Assert.Equal((time, start, cpu, size, false, -1L), (e.Time, e.Start, e.Cpu, e.Size, e.IsLost, e.Lost));
        });
        Gen.Select(Gen.Long[0, long.MaxValue], Gen.ULong, Gen.Int[0, 8191], Gen.Long[0, RingEntry.MaxLost]).Sample((time, start, cpu, lost) =>
        {
            var e = RingEntry.LostRecord(time, start, cpu, lost);
            Assert.Equal((time, start, cpu, 24, true, lost), (e.Time, e.Start, e.Cpu, e.Size, e.IsLost, e.Lost));
        });
    }

    [Fact]
    public void A_queue_on_a_slab_behaves_as_one_on_its_own_array_and_leaves_its_neighbours_alone()
    {
        // ops: >= 0 push that many entries, < 0 pop; the queue in the middle of the slab may outgrow its slice.
        Gen.Int[-3, 5].Array[1, 200].Sample(ops =>
        {
            var slab = new RingEntry[3 * 8];
            var neighbours = new[] { new RingQueue(slab, 0, 8), new RingQueue(slab, 16, 8) };
            foreach (var n in neighbours) for (int i = 0; i < 8; i++) n.Push(RingEntry.Sample(i, 0, 1, 8));
            var onSlab = new RingQueue(slab, 8, 8);
            var own = new RingQueue();
            long next = 0;
            foreach (int op in ops)
            {
                if (op >= 0)
                {
                    for (int i = 0; i < op; i++, next++)
                    {
                        var e = next % 7 == 0 ? RingEntry.LostRecord(next, (ulong)next, 2, next) : RingEntry.Sample(next, (ulong)next, 3, 16);
                        onSlab.Push(e);
                        own.Push(e);
                    }
                }
                else
                {
                    for (int i = 0; i < -op && own.Count > 0; i++) Assert.Equal(own.PopOldest(), onSlab.PopOldest());
                }
                Assert.Equal((own.Count, own.Samples), (onSlab.Count, onSlab.Samples));
                for (int i = 0; i < own.Count; i++) Assert.Equal(own.At(i), onSlab.At(i));
            }
            foreach (var n in neighbours)
                for (int i = 0; i < 8; i++) Assert.Equal(i, n.At(i).Time);
        });
    }
}

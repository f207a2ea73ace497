using BpfTraceSim.Kernel.Perf;
using BpfTraceSim.Grains.Simulation;
using CsCheck;

namespace BpfTraceSim.Grains.Tests.Simulation;

/// <summary>The engine's ring mirror: packed entries and queues on a shared slab.</summary>
public class RingQueueTests
{
    [Fact]
    public void Entries_give_back_what_they_were_made_of()
    {
        // (Where a record starts is the kernel ring's: entry i of the mirror is record i of the ring.)
        Gen.Select(Gen.Long[0, long.MaxValue], Gen.Int[0, 8191], Gen.Int[0, 65535]).Sample((time, cpu, size) =>
        {
            var e = RingEntry.Sample(time, cpu, size);
            Assert.Equal((time, cpu, size, false, -1L), (e.Time, e.Cpu, e.Size, e.IsLost, e.Lost));
        });
        Gen.Select(Gen.Long[0, long.MaxValue], Gen.Int[0, 8191], Gen.Long[0, RingEntry.MaxLost]).Sample((time, cpu, lost) =>
        {
            var e = RingEntry.LostRecord(time, cpu, lost);
            Assert.Equal((time, cpu, 24, true, lost), (e.Time, e.Cpu, e.Size, e.IsLost, e.Lost));
        });
    }

    [Fact]
    public void A_queue_on_a_slab_behaves_as_one_on_its_own_array_and_leaves_its_neighbours_alone()
    {
        // ops: >= 0 push that many entries, < 0 pop; the queue in the middle of the slab may outgrow its slice.
        var ring = new PerfRing(1, overwrite: false, capturePayload: false);
        Gen.Int[-3, 5].Array[1, 200].Sample(ops =>
        {
            var slab = new long[3 * 8];
            var neighbours = new[] { new RingQueue(ring, 1, slab, 0, 8), new RingQueue(ring, 1, slab, 16, 8) };
            foreach (var n in neighbours) for (int i = 0; i < 8; i++) n.Push(i, 1, lost: false);
            var onSlab = new RingQueue(ring, 3, slab, 8, 8);
            var own = new RingQueue(ring, 3);
            var perTask = new RingQueue(ring, -1);
            long next = 0;
            foreach (int op in ops)
            {
                if (op >= 0)
                {
                    for (int i = 0; i < op; i++, next++)
                    {
                        bool lost = next % 7 == 0;
                        onSlab.Push(next, 3, lost);
                        own.Push(next, 3, lost);
                        perTask.Push(next, (int)(next % 5), lost);
                    }
                }
                else
                {
                    for (int i = 0; i < -op && own.Count > 0; i++)
                    {
                        long t = own.TimeAt(0);
                        Assert.Equal(t, onSlab.TimeAt(0));
                        Assert.Equal(t, perTask.TimeAt(0));
                        Assert.Equal(own.PopOldest(), onSlab.PopOldest());
                        Assert.Equal((int)(t % 5), perTask.PopOldest());
                    }
                }
                Assert.Equal((own.Count, own.Samples), (onSlab.Count, onSlab.Samples));
                Assert.Equal((own.Count, own.Samples), (perTask.Count, perTask.Samples));
                for (int i = 0; i < own.Count; i++)
                {
                    Assert.Equal((own.TimeAt(i), own.IsLostAt(i)), (onSlab.TimeAt(i), onSlab.IsLostAt(i)));
                    Assert.Equal(own.TimeAt(i) % 7 == 0, own.IsLostAt(i));
                }
            }
            foreach (var n in neighbours)
                for (int i = 0; i < 8; i++) Assert.Equal(i, n.TimeAt(i));
        });
    }
}

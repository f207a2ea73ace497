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
            var slab = new uint[3 * 8];
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

    [Fact]
    public void Narrow_entries_keep_every_time_exactly_across_gaps_rebases_and_spans_too_wide_for_them()
    {
        // A per-CPU queue keeps times in 31 bits from a moving origin; a per-task queue keeps them whole.
        // Gaps up to 3 s (wider than 2^31 ns) make the origin move and, with a long-lived entry, the queue widen.
        var ring = new PerfRing(1, overwrite: false, capturePayload: false);
        var gaps = Gen.OneOf(Gen.Long[0, 1_000], Gen.Long[0, 3_000_000_000L]);
        Gen.Select(Gen.Long[0, long.MaxValue / 4], Gen.Select(gaps, Gen.Int[-4, 6]).Array[1, 300]).Sample((start, ops) =>
        {
            var slab = new uint[16];
            var narrow = new RingQueue(ring, 2, slab, 8, 8);
            var wide = new RingQueue(ring, -1);
            long t = start, k = 0;
            foreach (var (gap, op) in ops)
            {
                t += gap;
                if (op >= 0)
                    for (int i = 0; i < op; i++, k++)
                    {
                        narrow.Push(t + i, 2, lost: k % 5 == 0);
                        wide.Push(t + i, 2, lost: k % 5 == 0);
                    }
                else
                    for (int i = 0; i < -op && wide.Count > 0; i++) Assert.Equal(wide.PopOldest(), narrow.PopOldest());
                Assert.Equal((wide.Count, wide.Samples), (narrow.Count, narrow.Samples));
                for (int i = 0; i < wide.Count; i++)
                    Assert.Equal((wide.TimeAt(i), wide.IsLostAt(i)), (narrow.TimeAt(i), narrow.IsLostAt(i)));
            }
        });
    }
}

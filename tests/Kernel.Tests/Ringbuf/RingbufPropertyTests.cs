using BpfTraceSim.Kernel.Ringbuf;
using CsCheck;

namespace BpfTraceSim.Kernel.Tests.Ringbuf;

/// <summary>
/// Properties of the ring over random output / reserve / submit / discard / consume sequences,
/// against a reference that keeps the records in reservation order: a reservation succeeds iff
/// producer_pos would stay less than a whole ring ahead of consumer_pos; the consumer reads the
/// committed records in reservation order, stops at the first BUSY one, and gets every sample's
/// bytes back whole (also across the wrap); a checkpoint's export/import gives an equal ring.
/// </summary>
public class RingbufPropertyTests
{
    private static readonly HelperContext Cpu0 = new(0, SimTask.Idle, ExecContext.Task, 0);

    // op 0-3 output, 4-5 reserve, 6 submit a held one, 7 discard a held one, 8 consume one, 9 consume all, 10 export/import
    private static readonly Gen<(int Op, int Size, int Pick)[]> OpsGen =
        Gen.Select(Gen.Int[0, 10], Gen.OneOf(Gen.Int[0, 24], Gen.Int[0, 900], Gen.Int[4000, 4100]), Gen.Int[0, 1000]).Array[1, 400];

    private sealed record Rec(ulong Pos, int Size, byte Fill, long Off)
    {
        public bool Busy = true, Discarded;
    }

    [Fact]
    public void Ring_matches_a_reservation_order_reference()
    {
        Gen.Select(Gen.OneOf(Gen.Const(4096u), Gen.Const(8192u)), OpsGen).Sample(t =>
        {
            var (size, ops) = t;
            var rb = new BpfRingbuf(size);
            var refq = new List<Rec>(); // unread records, in ring order
            var held = new List<Rec>();
            ulong prod = 0, cons = 0;
            byte fill = 0;
            foreach (var (op, sz, pick) in ops)
            {
                ulong len = BpfRingbuf.RecordLength((ulong)sz);
                bool fits = len <= size && prod + len - cons <= size - 1UL;
                switch (op)
                {
                    case <= 3:
                    {
                        var data = new byte[sz];
                        data.AsSpan().Fill(++fill);
                        long ret = RingbufHelpers.RingbufOutput(in Cpu0, rb, data, 0);
                        Assert.Equal(fits ? 0 : -Errno.EAGAIN, ret);
                        if (fits) { refq.Add(new Rec(prod, sz, fill, -1) { Busy = false }); prod += len; }
                        break;
                    }
                    case <= 5:
                    {
                        long off = rb.Reserve((ulong)sz);
                        Assert.Equal(fits, off >= 0);
                        if (off < 0) break;
                        Assert.Equal((long)(prod & (size - 1UL)), off);
                        var r = new Rec(prod, sz, ++fill, off);
                        rb.Sample(off, sz).Fill(r.Fill); // the program writes its sample in place
                        refq.Add(r);
                        held.Add(r);
                        prod += len;
                        break;
                    }
                    case <= 7:
                    {
                        if (held.Count == 0) break;
                        var r = held[pick % held.Count];
                        held.Remove(r);
                        rb.Commit(r.Off, 0, discard: op == 7);
                        r.Busy = false;
                        r.Discarded = op == 7;
                        break;
                    }
                    case <= 9:
                    {
                        var got = new List<BpfRingbuf.Record>();
                        var bytes = new List<byte[]>();
                        rb.Consume(x => { got.Add(x); bytes.Add(rb.SampleOf(in x).ToArray()); }, op == 8 ? 1 : int.MaxValue);
                        int k = 0;
                        while (refq.Count > 0 && !refq[0].Busy && k < got.Count)
                        {
                            var want = refq[0];
                            Assert.Equal((want.Pos, (uint)want.Size, want.Discarded), (got[k].Pos, got[k].Size, got[k].Discarded));
                            if (!want.Discarded) Assert.All(bytes[k], b => Assert.Equal(want.Fill, b));
                            cons = want.Pos + BpfRingbuf.RecordLength((ulong)want.Size);
                            refq.RemoveAt(0);
                            k++;
                        }
                        Assert.Equal(got.Count, k); // nothing read past a BUSY record
                        break;
                    }
                    default:
                    {
                        if (held.Count != 0) break; // a checkpoint is taken with no reservation held
                        var (c, p, pend, w, live) = rb.ExportState();
                        var copy = new BpfRingbuf(size);
                        copy.ImportState(c, p, pend, w, live);
                        Assert.Equal(rb.ExportState().Live, copy.ExportState().Live);
                        rb = copy;
                        break;
                    }
                }
                Assert.Equal(prod, rb.ProducerPos);
                Assert.Equal(cons, rb.ConsumerPos);
                Assert.Equal(prod - cons, rb.AvailData);
                Assert.True(rb.AvailData < size);
            }
        }, iter: 300);
    }
}

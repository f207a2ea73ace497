using BpfTraceSim.Kernel;
using BpfTraceSim.Kernel.Perf;
using CsCheck;
using static BpfTraceSim.Kernel.Perf.PerfConstants;
using static BpfTraceSim.Kernel.Tests.Perf.PerfFixture;

namespace BpfTraceSim.Kernel.Tests.Perf;

/// <summary>Properties of the ring over random write/consume sequences.</summary>
public class PerfRingPropertyTests
{
    private static readonly Gen<int> PayloadGen = Gen.OneOf(Gen.Int[0, 200], Gen.Int[0, 5000], Gen.Int[65500, 70000]);

    // op 0-5 write payload, 6-7 consume one record, 8 consume all, 9 acknowledge the wake-up
    private static readonly Gen<(int Op, int Payload)[]> OpsGen = Gen.Select(Gen.Int[0, 9], PayloadGen).Array[1, 300];

    private static readonly Gen<(int Pages, bool Overwrite, ulong SampleType, uint WakeupEvents, uint Watermark)> ConfigGen =
        Gen.Select(Gen.OneOf(new[] { 0, 1, 2, 16 }), Gen.Bool, Gen.Int[0, 511], Gen.OneOf(new[] { 0u, 1u, 3u }), Gen.OneOf(new[] { 0u, 100u, 5000u }))
            .Select(t => (t.Item1, t.Item2, SampleBits(t.Item3), t.Item4, t.Item5));

    private static ulong SampleBits(int pick)
    {
        ulong[] bits = [PERF_SAMPLE_IP, PERF_SAMPLE_TID, PERF_SAMPLE_TIME, PERF_SAMPLE_ADDR, PERF_SAMPLE_ID,
            PERF_SAMPLE_CPU, PERF_SAMPLE_PERIOD, PERF_SAMPLE_STREAM_ID, PERF_SAMPLE_RAW];
        ulong st = 0;
        for (int i = 0; i < bits.Length; i++) if ((pick & (1 << i)) != 0) st |= bits[i];
        return st;
    }

    [Fact]
    public void CaptureAndAccountingModes_AgreeOnReturnsHeadTailLostAndRecords()
    {
        Gen.Select(ConfigGen, OpsGen).Sample(t =>
        {
            var (cfg, ops) = t;
            var cap = Output(0, pages: cfg.Pages, sampleType: cfg.SampleType, overwrite: cfg.Overwrite, capture: true,
                wakeupEvents: cfg.WakeupEvents, watermark: cfg.Watermark);
            var acc = Output(0, pages: cfg.Pages, sampleType: cfg.SampleType, overwrite: cfg.Overwrite, capture: false,
                wakeupEvents: cfg.WakeupEvents, watermark: cfg.Watermark);
            var capMap = Map(1, cap);
            var accMap = Map(1, acc);
            var ctx = Ctx(0, App, now: 42);
            foreach (var (op, payload) in ops)
            {
                switch (op)
                {
                    case <= 5:
                        Assert.Equal(Out(ctx, capMap, 0, payload), Out(ctx, accMap, 0, payload));
                        break;
                    case <= 7:
                        Assert.Equal(cap.Ring!.ConsumeRecord(), acc.Ring!.ConsumeRecord());
                        break;
                    case 8:
                        cap.Ring!.ConsumeAll();
                        acc.Ring!.ConsumeAll();
                        break;
                    default:
                        cap.Ring!.AcknowledgeWakeup();
                        acc.Ring!.AcknowledgeWakeup();
                        break;
                }
                var a = cap.Ring!;
                var b = acc.Ring!;
                Assert.Equal((a.DataHead, a.DataTail, a.LostTotal, a.LostPending, a.Wakeups, a.WakeupPending, a.Used, a.HighWaterBytes),
                    (b.DataHead, b.DataTail, b.LostTotal, b.LostPending, b.Wakeups, b.WakeupPending, b.Used, b.HighWaterBytes));
                var ra = a.GetRecords();
                var rb = b.GetRecords();
                Assert.Equal(ra.Length, rb.Length);
                for (int i = 0; i < ra.Length; i++)
                    Assert.Equal((ra[i].Start, ra[i].Size, ra[i].IsLost, ra[i].Lost), (rb[i].Start, rb[i].Size, rb[i].IsLost, rb[i].Lost));
            }
        }, iter: 300);
    }

    [Fact]
    public void ReservingRecords_ChangesNothingTheRingDoes()
    {
        Gen.Select(ConfigGen, OpsGen, Gen.Int[0, 300], Gen.Int[1, 600]).Sample(t =>
        {
            var (cfg, ops, at, reserve) = t;
            var plain = Output(0, pages: cfg.Pages, sampleType: cfg.SampleType, overwrite: cfg.Overwrite, capture: false,
                wakeupEvents: cfg.WakeupEvents, watermark: cfg.Watermark);
            var sized = Output(0, pages: cfg.Pages, sampleType: cfg.SampleType, overwrite: cfg.Overwrite, capture: false,
                wakeupEvents: cfg.WakeupEvents, watermark: cfg.Watermark);
            var plainMap = Map(1, plain);
            var sizedMap = Map(1, sized);
            var ctx = Ctx(0, App, now: 42);
            for (int k = 0; k < ops.Length; k++)
            {
                if (k == at % ops.Length) sized.Ring!.ReserveRecords(reserve); // mid-run: records already queued move over
                var (op, payload) = ops[k];
                switch (op)
                {
                    case <= 6:
                        Assert.Equal(Out(ctx, plainMap, 0, payload), Out(ctx, sizedMap, 0, payload));
                        break;
                    case <= 8:
                        Assert.Equal(plain.Ring!.ConsumeRecord(), sized.Ring!.ConsumeRecord());
                        break;
                    default:
                        plain.Ring!.ConsumeAll();
                        sized.Ring!.ConsumeAll();
                        break;
                }
                var a = plain.Ring!;
                var b = sized.Ring!;
                Assert.Equal((a.DataHead, a.DataTail, a.LostTotal, a.RecordCount), (b.DataHead, b.DataTail, b.LostTotal, b.RecordCount));
                var ra = a.GetRecords();
                var rb = b.GetRecords();
                for (int i = 0; i < ra.Length; i++)
                    Assert.Equal((ra[i].Start, ra[i].Size, ra[i].IsLost, ra[i].Lost), (rb[i].Start, rb[i].Size, rb[i].IsLost, rb[i].Lost));
            }
        }, iter: 200);
    }

    [Fact]
    public void LostRecords_CarryTheCountTheKernelWrote_AndSurviveTheStateRoundTrip()
    {
        // Small rings and large payloads: runs of failures, each reported by one PERF_RECORD_LOST
        // whose count (the u64 after the header and the id) is what the record queue hands back.
        var ops = Gen.Select(Gen.Int[0, 9], Gen.Int[0, 3000]).Array[1, 400];
        Gen.Select(Gen.OneOf(new[] { 1, 2 }), Gen.Bool, ops).Sample(t =>
        {
            var (pages, overwrite, list) = t;
            var e = Output(0, pages: pages, overwrite: overwrite, capture: true);
            var map = Map(1, e);
            var ring = e.Ring!;
            foreach (var (op, payload) in list)
            {
                if (op == 0) ring.ConsumeRecord();
                else if (op == 1) ring.ConsumeAll();
                else Out(Ctx(0), map, 0, payload);
                var recs = ring.GetRecords();
                Assert.Equal(recs.Length, ring.RecordCount);
                for (int i = 0; i < recs.Length; i++)
                {
                    Assert.Equal(recs[i].Size, ring.RecordSizeAt(i));
                    if (!recs[i].IsLost)
                    {
                        Assert.Equal(-1, ring.RecordLostAt(i));
                        continue;
                    }
                    var bytes = ring.ReadRecordBytes(recs[i]);
                    ulong written = BitConverter.ToUInt64(bytes, 16);
                    Assert.Equal(written, recs[i].Lost);
                    Assert.Equal((long)written, ring.RecordLostAt(i));
                }
                var copy = PerfRing.FromState(ring.ExportState());
                Assert.Equal(ring.ExportState().Records, copy.ExportState().Records);
                var again = copy.GetRecords();
                for (int i = 0; i < recs.Length; i++)
                    Assert.Equal((recs[i].Start, recs[i].Size, recs[i].IsLost, recs[i].Lost), (again[i].Start, again[i].Size, again[i].IsLost, again[i].Lost));
            }
        }, iter: 200);
    }

    [Fact]
    public void NonOverwriteRing_MatchesASizeOnlyModel()
    {
        // The model follows docs/kernel-semantics.md §2: usable = size - 1 - (head - tail); a pending loss
        // adds a 24-byte LOST record to the next reservation; failures count lost.
        var payloads = Gen.Int[0, 3000];
        Gen.Select(Gen.OneOf(new[] { 1, 2, 4 }), Gen.Select(Gen.Int[0, 4], payloads).Array[1, 200]).Sample(t =>
        {
            var (pages, ops) = t;
            var e = Output(0, pages: pages, capture: false);
            var map = Map(1, e);
            ulong size = (ulong)pages * 4096, head = 0, tail = 0, pending = 0, total = 0;
            foreach (var (op, payload) in ops)
            {
                if (op == 0)
                {
                    e.Ring!.ConsumeAll();
                    tail = head;
                    continue;
                }
                ulong need = (ulong)RawRecordSize(payload) + (pending > 0 ? 24UL : 0UL);
                long expected = size - 1 - (head - tail) >= need ? 0 : -Errno.ENOSPC;
                if (expected == 0) { head += need; pending = 0; }
                else { pending++; total++; }
                Assert.Equal(expected, Out(Ctx(0), map, 0, payload));
                Assert.Equal((head, total, pending), (e.Ring!.DataHead, e.Ring.LostTotal, e.Ring.LostPending));
            }
        }, iter: 300);
    }

    [Fact]
    public void RecordQueue_MatchesAListModel_ThroughRunsOfOneSizeLostRecordsAndConsumption()
    {
        // Few sizes, so long runs of one size (kept without an array) alternate with other sizes and
        // LOST records (a one-page ring fills): every record's size, LOST flag and count, in order,
        // as a plain list has them, in overwrite mode too, and after the state round trip.
        var payloads = Gen.OneOf(Gen.Const(8), Gen.Const(8), Gen.Const(8), Gen.Const(120), Gen.Int[0, 600]);
        // op 0-6 write, 7 consume one record, 8 consume all, 9 a state round trip
        Gen.Select(Gen.Bool, Gen.Int[0, 300], Gen.Select(Gen.Int[0, 9], payloads).Array[1, 400]).Sample(t =>
        {
            var (overwrite, reserve, ops) = t;
            var e = Output(0, pages: 1, capture: false, overwrite: overwrite);
            var map = Map(1, e);
            var ring = e.Ring!;
            if (reserve > 0) ring.ReserveRecords(reserve);
            var model = new List<(int Size, bool Lost, ulong Count)>();
            ulong pending = 0;
            foreach (var (op, payload) in ops)
            {
                if (op <= 6)
                {
                    if (Out(Ctx(0), map, 0, payload) == 0)
                    {
                        if (pending > 0) model.Add((LostRecordSize, true, pending));
                        pending = 0;
                        model.Add((RawRecordSize(payload), false, 0));
                        if (overwrite)
                        {
                            // only the records wholly inside the last 4096 bytes stay
                            long bytes = 0;
                            foreach (var r in model) bytes += r.Size;
                            while (bytes > 4096) { bytes -= model[0].Size; model.RemoveAt(0); }
                        }
                    }
                    else pending++;
                }
                else if (op == 7) { if (ring.ConsumeRecord()) model.RemoveAt(0); }
                else if (op == 8) { ring.ConsumeAll(); model.Clear(); }
                else ring = PerfRing.FromState(ring.ExportState());
                Assert.Equal(model.Count, ring.RecordCount);
                var records = ring.GetRecords();
                for (int i = 0; i < model.Count; i++)
                {
                    Assert.Equal(model[i], (records[i].Size, records[i].IsLost, records[i].Lost));
                    Assert.Equal(model[i].Size, ring.RecordSizeAt(i));
                    Assert.Equal(model[i].Lost ? (long)model[i].Count : -1, ring.RecordLostAt(i));
                }
                if (op == 9) break; // the event still writes into its own ring, not the restored copy
            }
        }, iter: 500);
    }
}

using BpfTraceSim.Grains.Simulation;

namespace BpfTraceSim.Grains.Checkpoints;

/// <summary>A host grain's checkpoint: the engine's own bytes plus the running totals the grain keeps beside it.</summary>
public sealed record HostCheckpoint(byte[] Engine, SimCounters[] CpuTotals, SimCounters Totals);

/// <summary>Binary form of <see cref="HostCheckpoint"/> (little-endian, versioned by a magic number).</summary>
public static class HostCheckpointCodec
{
    private const uint Magic = 0x3148_4b43; // "CKH1"

    public static byte[] Encode(HostCheckpoint c)
    {
        using var ms = new MemoryStream(c.Engine.Length + 256 + c.CpuTotals.Length * 160);
        using (var w = new BinaryWriter(ms))
        {
            w.Write(Magic);
            w.Write(c.Engine.Length);
            w.Write(c.Engine);
            w.Write(c.CpuTotals.Length);
            foreach (var t in c.CpuTotals) Write(w, t);
            Write(w, c.Totals);
        }
        return ms.ToArray();
    }

    public static HostCheckpoint Decode(byte[] data)
    {
        using var r = new BinaryReader(new MemoryStream(data, writable: false));
        try
        {
            if (r.ReadUInt32() != Magic) throw new CheckpointMismatchException("not a host grain checkpoint");
            var engine = r.ReadBytes(r.ReadInt32());
            var cpus = new SimCounters[r.ReadInt32()];
            for (int i = 0; i < cpus.Length; i++) cpus[i] = Read(r);
            var totals = Read(r);
            if (r.BaseStream.Position != r.BaseStream.Length) throw new CheckpointMismatchException("trailing bytes in a host grain checkpoint");
            return new HostCheckpoint(engine, cpus, totals);
        }
        catch (EndOfStreamException)
        {
            throw new CheckpointMismatchException("the host grain checkpoint is truncated");
        }
    }

    private static void Write(BinaryWriter w, SimCounters c)
    {
        w.Write(c.Firings);
        var helpers = c.Helpers.Entries;
        w.Write(helpers.Count);
        foreach (var h in helpers)
        {
            w.Write(h.Helper);
            w.Write(h.Ret);
            w.Write(h.Count);
        }
        w.Write(c.Attempts);
        w.Write(c.RecordsWritten);
        w.Write(c.BytesWritten);
        w.Write(c.Lost);
        w.Write(c.LostReported);
        w.Write(c.RecordsConsumed);
        w.Write(c.RecordsInRing);
        w.Write(c.RecordsOverwritten);
        w.Write(c.RecordsInvisible);
        w.Write(c.RingFillMaxBytes);
        w.Write(c.Wakeups);
        var lag = c.ConsumerLag;
        w.Write(lag.FirstBucket);
        w.Write(lag.Counts.Length);
        foreach (long n in lag.Counts) w.Write(n);
        w.Write(lag.Min);
        w.Write(lag.Max);
    }

    private static SimCounters Read(BinaryReader r)
    {
        long firings = r.ReadInt64();
        var helpers = new HelperReturnCount[r.ReadInt32()];
        for (int i = 0; i < helpers.Length; i++) helpers[i] = new HelperReturnCount(r.ReadString(), r.ReadInt64(), r.ReadInt64());
        var c = new SimCounters
        {
            Firings = firings,
            Helpers = HelperReturns.From(helpers),
            Attempts = r.ReadInt64(),
            RecordsWritten = r.ReadInt64(),
            BytesWritten = r.ReadInt64(),
            Lost = r.ReadInt64(),
            LostReported = r.ReadInt64(),
            RecordsConsumed = r.ReadInt64(),
            RecordsInRing = r.ReadInt64(),
            RecordsOverwritten = r.ReadInt64(),
            RecordsInvisible = r.ReadInt64(),
            RingFillMaxBytes = r.ReadInt64(),
            Wakeups = r.ReadInt64(),
        };
        int first = r.ReadInt32();
        var counts = new long[r.ReadInt32()];
        for (int i = 0; i < counts.Length; i++) counts[i] = r.ReadInt64();
        long min = r.ReadInt64(), max = r.ReadInt64();
        return c with { ConsumerLag = LagHistogram.FromParts(first, counts, min, max) };
    }
}

using System.Runtime.CompilerServices;
using BpfTraceSim.Bpf.Vm;
using BpfTraceSim.Contracts.Scenarios;
using BpfTraceSim.Kernel.Perf;

namespace BpfTraceSim.Grains.Simulation;

/// <summary>A checkpoint does not belong to this scenario/host, or is damaged.</summary>
public sealed class CheckpointMismatchException(string message) : Exception(message);

public sealed partial class HostSimulation
{
    private const ulong CheckpointMagic = 0x3230_4b43_4d49_5342UL; // "BSIMCK02"
    private static readonly ConditionalWeakTable<Scenario, string> Digests = new();

    private static string DigestOf(Scenario s) => Digests.GetValue(s, ScenarioDigest.Compute);

    /// <summary>
    /// The whole state at the current window boundary: random streams, firing processes, rings
    /// (head, tail, lost, wake-up marks, queued records, payload in capture mode), event counters,
    /// slots, tasks, CPUs, readers, the timeline position, the host's running totals (and each CPU's,
    /// when kept) and the maps of object programs (their values and globals are state like a ring's
    /// contents: bpf_map_lookup_elem must find what an earlier window stored), and each ring buffer
    /// (its positions and unread bytes, its reader, its lock and its queued records). The pending firings are not stored:
    /// they are a function of the firing processes and are rebuilt in the same order. Trace rings
    /// are not stored (they are drained at every window end; only an overflow inside one window
    /// could tell a restored host apart, and only in its trace lines).
    /// </summary>
    public byte[] Checkpoint()
    {
        using var ms = new MemoryStream();
        using (var w = new BinaryWriter(ms))
        {
            w.Write(CheckpointMagic);
            w.Write(DigestOf(Scenario));
            w.Write(GroupIndex);
            w.Write(HostIndex);
            w.Write(CaptureRecords);
            w.Write(NextWindow);
            w.Write(_timelineNext);
            w.Write(_nextMigrate);

            w.Write(_taskCpu.Length);
            foreach (int c in _taskCpu) w.Write(c);
            w.Write(_cpus);
            for (int c = 0; c < _cpus; c++)
            {
                w.Write(_rr[c]);
                w.Write(_online[c]);
                w.Write(_cw[c].InRing);
            }

            w.Write(_allInstances.Count);
            foreach (var inst in _allInstances) WriteInstance(w, inst);

            var index = new Dictionary<EventInstance, int>(ReferenceEqualityComparer.Instance);
            for (int i = 0; i < _allInstances.Count; i++) index[_allInstances[i]] = i;
            w.Write(_slotInst.Length);
            foreach (var slots in _slotInst)
            {
                w.Write(slots.Length);
                foreach (var s in slots) w.Write(s is null ? -1 : index[s]);
            }

            w.Write(_fire.Length);
            foreach (ref readonly var fs in _fire.AsSpan()) WriteFiring(w, in fs);

            w.Write(_readers.Length);
            foreach (var r in _readers)
            {
                WriteRng(w, r.Rng);
                w.Write((byte)r.State);
                w.Write(r.NextTime);
                w.Write(r.CurRing);
                w.Write(r.ScanPos);
                w.Write(r.BatchCount);
                w.Write(r.BatchPos);
                w.Write(r.WakeAfterStall);
                w.Write(r.DrainAll);
                WriteBits(w, r.NonEmptyBits);
                WriteBits(w, r.SignaledBits);
                WriteBits(w, r.BatchBits);
            }

            WriteCounters(w, Totals());
            SimCounters[] cpuTotals = _ct is null ? [] : CpuTotals();
            w.Write(cpuTotals.Length);
            foreach (var t in cpuTotals) WriteCounters(w, t);

            w.Write(_bpfInstances.Length);
            foreach (var inst in _bpfInstances)
            {
                var maps = inst.ExportState();
                w.Write(maps.Length);
                foreach (var m in maps) WriteMap(w, m);
            }
            if (_rbs.Length != 0) WriteRingbufs(w); // absent for hosts without rings: their checkpoints are unchanged
            // The agent's view of losses (report.json lost_views), once there is one: a host that has
            // lost nothing keeps the checkpoint it had before these counters existed.
            if (_lostCallbacks != 0 || _firstLossNs >= 0)
            {
                w.Write(_lostCallbacks);
                w.Write(_firstLossNs);
                w.Write(_firstLossCpu);
                w.Write(_firstLossReader);
            }
        }
        return ms.ToArray();
    }

    /// <summary>
    /// A host continued from a checkpoint taken by <see cref="Checkpoint"/> of the same scenario
    /// and host: running on from it gives bit-identical windows. captureRecords must be what the
    /// checkpointed host had (ring payloads are only kept in capture mode).
    /// </summary>
    public static HostSimulation Restore(Scenario scenario, int groupIndex, int hostIndex, byte[] checkpoint,
        bool captureRecords = false, bool captureTrace = false, bool perCpuWindows = true, bool perCpuTotals = true)
    {
        var sim = new HostSimulation(scenario, groupIndex, hostIndex, captureRecords, captureTrace, perCpuWindows, perCpuTotals);
        try
        {
            sim.Load(checkpoint);
        }
        catch (EndOfStreamException)
        {
            throw new CheckpointMismatchException($"{sim.HostName}: the checkpoint is truncated");
        }
        return sim;
    }

    private void Load(byte[] checkpoint)
    {
        using var r = new BinaryReader(new MemoryStream(checkpoint, writable: false));
        if (r.ReadUInt64() != CheckpointMagic) throw new CheckpointMismatchException("not a host checkpoint");
        string digest = r.ReadString();
        if (digest != DigestOf(Scenario)) throw new CheckpointMismatchException($"{HostName}: the checkpoint is of another scenario");
        int g = r.ReadInt32(), h = r.ReadInt32();
        if (g != GroupIndex || h != HostIndex)
            throw new CheckpointMismatchException($"{HostName}: the checkpoint is of host {Scenario.Fleet[g].HostName(h)}");
        if (r.ReadBoolean() != CaptureRecords)
            throw new CheckpointMismatchException($"{HostName}: captureRecords differs from the checkpointed host's");
        NextWindow = r.ReadInt64();
        _timelineNext = r.ReadInt32();
        _nextMigrate = r.ReadInt64();

        Expect(r.ReadInt32(), _taskCpu.Length, "tasks");
        for (int t = 0; t < _taskCpu.Length; t++) _taskCpu[t] = r.ReadInt32();
        RebuildCpuTasks();
        Expect(r.ReadInt32(), _cpus, "CPUs");
        _onlineCount = 0;
        for (int c = 0; c < _cpus; c++)
        {
            _rr[c] = r.ReadInt32();
            _online[c] = r.ReadBoolean();
            _cw[c].InRing = r.ReadInt64();
            if (_online[c]) _onlineCount++;
        }

        Expect(r.ReadInt32(), _allInstances.Count, "event instances");
        foreach (var inst in _allInstances) ReadInstance(r, inst);

        Expect(r.ReadInt32(), _slotInst.Length, "maps");
        for (int m = 0; m < _slotInst.Length; m++)
        {
            var slots = _slotInst[m];
            Expect(r.ReadInt32(), slots.Length, "slots");
            for (int i = 0; i < slots.Length; i++)
            {
                int k = r.ReadInt32();
                slots[i] = k < 0 ? null : _allInstances[k];
                _maps[m].SetSlot((uint)i, slots[i]?.Event);
            }
        }

        Expect(r.ReadInt32(), _fire.Length, "firing processes");
        for (int i = 0; i < _fire.Length; i++) ReadFiring(r, ref _fire[i]);
        RebuildHeap();

        Expect(r.ReadInt32(), _readers.Length, "consumers");
        foreach (var rd in _readers)
        {
            rd.Rng = ReadRng(r);
            rd.State = (Reader.ReaderState)r.ReadByte();
            rd.NextTime = r.ReadInt64();
            rd.CurRing = r.ReadInt32();
            rd.ScanPos = r.ReadInt32();
            rd.BatchCount = r.ReadInt32();
            rd.BatchPos = r.ReadInt32();
            rd.WakeAfterStall = r.ReadBoolean();
            rd.DrainAll = r.ReadBoolean();
            ReadBits(r, rd.NonEmptyBits);
            ReadBits(r, rd.SignaledBits);
            ReadBits(r, rd.BatchBits);
        }

        RestoreTotals(ReadCounters(r));
        var cpuTotals = new SimCounters[r.ReadInt32()];
        for (int c = 0; c < cpuTotals.Length; c++) cpuTotals[c] = ReadCounters(r);
        // A checkpoint of a host that kept no per-CPU totals cannot give them to one that does.
        if (_ct is not null)
        {
            Expect(cpuTotals.Length, _cpus, "CPU totals");
            RestoreCpuTotals(cpuTotals);
        }

        Expect(r.ReadInt32(), _bpfInstances.Length, "BPF objects");
        foreach (var inst in _bpfInstances)
        {
            var maps = new BpfMapState[r.ReadInt32()];
            for (int m = 0; m < maps.Length; m++) maps[m] = ReadMap(r);
            try
            {
                inst.ImportState(maps);
            }
            catch (ArgumentException e)
            {
                throw new CheckpointMismatchException($"{HostName}: {e.Message}");
            }
        }
        if (_rbs.Length != 0) ReadRingbufs(r);
        if (r.BaseStream.Position != r.BaseStream.Length)
        {
            _lostCallbacks = r.ReadInt64();
            _firstLossNs = r.ReadInt64();
            _firstLossCpu = r.ReadInt32();
            _firstLossReader = r.ReadString();
        }
        if (r.BaseStream.Position != r.BaseStream.Length) throw new CheckpointMismatchException($"{HostName}: trailing bytes in the checkpoint");
    }

    private void Expect(int got, int want, string what)
    {
        if (got != want) throw new CheckpointMismatchException($"{HostName}: the checkpoint has {got} {what}, the scenario {want}");
    }

    private static void WriteInstance(BinaryWriter w, EventInstance inst)
    {
        var ev = inst.Event;
        w.Write(inst.UserEnabled);
        w.Write(inst.LastAdvanceNs);
        w.Write(ev.Enabled);
        w.Write(ev.Count);
        w.Write(ev.TimeEnabled);
        w.Write(ev.TimeRunning);
        w.Write(inst.Attempts);
        w.Write(inst.Written);
        w.Write(inst.Lost);
        w.Write(inst.Consumed);
        w.Write(inst.Overwritten);
        w.Write(inst.Invisible);
        w.Write(inst.Unread);
        var ring = ev.Ring;
        w.Write(ring is not null);
        if (ring is not null)
        {
            var s = ring.ExportState();
            w.Write(s.DataHead);
            w.Write(s.DataTail);
            w.Write(s.LostPending);
            w.Write(s.LostTotal);
            w.Write(s.WakeupPosition);
            w.Write(s.EventsSinceWakeup);
            w.Write(s.Wakeups);
            w.Write(s.WakeupPending);
            w.Write(s.HighWaterBytes);
            w.Write(s.RecordsStart);
            w.Write(s.Records.Length);
            foreach (ulong e in s.Records) w.Write(e);
            w.Write(s.Data is not null);
            if (s.Data is not null)
            {
                w.Write(s.Data.Length);
                w.Write(s.Data);
            }
        }
        var q = inst.Queue;
        w.Write(q?.Count ?? 0);
        if (q is not null)
        {
            for (int i = 0; i < q.Count; i++)
            {
                var e = q.At(i);
                w.Write(e.Time);
                w.Write(0UL); // was the start position: the ring knows it
                w.Write(e.Lost);
                w.Write(e.Cpu);
                w.Write(e.Size);
            }
        }
    }

    private void ReadInstance(BinaryReader r, EventInstance inst)
    {
        var old = inst.Event;
        inst.UserEnabled = r.ReadBoolean();
        inst.LastAdvanceNs = r.ReadInt64();
        bool enabled = r.ReadBoolean();
        ulong count = r.ReadUInt64(), te = r.ReadUInt64(), tr = r.ReadUInt64();
        inst.Attempts = r.ReadInt64();
        inst.Written = r.ReadInt64();
        inst.Lost = r.ReadInt64();
        inst.Consumed = r.ReadInt64();
        inst.Overwritten = r.ReadInt64();
        inst.Invisible = r.ReadInt64();
        inst.Unread = r.ReadInt64();
        PerfRingState? ringState = null;
        if (r.ReadBoolean())
        {
            var shape = old.Ring ?? throw new CheckpointMismatchException($"{HostName}: event {inst.Plan.Spec.Name} has a ring in the checkpoint only");
            ulong head = r.ReadUInt64(), tail = r.ReadUInt64(), lostPending = r.ReadUInt64(), lostTotal = r.ReadUInt64();
            ulong wakeupPos = r.ReadUInt64();
            uint events = r.ReadUInt32();
            ulong wakeups = r.ReadUInt64();
            bool pending = r.ReadBoolean();
            ulong high = r.ReadUInt64(), recStart = r.ReadUInt64();
            var recs = new ulong[r.ReadInt32()];
            for (int i = 0; i < recs.Length; i++) recs[i] = r.ReadUInt64();
            byte[]? data = null;
            if (r.ReadBoolean()) data = r.ReadBytes(r.ReadInt32());
            ringState = new PerfRingState(shape.DataPages, shape.Overwrite, shape.CapturePayload, shape.SampleType,
                shape.WakeupEvents, shape.WatermarkAttr, head, tail, lostPending, lostTotal, wakeupPos, events, wakeups,
                pending, high, recStart, recs, data);
        }
        var restored = PerfEvent.FromState(new PerfEventState(old.Id, old.Attr, old.Cpu, old.Pid, enabled, count, te, tr, ringState));
        inst.ReplaceEvent(restored);
        int n = r.ReadInt32();
        var q = inst.Queue;
        q?.Clear();
        for (int i = 0; i < n; i++)
        {
            long time = r.ReadInt64();
            r.ReadUInt64(); // the start position of older checkpoints
            long lost = r.ReadInt64();
            int cpu = r.ReadInt32(), size = r.ReadInt32();
            // The restored kernel ring holds the sizes and lost counts; the mirror keeps time and CPU.
            (q ?? throw new CheckpointMismatchException($"{HostName}: records for a ring-less event")).Push(time, cpu, lost >= 0);
        }
    }

    private static void WriteCounters(BinaryWriter w, SimCounters c)
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

    private static SimCounters ReadCounters(BinaryReader r)
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

    private static void WriteMap(BinaryWriter w, BpfMapState m)
    {
        w.Write(m.Values.Length);
        w.Write(m.Values);
        w.Write(m.Entries.Length);
        foreach (var (key, slot) in m.Entries)
        {
            w.Write(key.Length);
            w.Write(key);
            w.Write(slot);
        }
        w.Write(m.Free.Length);
        foreach (int f in m.Free) w.Write(f);
    }

    private static BpfMapState ReadMap(BinaryReader r)
    {
        var values = r.ReadBytes(r.ReadInt32());
        var entries = new KeyValuePair<byte[], int>[r.ReadInt32()];
        for (int i = 0; i < entries.Length; i++)
        {
            var key = r.ReadBytes(r.ReadInt32());
            entries[i] = new(key, r.ReadInt32());
        }
        var free = new int[r.ReadInt32()];
        for (int i = 0; i < free.Length; i++) free[i] = r.ReadInt32();
        return new BpfMapState(values, entries, free);
    }

    private static void WriteFiring(BinaryWriter w, in FiringState fs)
    {
        w.Write(fs.NextNs);
        w.Write(fs.Counter);
        w.Write(fs.Rate);
        w.Write(fs.Clock);
        w.Write(fs.SegStart);
        w.Write(fs.K);
        w.Write(fs.Step);
        w.Write(fs.BurstLeft);
        w.Write(fs.BurstIndex);
        w.Write(fs.Attached);
        WriteRng(w, fs.FireRng);
        WriteRng(w, fs.BodyRng);
    }

    private static void ReadFiring(BinaryReader r, ref FiringState fs)
    {
        fs.NextNs = r.ReadInt64();
        fs.Counter = r.ReadInt64();
        fs.Rate = r.ReadDouble();
        fs.GapNs = fs.Rate > 0 ? 1e9 / fs.Rate : 0;
        fs.Clock = r.ReadDouble();
        fs.SegStart = r.ReadInt64();
        fs.K = r.ReadInt64();
        fs.Step = r.ReadInt32();
        fs.BurstLeft = r.ReadInt32();
        fs.BurstIndex = r.ReadInt64();
        fs.Attached = r.ReadBoolean();
        fs.FireRng = ReadRng(r);
        fs.BodyRng = ReadRng(r);
    }

    private static void WriteRng(BinaryWriter w, in Xoshiro256 x)
    {
        w.Write(x.S0);
        w.Write(x.S1);
        w.Write(x.S2);
        w.Write(x.S3);
    }

    private static Xoshiro256 ReadRng(BinaryReader r) =>
        new() { S0 = r.ReadUInt64(), S1 = r.ReadUInt64(), S2 = r.ReadUInt64(), S3 = r.ReadUInt64() };

    private static void WriteBits(BinaryWriter w, ulong[] bits)
    {
        w.Write(bits.Length);
        foreach (ulong b in bits) w.Write(b);
    }

    private void ReadBits(BinaryReader r, ulong[] bits)
    {
        Expect(r.ReadInt32(), bits.Length, "ring bitmap words");
        for (int i = 0; i < bits.Length; i++) bits[i] = r.ReadUInt64();
    }
}

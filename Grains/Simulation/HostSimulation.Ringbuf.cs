using BpfTraceSim.Contracts.Scenarios;
using BpfTraceSim.Kernel;
using BpfTraceSim.Kernel.Ringbuf;

namespace BpfTraceSim.Grains.Simulation;

/// <summary>
/// Ring buffers in a scenario host (docs/scenarios.md, "Ring buffers"): one BpfRingbuf per ringbuf
/// map, shared by all of the host's CPU models, written by ringbuf_output body steps through the
/// CPU's model, and read by a libbpf ring_buffer__poll reader. The reader is advanced lazily: its
/// behaviour depends only on the ring, which changes only when a producer writes, so it is brought
/// up to time t before each write at t and at the end of each window (exact, and no entry in the
/// event loop's reader list).
/// </summary>
public sealed partial class HostSimulation
{
    private RingbufSim[] _rbs = [];

    private void SetUpRingbufs()
    {
        var plans = _plan.Ringbufs;
        _rbs = new RingbufSim[plans.Length];
        var rings = new BpfRingbuf[plans.Length];
        ulong address = BpfRingbuf.VmallocBase;
        for (int i = 0; i < plans.Length; i++)
        {
            // Each ring at its own vmalloc address (as exec's HostRingbufs places them): a sample pointer names one ring.
            var ring = new BpfRingbuf((uint)plans[i].Spec.MaxEntriesFor(_cpus), null, address);
            address = ring.DataAddress + 2UL * ring.Size + BpfFlags.PAGE_SIZE;
            var c = plans[i].Consumer;
            var rng = c is null ? default : Xoshiro256.FromSeed(StreamSeeds.Consumer(Scenario.Seed, HostName, c.Name));
            _rbs[i] = new RingbufSim(plans[i], ring, rng);
            rings[i] = ring;
        }
        foreach (var m in _models) m.Ringbufs = rings;
    }

    /// <summary>bpf_ringbuf_output from a body, through the CPU's model, with the engine's accounting.</summary>
    private long RingbufOutput(in HelperContext ctx, CallPlan call, ref FiringState fs, long t)
    {
        int size = SizeOf(call, ref fs);
        return RingbufWrite(in ctx, call.Map, call.Flags, PatternBytes.Of(size), t);
    }

    /// <summary>bpf_ringbuf_output of data into ring r (bodies and object programs), counted.</summary>
    private long RingbufWrite(in HelperContext ctx, int r, ulong flags, ReadOnlySpan<byte> data, long t)
    {
        var sim = _rbs[r];
        var ring = sim.Ring;
        // The helper reserves under the ring's lock, after its flags and size checks: the record is
        // made, and committed, when the lock lets go; the reader is brought up to then, so the
        // adaptive wake-up sees the consumer_pos of that moment.
        long commit = (flags & ~(BpfFlags.BPF_RB_NO_WAKEUP | BpfFlags.BPF_RB_FORCE_WAKEUP)) == 0 && TakesLock(ring, (ulong)data.Length)
            ? sim.Lock(t, ctx.Cpu) : t;
        sim.Advance(Math.Min(commit, WindowEndNs), this);
        long wakeups = ring.Wakeups;
        ulong prod = ring.ProducerPos;
        long ret = _models[ctx.Cpu].RingbufOutput(in ctx, ring, flags, data);
        if (ret == 0)
        {
            bool deferred = sim.Plan.Consumer is not null && Deferred(t, commit, flags);
            bool notified = !deferred && ring.Wakeups != wakeups;
            sim.Push(t, commit, ctx.Cpu, (int)(ring.ProducerPos - prod), RingbufSim.Committed, notified, deferred: deferred);
            CountCommitted(ctx.Cpu, ring, (long)(ring.ProducerPos - prod), notified);
        }
        else if (ret == -Errno.EAGAIN)
        {
            sim.Dropped++;
            _cw[ctx.Cpu].Lost++;
        }
        return ret;
    }

    /// <summary>
    /// The end of the window being run: a reader is never brought past it (a commit delayed past
    /// it by the lock sees the consumer as of the window's end, and is read in a later window).
    /// </summary>
    private long WindowEndNs => (NextWindow + 1) * Scenario.WindowNs;

    /// <summary>
    /// Whether a commit's adaptive wake-up is decided by the reader model instead of the kernel
    /// model's answer now: the lock delayed the commit past the firing, so whether the consumer has
    /// caught up with the record is known only at the commit (the reader decides it when the record
    /// comes up while it sleeps). BPF_RB_FORCE_WAKEUP / BPF_RB_NO_WAKEUP do not depend on time, nor
    /// does a ring without a reader (its consumer_pos never moves).
    /// </summary>
    private static bool Deferred(long t, long commit, ulong flags) =>
        commit > t && (flags & (BpfFlags.BPF_RB_NO_WAKEUP | BpfFlags.BPF_RB_FORCE_WAKEUP)) == 0;

    private void OnRingbufWakeup(int cpu) => _cw[cpu].Wakeups++;

    /// <summary>Whether a reservation of size gets as far as the ring's lock (__bpf_ringbuf_reserve checks the size first).</summary>
    private static bool TakesLock(BpfRingbuf ring, ulong size) =>
        size <= BpfRingbuf.MaxRecordSize && BpfRingbuf.RecordLength(size) <= ring.Size;

    private void CountCommitted(int cpu, BpfRingbuf ring, long len, bool notified)
    {
        ref var cw = ref _cw[cpu];
        cw.Written++;
        cw.Bytes += len;
        cw.InRing++;
        if (notified) cw.Wakeups++;
        long used = (long)ring.AvailData;
        if (used > cw.FillMax) cw.FillMax = used;
    }

    /// <summary>
    /// bpf_ringbuf_reserve into ring r through the CPU's model: the sample's address, or 0 (NULL,
    /// counted as dropped: the program has nowhere to put the record). The record holds its ring
    /// space (BUSY: the reader stops there) until <see cref="RingbufRelease"/>.
    /// </summary>
    private ulong RingbufReserve(in HelperContext ctx, int r, ulong size, ulong flags, long t)
    {
        var sim = _rbs[r];
        var ring = sim.Ring;
        // Flags, or a record larger than the ring, are refused before the lock; no space is found under it.
        long commit = flags == 0 && TakesLock(ring, size) ? sim.Lock(t, ctx.Cpu) : t;
        sim.Advance(Math.Min(commit, WindowEndNs), this);
        ulong prod = ring.ProducerPos;
        ulong sample = _models[ctx.Cpu].RingbufReserve(in ctx, ring, size, flags);
        if (sample == 0)
        {
            sim.Dropped++;
            _cw[ctx.Cpu].Lost++;
            return 0;
        }
        sim.Push(t, commit, ctx.Cpu, (int)(ring.ProducerPos - prod), RingbufSim.Busy, false, prod);
        long used = (long)ring.AvailData;
        ref var cw = ref _cw[ctx.Cpu];
        if (used > cw.FillMax) cw.FillMax = used;
        return sample;
    }

    /// <summary>
    /// bpf_ringbuf_submit / bpf_ringbuf_discard of a sample through the CPU's model (it finds the
    /// ring from the pointer). A submitted record is counted as written; a discarded one is not
    /// (it keeps its ring space until the reader skips it). False: not a reservation still held.
    /// </summary>
    private bool RingbufRelease(in HelperContext ctx, ulong sample, ulong flags, bool discard, long t)
    {
        for (int r = 0; r < _rbs.Length; r++)
        {
            var sim = _rbs[r];
            var ring = sim.Ring;
            long off = ring.ReservationOf(sample);
            if (off < 0) continue;
            int idx = sim.FindBusy((ulong)off);
            sim.Advance(Math.Min(sim.CommitTimeAt(idx), WindowEndNs), this); // the adaptive wake-up sees consumer_pos as of the commit
            long wakeups = ring.Wakeups;
            _models[ctx.Cpu].RingbufCommit(sample, flags, discard);
            bool deferred = sim.Plan.Consumer is not null && Deferred(t, sim.CommitTimeAt(idx), flags);
            bool notified = !deferred && ring.Wakeups != wakeups;
            int len = sim.Release(idx, discard, notified, deferred);
            if (!discard) CountCommitted(ctx.Cpu, ring, len, notified);
            else if (notified) _cw[ctx.Cpu].Wakeups++;
            sim.Advance(t, this);
            return true;
        }
        return false;
    }

    // A body's reservations still held (bodies release them before they end: the parser's rule),
    // latest last; 0 for a NULL reservation, whose release the program skips.
    private ulong[] _held = new ulong[4];
    private int _heldCount;

    private long BodyReserve(in HelperContext ctx, CallPlan call, ref FiringState fs, long t)
    {
        int size = SizeOf(call, ref fs);
        ulong sample = RingbufReserve(in ctx, call.Map, (ulong)size, call.Flags, t);
        if (_heldCount == _held.Length) Array.Resize(ref _held, 2 * _held.Length);
        _held[_heldCount++] = sample;
        return ReserveReturn(sample);
    }

    /// <summary>The return a report counts for bpf_ringbuf_reserve: 0 (NULL) or 1 (a sample pointer, whatever its address).</summary>
    private static long ReserveReturn(ulong sample) => sample == 0 ? 0 : 1;

    /// <summary>A body step's "return" when the program skips the call (it is not counted).</summary>
    internal const long NotCalled = long.MinValue;

    private long BodyRelease(in HelperContext ctx, CallPlan call, long t)
    {
        ulong sample = _held[--_heldCount];
        if (sample == 0) return NotCalled; // if (!e) return: the program does not call the helper
        if (!RingbufRelease(in ctx, sample, call.Flags, call.Kind == HelperKind.RingbufDiscard, t))
            throw new InvalidOperationException($"{HostName}: ringbuf sample 0x{sample:x} is not held");
        return 0;
    }

    private void WriteRingbufs(BinaryWriter w)
    {
        w.Write(_rbs.Length);
        foreach (var sim in _rbs) sim.Write(w);
    }

    private void ReadRingbufs(BinaryReader r)
    {
        Expect(r.ReadInt32(), _rbs.Length, "ring buffers");
        foreach (var sim in _rbs) sim.Read(r, HostName);
    }

    /// <summary>Every ring's reader up to the end of the window (before its counters are closed).</summary>
    private void AdvanceRingbufs(long t)
    {
        foreach (var sim in _rbs) sim.Advance(t, this);
    }

    private void OnRingbufConsumed(int cpu, long lag)
    {
        ref var cw = ref _cw[cpu];
        cw.Consumed++;
        cw.InRing--;
        if (_lag is not null) (_lag[cpu] ??= new LagHistogram.Builder()).Record(lag);
        else _hostLag.Record(lag);
        if (_lagTotal is not null) (_lagTotal[cpu] ??= new LagHistogram.Builder()).Record(lag);
    }

    /// <summary>written = consumed + in the ring; the ring holds exactly the unread records' bytes.</summary>
    private void VerifyRingbufs(List<RingConservation>? into)
    {
        foreach (var sim in _rbs)
        {
            var rc = new RingConservation(sim.Plan.Spec.Name, -1, sim.Written + sim.Dropped, sim.Written, sim.Dropped, sim.Dropped,
                sim.Consumed, sim.Count - sim.DiscardedQueued, 0, 0);
            if (!rc.Ok || (long)sim.Ring.AvailData != sim.QueuedBytes) throw new ConservationException(HostName, rc);
            into?.Add(rc);
        }
    }

    /// <summary>
    /// One ring, its unread records in ring order (commit time, producing CPU, length, state,
    /// whether its commit woke the reader) and its reader.
    /// </summary>
    private sealed class RingbufSim(RingbufPlan plan, BpfRingbuf ring, Xoshiro256 rng)
    {
        public const byte Committed = 0, Busy = 1, Discarded = 2;

        public readonly RingbufPlan Plan = plan;
        public readonly BpfRingbuf Ring = ring;
        private readonly long _lockCost = plan.Spec.LockCostNs ?? 0, _lockHandoff = plan.Spec.LockHandoffNs ?? 0;
        private Xoshiro256 _rng = rng;
        private long _lockFree;        // the ring's spinlock is held until then
        private int _lockOwner = -1;   // the CPU that took it last
        public long LockWaitNs;        // producers' time spinning on it
        private long[] _fired = new long[64];
        private long[] _commit = new long[64];
        private int[] _cpu = new int[64];
        private int[] _len = new int[64];
        private bool[] _notified = new bool[64];
        private bool[] _deferred = new bool[64]; // the adaptive wake-up of a commit the lock delayed: decided by the reader
        private byte[] _state = new byte[64];
        private ulong[] _pos = new ulong[64];
        private int _head, _count;
        private long _free;            // when the reader finished its last record (then it polls again)
        private long _finish = -1;     // the oldest record is being read until then
        public long Written, Consumed, Dropped, QueuedBytes, DiscardedQueued;

        public long Count => _count;

        /// <summary>
        /// rb->spinlock around a reservation by cpu arriving at t (FIFO, as qspinlock hands it on):
        /// it spins until the lock is free, then holds it lock_cost, plus lock_handoff when it had
        /// to wait for another CPU's hold (the lock's and the ring's cache lines move). Returns when
        /// it lets go: the reservation is made, and its record can be committed, from then on.
        /// </summary>
        public long Lock(long t, int cpu)
        {
            if (_lockCost == 0 && _lockHandoff == 0) return t;
            long at = Math.Max(t, _lockFree);
            long hold = _lockCost + (at > t && _lockOwner != cpu ? _lockHandoff : 0);
            LockWaitNs += at - t;
            _lockOwner = cpu;
            _lockFree = at + hold;
            return _lockFree;
        }

        /// <param name="t">When the program called the helper (consumer lag counts from then).</param>
        /// <param name="commit">When the record can be committed: t, or later after spinning on the ring's lock.</param>
        public void Push(long t, long commit, int cpu, int len, byte state, bool notified, ulong pos = 0, bool deferred = false)
        {
            if (_count == _commit.Length) Grow();
            int i = (_head + _count) & (_commit.Length - 1);
            _fired[i] = t;
            _commit[i] = commit;
            _cpu[i] = cpu;
            _len[i] = len;
            _notified[i] = notified;
            _deferred[i] = deferred;
            _state[i] = state;
            _pos[i] = pos;
            _count++;
            if (state == Committed) Written++;
            QueuedBytes += len;
        }

        /// <summary>The queue index of the BUSY record at that header offset (latest first).</summary>
        public int FindBusy(ulong headerOffset)
        {
            for (int k = _count - 1; k >= 0; k--)
            {
                int i = (_head + k) & (_commit.Length - 1);
                if (_state[i] == Busy && (_pos[i] & Ring.Mask) == headerOffset) return i;
            }
            throw new InvalidOperationException($"no reservation at offset {headerOffset}");
        }

        public long CommitTimeAt(int i) => _commit[i];

        /// <summary>A reservation's commit (submit or discard) at queue index i. Its length.</summary>
        public int Release(int i, bool discard, bool notified, bool deferred)
        {
            _state[i] = discard ? Discarded : Committed;
            _notified[i] = notified;
            _deferred[i] = deferred;
            if (discard) DiscardedQueued++;
            else Written++;
            return _len[i];
        }

        private void Grow()
        {
            int n = _commit.Length;
            var fi = new long[2 * n];
            var c = new long[2 * n];
            var p = new int[2 * n];
            var l = new int[2 * n];
            var w = new bool[2 * n];
            var df = new bool[2 * n];
            var st = new byte[2 * n];
            var ps = new ulong[2 * n];
            for (int k = 0; k < _count; k++)
            {
                int i = (_head + k) & (n - 1);
                fi[k] = _fired[i];
                c[k] = _commit[i];
                p[k] = _cpu[i];
                l[k] = _len[i];
                w[k] = _notified[i];
                df[k] = _deferred[i];
                st[k] = _state[i];
                ps[k] = _pos[i];
            }
            (_fired, _commit, _cpu, _len, _notified, _deferred, _state, _pos, _head) = (fi, c, p, l, w, df, st, ps, 0);
        }

        /// <summary>
        /// The reader's progress up to t: it reads records in ring order, each taking a service time,
        /// and moves consumer_pos past each (libbpf's ringbuf_process_ring); it stops at a record
        /// still BUSY and skips a discarded one at no cost (libbpf makes no callback for it). When
        /// it finds the ring empty it sleeps in epoll_wait until a wake-up (plus wakeup_latency) or
        /// its poll timeout.
        /// </summary>
        public void Advance(long t, HostSimulation host)
        {
            if (Plan.Consumer is not { } c) return;
            while (_count > 0)
            {
                int i = _head;
                byte state = _state[i];
                if (state == Busy) return;
                if (_finish < 0)
                {
                    long start;
                    if (_commit[i] <= _free) start = _free; // still reading: found at once
                    else
                    {
                        // Asleep since _free: the first wake-up among the unread records, or a poll timeout.
                        // Having read everything before it, the consumer has caught up with this
                        // record when it is committed: a delayed adaptive commit notifies.
                        if (_deferred[i])
                        {
                            _deferred[i] = false;
                            _notified[i] = true;
                            host.OnRingbufWakeup(_cpu[i]);
                        }
                        long wake = long.MaxValue;
                        for (int k = 0; k < _count; k++)
                        {
                            int j = (_head + k) & (_commit.Length - 1);
                            if (_notified[j]) { wake = _commit[j] + c.WakeupLatencyNs; break; }
                        }
                        long ticks = (_commit[i] - _free + c.PollTimeoutNs - 1) / c.PollTimeoutNs;
                        long tick = _free + Math.Max(1, ticks) * c.PollTimeoutNs;
                        start = Math.Min(wake, tick);
                    }
                    if (start > t) return;
                    _finish = state == Discarded ? start : start + ServiceTime(c.Service);
                }
                if (_finish > t) return;
                Ring.ConsumeOne();
                if (state == Discarded) DiscardedQueued--;
                else
                {
                    host.OnRingbufConsumed(_cpu[i], _finish - _fired[i]);
                    Consumed++;
                }
                QueuedBytes -= _len[i];
                _free = _finish;
                _finish = -1;
                _head = (_head + 1) & (_commit.Length - 1);
                _count--;
            }
        }

        /// <summary>The ring, its reader, its lock and its unread records, at a window boundary (no reservation held).</summary>
        public void Write(BinaryWriter w)
        {
            var (cons, prod, pend, wakeups, unread) = Ring.ExportState();
            w.Write(cons);
            w.Write(prod);
            w.Write(pend);
            w.Write(wakeups);
            w.Write(unread.Length);
            w.Write(unread);
            WriteRng(w, _rng);
            w.Write(_lockFree);
            w.Write(_lockOwner);
            w.Write(LockWaitNs);
            w.Write(_free);
            w.Write(_finish);
            w.Write(Written);
            w.Write(Consumed);
            w.Write(Dropped);
            w.Write(QueuedBytes);
            w.Write(DiscardedQueued);
            w.Write(_count);
            for (int k = 0; k < _count; k++)
            {
                int i = (_head + k) & (_commit.Length - 1);
                if (_state[i] == Busy) throw new InvalidOperationException("a reservation is held at a window boundary");
                w.Write(_fired[i]);
                w.Write(_commit[i]);
                w.Write(_cpu[i]);
                w.Write(_len[i]);
                w.Write(_notified[i]);
                w.Write(_deferred[i]);
                w.Write(_state[i]);
                w.Write(_pos[i]);
            }
        }

        public void Read(BinaryReader r, string host)
        {
            ulong cons = r.ReadUInt64(), prod = r.ReadUInt64(), pend = r.ReadUInt64();
            long wakeups = r.ReadInt64();
            int n = r.ReadInt32();
            if (n < 0 || n > Ring.Size) throw new CheckpointMismatchException($"{host}: ringbuf {Plan.Spec.Name}: {n} live bytes in a ring of {Ring.Size}");
            var unread = r.ReadBytes(n);
            if (unread.Length != n) throw new EndOfStreamException();
            try
            {
                Ring.ImportState(cons, prod, pend, wakeups, unread);
            }
            catch (ArgumentException e)
            {
                throw new CheckpointMismatchException($"{host}: {e.Message}");
            }
            _rng = ReadRng(r);
            _lockFree = r.ReadInt64();
            _lockOwner = r.ReadInt32();
            LockWaitNs = r.ReadInt64();
            _free = r.ReadInt64();
            _finish = r.ReadInt64();
            Written = r.ReadInt64();
            Consumed = r.ReadInt64();
            Dropped = r.ReadInt64();
            QueuedBytes = r.ReadInt64();
            DiscardedQueued = r.ReadInt64();
            int count = r.ReadInt32();
            if (count < 0 || count > Ring.Size / BpfFlags.BPF_RINGBUF_HDR_SZ)
                throw new CheckpointMismatchException($"{host}: ringbuf {Plan.Spec.Name}: {count} records in a ring of {Ring.Size}");
            _head = 0;
            _count = 0;
            while (_commit.Length < count) Grow();
            for (int i = 0; i < count; i++)
            {
                _fired[i] = r.ReadInt64();
                _commit[i] = r.ReadInt64();
                _cpu[i] = r.ReadInt32();
                _len[i] = r.ReadInt32();
                _notified[i] = r.ReadBoolean();
                _deferred[i] = r.ReadBoolean();
                _state[i] = r.ReadByte();
                _pos[i] = r.ReadUInt64();
            }
            _count = count;
        }

        private long ServiceTime(ServiceSpec s) => s switch
        {
            ExponentialService e => (long)Math.Round(_rng.NextExponential() * e.MeanNs, MidpointRounding.ToEven),
            UniformService u => _rng.NextInclusive(u.MinNs, u.MaxNs),
            FixedService f => f.Ns,
            _ => 0,
        };
    }
}

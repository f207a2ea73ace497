using System.Numerics;
using BpfTraceSim.Contracts.Scenarios;

namespace BpfTraceSim.Grains.Simulation;

/// <summary>
/// A consumer on one host (libbpf's perf_buffer): a single server for all the rings it reads.
/// It sleeps until a ring signals (wakeup_events / watermark: epoll readiness) or its poll
/// timeout fires; wakeup_latency later it starts a batch. A batch started by signals visits the
/// rings that signalled (epoll's ready list; rings that did not reach their wake-up threshold
/// are not read, as with perf_buffer__poll); one started by the timeout visits every ring with
/// unread records (as perf_buffer__consume). Rings are visited in index order; from each the
/// reader takes the records it finds there when it gets to it, one at a time, each costing a
/// service time (a LOST record costs none, it only adds its count). per_record: the tail passes
/// each record when its service ends; per_batch: the tail passes the ring's whole batch when its
/// last record ends. After a batch, signals that came in meanwhile start the next batch at once
/// (epoll_wait returns without sleeping); otherwise the reader sleeps again, the poll timeout
/// counting from then. A stall postpones whatever the reader was doing by its length.
/// </summary>
internal sealed class Reader
{
    internal enum ReaderState : byte
    {
        /// <summary>Sleeping; NextTime is the poll timeout.</summary>
        Idle = 0,
        /// <summary>Woken; NextTime is when it starts (wakeup_latency later).</summary>
        Waking = 1,
        /// <summary>Serving a record; NextTime is its completion.</summary>
        Busy = 2,
        /// <summary>Stalled; NextTime is the end of the stall.</summary>
        Stalled = 3,
    }

    private readonly HostSimulation _host;
    private readonly EventInstance[] _rings;
    private readonly ulong[] _nonEmpty;
    private readonly ulong[] _signaled;
    private readonly ulong[] _batch; // rings the current batch still has to visit
    private readonly bool _perRecord;
    private readonly long _latency, _pollTimeout;
    private readonly int _serviceKind; // 0 fixed, 1 exponential, 2 uniform
    private readonly long _serviceA, _serviceB;
    private readonly ReaderCpu? _cpu;      // null: the reader always has a CPU
    private readonly long _perKibNs;       // callback time per KiB of record
    private readonly long _sleepNs;        // > 0: sleep-then-drain loop instead of epoll

    public Xoshiro256 Rng;
    public ReaderState State;
    public long NextTime;
    /// <summary>The ring being drained (-1 between rings), where the scan goes on, and the batch found in the ring.</summary>
    public int CurRing = -1, ScanPos, BatchCount, BatchPos;
    /// <summary>A wake-up (signal or timeout) was pending when a stall began.</summary>
    public bool WakeAfterStall;
    /// <summary>The pending wake-up is the poll timeout's: the batch reads every ring with records.</summary>
    public bool DrainAll;

    public Reader(HostSimulation host, ConsumerSpec spec, EventInstance[] rings, Xoshiro256 rng, ReaderCpu? cpu = null)
    {
        _cpu = cpu;
        _perKibNs = spec.Model?.ServicePerKibNs ?? 0;
        _sleepNs = spec.Model?.SleepNs ?? 0;
        _host = host;
        _rings = rings;
        _nonEmpty = new ulong[(rings.Length + 63) / 64];
        _signaled = new ulong[(rings.Length + 63) / 64];
        _batch = new ulong[(rings.Length + 63) / 64];
        _perRecord = spec.TailUpdate == TailUpdate.PerRecord;
        _latency = spec.WakeupLatencyNs;
        _pollTimeout = Math.Max(1, spec.PollTimeoutNs);
        switch (spec.Service)
        {
            case ExponentialService e:
                _serviceKind = 1;
                _serviceA = e.MeanNs;
                break;
            case UniformService u:
                _serviceKind = 2;
                _serviceA = u.MinNs;
                _serviceB = u.MaxNs;
                break;
            case FixedService f:
                _serviceA = f.Ns;
                break;
        }
        Rng = rng;
        State = ReaderState.Idle;
        NextTime = _sleepNs > 0 ? _sleepNs : _pollTimeout;
    }

    public int RingCount => _rings.Length;
    internal ulong[] NonEmptyBits => _nonEmpty;
    internal ulong[] SignaledBits => _signaled;
    internal ulong[] BatchBits => _batch;

    /// <summary>Samples of ring the reader has served but whose space the tail still holds (per_batch mid-batch).</summary>
    public long ServedNotReleased(int ring)
    {
        if (_perRecord || ring != CurRing) return 0;
        var q = _rings[ring].Queue!;
        long n = 0;
        for (int i = 0; i < BatchPos; i++)
            if (!q.IsLostAt(i)) n++;
        return n;
    }

    /// <summary>A ring raised a wake-up (poll readiness).</summary>
    public void Signal(int ring, long t)
    {
        _signaled[ring >> 6] |= 1UL << ring;
        if (_sleepNs > 0) return; // a sleeping loop does not wait in epoll: the readiness waits for its next drain
        if (State == ReaderState.Idle)
        {
            State = ReaderState.Waking;
            NextTime = Run(t, _latency);
        }
    }

    public void MarkNonEmpty(int ring) => _nonEmpty[ring >> 6] |= 1UL << ring;

    /// <summary>consumer_stall: nothing happens for `d` from t.</summary>
    public void Stall(long t, long d)
    {
        switch (State)
        {
            case ReaderState.Idle:
                State = ReaderState.Stalled;
                NextTime = t + d;
                break;
            case ReaderState.Waking:
                State = ReaderState.Stalled;
                WakeAfterStall = true; // DrainAll stays as the wake-up set it
                NextTime = Math.Max(NextTime, t + d);
                break;
            case ReaderState.Stalled:
                NextTime = Math.Max(NextTime, t + d);
                break;
            case ReaderState.Busy:
                NextTime += d; // the record in service ends d later
                break;
        }
    }

    /// <summary>The reader's due event at t.</summary>
    public void Step(long t)
    {
        switch (State)
        {
            case ReaderState.Idle:
                // Poll timeout (or the end of a sleep): wakes without a signal.
                State = ReaderState.Waking;
                DrainAll = true;
                NextTime = Run(t, _latency);
                if (NextTime == t) StartBatch(t);
                break;
            case ReaderState.Waking:
                StartBatch(t);
                break;
            case ReaderState.Busy:
                Complete(t);
                break;
            case ReaderState.Stalled:
                bool wake = WakeAfterStall || (_sleepNs == 0 && AnySignaled());
                WakeAfterStall = false;
                if (!wake) Sleep(t);
                else if (Run(t, 0) is var start && start > t)
                {
                    State = ReaderState.Waking; // runnable, but not scheduled yet
                    NextTime = start;
                }
                else StartBatch(t);
                break;
        }
    }

    private bool AnySignaled()
    {
        foreach (ulong w in _signaled)
            if (w != 0) return true;
        return false;
    }

    private void Sleep(long t)
    {
        State = ReaderState.Idle;
        NextTime = t + (_sleepNs > 0 ? _sleepNs : _pollTimeout);
    }

    private void StartBatch(long t)
    {
        // The rings to visit: those that signalled, or every ring with records after a timeout.
        if (DrainAll) _nonEmpty.CopyTo(_batch, 0);
        else _signaled.CopyTo(_batch, 0);
        DrainAll = false;
        // poll() consumes the readiness of every ring that signalled.
        for (int w = 0; w < _signaled.Length; w++)
        {
            ulong bits = _signaled[w];
            while (bits != 0)
            {
                int b = BitOperations.TrailingZeroCount(bits);
                bits &= bits - 1;
                _rings[(w << 6) + b].Ring!.AcknowledgeWakeup();
            }
            _signaled[w] = 0;
        }
        State = ReaderState.Busy;
        ScanPos = 0;
        CurRing = -1;
        Continue(t);
    }

    /// <summary>The next ring of the batch with records, from `from` on; -1 when the batch is done.</summary>
    private int NextInBatch(int from)
    {
        for (int w = from >> 6; w < _batch.Length; w++)
        {
            ulong bits = _batch[w] & _nonEmpty[w];
            if (w == from >> 6) bits &= ~0UL << (from & 63);
            if (bits != 0) return (w << 6) + BitOperations.TrailingZeroCount(bits);
        }
        return -1;
    }

    /// <summary>Takes records until one needs service time (or the batch ends).</summary>
    private void Continue(long t)
    {
        while (true)
        {
            if (CurRing < 0)
            {
                int r = NextInBatch(ScanPos);
                if (r < 0)
                {
                    EndBatch(t);
                    return;
                }
                CurRing = r;
                BatchCount = _rings[r].Queue!.Count;
                BatchPos = 0;
            }
            var inst = _rings[CurRing];
            var q = inst.Queue!;
            while (BatchPos < BatchCount)
            {
                int at = _perRecord ? 0 : BatchPos;
                if (q.IsLostAt(at))
                {
                    var e = q.At(at);
                    _host.OnLostSeen(inst, in e, at, t);
                    BatchPos++;
                    if (_perRecord)
                    {
                        q.PopOldest();
                        inst.Ring!.ConsumeRecord();
                    }
                    continue;
                }
                NextTime = Run(t, ServiceTime() + PerKib(q.At(at).Size));
                return;
            }
            // The ring's batch is done.
            if (!_perRecord)
            {
                for (int i = 0; i < BatchCount; i++)
                {
                    q.PopOldest();
                    inst.Ring!.ConsumeRecord();
                }
            }
            if (q.Count == 0) _nonEmpty[CurRing >> 6] &= ~(1UL << CurRing);
            _batch[CurRing >> 6] &= ~(1UL << CurRing);
            ScanPos = CurRing + 1;
            CurRing = -1;
        }
    }

    private void Complete(long t)
    {
        var inst = _rings[CurRing];
        var q = inst.Queue!;
        int at = _perRecord ? 0 : BatchPos;
        var e = q.At(at);
        _host.OnConsumed(inst, in e, at, t);
        BatchPos++;
        if (_perRecord)
        {
            q.PopOldest();
            inst.Ring!.ConsumeRecord();
        }
        Continue(t);
    }

    private void EndBatch(long t)
    {
        CurRing = -1;
        // Readiness raised during the batch: poll returns at once (a sleeping loop sleeps first).
        if (_sleepNs == 0 && AnySignaled()) StartBatch(t);
        else Sleep(t);
    }

    /// <summary>When `work` ns of the reader's own CPU time from t end, given the CPU it gets (cpu_load, pauses).</summary>
    private long Run(long t, long work) => _cpu is null ? t + work : _cpu.Finish(t, work);

    /// <summary>The callback's size-dependent part: service_per_kib x bytes / 1024, rounded down.</summary>
    private long PerKib(int size) => _perKibNs == 0 ? 0 : _perKibNs * size / 1024;

    /// <summary>What the reader was doing at t, for the report: not scheduled (0% CPU), or its state.</summary>
    public string Doing(long t)
    {
        if (_cpu is not null && _cpu.PausedAt(t)) return "paused (pauses)";
        if (_cpu is not null && _cpu.ShareAt(t) == 0) return "not scheduled (cpu_load 100%)";
        return State switch
        {
            ReaderState.Idle => _sleepNs > 0 ? "asleep (sleep loop)" : "asleep (waiting in epoll)",
            ReaderState.Waking => "woken, not running yet",
            ReaderState.Busy => "busy (in a callback)",
            _ => "stalled (consumer_stall)",
        };
    }

    /// <summary>One record's service time in whole ns (exponential: rounded to nearest; uniform: an integer in [a, b]).</summary>
    private long ServiceTime() => _serviceKind switch
    {
        0 => _serviceA,
        1 => (long)Math.Round(Rng.NextExponential() * _serviceA, MidpointRounding.ToEven),
        _ => Rng.NextInclusive(_serviceA, _serviceB),
    };
}

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
        for (int i = 0; i < plans.Length; i++)
        {
            var ring = new BpfRingbuf((uint)plans[i].Spec.MaxEntriesFor(_cpus));
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
        var sim = _rbs[call.Map];
        sim.Advance(t, this);
        int size = call.SizeMin == call.SizeMax ? call.SizeMin : (int)fs.BodyRng.NextInclusive(call.SizeMin, call.SizeMax);
        var ring = sim.Ring;
        long wakeups = ring.Wakeups;
        ulong prod = ring.ProducerPos;
        long ret = _models[ctx.Cpu].RingbufOutput(in ctx, ring, call.Flags, PatternBytes.Of(size));
        ref var cw = ref _cw[ctx.Cpu];
        if (ret == 0)
        {
            bool notified = ring.Wakeups != wakeups;
            sim.Push(t, ctx.Cpu, (int)(ring.ProducerPos - prod), notified);
            cw.Written++;
            cw.Bytes += (long)(ring.ProducerPos - prod);
            cw.InRing++;
            if (notified) cw.Wakeups++;
            long used = (long)ring.AvailData;
            if (used > cw.FillMax) cw.FillMax = used;
        }
        else if (ret == -Errno.EAGAIN)
        {
            sim.Dropped++;
            cw.Lost++;
        }
        return ret;
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
                sim.Consumed, sim.Count, 0, 0);
            if (!rc.Ok || (long)sim.Ring.AvailData != sim.QueuedBytes) throw new ConservationException(HostName, rc);
            into?.Add(rc);
        }
    }

    /// <summary>One ring, its unread records (commit time, producing CPU, length, whether it woke the reader) and its reader.</summary>
    private sealed class RingbufSim(RingbufPlan plan, BpfRingbuf ring, Xoshiro256 rng)
    {
        public readonly RingbufPlan Plan = plan;
        public readonly BpfRingbuf Ring = ring;
        private Xoshiro256 _rng = rng;
        private long[] _commit = new long[64];
        private int[] _cpu = new int[64];
        private int[] _len = new int[64];
        private bool[] _notified = new bool[64];
        private int _head, _count;
        private long _free;            // when the reader finished its last record (then it polls again)
        private long _finish = -1;     // the oldest record is being read until then
        public long Written, Consumed, Dropped, QueuedBytes;

        public long Count => _count;

        public void Push(long t, int cpu, int len, bool notified)
        {
            if (_count == _commit.Length) Grow();
            int i = (_head + _count) & (_commit.Length - 1);
            _commit[i] = t;
            _cpu[i] = cpu;
            _len[i] = len;
            _notified[i] = notified;
            _count++;
            Written++;
            QueuedBytes += len;
        }

        private void Grow()
        {
            int n = _commit.Length;
            var c = new long[2 * n];
            var p = new int[2 * n];
            var l = new int[2 * n];
            var w = new bool[2 * n];
            for (int k = 0; k < _count; k++)
            {
                int i = (_head + k) & (n - 1);
                c[k] = _commit[i];
                p[k] = _cpu[i];
                l[k] = _len[i];
                w[k] = _notified[i];
            }
            (_commit, _cpu, _len, _notified, _head) = (c, p, l, w, 0);
        }

        /// <summary>
        /// The reader's progress up to t: it reads records in ring order, each taking a service time,
        /// and moves consumer_pos past each (libbpf's ringbuf_process_ring). When it finds the ring
        /// empty it sleeps in epoll_wait until a wake-up (plus wakeup_latency) or its poll timeout.
        /// </summary>
        public void Advance(long t, HostSimulation host)
        {
            if (Plan.Consumer is not { } c) return;
            while (_count > 0)
            {
                int i = _head;
                if (_finish < 0)
                {
                    long start;
                    if (_commit[i] <= _free) start = _free; // still reading: found at once
                    else
                    {
                        // Asleep since _free: the first wake-up among the unread records, or a poll timeout.
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
                    _finish = start + ServiceTime(c.Service);
                }
                if (_finish > t) return;
                Ring.Consume(max: 1);
                host.OnRingbufConsumed(_cpu[i], _finish - _commit[i]);
                Consumed++;
                QueuedBytes -= _len[i];
                _free = _finish;
                _finish = -1;
                _head = (_head + 1) & (_commit.Length - 1);
                _count--;
            }
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

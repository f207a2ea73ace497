using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using BpfTraceSim.Contracts.Scenarios;
using BpfTraceSim.Kernel;
using BpfTraceSim.Kernel.Perf;
using BpfTraceSim.Kernel.Printk;

namespace BpfTraceSim.Grains.Simulation;

/// <summary>
/// The deterministic simulation of ONE host of a scenario: all its CPUs, its programs' firings
/// and their helper calls against the kernel model, and its readers, window by window in virtual
/// time. Hosts are independent: the same scenario, seed and host give the same windows whatever
/// process runs them and however windows are batched (checkpoint/restore at window boundaries
/// included). Not thread-safe: one caller at a time.
/// </summary>
/// <remarks>
/// Events at the same virtual time run in a fixed order: timeline actions (file order), then task
/// migrations, then readers (consumer order), then firings (CPU, then program order). A firing is
/// atomic: its whole body runs before anything else happens, the reader included.
/// </remarks>
public sealed partial class HostSimulation
{
    private readonly HostPlan _plan;
    private readonly int _cpus;
    private readonly int _progCount;
    private readonly long _durationNs;

    // Tasks and CPUs.
    private readonly int[] _taskCpu;
    private readonly SimTask[] _taskObjs;
    private readonly int[][] _cpuTasks;
    private readonly int[] _rr;
    /// <summary>The size of the firing being run from a trace row, or -1 (the body's sizes).</summary>
    private int _rowSize = -1;
    private readonly bool[] _online;
    private int _onlineCount;

    // Events (per event plan: per-CPU instances by CPU, per-task instances by position in TaskIndices).
    private readonly EventInstance[][] _instances;
    private readonly List<EventInstance> _allInstances = new();

    // Maps: the kernel's arrays (every CPU of the host sees the same slots: its models share them)
    // and which instance each slot holds.
    private readonly PerfEventArray[] _maps;
    private readonly EventInstance?[][] _slotInst;

    // Programs.
    private readonly FiringState[] _fire; // [cpu * programs + program]
    private readonly FiringHeap _heap;
    private readonly ProgramPlan[] _programs;

    // Readers, timeline, migrations.
    private readonly Reader[] _readers;
    private int _timelineNext;
    private long _nextMigrate = long.MaxValue;

    // The kernel's per-CPU state: every helper of a firing on CPU c runs against _models[c].
    private readonly CpuModel[] _models;
    private readonly PrintkWorld? _world; // captureTrace: the bodies' world over the CPUs' trace rings
    private byte[]? _scratch;

    // Window accounting (per CPU), reset at every window start.
    private readonly CpuWindow[] _cw; // one cache-friendly block of counters per CPU
    private readonly bool _perCpuWindows, _perCpuTotals;
    private readonly LagHistogram.Builder?[]? _lag;  // this window, per CPU (PerCpuWindows)
    private readonly LagHistogram.Builder _hostLag = new(); // this window, the whole host (otherwise)
    private readonly ReturnCounter _returns = new();  // this window; keys carry the CPU only with PerCpuWindows
    // Per-CPU totals since time 0 (PerCpuTotals): folded in at each window end, never rebuilt per window.
    private readonly CpuWindow[]? _ct;
    // The host's totals since time 0: its windows folded in, one at a time.
    private CpuWindow _hostTotal;
    private readonly LagHistogram.Builder _hostLagTotal = new();
    private readonly ReturnCounter _hostReturnsTotal = new();
    private readonly LagHistogram.Builder?[]? _lagTotal;
    private readonly ReturnCounter? _returnsTotal;
    // Per (CPU, call site): the last return value and how often it repeated since, flushed into _returns when it changes.
    private readonly SiteCount[] _site;
    private readonly int _sites;
    private List<CapturedRecord>? _records;

    /// <summary>Builds the host at time 0.</summary>
    /// <param name="scenario">The parsed scenario.</param>
    /// <param name="groupIndex">Index into scenario.Fleet.</param>
    /// <param name="hostIndex">Index of the host in its group (host name GROUP-INDEX).</param>
    /// <param name="captureRecords">Keep ring payloads and return the records readers consume.</param>
    /// <param name="captureTrace">Keep full trace rings and return trace_pipe lines per window.</param>
    /// <param name="perCpuWindows">Return every CPU's counters in each window (WindowStats.Cpus); otherwise only the host's sums.</param>
    /// <param name="perCpuTotals">Keep every CPU's totals since time 0 (<see cref="CpuTotals"/>).</param>
    public HostSimulation(Scenario scenario, int groupIndex, int hostIndex, bool captureRecords = false, bool captureTrace = false,
        bool perCpuWindows = true, bool perCpuTotals = true)
    {
        if ((uint)groupIndex >= (uint)scenario.Fleet.Length) throw new ArgumentOutOfRangeException(nameof(groupIndex));
        if ((uint)hostIndex >= (uint)scenario.Fleet[groupIndex].Hosts) throw new ArgumentOutOfRangeException(nameof(hostIndex));
        if (scenario.WindowNs <= 0 || scenario.DurationNs % scenario.WindowNs != 0)
            throw new ArgumentException("the scenario's duration must be a positive multiple of its window", nameof(scenario));
        Scenario = scenario;
        GroupIndex = groupIndex;
        HostIndex = hostIndex;
        CaptureRecords = captureRecords;
        CaptureTrace = captureTrace;
        HostName = scenario.Fleet[groupIndex].HostName(hostIndex);
        _plan = HostPlan.For(scenario, groupIndex);
        _cpus = _plan.Cpus;
        _durationNs = scenario.DurationNs;
        _progCount = _plan.Programs.Length;

        _taskCpu = new int[_plan.Tasks.Length];
        _taskObjs = Array.ConvertAll(_plan.Tasks, t => t.Task);
        for (int t = 0; t < _taskCpu.Length; t++) _taskCpu[t] = _plan.Tasks[t].InitialCpu;
        _cpuTasks = new int[_cpus][];
        RebuildCpuTasks();
        _rr = new int[_cpus];
        _online = new bool[_cpus];
        Array.Fill(_online, true);
        _onlineCount = _cpus;

        _cw = new CpuWindow[_cpus];
        _perCpuWindows = perCpuWindows;
        _perCpuTotals = perCpuTotals;
        if (perCpuWindows) _lag = new LagHistogram.Builder?[_cpus];
        if (perCpuTotals)
        {
            _ct = new CpuWindow[_cpus];
            _lagTotal = new LagHistogram.Builder?[_cpus];
            _returnsTotal = new ReturnCounter();
        }
        _sites = _plan.CallSites;
        _site = new SiteCount[_cpus * _sites];

        // perf_event_open of every instance, in event order then CPU / task order; ids from 1.
        _instances = new EventInstance[_plan.Events.Length][];
        ulong id = 1;
        foreach (var ep in _plan.Events)
        {
            int n = ep.PerTask ? ep.TaskIndices.Length : _cpus;
            var arr = new EventInstance[n];
            // The per-CPU rings' queues share one slab (with a data area: rings without one have no queue).
            var slab = !ep.PerTask && (ep.Spec.RingPages ?? 0) > 0 ? new uint[(long)n * ep.ExpectedRecords] : null;
            for (int i = 0; i < n; i++)
            {
                int task = ep.PerTask ? ep.TaskIndices[i] : -1;
                int pid = ep.PerTask ? _plan.Tasks[task].Task.Pid : -1;
                int cpu = ep.PerTask ? -1 : i;
                int err = PerfEvent.PerfEventOpen(ep.Attr, pid, cpu, id++, _plan.Group.Pmu, ModelPages(ep.Spec.RingPages),
                    ep.Spec.Overwrite, captureRecords, out var ev);
                if (err != 0 || ev is null)
                    throw new SimulationSetupException($"events.{ep.Spec.Name}: perf_event_open({(ep.PerTask ? $"pid {pid}" : $"cpu {cpu}")}) failed with {err}");
                arr[i] = new EventInstance(ep, ep.PerTask ? pid : cpu, task, ev, slab, i * ep.ExpectedRecords);
                _allInstances.Add(arr[i]);
            }
            _instances[ep.Index] = arr;
        }

        _maps = new PerfEventArray[_plan.Maps.Length];
        _slotInst = new EventInstance?[_plan.Maps.Length][];
        for (int m = 0; m < _maps.Length; m++)
        {
            int max = _plan.Maps[m].MaxEntriesFor(_cpus);
            _maps[m] = new PerfEventArray((uint)max);
            _slotInst[m] = new EventInstance?[max];
            if (_plan.InitialSlots[m] is { } slots) ApplySlots(m, slots);
        }
        _models = new CpuModel[_cpus];
        for (int c = 0; c < _cpus; c++) _models[c] = new CpuModel(c, _maps) { UntracedPrintk = !captureTrace };

        _readers = new Reader[_plan.Consumers.Length];
        for (int c = 0; c < _readers.Length; c++)
        {
            var cp = _plan.Consumers[c];
            var rings = new List<EventInstance>();
            foreach (int e in cp.Events)
                foreach (var inst in _instances[e])
                    if (inst.Ring is not null && !inst.Ring.Overwrite) rings.Add(inst);
            var rng = Xoshiro256.FromSeed(StreamSeeds.Consumer(scenario.Seed, HostName, cp.Spec.Name));
            var cpu = ReaderCpu.Build(cp.Spec.Model, scenario.DurationNs, StreamSeeds.Hash(scenario.Seed, $"consumer-pauses\0{HostName}\0{cp.Spec.Name}"));
            _readers[c] = new Reader(this, cp.Spec, rings.ToArray(), rng, cpu);
            for (int r = 0; r < rings.Count; r++)
            {
                rings[r].Reader = _readers[c];
                rings[r].ReaderRing = r;
            }
        }

        _programs = _plan.Programs;
        _fire = new FiringState[_cpus * _progCount];
        _heap = new FiringHeap(Math.Max(1, _fire.Length));
        if (scenario.DurationNs > _heap.MaxTime)
            throw new SimulationSetupException($"duration {scenario.DurationNs} ns is too long for {_fire.Length} (CPU, program) pairs (at most {_heap.MaxTime} ns)");
        for (int cpu = 0; cpu < _cpus; cpu++)
        {
            for (int p = 0; p < _progCount; p++)
            {
                var prog = _plan.Programs[p];
                if (!prog.OnCpu[cpu]) continue;
                ref var fs = ref _fire[cpu * _progCount + p];
                fs.FireRng = Xoshiro256.FromSeed(StreamSeeds.Program(scenario.Seed, HostName, cpu, prog.Name, "fire"));
                fs.BodyRng = Xoshiro256.FromSeed(StreamSeeds.Program(scenario.Seed, HostName, cpu, prog.Name, "body"));
                fs.Attached = true;
                FiringProcess.Start(ref fs, prog, 0, cpu);
            }
        }
        RebuildHeap();

        if (_plan.Group.MigrateEveryNs is long every && every > 0) _nextMigrate = every;
        SkipTimelineOfOtherHosts();

        if (captureTrace && _plan.Prints)
        {
            ulong key = StreamSeeds.Host(scenario.Seed, HostName, "kptr");
            _world = new PrintkWorld(_plan.Memory!, _plan.Kallsyms!, key, PrintkCpus());
        }
        if (captureRecords) _records = new List<CapturedRecord>();
        if (_plan.Ringbufs.Length > 0) SetUpRingbufs(); // before the objects: their ringbuf maps bind to these rings
        if (_plan.Objects.Length > 0) SetUpObjects();
    }

    /// <summary>Builds the named host (GROUP-INDEX).</summary>
    public HostSimulation(Scenario scenario, HostId host, bool captureRecords = false, bool captureTrace = false,
        bool perCpuWindows = true, bool perCpuTotals = true)
        : this(scenario, host.Group, host.Index, captureRecords, captureTrace, perCpuWindows, perCpuTotals) { }

    public Scenario Scenario { get; }
    public int GroupIndex { get; }
    public int HostIndex { get; }
    public string HostName { get; }
    public bool CaptureRecords { get; }
    public bool CaptureTrace { get; }
    /// <summary>Windows list every CPU (WindowStats.Cpus); otherwise Cpus is empty and only Totals is filled.</summary>
    public bool PerCpuWindows => _perCpuWindows;
    /// <summary>Every CPU's totals since time 0 are kept (<see cref="CpuTotals"/>).</summary>
    public bool PerCpuTotals => _perCpuTotals;
    /// <summary>CPUs of this host.</summary>
    public int CpuCount => _cpus;
    /// <summary>The window RunWindow expects next (windows run in order from 0).</summary>
    public long NextWindow { get; private set; }
    /// <summary>Every window has run.</summary>
    public bool Finished => NextWindow >= Scenario.WindowCount;
    /// <summary>Virtual time reached (the end of the last window run).</summary>
    public long NowNs => NextWindow * Scenario.WindowNs;

    /// <summary>
    /// Advances virtual time over window windowIndex ([index*window, (index+1)*window)) and
    /// returns what happened in it. Windows must run in order; the conservation of every ring is
    /// checked at the end (ConservationException on a violation).
    /// </summary>
    public WindowStats RunWindow(long windowIndex)
    {
        if (windowIndex != NextWindow)
            throw new InvalidOperationException($"{HostName}: window {windowIndex} requested, the next one is {NextWindow}");
        if (Finished) throw new InvalidOperationException($"{HostName}: the scenario has only {Scenario.WindowCount} windows");
        long start = windowIndex * Scenario.WindowNs;
        long end = start + Scenario.WindowNs;
        BeginWindow();
        RunUntil(end);
        if (_rbs.Length != 0) AdvanceRingbufs(end);
        NextWindow++;
        var stats = EndWindow(windowIndex, start, end);
        VerifyConservation();
        return stats;
    }

    /// <summary>Runs every remaining window.</summary>
    public List<WindowStats> RunToEnd()
    {
        var list = new List<WindowStats>();
        while (!Finished) list.Add(RunWindow(NextWindow));
        return list;
    }

    /// <summary>Per-ring conservation since time 0; throws ConservationException when a ring breaks it.</summary>
    public ConservationResult CheckConservation()
    {
        var rings = new List<RingConservation>();
        foreach (var inst in _allInstances)
        {
            if (inst.Ring is null) continue;
            var rc = Conservation(inst);
            if (!Conserved(inst, rc.Ok)) throw new ConservationException(HostName, rc);
            rings.Add(rc);
        }
        VerifyRingbufs(rings);
        return new ConservationResult(HostName, rings);
    }

    /// <summary>
    /// The kernel model's rings are in 4 KiB pages: N pages of a 16 or 64 KiB page host are the same
    /// data area as 4N or 16N model pages (still a power of two; only the data size matters to records).
    /// </summary>
    private int? ModelPages(int? ringPages) => ringPages * (_plan.Group.EffectivePageSize / PerfRing.PageSize);

    // The agent's view of losses (report.json lost_views), kept in checkpoints once it is not empty.
    private long _lostCallbacks;
    private long _firstLossNs = -1;
    private int _firstLossCpu;
    private string _firstLossReader = "";

    private void FirstLoss(long t, int cpu, Reader? reader)
    {
        _firstLossNs = t;
        _firstLossCpu = cpu;
        _firstLossReader = reader?.Doing(t) ?? "no reader";
    }

    /// <summary>Lost callbacks, samples no LOST record carries yet (the rings' rb->lost), and the first loss.</summary>
    public BpfTraceSim.Contracts.Grains.LostView LostView()
    {
        long unwritten = 0;
        foreach (var inst in _allInstances)
            if (inst.Ring is { } ring) unwritten += (long)ring.LostPending;
        return new BpfTraceSim.Contracts.Grains.LostView
        {
            LostCallbacks = _lostCallbacks, LostUnwritten = unwritten, FirstLossNs = _firstLossNs,
            FirstLossHost = _firstLossNs < 0 ? "" : HostName, FirstLossCpu = _firstLossCpu, FirstLossReader = _firstLossReader,
        };
    }

    /// <summary>The same check as <see cref="CheckConservation"/> after every window, allocating only on a violation.</summary>
    private void VerifyConservation()
    {
        var all = _allInstances;
        for (int i = 0; i < all.Count; i++)
        {
            var inst = all[i];
            if (inst.Ring is not { } ring) continue;
            bool ok = inst.Attempts == inst.Written + inst.Lost && (long)ring.LostTotal == inst.Lost &&
                      inst.Written == inst.Consumed + inst.Unread + inst.Overwritten + inst.Invisible;
            if (!Conserved(inst, ok)) throw new ConservationException(HostName, Conservation(inst));
        }
        if (_rbs.Length != 0) VerifyRingbufs(null);
    }

    private static RingConservation Conservation(EventInstance inst) =>
        new(inst.Plan.Spec.Name, inst.Key, inst.Attempts, inst.Written, inst.Lost, (long)inst.Ring!.LostTotal,
            inst.Consumed, inst.Unread, inst.Overwritten, inst.Invisible);

    /// <summary>
    /// The counts add up (ok) and agree with the kernel model and the mirror: the ring holds what the
    /// mirror holds; the samples in it are the unread ones plus those a per_batch reader has served
    /// but not yet moved the tail past.
    /// </summary>
    private static bool Conserved(EventInstance inst, bool ok)
    {
        var q = inst.Queue!;
        long served = inst.Reader?.ServedNotReleased(inst.ReaderRing) ?? 0;
        return ok && q.Count == inst.Ring!.RecordCount && q.Samples == inst.Unread + served;
    }

    /// <summary>The event instances in open order (tests).</summary>
    internal IReadOnlyList<EventInstance> InstancesForTest => _allInstances;

    /// <summary>Approximate bytes of managed state this host keeps between windows (for capacity planning).</summary>
    public long EstimateStateBytes()
    {
        const int obj = 24; // object header + method table + array length, roughly
        long b = 400 + 8L * 12 * _cpus + (4 + 1 + 4) * (long)_cpus + _taskCpu.Length * 4L;
        b += (long)_fire.Length * Unsafe.SizeOf<FiringState>() + 8L * _heap.Count;
        foreach (var arr in _cpuTasks) b += obj + 4L * arr.Length;
        foreach (var inst in _allInstances)
        {
            b += 120 + 96; // EventInstance, PerfEvent
            if (inst.Ring is { } ring) b += 160 + (ring.RecordIndexCapacity > 0 ? obj + 4L * ring.RecordIndexCapacity : 0) + (long)(ring.CapturePayload ? ring.Size : 0);
            if (inst.Queue is { } q) b += 48 + obj + (long)q.BytesPerEntry * q.Capacity;
        }
        foreach (var m in _maps) b += 2 * (obj + 8L * m.MaxEntries) + obj + 8L * m.MaxEntries;
        foreach (var r in _readers) b += 200 + 16L * ((r.RingCount + 63) / 64);
        return b;
    }

    // ------------------------------------------------------------------ the event loop

    private void RunUntil(long end)
    {
        var timeline = _plan.Timeline;
        while (true)
        {
            long tT = _timelineNext < timeline.Length ? timeline[_timelineNext].AtNs : long.MaxValue;
            long tM = _nextMigrate;
            // Same-time order: timeline, migrations, readers, firings.
            if (tT <= tM && tT < end)
            {
                RunReadersAndFirings(tT);
                ApplyTimeline(timeline[_timelineNext++], tT);
                SkipTimelineOfOtherHosts();
                continue;
            }
            if (tM < end)
            {
                RunReadersAndFirings(tM);
                MigrateAll(tM);
                _nextMigrate = tM + _plan.Group.MigrateEveryNs!.Value;
                continue;
            }
            RunReadersAndFirings(end);
            return;
        }
    }

    /// <summary>Runs reader events and firings due before `limit` (readers first at equal times). Always true.</summary>
    private bool RunReadersAndFirings(long limit)
    {
        var heap = _heap;
        var readers = _readers;
        int shift = heap.SlotBits;
        ulong slotMask = heap.SlotMask;
        int progs = _progCount;
        while (true)
        {
            long tR = long.MaxValue;
            int ri = -1;
            for (int i = 0; i < readers.Length; i++)
            {
                if (readers[i].NextTime < tR)
                {
                    tR = readers[i].NextTime;
                    ri = i;
                }
            }
            ulong top = heap.Count > 0 ? heap.Top : ulong.MaxValue;
            if (tR < limit && (ulong)tR <= top >> shift)
            {
                readers[ri].Step(tR);
                continue;
            }
            // Firings before the reader's next event and the limit (keys below stopKey).
            long stop = Math.Min(tR, limit);
            ulong stopKey = (ulong)stop << shift;
            if (top >= stopKey) return true;
            do
            {
                int slot = (int)(top & slotMask);
                long t = (long)(top >> shift);
                ref var fs = ref _fire[slot];
                int cpu = progs == 1 ? slot : slot / progs;
                var prog = _programs[slot - cpu * progs];
                if (_online[cpu])
                {
                    if (prog.Bpf is null) RunBody(cpu, prog, t, ref fs);
                    else RunObject(cpu, slot, prog, t, ref fs);
                }
                FiringProcess.Next(ref fs, prog, cpu);
                if (fs.NextNs < _durationNs) heap.ReplaceTop(((ulong)fs.NextNs << shift) | (uint)slot);
                else heap.Pop();
                // A firing may have woken a reader: it goes before later firings.
                for (int i = 0; i < readers.Length; i++)
                {
                    if (readers[i].NextTime < stop)
                    {
                        stop = readers[i].NextTime;
                        stopKey = (ulong)stop << shift;
                    }
                }
                top = heap.Count > 0 ? heap.Top : ulong.MaxValue;
            } while (top < stopKey);
        }
    }

    private void RebuildHeap()
    {
        _heap.Clear();
        for (int slot = 0; slot < _fire.Length; slot++)
        {
            ref var fs = ref _fire[slot];
            if (fs.Attached && fs.NextNs < _durationNs) _heap.Push(_heap.Key(fs.NextNs, slot));
        }
    }

    // ------------------------------------------------------------------ a firing

    private void RunBody(int cpu, ProgramPlan prog, long t, ref FiringState fs)
    {
        int task = prog.RowTasks is { } rt && rt[cpu]![fs.K] is var rowTask and >= 0 ? rowTask : CurrentTask(cpu);
        // A trace with sizes: this row's size replaces every output step's size for this firing.
        _rowSize = prog.Trace?.Sizes is { } sizes ? sizes[cpu]![fs.K] : -1;
        var current = task < 0 ? SimTask.Idle : _taskObjs[task];
        var ctx = new HelperContext(cpu, current, prog.Context, (ulong)t);
        _cw[cpu].Firings++;
        var body = prog.Body;
        for (int i = 0; i < body.Length; i++)
        {
            var call = body[i];
            long ret = call.Kind switch
            {
                HelperKind.PerfEventOutput => Output(in ctx, call, ref fs, t),
                HelperKind.PerfEventRead => Read(in ctx, call, t),
                HelperKind.PerfEventReadValue => ReadValue(in ctx, call, t),
                HelperKind.RingbufOutput => RingbufOutput(in ctx, call, ref fs, t),
                HelperKind.RingbufReserve => BodyReserve(in ctx, call, ref fs, t),
                HelperKind.RingbufSubmit or HelperKind.RingbufDiscard => BodyRelease(in ctx, call, t),
                _ => Printf(in ctx, call, ref fs, task),
            };
            if (ret == NotCalled) continue;
            long key = ReturnCounter.Key(cpu, (int)call.Kind, ret);
            int site = cpu * _sites + prog.SiteBase + i;
            ref var sc = ref _site[site];
            if (sc.Key == key) sc.Count++;
            else
            {
                if (sc.Count != 0) CountReturns(sc.Key, sc.Count);
                sc.Key = key;
                sc.Count = 1;
            }
        }
        fs.Counter++;
    }

    /// <summary>The record size of an output step: the trace row's, or the step's (drawn when it is a range).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int SizeOf(CallPlan call, ref FiringState fs) =>
        _rowSize >= 0 ? _rowSize : call.SizeMin == call.SizeMax ? call.SizeMin : (int)fs.BodyRng.NextInclusive(call.SizeMin, call.SizeMax);

    /// <summary>The task a firing on cpu interrupts: the CPU's tasks take turns; idle when it has none.</summary>
    private int CurrentTask(int cpu)
    {
        var list = _cpuTasks[cpu];
        if (list.Length == 0) return -1;
        int i = _rr[cpu];
        if (i >= list.Length) i = 0;
        _rr[cpu] = i + 1;
        return list[i];
    }

    /// <summary>The instance whose event a perf helper with these flags reaches on cpu (the kernel's own slot lookup).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private EventInstance? Resolve(int map, ulong flags, int cpu) =>
        _models[cpu].SlotOf(map, flags)?.Owner is { } owner ? Unsafe.As<EventInstance>(owner) : null;

    private long Output(in HelperContext ctx, CallPlan call, ref FiringState fs, long t)
    {
        int size = SizeOf(call, ref fs);
        return OutputData(in ctx, call.Map, call.Flags, PatternBytes.Of(size), t);
    }

    /// <summary>bpf_perf_event_output of data into map m, with the engine's ring accounting (bodies and object programs).</summary>
    private long OutputData(in HelperContext ctx, int m, ulong flags, ReadOnlySpan<byte> data, long t)
    {
        int size = data.Length;
        var model = _models[ctx.Cpu];
        var inst = Resolve(m, flags, ctx.Cpu);
        var ring = inst?.Ring;
        if (ring is null) return model.PerfEventOutput(in ctx, m, flags, data);
        ulong lostPending = ring.LostPending;
        ulong wakeups = ring.Wakeups;
        long ret = model.PerfEventOutput(in ctx, m, flags, data);
        if (ret == 0) Written(inst!, ring, ctx.Cpu, t, size, lostPending, wakeups);
        else if (ret == -Errno.ENOSPC)
        {
            inst!.Attempts++;
            inst.Lost++;
            _cw[ctx.Cpu].Lost++;
            if (_firstLossNs < 0) FirstLoss(t, ctx.Cpu, inst.Reader);
        }
        return ret;
    }

    private void Written(EventInstance inst, PerfRing ring, int cpu, long t, int size, ulong lostPending, ulong wakeups)
    {
        // header.size is a u16: the ring holds the wrapped size.
        int recSize = (ushort)(inst.FixedSize + (inst.HasRaw ? (size + 4 + 7) & ~7 : 0));
        inst.Attempts++;
        inst.Written++;
        ref var cw = ref _cw[cpu];
        cw.Written++;
        cw.Bytes += recSize;
        var q = inst.Queue!;
        ulong head = ring.DataHead;
        if (lostPending != 0)
            q.Push(t, cpu, lost: true);
        if (recSize != 0)
        {
            q.Push(t, cpu, lost: false);
            inst.Unread++;
            cw.InRing++;
        }
        else
        {
            inst.Invisible++;
            cw.Invisible++;
        }
        long used;
        if (ring.Overwrite)
        {
            while (q.Count > ring.RecordCount)
            {
                int from = q.PopOldest();
                inst.Overwritten++;
                inst.Unread--;
                _cw[from].InRing--;
                _cw[from].Overwritten++;
            }
            used = (long)ring.Used;
        }
        else used = (long)(head - ring.DataTail);
        if (used > cw.FillMax) cw.FillMax = used;
        var reader = inst.Reader;
        if (ring.Wakeups != wakeups)
        {
            cw.Wakeups++;
            reader?.Signal(inst.ReaderRing, t);
        }
        // Setting the bit again is harmless; above 2 entries the ring was not empty before, so it is set.
        if (reader is not null && q.Count <= 2) reader.MarkNonEmpty(inst.ReaderRing);
    }

    private long Read(in HelperContext ctx, CallPlan call, long t)
    {
        if (Resolve(call.Map, call.Flags, ctx.Cpu) is { } inst) AdvanceEvent(inst, t);
        ulong v = _models[ctx.Cpu].PerfEventRead(in ctx, call.Map, call.Flags);
        // The counter is not a return code: successes count under 0, errors under their errno.
        return v >= unchecked((ulong)-4095L) ? (long)v : 0;
    }

    private long ReadValue(in HelperContext ctx, CallPlan call, long t)
    {
        if (Resolve(call.Map, call.Flags, ctx.Cpu) is { } inst) AdvanceEvent(inst, t);
        Span<byte> buf = call.BufSize <= 256 ? stackalloc byte[256] : Scratch(call.BufSize);
        return _models[ctx.Cpu].PerfEventReadValue(in ctx, call.Map, call.Flags, buf[..call.BufSize]);
    }

    private Span<byte> Scratch(int n)
    {
        if (_scratch is null || _scratch.Length < n) _scratch = new byte[Math.Max(n, 4096)];
        return _scratch;
    }

    private long Printf(in HelperContext ctx, CallPlan call, ref FiringState fs, int task)
    {
        var world = _world ?? _plan.SharedWorld!;
        var model = _models[ctx.Cpu];
        var args = call.Args;
        Span<ulong> values = stackalloc ulong[Math.Max(args.Length, 3)];
        values.Clear();
        for (int i = 0; i < args.Length; i++)
        {
            var a = args[i];
            values[i] = a.Kind switch
            {
                FormatArgKind.Pid => (ulong)(long)ctx.Current.Tgid,
                FormatArgKind.Tid => (ulong)(long)ctx.Current.Pid,
                FormatArgKind.Cpu => (ulong)ctx.Cpu,
                FormatArgKind.Counter => (ulong)fs.Counter,
                FormatArgKind.Random => fs.BodyRng.Next(),
                FormatArgKind.Time => ctx.NowNs,
                FormatArgKind.Comm => task < 0 ? _plan.IdleCommAddress : _plan.Tasks[task].CommAddress,
                _ => a.Value,
            };
        }
        switch (call.Kind)
        {
            case HelperKind.TracePrintk:
                return model.TracePrintk(in ctx, world, call.Fmt, values[0], values[1], values[2]);
            case HelperKind.TraceVprintk:
                return model.TraceVprintk(in ctx, world, call.Fmt,
                    MemoryMarshal.AsBytes(values[..args.Length]), dataIsNull: false);
            default:
            {
                Span<byte> str = call.BufSize <= 1024 ? stackalloc byte[1024] : Scratch(call.BufSize);
                return model.Snprintf(in ctx, world, str[..call.BufSize], call.Fmt,
                    MemoryMarshal.AsBytes(values[..args.Length]), dataIsNull: false);
            }
        }
    }

    /// <summary>Brings an event's enabled/running times (and a clock's count) up to t.</summary>
    private static void AdvanceEvent(EventInstance inst, long t)
    {
        long d = t - inst.LastAdvanceNs;
        if (d <= 0) return;
        // Tasks always run in this model, so an enabled event is also running (per-task events have cpu -1).
        inst.Event.Advance((ulong)d, running: true);
        inst.LastAdvanceNs = t;
    }

    /// <summary>The CPUs' printk state, by CPU: what a world's trace_pipe merges (a placeholder when the trace is not kept).</summary>
    private PrintkCpu[] PrintkCpus()
    {
        if (!CaptureTrace) return [new PrintkCpu(0, bufferSizeKb: 1)];
        var list = new PrintkCpu[_cpus];
        for (int c = 0; c < _cpus; c++) list[c] = _models[c].Printk;
        return list;
    }

    // ------------------------------------------------------------------ the reader's side

    /// <param name="index">The entry's position in the ring's queue (0: the oldest).</param>
    internal void OnConsumed(EventInstance inst, in RingEntry e, int index, long t)
    {
        inst.Consumed++;
        inst.Unread--;
        ref var cw = ref _cw[e.Cpu];
        cw.Consumed++;
        cw.InRing--;
        long lag = t - e.Time;
        if (_lag is not null) (_lag[e.Cpu] ??= new LagHistogram.Builder()).Record(lag);
        else _hostLag.Record(lag);
        if (_lagTotal is not null) (_lagTotal[e.Cpu] ??= new LagHistogram.Builder()).Record(lag);
        if (_records is not null) Capture(inst, e, index, t);
    }

    internal void OnLostSeen(EventInstance inst, in RingEntry e, int index, long t)
    {
        _lostCallbacks++;
        _cw[e.Cpu].LostReported += e.Lost;
        if (_records is not null) Capture(inst, e, index, t);
    }

    private void Capture(EventInstance inst, in RingEntry e, int index, long t)
    {
        var bytes = new byte[e.Size];
        inst.Ring!.Read(inst.Ring.GetRecord(index).Start, bytes);
        _records!.Add(new CapturedRecord(HostName, e.Cpu, inst.Plan.Spec.Name, e.Time, t, e.Size, e.IsLost,
            e.IsLost ? e.Lost : 0, Convert.ToHexStringLower(bytes)));
    }

    // ------------------------------------------------------------------ windows

    private void BeginWindow()
    {
        // The fill a window starts with is part of its high-water mark.
        foreach (var inst in _allInstances)
        {
            if (inst.Ring is not { } ring || inst.Task >= 0) continue;
            long used = (long)ring.Used;
            if (used > _cw[inst.Key].FillMax) _cw[inst.Key].FillMax = used;
        }
    }

    /// <summary>Counts n calls under a (CPU, helper, return) key: this window's counts and the CPU's totals.</summary>
    private void CountReturns(long key, long n)
    {
        _returns.Add(_perCpuWindows ? key : ReturnCounter.WithoutCpu(key), n);
        _returnsTotal?.Add(key, n);
    }

    private WindowStats EndWindow(long index, long start, long end)
    {
        for (int site = 0; site < _site.Length; site++)
        {
            ref var sc = ref _site[site];
            if (sc.Count == 0) continue;
            CountReturns(sc.Key, sc.Count);
            sc.Count = 0;
        }
        return _perCpuWindows ? EndWindowPerCpu(index, start, end) : EndWindowHost(index, start, end);
    }

    /// <summary>The window with every CPU's counters (small fleets, the heat map, tests).</summary>
    private WindowStats EndWindowPerCpu(long index, long start, long end)
    {
        var perCpu = ReturnsByCpu(_returns);
        _returns.Clear();

        var cpus = new CpuWindowStats[_cpus];
        var lags = new List<LagHistogram>();
        var allReturns = new List<HelperReturnCount>();
        var sum = new CpuWindow();
        for (int c = 0; c < _cpus; c++)
        {
            ref var cw = ref _cw[c];
            var lag = _lag![c] is { Count: > 0 } b ? b.Build() : LagHistogram.Empty;
            if (lag.Count > 0) lags.Add(lag);
            if (perCpu[c] is { } l) allReturns.AddRange(l);
            cpus[c] = new CpuWindowStats(c, cw.ToCounters(perCpu[c] is { } l2 ? HelperReturns.From(l2) : HelperReturns.Empty, lag));
            sum.Add(in cw);
            CloseCpuWindow(c);
        }
        return Window(index, start, end, cpus, in sum, HelperReturns.From(allReturns), LagHistogram.Sum(lags));
    }

    /// <summary>The window as the host's sums only: no per-CPU objects, whatever the number of CPUs.</summary>
    private WindowStats EndWindowHost(long index, long start, long end)
    {
        var returns = Returns(_returns);
        _returns.Clear();
        var sum = new CpuWindow();
        for (int c = 0; c < _cpus; c++)
        {
            sum.Add(in _cw[c]);
            CloseCpuWindow(c);
        }
        return Window(index, start, end, [], in sum, HelperReturns.From(returns), _hostLag.BuildAndReuse());
    }

    /// <summary>Folds a CPU's window into its totals and starts its next window (samples in rings stay).</summary>
    private void CloseCpuWindow(int c)
    {
        ref var cw = ref _cw[c];
        if (_ct is not null)
        {
            _ct[c].AddLater(in cw);
        }
        long inRing = cw.InRing;
        cw = default;
        cw.InRing = inRing;
    }

    /// <summary>Every CPU's counters since time 0 (at a window boundary); needs perCpuTotals.</summary>
    public SimCounters[] CpuTotals()
    {
        if (_ct is null) throw new InvalidOperationException($"{HostName}: per-CPU totals are not kept (perCpuTotals: false)");
        var perCpu = ReturnsByCpu(_returnsTotal!);
        var result = new SimCounters[_cpus];
        for (int c = 0; c < _cpus; c++)
        {
            var lag = _lagTotal![c] is { Count: > 0 } b ? b.Snapshot() : LagHistogram.Empty;
            result[c] = _ct[c].ToCounters(perCpu[c] is { } l ? HelperReturns.From(l) : HelperReturns.Empty, lag);
        }
        return result;
    }

    /// <summary>Sets every CPU's totals (a restored host: the totals stored beside its checkpoint).</summary>
    public void RestoreCpuTotals(SimCounters[] totals)
    {
        if (_ct is null) throw new InvalidOperationException($"{HostName}: per-CPU totals are not kept (perCpuTotals: false)");
        if (totals.Length != _cpus) throw new CheckpointMismatchException($"{HostName}: {totals.Length} CPU totals for {_cpus} CPUs");
        _returnsTotal!.Clear();
        for (int c = 0; c < _cpus; c++)
        {
            var t = totals[c];
            _ct[c] = CpuWindow.From(t);
            CountTotals(_returnsTotal, c, t.Helpers);
            _lagTotal![c] = null;
            if (t.ConsumerLag.Count > 0) (_lagTotal[c] = new LagHistogram.Builder()).Add(t.ConsumerLag);
        }
    }

    /// <summary>The host's counters since time 0 (at a window boundary).</summary>
    public SimCounters Totals()
    {
        return _hostTotal.ToCounters(HelperReturns.From(Returns(_hostReturnsTotal)), _hostLagTotal.Snapshot());
    }

    /// <summary>A counter's (helper, return, count) entries, whatever CPU they were counted on.</summary>
    private List<HelperReturnCount> Returns(ReturnCounter counter)
    {
        var list = new List<HelperReturnCount>(counter.Used);
        counter.ForEach((key, count) =>
        {
            ReturnCounter.Split(key, out _, out int kind, out long ret);
            list.Add(new HelperReturnCount(_plan.KindNames[kind], ret, count));
        });
        return list;
    }

    /// <summary>A counter's entries by the CPU they were counted on (null: none on that CPU).</summary>
    private List<HelperReturnCount>?[] ReturnsByCpu(ReturnCounter counter)
    {
        var perCpu = new List<HelperReturnCount>?[_cpus];
        counter.ForEach((key, count) =>
        {
            ReturnCounter.Split(key, out int cpu, out int kind, out long ret);
            (perCpu[cpu] ??= new List<HelperReturnCount>()).Add(new HelperReturnCount(_plan.KindNames[kind], ret, count));
        });
        return perCpu;
    }

    /// <summary>Sets the host's totals (a restored host: the totals stored beside its checkpoint).</summary>
    public void RestoreTotals(SimCounters totals)
    {
        _hostTotal = CpuWindow.From(totals);
        _hostReturnsTotal.Clear();
        CountTotals(_hostReturnsTotal, 0, totals.Helpers);
        _hostLagTotal.BuildAndReuse();
        _hostLagTotal.Add(totals.ConsumerLag);
    }

    private void CountTotals(ReturnCounter into, int cpu, HelperReturns returns)
    {
        foreach (var e in returns.Entries)
        {
            int kind = Array.IndexOf(_plan.KindNames, e.Helper);
            if (kind < 0) throw new CheckpointMismatchException($"{HostName}: helper {e.Helper} is not called by this scenario");
            into.Add(ReturnCounter.Key(cpu, kind, e.Ret), e.Count);
        }
    }

    private WindowStats Window(long index, long start, long end, CpuWindowStats[] cpus, in CpuWindow sum, HelperReturns returns, LagHistogram lag)
    {
        _hostTotal.AddLater(in sum);
        CountTotals(_hostReturnsTotal, 0, returns);
        _hostLagTotal.Add(lag);
        var totals = sum.ToCounters(returns, lag);

        IReadOnlyList<CapturedRecord> records = [];
        if (_records is { Count: > 0 })
        {
            records = _records.ToArray();
            _records.Clear();
        }
        IReadOnlyList<string> trace = [];
        // Bodies and objects print into the same per-CPU trace rings: either world's trace_pipe reads them all.
        if ((_world ?? (CaptureTrace ? _bpfWorld : null)) is { } traced)
        {
            var text = new List<string>();
            foreach (var line in traced.TracePipe.ReadLines()) text.Add(System.Text.Encoding.UTF8.GetString(line));
            trace = text;
        }
        return new WindowStats
        {
            Host = HostName,
            GroupIndex = GroupIndex,
            HostIndex = HostIndex,
            WindowIndex = index,
            StartNs = start,
            EndNs = end,
            Cpus = cpus,
            Totals = totals,
            Records = records,
            TraceLines = trace,
        };
    }
}

using System.Runtime.CompilerServices;
using System.Text;
using BpfTraceSim.Contracts.Scenarios;
using BpfTraceSim.Kernel;
using BpfTraceSim.Kernel.Perf;
using BpfTraceSim.Kernel.Printk;

namespace BpfTraceSim.Grains.Simulation;

/// <summary>The helpers a body can call (the index is part of the return-count keys).</summary>
internal enum HelperKind
{
    PerfEventOutput = 0,
    PerfEventRead = 1,
    PerfEventReadValue = 2,
    TracePrintk = 3,
    TraceVprintk = 4,
    Snprintf = 5,
    RingbufOutput = 6,
    RingbufReserve = 7,
    RingbufSubmit = 8,
    RingbufDiscard = 9,
}

internal sealed class TaskPlan
{
    public required SimTask Task;
    public int InitialCpu;
    /// <summary>Kernel address of the task's comm (16 bytes, NUL padded) in the plan's memory.</summary>
    public ulong CommAddress;
}

internal sealed class EventPlan
{
    public required EventSpec Spec;
    public required PerfEventAttr Attr;
    public int Index;
    public bool PerTask;
    /// <summary>Per-task events: the tasks (indices into Tasks) that get an instance.</summary>
    public int[] TaskIndices = [];
    /// <summary>header + fixed sample fields (bytes).</summary>
    public int FixedSize;
    public bool HasRaw;
    /// <summary>Index of the consumer reading it, or -1.</summary>
    public int Consumer = -1;
    /// <summary>Records a per-CPU ring is expected to hold at once: its queues start that large (a hint, no effect on results).</summary>
    public int ExpectedRecords = 4;
}

internal sealed class ArgPlan
{
    public FormatArgKind Kind;
    /// <summary>A constant's value, or the address of a string in the plan's memory.</summary>
    public ulong Value;
}

internal sealed class CallPlan
{
    public HelperKind Kind;
    public int Map = -1;
    public ulong Flags;
    public int SizeMin, SizeMax;
    /// <summary>read_value's size, snprintf's str_size.</summary>
    public int BufSize;
    /// <summary>The format with its NUL (fmt_size = its length).</summary>
    public byte[] Fmt = [];
    public ArgPlan[] Args = [];
}

internal sealed class ProgramPlan
{
    public required string Name;
    public int Index;
    public required bool[] OnCpu;
    public required FireSpec Fire;
    public FireKind Kind;
    public ExecContext Context;
    public required CallPlan[] Body;
    /// <summary>Index of the body's first call among all call sites of the plan.</summary>
    public int SiteBase;
    /// <summary>An object program (Body is empty): the program and its object's index in HostPlan.Objects.</summary>
    public BpfTraceSim.Bpf.Loader.BpfProgram? Bpf;
    public int ObjectIndex = -1;
    /// <summary>A trace program: its rows (shared by every host; read-only).</summary>
    public TraceData? Trace;
    /// <summary>A rates program: its steps per CPU.</summary>
    public RatesData? Rates;
    /// <summary>Trace / rates: the loop period (0: once).</summary>
    public long LoopNs;
    /// <summary>A fitted trace program (`fit: on_off`): its per-CPU model.</summary>
    public OnOffFit? Fit;
    /// <summary>A trace with a task column: per CPU and row, the index of the group's task with that pid, or -1 (round robin).</summary>
    public int[]?[]? RowTasks;
}

internal sealed class ConsumerPlan
{
    public required ConsumerSpec Spec;
    public int Index;
    public required int[] Events;
}

/// <summary>
/// What every host of one group shares: the scenario compiled into arrays (tasks, events, maps,
/// programs with their bodies, consumers, the timeline entries that can concern the group) and
/// the read-only kernel memory printk arguments point into. Built once per (scenario, group) and
/// cached; immutable, so hosts on different threads share it.
/// </summary>
internal sealed partial class HostPlan
{
    private static readonly ConditionalWeakTable<Scenario, HostPlan?[]> Cache = new();

    /// <summary>The hosts a timeline action is for (all of them when it names none).</summary>
    public static HostSelector HostsOf(TimelineAction a) => a switch
    {
        CpuOfflineAction x => x.Host,
        CpuOnlineAction x => x.Host,
        SlotsAction x => x.Host,
        ConsumerStallAction x => x.Host,
        TaskMigrateAction x => x.Host,
        EventDisableAction x => x.Host,
        EventEnableAction x => x.Host,
        _ => HostSelector.All,
    };

    /// <summary>The helper id of each body HelperKind, in HelperKind order.</summary>
    public static readonly int[] HelperKindIds =
    [
        HelperProtos.PerfEventOutput, HelperProtos.PerfEventRead, HelperProtos.PerfEventReadValue,
        HelperProtos.TracePrintk, HelperProtos.TraceVprintk, HelperProtos.Snprintf, HelperProtos.RingbufOutput,
        HelperProtos.RingbufReserve, HelperProtos.RingbufSubmit, HelperProtos.RingbufDiscard,
    ];

    /// <summary>Helper names by HelperKind (the prototypes' names).</summary>
    public static readonly string[] HelperNames = Array.ConvertAll(HelperKindIds, BpfHelperNames.Name);

    public required Scenario Scenario;
    public int GroupIndex;
    public required HostGroup Group;
    public int Cpus;
    public required TaskPlan[] Tasks;
    public required EventPlan[] Events;
    public required MapSpec[] Maps;
    /// <summary>Per map: its slots at time 0 (null: empty).</summary>
    public required SlotsSpec?[] InitialSlots;
    public required ProgramPlan[] Programs;
    public required ConsumerPlan[] Consumers;
    /// <summary>Timeline entries whose selector can include a host of this group, in time order.</summary>
    public required TimelineAction[] Timeline;
    /// <summary>Some body calls a printf-like helper.</summary>
    public bool Prints;
    public SimMemory? Memory;
    public Kallsyms? Kallsyms;
    /// <summary>A world for hosts that do not keep their trace: only its memory, symbols and %p key are used.</summary>
    public PrintkWorld? SharedWorld;
    public ulong IdleCommAddress;
    public string[] EventNames = [];
    /// <summary>Body calls over all programs (each is a call site with its own return-count cache per CPU).</summary>
    public int CallSites;
    /// <summary>The BPF objects object programs come from (one BpfInstance each per host).</summary>
    public BpfTraceSim.Bpf.Loader.BpfObject[] Objects = [];
    /// <summary>Helper names by return-count kind: HelperNames, then the other helpers object programs call.</summary>
    public string[] KindNames = HelperNames;
    /// <summary>Return-count kind of each helper id an object program calls (-1: none).</summary>
    public int[] KindById = [];

    /// <summary>
    /// How many records a per-CPU ring of ep will hold at the most, roughly: four times what the
    /// CPU's programs write before its reader comes (its poll timeout, or its wake-up: wakeup_events
    /// records or the watermark's bytes), the whole ring when nobody reads, as a power of two from
    /// 4 to 256. Queues that start there do not grow (and leave garbage) window after window on
    /// every CPU of a large fleet. A hint for memory only: results never depend on it.
    /// </summary>
    private static int ExpectedRecords(HostPlan plan, EventPlan ep)
    {
        long ringBytes = (ep.Spec.RingPages ?? 0) * (long)plan.Group.EffectivePageSize;
        double perSecond = 0;
        int smallest = int.MaxValue;
        foreach (var p in plan.Programs)
        {
            int outputs = 0;
            foreach (var call in p.Body)
            {
                if (call.Kind != HelperKind.PerfEventOutput) continue;
                outputs++;
                smallest = Math.Min(smallest, ep.FixedSize + (ep.HasRaw ? (call.SizeMin + 4 + 7) & ~7 : 0));
            }
            perSecond += outputs * p.Fire switch
            {
                ConstantFire c => c.RatePerSec,
                PoissonFire c => c.RatePerSec,
                BurstsFire b => b.EveryNs > 0 ? b.Size * 1e9 / b.EveryNs : 0,
                PiecewiseFire pw => pw.Steps.Length == 0 ? 0 : pw.Steps.Max(st => st.RatePerSec),
                TraceFire { Fit: { } fit } => fit.Cpus.Length == 0 ? 0 : fit.Cpus.Max(c => c.MeanRatePerSec),
                TraceFire t => p.Trace is { LastNs: > 0 } d ? d.Rows / Math.Max(1, d.CpusUsed) * 1e9 / d.LastNs : 0,
                _ => 0,
            };
        }
        long recordBytes = Math.Max(8, smallest == int.MaxValue ? ep.FixedSize : smallest);
        double expected = ringBytes / recordBytes;
        if (ep.Consumer >= 0)
        {
            double perWakeup = (ep.Spec.Watermark ?? ringBytes / 2) / (double)recordBytes;
            if (ep.Spec.Watermark is null && ep.Spec.WakeupEvents > 0) perWakeup = Math.Min(perWakeup, ep.Spec.WakeupEvents);
            double perPoll = perSecond * plan.Consumers[ep.Consumer].Spec.PollTimeoutNs / 1e9;
            expected = Math.Min(expected, 4 * Math.Min(perWakeup, perPoll));
        }
        long cap = Math.Clamp((long)expected, 4, 256);
        return (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)cap);
    }

    public static HostPlan For(Scenario scenario, int groupIndex)
    {
        var plans = Cache.GetValue(scenario, s => new HostPlan?[s.Fleet.Length]);
        if (Volatile.Read(ref plans[groupIndex]) is { } built) return built; // every host of the group after the first
        lock (plans)
        {
            if (plans[groupIndex] is { } plan) return plan;
            plan = Build(scenario, groupIndex);
            Volatile.Write(ref plans[groupIndex], plan);
            return plan;
        }
    }

    public int MapIndex(string name)
    {
        for (int i = 0; i < Maps.Length; i++)
            if (Maps[i].Name == name) return i;
        return -1;
    }

    public int EventIndex(string name)
    {
        for (int i = 0; i < Events.Length; i++)
            if (Events[i].Spec.Name == name) return i;
        return -1;
    }

    public int ProgramIndex(string name)
    {
        for (int i = 0; i < Programs.Length; i++)
            if (Programs[i].Name == name) return i;
        return -1;
    }

    public int ConsumerIndex(string name)
    {
        for (int i = 0; i < Consumers.Length; i++)
            if (Consumers[i].Spec.Name == name) return i;
        return -1;
    }

    private static HostPlan Build(Scenario s, int groupIndex)
    {
        var group = s.Fleet[groupIndex];
        int cpus = group.Cpus;

        // Tasks: task k of the group on CPU k mod cpus, or from its spec's first CPU round robin.
        var tasks = new List<TaskPlan>();
        int k = 0;
        foreach (var ts in group.Tasks)
        {
            for (int i = 0; i < ts.Count; i++, k++)
            {
                int pid = ts.Pid + i;
                int cpu = ts.Cpu is int first ? (first + i) % cpus : k % cpus;
                tasks.Add(new TaskPlan { Task = new SimTask(pid, pid, ts.Comm), InitialCpu = cpu });
            }
        }

        var events = new EventPlan[s.Events.Length];
        for (int i = 0; i < events.Length; i++)
        {
            var e = s.Events[i];
            var attr = new PerfEventAttr((uint)e.Type, e.Config, e.SampleType, e.Pinned, e.Inherit, e.Disabled,
                (uint)e.WakeupEvents, (uint)(e.Watermark ?? 0));
            var plan = new EventPlan
            {
                Spec = e,
                Attr = attr,
                Index = i,
                PerTask = e.Per == EventScope.Task,
                FixedSize = PerfConstants.PerfEventHeaderSize +
                            8 * System.Numerics.BitOperations.PopCount(e.SampleType & FixedSampleFields),
                HasRaw = (e.SampleType & PerfConstants.PERF_SAMPLE_RAW) != 0,
            };
            if (plan.PerTask)
            {
                var idx = new List<int>();
                for (int t = 0; t < tasks.Count; t++)
                    if (e.Comm is null || e.Comm == tasks[t].Task.Comm) idx.Add(t);
                plan.TaskIndices = idx.ToArray();
            }
            events[i] = plan;
        }

        var maps = Array.FindAll(s.Maps.ToArray(), m => m.Type != MapType.Ringbuf); // rings: RingbufPlans
        var ringbufs = Array.FindAll(s.Maps.ToArray(), m => m.Type == MapType.Ringbuf);
        var initial = new SlotsSpec?[maps.Length];
        foreach (var sl in s.Slots)
        {
            for (int m = 0; m < maps.Length; m++)
                if (maps[m].Name == sl.Map) initial[m] = sl;
        }

        var perfConsumers = s.Consumers.Where(c => c.Ringbuf is null).ToArray();
        var consumers = new ConsumerPlan[perfConsumers.Length];
        for (int c = 0; c < consumers.Length; c++)
        {
            var spec = perfConsumers[c];
            var evs = new List<int>();
            foreach (var name in spec.Events)
            {
                for (int e = 0; e < events.Length; e++)
                {
                    if (events[e].Spec.Name != name) continue;
                    events[e].Consumer = c;
                    evs.Add(e);
                }
            }
            consumers[c] = new ConsumerPlan { Spec = spec, Index = c, Events = evs.ToArray() };
        }

        var plan0 = new HostPlan
        {
            Scenario = s,
            GroupIndex = groupIndex,
            Group = group,
            Cpus = cpus,
            Tasks = tasks.ToArray(),
            Events = events,
            Maps = maps,
            InitialSlots = initial,
            Programs = [],
            Consumers = consumers,
            Ringbufs = RingbufPlans(s, ringbufs),
            Timeline = [],
            EventNames = Array.ConvertAll(events, e => e.Spec.Name),
        };

        // Printk memory first: bodies need the addresses of their string arguments.
        bool prints = s.Programs.Any(p => p.Body.Any(b => b is TracePrintkCall or TraceVprintkCall or SnprintfCall));
        if (prints)
        {
            plan0.Prints = true;
            var mem = new SimMemory();
            foreach (var t in plan0.Tasks) t.CommAddress = mem.Map(AddressSpace.Kernel, CommBytes(t.Task.Comm), writable: false);
            plan0.IdleCommAddress = mem.Map(AddressSpace.Kernel, CommBytes(SimTask.Idle.Comm), writable: false);
            plan0.Memory = mem;
            plan0.Kallsyms = new Kallsyms();
        }

        var programs = new List<ProgramPlan>();
        var objects = new List<BpfTraceSim.Bpf.Loader.BpfObject>();
        var objectPaths = new List<string>();
        var kindNames = new List<string>(HelperNames);
        var kindById = new int[256];
        Array.Fill(kindById, -1);
        for (int p = 0; p < s.Programs.Length; p++)
        {
            var ps = s.Programs[p];
            if (!ps.Groups.IsDefaultOrEmpty && !ps.Groups.Contains(group.Group)) continue;
            var on = new bool[cpus];
            if (ps.AllCpus) Array.Fill(on, true);
            else foreach (int c in ps.Cpus) if (c < cpus) on[c] = true;
            var body = new CallPlan[ps.Body.Length];
            for (int b = 0; b < body.Length; b++) body[b] = Compile(plan0, ps, b, ps.Body[b]);
            var pp = new ProgramPlan
            {
                Name = ps.Name,
                Index = p,
                OnCpu = on,
                Fire = ps.Fire,
                Kind = FiringProcess.KindOf(ps.Fire),
                Context = (ExecContext)(int)ps.Context,
                Body = body,
            };
            if (ps.Object is not null) LoadObject(ps, pp, objects, objectPaths, kindNames, kindById);
            SetUpData(pp, plan0.Tasks);
            programs.Add(pp);
        }
        plan0.Programs = programs.ToArray();
        plan0.Objects = objects.ToArray();
        foreach (var ep in events) ep.ExpectedRecords = ExpectedRecords(plan0, ep);
        plan0.KindNames = kindNames.ToArray();
        plan0.KindById = kindById;
        foreach (var pp in plan0.Programs)
        {
            pp.SiteBase = plan0.CallSites;
            plan0.CallSites += pp.Body.Length;
        }

        var tl = new List<TimelineAction>();
        foreach (var a in s.Timeline)
        {
            var sel = HostsOf(a);
            if (sel.Group is null || sel.Group == group.Group) tl.Add(a);
        }
        plan0.Timeline = tl.ToArray();

        if (prints)
        {
            ulong key = StreamSeeds.Host(s.Seed, group.Group, "printk-shared");
            plan0.SharedWorld = new PrintkWorld(plan0.Memory!, plan0.Kallsyms!, key, cpus: 1, bufferSizeKb: 1);
        }
        return plan0;
    }

    /// <summary>A trace or rates program's parsed file (read once per process) and its pids as the group's tasks.</summary>
    private static void SetUpData(ProgramPlan pp, TaskPlan[] tasks)
    {
        switch (pp.Fire)
        {
            case TraceFire t:
                pp.Trace = TraceFiles.Data(t);
                pp.LoopNs = t.LoopNs;
                pp.Fit = t.Fit;
                if (pp.Trace.Pids is { } pids) pp.RowTasks = RowTasks(pids, pp.Trace.Counts, tasks);
                break;
            case RatesFire r:
                pp.Rates = TraceFiles.Data(r);
                pp.LoopNs = r.LoopNs;
                break;
        }
    }

    private static int[]?[] RowTasks(int[]?[] pids, int[] counts, TaskPlan[] tasks)
    {
        var byPid = new Dictionary<int, int>();
        for (int i = 0; i < tasks.Length; i++) byPid.TryAdd(tasks[i].Task.Pid, i);
        var rows = new int[]?[pids.Length];
        for (int c = 0; c < pids.Length; c++)
        {
            if (pids[c] is not { } p) continue;
            var r = new int[counts[c]];
            for (int i = 0; i < r.Length; i++) r[i] = byPid.TryGetValue(p[i], out int ti) ? ti : -1;
            rows[c] = r;
        }
        return rows;
    }

    /// <summary>
    /// Loads an object program's ELF (path relative to the current directory: the parsed scenario
    /// does not keep its file's path) and gives every helper it calls a return-count kind.
    /// </summary>
    private static void LoadObject(ProgramSpec ps, ProgramPlan pp, List<BpfTraceSim.Bpf.Loader.BpfObject> objects,
        List<string> objectPaths, List<string> kindNames, int[] kindById)
    {
        string path = Path.GetFullPath(ps.Object!);
        int oi = objectPaths.IndexOf(path);
        try
        {
            if (oi < 0)
            {
                objects.Add(BpfTraceSim.Bpf.Loader.BpfObjectStore.Shared.Open(path));
                objectPaths.Add(path);
                oi = objects.Count - 1;
            }
            pp.Bpf = objects[oi].FindProgram(ps.Section);
        }
        catch (Exception e) when (e is BpfTraceSim.Bpf.Loader.BpfLoadException or IOException or UnauthorizedAccessException)
        {
            throw new SimulationSetupException($"programs.{ps.Name}: object {ps.Object}: {e.Message}");
        }
        pp.ObjectIndex = oi;
        foreach (var use in pp.Bpf.HelperCalls)
        {
            if ((uint)use.HelperId >= (uint)kindById.Length || kindById[use.HelperId] >= 0) continue;
            string name = BpfHelperNames.Name(use.HelperId);
            int k = kindNames.IndexOf(name);
            if (k < 0)
            {
                // The return-count key holds the kind in 5 bits (the body helpers' kinds included).
                if (kindNames.Count >= ReturnCounter.MaxKinds)
                    throw new SimulationSetupException($"programs.{ps.Name}: the object programs call more than {ReturnCounter.MaxKinds - HelperNames.Length} distinct helpers besides the body helpers");
                kindNames.Add(name);
                k = kindNames.Count - 1;
            }
            kindById[use.HelperId] = k;
        }
    }

    private const ulong FixedSampleFields =
        PerfConstants.PERF_SAMPLE_IP | PerfConstants.PERF_SAMPLE_TID | PerfConstants.PERF_SAMPLE_TIME |
        PerfConstants.PERF_SAMPLE_ADDR | PerfConstants.PERF_SAMPLE_ID | PerfConstants.PERF_SAMPLE_CPU |
        PerfConstants.PERF_SAMPLE_PERIOD | PerfConstants.PERF_SAMPLE_STREAM_ID;

    private static byte[] CommBytes(string comm)
    {
        var b = new byte[16]; // TASK_COMM_LEN
        var src = Encoding.UTF8.GetBytes(comm);
        src.AsSpan(0, Math.Min(src.Length, 15)).CopyTo(b);
        return b;
    }

    private static CallPlan Compile(HostPlan plan, ProgramSpec ps, int b, HelperCall call)
    {
        string where = $"programs.{ps.Name}.body[{b}]";
        switch (call)
        {
            case PerfEventOutputCall o:
                return new CallPlan
                {
                    Kind = HelperKind.PerfEventOutput, Map = MapOf(plan, o.Map, where), Flags = o.Flags,
                    SizeMin = o.Size.Min, SizeMax = o.Size.Max,
                };
            case RingbufOutputCall rb:
                return new CallPlan
                {
                    Kind = HelperKind.RingbufOutput, Map = plan.RingbufIndex(rb.Map), Flags = rb.Flags,
                    SizeMin = rb.Size.Min, SizeMax = rb.Size.Max,
                };
            case RingbufReserveCall rr:
                return new CallPlan
                {
                    Kind = HelperKind.RingbufReserve, Map = plan.RingbufIndex(rr.Map), Flags = rr.Flags,
                    SizeMin = rr.Size.Min, SizeMax = rr.Size.Max,
                };
            case RingbufSubmitCall sb:
                return new CallPlan { Kind = HelperKind.RingbufSubmit, Flags = sb.Flags };
            case RingbufDiscardCall dc:
                return new CallPlan { Kind = HelperKind.RingbufDiscard, Flags = dc.Flags };
            case PerfEventReadCall r:
                return new CallPlan { Kind = HelperKind.PerfEventRead, Map = MapOf(plan, r.Map, where), Flags = r.Flags };
            case PerfEventReadValueCall rv:
                return new CallPlan
                {
                    Kind = HelperKind.PerfEventReadValue, Map = MapOf(plan, rv.Map, where), Flags = rv.Flags, BufSize = rv.Size,
                };
            case TracePrintkCall tp:
                return Printf(plan, where, HelperKind.TracePrintk, PrintfHelper.TracePrintk, tp.Fmt, tp.Args, 0);
            case TraceVprintkCall tv:
                return Printf(plan, where, HelperKind.TraceVprintk, PrintfHelper.TraceVprintk, tv.Fmt, tv.Args, 0);
            case SnprintfCall sn:
                return Printf(plan, where, HelperKind.Snprintf, PrintfHelper.Snprintf, sn.Fmt, sn.Args, sn.Size);
            default:
                throw new SimulationSetupException($"{where}: helper {call.GetType().Name} is not simulated");
        }
    }

    private static int MapOf(HostPlan plan, string name, string where)
    {
        int m = plan.MapIndex(name);
        if (m < 0) throw new SimulationSetupException($"{where}: undefined map '{name}'");
        return m;
    }

    private static CallPlan Printf(HostPlan plan, string where, HelperKind kind, PrintfHelper helper, string fmt,
        System.Collections.Immutable.ImmutableArray<FormatArg> args, int bufSize)
    {
        var fmtBytes = Encoding.UTF8.GetBytes(fmt + "\0");
        uint dataLen = (uint)(8 * args.Length);
        // Load-time checks: a program the verifier refuses never runs, so the scenario cannot run either.
        string? refusal = PrintkHelpers.VerifierCheck(helper, fmtBytes, (uint)fmtBytes.Length, argsIsNull: false, dataLen);
        if (refusal is not null)
            throw new SimulationSetupException($"{where}: the verifier refuses the program: {refusal}");
        var argPlans = new ArgPlan[args.Length];
        for (int i = 0; i < args.Length; i++)
        {
            var a = args[i];
            ulong v = a.Kind switch
            {
                FormatArgKind.Constant => a.Value,
                FormatArgKind.String => plan.Memory!.Map(AddressSpace.Kernel, Encoding.UTF8.GetBytes((a.Text ?? "") + "\0"), writable: false),
                _ => 0,
            };
            argPlans[i] = new ArgPlan { Kind = a.Kind, Value = v };
        }
        return new CallPlan { Kind = kind, Fmt = fmtBytes, Args = argPlans, BufSize = bufSize };
    }
}

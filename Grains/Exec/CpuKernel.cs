using System.Collections.Immutable;
using System.Text.Json;
using BpfTraceSim.Contracts.Exec;
using BpfTraceSim.Contracts.Grains;
using BpfTraceSim.Kernel;
using BpfTraceSim.Kernel.Perf;

namespace BpfTraceSim.Grains.Exec;

/// <summary>
/// One CPU of an exec world: the <see cref="CpuModel"/> every helper runs against, and how exec steps
/// made on that CPU become calls on it. Plain C# (the CPU grain owns one), so it is testable without
/// a silo. Beside the model it keeps the live events bound to this CPU (and the per-task events of
/// tasks on it), a metadata copy of every other event of the host, the step arguments' memory, and
/// which event each slot of the model's perf event arrays names.
/// </summary>
public sealed partial class CpuKernel
{
    private readonly WorldSpec _world;
    private readonly Dictionary<string, PerfEvent> _events = new(StringComparer.Ordinal);
    private readonly Dictionary<string, EventSpec> _eventSpecs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, PerfEventArray> _maps = new(StringComparer.Ordinal); // the model's arrays by name
    private readonly Dictionary<string, ImmutableArray<string?>> _slots = new(StringComparer.Ordinal);
    private readonly Dictionary<int, SimTask> _tasks = new();
    private readonly Dictionary<int, int> _taskCpu = new();
    private readonly HashSet<string> _owned = new(StringComparer.Ordinal);
    private readonly CpuModel _model;
    private readonly SimMemory _memory = new();
    private readonly HostObjects _objects;
    private readonly string _host;

    /// <param name="objects">The silo's shared BPF objects (null: this kernel loads its own).</param>
    /// <param name="host">The host these objects belong to.</param>
    public CpuKernel(WorldSpec world, int cpu, HostObjects? objects = null, string host = "")
    {
        _world = world;
        Cpu = cpu;
        _objects = objects ?? new HostObjects();
        _host = host;
        foreach (var t in world.Tasks)
        {
            _tasks[t.Pid] = new SimTask(t.Pid, t.Tgid, t.Comm)
            {
                Uid = t.Uid, Gid = t.Gid, KernelStack = t.KernelStack is { } ks ? [.. ks] : null, UserStack = t.UserStack is { } us ? [.. us] : null,
            };
            _taskCpu[t.Pid] = t.Cpu;
        }
        foreach (var e in world.Events)
        {
            _eventSpecs[e.Name] = e;
            bool owned = OwnerCpu(e) == cpu;
            int err = PerfEvent.PerfEventOpen(AttrOf(e), e.Pid, e.Cpu, e.Id, world.Pmu, owned ? e.RingPages : null,
                e.Overwrite, capturePayload: true, out var ev);
            if (err != 0 || ev is null)
                throw new InvalidOperationException($"event {e.Name}: perf_event_open failed with {err}");
            _events[e.Name] = ev;
            if (owned) _owned.Add(e.Name);
        }
        var arrays = new List<PerfEventArray>(world.Maps.Length);
        foreach (var m in world.Maps)
        {
            if (m.Type == Kernel.Ringbuf.BpfRingbuf.MapTypeName) continue; // the host's, below
            var array = new PerfEventArray((uint)m.MaxEntries);
            _maps[m.Name] = array;
            arrays.Add(array);
        }
        _model = new CpuModel(cpu, [.. arrays]);
        if (HostRingbufs.Any(world))
        {
            _rings = _objects.Ringbufs(host, world);
            _model.Ringbufs = _rings.All;
        }
        foreach (var (map, slots) in world.Slots)
            if (_maps.ContainsKey(map)) SetSlots(map, slots);
    }

    public int Cpu { get; }

    public static PerfEventAttr AttrOf(EventSpec e) => new()
    {
        Type = e.Type,
        Config = e.Config,
        SampleType = e.SampleType,
        Pinned = e.Pinned,
        Inherit = e.Inherit,
        Disabled = e.Disabled,
        WakeupEvents = e.WakeupEvents,
        Watermark = e.Watermark,
    };

    /// <summary>The CPU whose grain keeps an event's live state: its CPU, or its task's CPU.</summary>
    private int OwnerCpu(EventSpec e) => e.Pid > 0 ? _taskCpu[e.Pid] : e.Cpu;

    /// <summary>
    /// The host's slot contents for one map, applied as bpf_map_update_elem would have been: an
    /// event the map refuses (inherit) leaves its slot empty.
    /// </summary>
    public void SetSlots(string map, ImmutableArray<string?> slots)
    {
        _slots[map] = slots;
        var array = _maps[map];
        for (uint i = 0; i < array.MaxEntries; i++)
        {
            string? name = i < slots.Length ? slots[(int)i] : null;
            array.SetSlot(i, name is not null && _events.TryGetValue(name, out var ev) && !ev.Attr.Inherit ? ev : null);
        }
    }

    /// <summary>The context a step's program runs in on this CPU.</summary>
    private HelperContext ContextOf(ExecStep step)
    {
        var current = SimTask.Idle;
        // An interrupt on this CPU runs on top of whatever this CPU runs; a task elsewhere is not current here.
        if (step.Pid != 0 && _taskCpu[step.Pid] == Cpu) current = _tasks[step.Pid];
        return new HelperContext(Cpu, current, (ExecContext)step.Context, step.NowNs);
    }

    private delegate StepResult StepFn(CpuKernel cpu, in HelperContext ctx, ExecStep step);

    /// <summary>The steps a CPU serves, by StepCall (the step table's StepServer.Cpu kinds).</summary>
    private static readonly StepFn?[] Steps = CreateSteps();

    private static StepFn?[] CreateSteps()
    {
        var t = new StepFn?[Enum.GetValues<StepCall>().Length];
        t[(int)StepCall.PerfEventOutput] = static (k, in c, s) => k.PerfEventOutput(in c, s);
        t[(int)StepCall.PerfEventRead] = static (k, in c, s) => k.PerfEventRead(in c, s);
        t[(int)StepCall.PerfEventReadValue] = static (k, in c, s) => k.PerfEventReadValue(in c, s);
        t[(int)StepCall.TracePrintk] = static (k, in c, s) => k.TracePrintk(in c, s);
        t[(int)StepCall.TraceVprintk] = static (k, in c, s) => k.TraceVprintk(in c, s);
        t[(int)StepCall.Snprintf] = static (k, in c, s) => k.Snprintf(in c, s);
        t[(int)StepCall.Run] = static (k, in c, s) => k.Run(in c, s);
        t[(int)StepCall.ReadIter] = static (k, in c, s) => k.ReadIter(in c, s);
        t[(int)StepCall.SetGlobal] = static (k, in _, s) => k.SetGlobal(s);
        t[(int)StepCall.GetGlobal] = static (k, in _, s) => k.GetGlobal(s);
        t[(int)StepCall.RingbufOutput] = static (k, in c, s) => k.RingbufOutput(in c, s);
        t[(int)StepCall.RingbufReserve] = static (k, in c, s) => k.RingbufReserve(in c, s);
        t[(int)StepCall.RingbufSubmit] = static (k, in _, s) => k.RingbufCommit(s, discard: false);
        t[(int)StepCall.RingbufDiscard] = static (k, in _, s) => k.RingbufCommit(s, discard: true);
        t[(int)StepCall.RingbufQuery] = static (k, in _, s) => k.RingbufQuery(s);
        t[(int)StepCall.LookupSlot] = static (k, in _, s) => k.LookupStack(s);
        t[(int)StepCall.NextSlot] = static (k, in _, s) => k.NextStack(s);
        t[(int)StepCall.DeleteSlot] = static (k, in _, s) => k.DeleteStack(s); // a host's delete_slot of an object's stack map
        return t;
    }

    /// <summary>A helper call made by a program on this CPU.</summary>
    public StepResult Invoke(ExecStep step)
    {
        var fn = Steps[(int)step.Call] ?? throw new InvalidOperationException($"{step.Call} is not served by a CPU");
        var ctx = ContextOf(step);
        return fn(this, in ctx, step);
    }

    private StepResult PerfEventOutput(in HelperContext ctx, ExecStep step)
    {
        long ret = _model.PerfEventOutput(in ctx, _maps[step.Map!], step.Flags, step.Data);
        return StepResult.Of(ret);
    }

    private StepResult PerfEventRead(in HelperContext ctx, ExecStep step)
    {
        ulong v = _model.PerfEventRead(in ctx, _maps[step.Map!], step.Flags);
        return new StepResult { Ret = unchecked((long)v), RetU64 = v };
    }

    private StepResult PerfEventReadValue(in HelperContext ctx, ExecStep step)
    {
        // The verifier checks the constant size against the buffer before the program runs.
        if (step.Size == 0) return new StepResult { VerifierError = "R4 invalid zero-sized read" };
        if (step.Size > step.BufSize)
            return new StepResult { VerifierError = $"invalid indirect access to stack R3 off=-{step.BufSize} size {step.Size}" };
        var buf = new byte[step.BufSize];
        buf.AsSpan().Fill(0xff);
        long ret = _model.PerfEventReadValue(in ctx, _maps[step.Map!], step.Flags, buf.AsSpan(0, (int)step.Size));
        PerfValue? value = ret == 0
            ? new PerfValue(BitConverter.ToUInt64(buf, 0), BitConverter.ToUInt64(buf, 8), BitConverter.ToUInt64(buf, 16))
            : null;
        return new StepResult { Ret = ret, Value = value, Buf = buf };
    }

    /// <summary>Simulated time passes: every task runs on its CPU; the live events here count it.</summary>
    public void Advance(ulong ns)
    {
        foreach (var name in _owned)
        {
            var ev = _events[name];
            bool running = !ev.IsPerTask || ev.RunsOn(_taskCpu[ev.Pid]);
            ev.Advance(ns, running);
        }
    }

    public void SetEnabled(string name, bool enabled)
    {
        var ev = _events[name];
        if (enabled) ev.Enable();
        else ev.Disable();
    }

    /// <summary>Counts one migration and one context switch in the live per-task events of a task.</summary>
    private void CountTaskMove(int pid)
    {
        foreach (var name in _owned)
        {
            var ev = _events[name];
            if (ev.Pid != pid || ev.Attr.Type != PerfConstants.PERF_TYPE_SOFTWARE) continue;
            if (ev.Attr.Config is PerfConstants.PERF_COUNT_SW_CPU_MIGRATIONS or PerfConstants.PERF_COUNT_SW_CONTEXT_SWITCHES)
                ev.AddCount(1);
        }
    }

    /// <summary>
    /// set_task_cpu as this CPU sees it: the per-task events of a task leaving this CPU are handed
    /// over (a metadata copy stays), those of a task arriving are taken over and count the move.
    /// </summary>
    public ImmutableArray<PerfEventHandoff> MoveTask(int pid, int to, ImmutableArray<PerfEventHandoff> arriving)
    {
        int from = _taskCpu[pid];
        _taskCpu[pid] = to;
        var departing = ImmutableArray.CreateBuilder<PerfEventHandoff>();
        if (from == Cpu && to != Cpu)
        {
            foreach (var name in _owned.ToArray())
            {
                var ev = _events[name];
                if (ev.Pid != pid) continue;
                departing.Add(new PerfEventHandoff(name, JsonSerializer.SerializeToUtf8Bytes(ev.ExportState())));
                _events[name] = ev.MetadataCopy();
                _owned.Remove(name);
            }
        }
        foreach (var h in arriving)
        {
            var state = JsonSerializer.Deserialize<PerfEventState>(h.State)!;
            _events[h.Name] = PerfEvent.FromState(state);
            _owned.Add(h.Name);
        }
        if (to == Cpu) CountTaskMove(pid);
        if (departing.Count > 0 || arriving.Length > 0) RebindSlots();
        return departing.ToImmutable();
    }

    private void RebindSlots()
    {
        foreach (var (map, slots) in _slots) SetSlots(map, slots);
    }

    /// <summary>Every record now in an event's ring, read as a perf buffer consumer would (the tail moves past them).</summary>
    public StepResult Consume(string name)
    {
        var ring = _events[name].Ring;
        if (ring is null) return new StepResult { Records = [], DataHead = 0, LostTotal = _events[name].Ring?.LostTotal ?? 0 };
        var records = ImmutableArray.CreateBuilder<RingRecord>();
        foreach (var r in ring.GetRecords())
        {
            records.Add(new RingRecord
            {
                Type = r.IsLost ? "lost" : "sample",
                Size = r.HeaderSize,
                Lost = r.IsLost ? r.Lost : null,
                Raw = r.IsLost ? null : ring.ReadRawBytes(in r),
                Record = ring.ReadRecordBytes(in r),
            });
        }
        ring.ConsumeAll();
        return new StepResult { Records = records.ToImmutable(), DataHead = ring.DataHead, LostTotal = ring.LostTotal };
    }
}

using System.Collections.Immutable;
using BpfTraceSim.Contracts.Exec;
using BpfTraceSim.Contracts.Grains;
using BpfTraceSim.Grains.Exec;
using BpfTraceSim.Kernel.Perf;
using BpfTraceSim.Kernel.Printk;

using BpfTraceSim.Grains.Placement;

namespace BpfTraceSim.Grains;

/// <summary>
/// A simulated host: its tasks, which event each perf event array slot holds, and its CPU grains.
/// Map updates are checked here as bpf_map_update_elem checks them, then pushed to every CPU.
/// </summary>
[SimHostPlacement]
public sealed partial class HostGrain(HostObjects objects) : Grain, IHostGrain
{
    private WorldSpec? _world;
    private readonly Dictionary<string, PerfEventArray> _arrays = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string?[]> _slots = new(StringComparer.Ordinal);
    private readonly Dictionary<string, PerfEvent> _events = new(StringComparer.Ordinal);
    private readonly Dictionary<int, int> _taskCpu = new();
    private ICpuGrain[] _cpus = [];
    private long _slotVersion;

    private WorldSpec World => _world ?? throw new InvalidOperationException($"host {this.GetPrimaryKeyString()} was not booted");

    public async Task Boot(WorldSpec world)
    {
        _world = world;
        foreach (var t in world.Tasks) _taskCpu[t.Pid] = t.Cpu;
        foreach (var e in world.Events)
            _events[e.Name] = new PerfEvent(e.Id, CpuKernel.AttrOf(e), e.Cpu, e.Pid);
        // The document's slot lists are map updates made before the first step; refused ones stay empty.
        var slots = ImmutableDictionary.CreateBuilder<string, ImmutableArray<string?>>(StringComparer.Ordinal);
        foreach (var m in world.Maps)
        {
            if (m.Type == Kernel.Ringbuf.BpfRingbuf.MapTypeName) continue; // rings have no slots: HostRingbufs
            var array = new PerfEventArray((uint)m.MaxEntries);
            var names = new string?[m.MaxEntries];
            if (world.Slots.TryGetValue(m.Name, out var wanted))
            {
                for (int i = 0; i < wanted.Length; i++)
                    if (wanted[i] is { } ev && array.Update((uint)i, _events[ev]) == 0) names[i] = ev;
            }
            _arrays[m.Name] = array;
            _slots[m.Name] = names;
            slots[m.Name] = [.. names];
        }
        var booted = world with { Slots = slots.ToImmutable() };
        string host = this.GetPrimaryKeyString();
        _cpus = new ICpuGrain[world.Cpus];
        var boots = new Task[world.Cpus];
        for (int c = 0; c < world.Cpus; c++)
        {
            _cpus[c] = GrainFactory.GetCpuGrain(new CpuKey(host, c));
            boots[c] = _cpus[c].Boot(booted, c);
        }
        await Task.WhenAll(boots);
    }

    private delegate Task<StepResult> HostStepFn(HostGrain host, ExecStep step);

    /// <summary>The steps a host serves, by StepCall (the step table's StepServer.Host kinds).</summary>
    private static readonly HostStepFn?[] Steps = CreateSteps();

    private static HostStepFn?[] CreateSteps()
    {
        var t = new HostStepFn?[Enum.GetValues<StepCall>().Length];
        t[(int)StepCall.AdvanceNs] = static (h, s) => h.AdvanceTime(s.AdvanceNs);
        t[(int)StepCall.SetTaskCpu] = static (h, s) => h.SetTaskCpu(s.Pid, s.To);
        t[(int)StepCall.UpdateSlot] = static (h, s) => s.Program is null ? h.UpdateSlot(s.Map!, s.Index, s.Event!) : Task.FromResult(h.UpdateProgSlot(s));
        // an object's prog array is the host's (by program); its stack_trace map lives with the host's objects, which its CPUs reach
        t[(int)StepCall.DeleteSlot] = static (h, s) => s.Program is not null ? Task.FromResult(h.DeleteProgSlot(s))
            : h._arrays.ContainsKey(s.Map!) ? h.DeleteSlot(s.Map!, s.Index) : h._cpus[0].Invoke(s);
        t[(int)StepCall.Enable] = static (h, s) => h.SetEnabled(s.Event!, true);
        t[(int)StepCall.Disable] = static (h, s) => h.SetEnabled(s.Event!, false);
        t[(int)StepCall.Consume] = static (h, s) => h.Consume(s.Event!);
        t[(int)StepCall.ReadTracePipe] = static (h, _) => h.ReadTracePipe();
        t[(int)StepCall.ConsumeRingbuf] = static (h, s) => Task.FromResult(h.ConsumeRingbuf(s.Map!));
        t[(int)StepCall.CloseMap] = static (h, s) => h.CloseMap(s.Map!);
        return t;
    }

    public Task<StepResult> Apply(ExecStep step) =>
        (Steps[(int)step.Call] ?? throw new InvalidOperationException($"{step.Call} is not a host step"))(this, step);

    private async Task<StepResult> AdvanceTime(ulong ns)
    {
        await Task.WhenAll(_cpus.Select(c => c.Advance(ns)));
        return StepResult.Empty;
    }

    /// <summary>set_task_cpu: the leaving CPU hands the task's live per-task events to the joining one.</summary>
    private async Task<StepResult> SetTaskCpu(int pid, int to)
    {
        int from = _taskCpu[pid];
        _taskCpu[pid] = to;
        var departing = await _cpus[from].MoveTask(pid, to, []);
        if (to != from) await _cpus[to].MoveTask(pid, to, departing);
        var others = new List<Task>();
        for (int c = 0; c < _cpus.Length; c++)
            if (c != from && c != to) others.Add(_cpus[c].MoveTask(pid, to, []));
        await Task.WhenAll(others);
        return StepResult.Empty;
    }

    /// <summary>bpf_map_update_elem on a perf event array: E2BIG past max_entries, EOPNOTSUPP for inherit.</summary>
    private async Task<StepResult> UpdateSlot(string map, long index, string ev)
    {
        var array = _arrays[map];
        long ret = index < 0 || index > uint.MaxValue ? -Kernel.Errno.E2BIG : array.Update((uint)index, _events[ev]);
        if (ret == 0)
        {
            _slots[map][index] = ev;
            await PushSlots(map);
        }
        return StepResult.Of(ret);
    }

    /// <summary>bpf_map_delete_elem: E2BIG past max_entries, ENOENT for an empty slot.</summary>
    private async Task<StepResult> DeleteSlot(string map, long index)
    {
        var array = _arrays[map];
        long ret = index < 0 || index > uint.MaxValue ? -Kernel.Errno.E2BIG : array.Delete((uint)index);
        if (ret == 0)
        {
            _slots[map][index] = null;
            await PushSlots(map);
        }
        return StepResult.Of(ret);
    }

    /// <summary>
    /// User space closes its map fd while a program still holds the map (perf_event_fd_array_release):
    /// the slots it filled are emptied, unless the map was created with BPF_F_PRESERVE_ELEMS. Every
    /// slot of an exec world is filled through that one fd.
    /// </summary>
    private async Task<StepResult> CloseMap(string map)
    {
        var spec = World.Maps.First(m => m.Name == map);
        if ((spec.Flags & Kernel.BpfFlags.BPF_F_PRESERVE_ELEMS) != 0) return StepResult.Empty;
        var array = _arrays[map];
        var names = _slots[map];
        for (int i = 0; i < names.Length; i++)
            if (names[i] is not null && array.Delete((uint)i) == 0) names[i] = null;
        await PushSlots(map);
        return StepResult.Empty;
    }

    private Task PushSlots(string map)
    {
        long version = ++_slotVersion;
        ImmutableArray<string?> slots = [.. _slots[map]];
        return Task.WhenAll(_cpus.Select(c => c.UpdateSlots(map, slots, version)));
    }

    private async Task<StepResult> SetEnabled(string ev, bool enabled)
    {
        if (enabled) _events[ev].Enable();
        else _events[ev].Disable();
        await Task.WhenAll(_cpus.Select(c => c.SetEnabled(ev, enabled)));
        return StepResult.Empty;
    }

    /// <summary>The consumer reads the ring where the event's live state is: its CPU, or its task's CPU.</summary>
    private Task<StepResult> Consume(string ev)
    {
        var spec = World.Events.First(e => e.Name == ev);
        int owner = spec.Pid > 0 ? _taskCpu[spec.Pid] : spec.Cpu;
        return _cpus[owner].Consume(ev);
    }

    /// <summary>
    /// User space reads the ring as libbpf's ring_buffer__consume does: every committed record from
    /// consumer_pos up to the first one still being written. The ring is the host's (HostRingbufs).
    /// </summary>
    private StepResult ConsumeRingbuf(string map)
    {
        var rb = objects.Ringbufs(this.GetPrimaryKeyString(), World)[map];
        var records = ImmutableArray.CreateBuilder<RingbufSample>();
        rb.Consume(r => records.Add(new RingbufSample(r.Size, rb.SampleOf(in r).ToArray(), r.Discarded)));
        return new StepResult
        {
            RingbufRecords = records.ToImmutable(),
            ConsumerPos = rb.ConsumerPos,
            ProducerPos = rb.ProducerPos,
            Wakeups = rb.Wakeups,
        };
    }

    /// <summary>trace_pipe: every CPU's new entries, merged by timestamp (then CPU, then order).</summary>
    private async Task<StepResult> ReadTracePipe()
    {
        var drained = await Task.WhenAll(_cpus.Select(c => c.DrainTrace()));
        var all = new List<TraceEntry>();
        foreach (var d in drained) all.AddRange(d);
        // trace_find_next_entry: the oldest event first, ties to the lower CPU.
        all.Sort(static (a, b) =>
        {
            int c = a.TimestampNs.CompareTo(b.TimestampNs);
            if (c == 0) c = a.Cpu.CompareTo(b.Cpu);
            return c != 0 ? c : a.Sequence.CompareTo(b.Sequence);
        });
        var text = new List<byte>();
        foreach (var e in all) text.AddRange(e.Line);
        return new StepResult { Lines = [.. TracePipe.SplitLines(text.ToArray())] };
    }

    public async Task Shutdown()
    {
        await Task.WhenAll(_cpus.Select(c => c.Shutdown()));
        objects.Forget(this.GetPrimaryKeyString());
        DeactivateOnIdle();
    }
}

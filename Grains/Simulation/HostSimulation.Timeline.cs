using BpfTraceSim.Contracts.Scenarios;
using BpfTraceSim.Kernel.Perf;

namespace BpfTraceSim.Grains.Simulation;

public sealed partial class HostSimulation
{
    /// <summary>Moves past timeline entries that name another host of this group.</summary>
    private void SkipTimelineOfOtherHosts()
    {
        var tl = _plan.Timeline;
        while (_timelineNext < tl.Length && !Concerns(tl[_timelineNext])) _timelineNext++;
    }

    private bool Concerns(TimelineAction a)
    {
        var sel = HostPlan.HostsOf(a);
        return sel.Index is null || sel.Index == HostIndex;
    }

    private void ApplyTimeline(TimelineAction a, long t)
    {
        switch (a)
        {
            case CpuOfflineAction x:
                CpuOffline(x.Cpu, t);
                break;
            case CpuOnlineAction x:
                CpuOnline(x.Cpu, t);
                break;
            case SlotsAction x:
            {
                int m = _plan.MapIndex(x.Slots.Map);
                if (m >= 0) ApplySlots(m, x.Slots);
                break;
            }
            case ConsumerStallAction x:
            {
                int c = _plan.ConsumerIndex(x.Consumer);
                if (c >= 0) _readers[c].Stall(t, x.ForNs);
                break;
            }
            case RateAction x:
                SetProgramRate(x.Program, x.RatePerSec, t);
                break;
            case TaskMigrateAction x:
            {
                int task = TaskOfPid(x.Pid);
                // set_task_cpu to an offline or missing CPU is refused (sched_setaffinity fails).
                if (task >= 0 && x.ToCpu < _cpus && _online[x.ToCpu])
                {
                    MoveTask(task, x.ToCpu, t);
                    RebuildCpuTasks();
                }
                break;
            }
            case EventDisableAction x:
                SetEventEnabled(x.Event, x.Cpu, false, t);
                break;
            case EventEnableAction x:
                SetEventEnabled(x.Event, x.Cpu, true, t);
                break;
        }
    }

    private int TaskOfPid(int pid)
    {
        var tasks = _plan.Tasks;
        for (int i = 0; i < tasks.Length; i++)
            if (tasks[i].Task.Pid == pid) return i;
        return -1;
    }

    private void SetProgramRate(string program, double rate, long t)
    {
        int p = _plan.ProgramIndex(program);
        if (p < 0) return; // not loaded on this group
        var prog = _plan.Programs[p];
        if (prog.Kind is not (FireKind.Constant or FireKind.Poisson)) return;
        for (int cpu = 0; cpu < _cpus; cpu++)
        {
            ref var fs = ref _fire[cpu * _progCount + p];
            if (fs.Attached) FiringProcess.SetRate(ref fs, prog, rate, t);
        }
        RebuildHeap();
    }

    // ------------------------------------------------------------------ CPUs and tasks

    private void CpuOffline(int cpu, long t)
    {
        // The last online CPU cannot go offline (the kernel refuses).
        if (cpu >= _cpus || !_online[cpu] || _onlineCount == 1) return;
        _online[cpu] = false;
        _onlineCount--;
        RefreshCpuEvents(cpu, t);
        // Its tasks move away (select_fallback_rq): to the next online CPU.
        bool moved = false;
        for (int task = 0; task < _taskCpu.Length; task++)
        {
            if (_taskCpu[task] != cpu) continue;
            MoveTask(task, NextOnline(cpu), t);
            moved = true;
        }
        if (moved) RebuildCpuTasks();
    }

    private void CpuOnline(int cpu, long t)
    {
        if (cpu >= _cpus || _online[cpu]) return;
        _online[cpu] = true;
        _onlineCount++;
        RefreshCpuEvents(cpu, t);
    }

    /// <summary>The first online CPU after cpu (round robin).</summary>
    private int NextOnline(int cpu)
    {
        for (int k = 1; k <= _cpus; k++)
        {
            int c = (cpu + k) % _cpus;
            if (_online[c]) return c;
        }
        return cpu;
    }

    /// <summary>Per-CPU events of cpu are active only while it is online (and they are enabled).</summary>
    private void RefreshCpuEvents(int cpu, long t)
    {
        foreach (var inst in _allInstances)
            if (inst.Task < 0 && inst.Key == cpu) ApplyEnabled(inst, t);
    }

    private void ApplyEnabled(EventInstance inst, long t)
    {
        AdvanceEvent(inst, t);
        bool on = inst.UserEnabled && (inst.Task >= 0 || _online[inst.Key]);
        if (on) inst.Event.Enable();
        else inst.Event.Disable();
        inst.LastAdvanceNs = t;
    }

    private void SetEventEnabled(string name, int? cpu, bool enabled, long t)
    {
        int e = _plan.EventIndex(name);
        if (e < 0) return;
        foreach (var inst in _instances[e])
        {
            if (cpu is int c && inst.Task < 0 && inst.Key != c) continue;
            inst.UserEnabled = enabled;
            ApplyEnabled(inst, t);
        }
    }

    /// <summary>migrate: { every }: each task moves to the next online CPU.</summary>
    private void MigrateAll(long t)
    {
        for (int task = 0; task < _taskCpu.Length; task++) MoveTask(task, NextOnline(_taskCpu[task]), t);
        RebuildCpuTasks();
    }

    /// <summary>set_task_cpu: one cpu-migration and one context switch in the task's own software counters.</summary>
    private void MoveTask(int task, int to, long t)
    {
        if (_taskCpu[task] == to) return;
        _taskCpu[task] = to;
        foreach (var ep in _plan.Events)
        {
            if (!ep.PerTask || ep.Attr.Type != PerfConstants.PERF_TYPE_SOFTWARE) continue;
            if (ep.Attr.Config is not (PerfConstants.PERF_COUNT_SW_CPU_MIGRATIONS or PerfConstants.PERF_COUNT_SW_CONTEXT_SWITCHES)) continue;
            foreach (var inst in _instances[ep.Index])
            {
                if (inst.Task != task) continue;
                AdvanceEvent(inst, t);
                inst.Event.AddCount(1);
            }
        }
    }

    private void RebuildCpuTasks()
    {
        var counts = new int[_cpus];
        foreach (int c in _taskCpu) counts[c]++;
        for (int c = 0; c < _cpus; c++)
        {
            if (_cpuTasks[c] is null || _cpuTasks[c].Length != counts[c]) _cpuTasks[c] = counts[c] == 0 ? [] : new int[counts[c]];
        }
        Array.Clear(counts);
        for (int task = 0; task < _taskCpu.Length; task++)
        {
            int c = _taskCpu[task];
            _cpuTasks[c][counts[c]++] = task;
        }
    }

    // ------------------------------------------------------------------ slots

    /// <summary>
    /// Rewrites a map's slots as the layout says (what an agent restart does): every slot is
    /// cleared, then slot i (i &lt; min(CPUs, max_entries)) gets its event through the map's
    /// update, which refuses inherit events (the slot stays empty).
    /// </summary>
    private void ApplySlots(int m, SlotsSpec spec)
    {
        var map = _maps[m];
        var owners = _slotInst[m];
        for (uint i = 0; i < map.MaxEntries; i++) map.SetSlot(i, null);
        Array.Clear(owners);
        int n = Math.Min(_cpus, (int)map.MaxEntries);
        int ev = spec.Event is null ? -1 : _plan.EventIndex(spec.Event);
        switch (spec.Layout)
        {
            case PerCpuLayout:
                for (int i = 0; i < n; i++) Place(m, i, PerCpuInstance(ev, i));
                break;
            case ShiftedLayout s:
                for (int i = 0; i < n; i++) Place(m, i, PerCpuInstance(ev, (int)(((long)i + s.Shift) % _cpus + _cpus) % _cpus));
                break;
            case SparseLayout sp:
                foreach (int cpu in sp.Cpus)
                    if (cpu < n) Place(m, cpu, PerCpuInstance(ev, cpu));
                break;
            case SwappedLayout:
                for (int i = 0; i < n; i++)
                {
                    int j = i ^ 1;
                    Place(m, i, PerCpuInstance(ev, j < _cpus ? j : i));
                }
                break;
            case ExplicitLayout x:
            {
                int count = Math.Min(x.Entries.Length, (int)map.MaxEntries);
                for (int i = 0; i < count; i++)
                {
                    if (x.Entries[i] is not { } entry) continue;
                    int e = _plan.EventIndex(entry.Event);
                    if (e < 0) continue;
                    Place(m, i, _plan.Events[e].PerTask ? TaskInstance(e, entry.Index) : PerCpuInstance(e, entry.Index));
                }
                break;
            }
        }
    }

    private EventInstance? PerCpuInstance(int e, int cpu)
    {
        if (e < 0 || _plan.Events[e].PerTask || (uint)cpu >= (uint)_cpus) return null;
        return _instances[e][cpu];
    }

    private EventInstance? TaskInstance(int e, int pid)
    {
        foreach (var inst in _instances[e])
            if (inst.Key == pid) return inst;
        return null;
    }

    private void Place(int m, int slot, EventInstance? inst)
    {
        if (inst is null) return;
        if (_maps[m].Update((uint)slot, inst.Event) == 0) _slotInst[m][slot] = inst;
    }
}

using BpfTraceSim.Bpf.Helpers;
using BpfTraceSim.Bpf.Loader;
using BpfTraceSim.Bpf.Vm;
using BpfTraceSim.Kernel;
using BpfTraceSim.Kernel.Perf;
using BpfTraceSim.Kernel.Printk;
using BpfTraceSim.Kernel.Ringbuf;
using BpfTraceSim.Kernel.Seq;

namespace BpfTraceSim.Grains.Simulation;

/// <summary>
/// Object programs: real BPF programs run by the VM at each firing, their helpers reaching this
/// host's kernel state. bpf_perf_event_output goes through the same ring accounting as a body's.
/// </summary>
public sealed partial class HostSimulation
{
    // The context a raw tracepoint program gets: the scenario gives no arguments, so all zero.
    private static readonly byte[] ZeroCtx = new byte[64];

    private BpfInstance[] _bpfInstances = [];
    private BpfVm?[] _vms = []; // by firing slot (cpu * programs + program)
    private PrintkWorld? _bpfWorld; // over the instances' memory (the body world's memory is shared by hosts)

    private void SetUpObjects()
    {
        // One memory and one instance per object per host: maps and globals are shared by the host's CPUs.
        var memory = new SimMemory();
        _bpfInstances = new BpfInstance[_plan.Objects.Length];
        for (int o = 0; o < _bpfInstances.Length; o++)
        {
            var inst = new BpfInstance(_plan.Objects[o], memory, _cpus) { Kallsyms = _plan.Kallsyms ?? new Kallsyms() };
            foreach (var map in inst.Maps)
            {
                if (map.Spec.Type == BpfMapType.RingBuf)
                {
                    map.External = ObjectRing(inst, map.Name);
                    continue;
                }
                if (map.Spec.Type != BpfMapType.PerfEventArray) continue;
                int m = _plan.MapIndex(map.Name);
                if (m < 0)
                    throw new SimulationSetupException($"object {inst.Object.Name}: perf_event_array '{map.Name}' has no scenario map of that name");
                map.External = _maps[m];
            }
            _bpfInstances[o] = inst;
        }
        ulong key = StreamSeeds.Host(Scenario.Seed, HostName, "kptr-bpf");
        _bpfWorld = new PrintkWorld(memory, _plan.Kallsyms ?? new Kallsyms(), key, PrintkCpus());
        foreach (var model in _models) model.ProgramWorld = _bpfWorld;

        var helpers = TracingHelpers.Register(BpfHelperTable.CreateGeneric(), c => _models[c]);
        helpers.Register(HelperProtos.PerfEventOutput, ObjectPerfEventOutput);
        if (_rbs.Length > 0) RegisterObjectRingbufHelpers(helpers);
        _vms = new BpfVm?[_fire.Length];
        for (int cpu = 0; cpu < _cpus; cpu++)
        {
            for (int p = 0; p < _progCount; p++)
            {
                var prog = _programs[p];
                if (prog.Bpf is null || !prog.OnCpu[cpu]) continue;
                try
                {
                    _vms[cpu * _progCount + p] = new BpfVm(_bpfInstances[prog.ObjectIndex], prog.Bpf, helpers) { RecordHelperCalls = true };
                }
                catch (BpfLoadException e)
                {
                    throw new SimulationSetupException($"programs.{prog.Name}: {e.Message}");
                }
            }
        }
    }

    /// <summary>One firing of an object program: the VM runs it once on cpu at time t.</summary>
    private void RunObject(int cpu, int slot, ProgramPlan prog, long t, ref FiringState fs)
    {
        int task = prog.RowTasks is { } rt && rt[cpu]![fs.K] is var rowTask and >= 0 ? rowTask : CurrentTask(cpu);
        var current = task < 0 ? SimTask.Idle : _taskObjs[task];
        var ctx = new HelperContext(cpu, current, prog.Context, (ulong)t);
        _cw[cpu].Firings++;
        // bpf_get_prandom_u32 and friends draw from the (host, cpu, program) body stream.
        var result = _vms[slot]!.Run(ZeroCtx, in ctx, fs.BodyRng.Next());
        if (result.Fault is { } f)
            throw new InvalidOperationException($"{HostName}: programs.{prog.Name} faulted on cpu {cpu} at {t} ns: insn {f.Insn}: {f.Message}");
        var kinds = _plan.KindById;
        var calls = result.Helpers;
        for (int i = 0; i < calls.Count; i++)
        {
            var h = calls[i];
            int kind = (uint)h.Id < (uint)kinds.Length ? kinds[h.Id] : -1;
            if (kind < 0) continue; // not a static call site of the program: cannot happen for verified code
            long ret = h.Id == HelperProtos.RingbufReserve ? ReserveReturn((ulong)h.Ret) : h.Ret;
            CountReturns(ReturnCounter.Key(cpu, kind, ret), 1);
        }
        fs.Counter++;
    }

    /// <summary>Helper 25 for object programs: the engine's bpf_perf_event_output with its accounting.</summary>
    private ulong ObjectPerfEventOutput(BpfVm vm, ulong ctx, ulong mapHandle, ulong flags, ulong data, ulong size)
    {
        var map = vm.Instance.MapByHandle(mapHandle) ?? throw BpfVm.HelperFault($"0x{mapHandle:x} is not a map pointer");
        int m = -1;
        for (int i = 0; i < _maps.Length; i++)
            if (ReferenceEquals(_maps[i], map.External)) m = i;
        if (m < 0) throw BpfVm.HelperFault($"map '{map.Name}' is not a perf_event_array bound to simulated perf events");
        var hc = vm.Context;
        return (ulong)OutputData(in hc, m, flags, DataArg(vm, data, size), (long)hc.NowNs);
    }

    /// <summary>An output helper's (data, size) arguments as the program's readable memory.</summary>
    private static ReadOnlySpan<byte> DataArg(BpfVm vm, ulong data, ulong size)
    {
        if (size == 0) return default;
        if (size > 1 << 20 || !vm.TryGetSpan(data, (int)size, false, out var s))
            throw BpfVm.HelperFault($"data: {size} bytes at 0x{data:x} are not readable program memory");
        return s;
    }

    /// <summary>
    /// The host's ring for an object's ringbuf map: the scenario map of the same name, whose
    /// max_entries wins (as libbpf's bpf_map__set_max_entries before the load), so sweeps can size it.
    /// </summary>
    private BpfRingbuf ObjectRing(BpfInstance inst, string name)
    {
        for (int r = 0; r < _rbs.Length; r++)
            if (_rbs[r].Plan.Spec.Name == name) return _rbs[r].Ring;
        throw new SimulationSetupException($"object {inst.Object.Name}: ringbuf '{name}' has no scenario ringbuf map of that name");
    }

    /// <summary>Helpers 130-133 for object programs: the engine's ring buffer calls with their accounting (query needs none).</summary>
    private void RegisterObjectRingbufHelpers(BpfHelperTable helpers)
    {
        helpers.Register(HelperProtos.RingbufOutput, (vm, map, data, size, flags, _) =>
        {
            int r = RingOf(vm, map);
            var hc = vm.Context;
            return (ulong)RingbufWrite(in hc, r, flags, DataArg(vm, data, size), (long)hc.NowNs);
        });
        helpers.Register(HelperProtos.RingbufReserve, (vm, map, size, flags, _, _) =>
        {
            var hc = vm.Context;
            return RingbufReserve(in hc, RingOf(vm, map), size, flags, (long)hc.NowNs);
        });
        helpers.Register(HelperProtos.RingbufSubmit, (vm, sample, flags, _, _, _) => ObjectRelease(vm, sample, flags, false));
        helpers.Register(HelperProtos.RingbufDiscard, (vm, sample, flags, _, _, _) => ObjectRelease(vm, sample, flags, true));
    }

    private ulong ObjectRelease(BpfVm vm, ulong sample, ulong flags, bool discard)
    {
        var hc = vm.Context;
        return RingbufRelease(in hc, sample, flags, discard, (long)hc.NowNs)
            ? 0UL // RET_VOID: r0 is left 0
            : throw BpfVm.HelperFault($"{(discard ? "bpf_ringbuf_discard" : "bpf_ringbuf_submit")}: 0x{sample:x} is not a ringbuf reservation that is still held (the verifier requires one)");
    }

    private int RingOf(BpfVm vm, ulong handle)
    {
        var m = vm.Instance.MapByHandle(handle) ?? throw BpfVm.HelperFault($"0x{handle:x} is not a map pointer");
        for (int r = 0; r < _rbs.Length; r++)
            if (ReferenceEquals(_rbs[r].Ring, m.External)) return r;
        throw BpfVm.HelperFault($"map '{m.Name}' is not a ringbuf bound to a simulated ring");
    }
}

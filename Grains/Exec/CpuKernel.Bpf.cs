using System.Buffers.Binary;
using System.Collections.Immutable;
using BpfTraceSim.Bpf.Helpers;
using BpfTraceSim.Bpf.Loader;
using BpfTraceSim.Bpf.Vm;
using BpfTraceSim.Contracts.Exec;
using BpfTraceSim.Kernel;
using BpfTraceSim.Kernel.Perf;
using BpfTraceSim.Kernel.Printk;
using BpfTraceSim.Kernel.Seq;

namespace BpfTraceSim.Grains.Exec;

/// <summary>Real BPF programs run on this CPU: the helpers they call reach this CPU's kernel state.</summary>
public sealed partial class CpuKernel
{
    private readonly Dictionary<string, BpfVm> _vms = new(StringComparer.Ordinal);
    private BpfHelperTable? _helpers;

    /// <summary>
    /// Sets up the model for programs the first time one runs here: what their printf helpers see
    /// (the host's program memory, this world's kallsyms and %p key) and the world's vmlinux BTF.
    /// </summary>
    private void PrepareForPrograms()
    {
        if (_helpers is not null) return;
        _model.ProgramWorld = new PrintkWorld(_objects.Memory(_host, _world.Cpus), WorldPrintk.Kallsyms, _world.Seed, [_model.Printk]);
        _model.VmlinuxBtfSource = () => SeqFileGrain.WorldBtf(_world);
        _helpers = TracingHelpers.Register(BpfHelperTable.CreateGeneric(), _ => _model);
    }

    private LoadedProgram Program(string name)
    {
        foreach (var p in _world.Programs)
            if (p.Name == name) return _objects.Get(_host, _world.Cpus, p, WorldPrintk.Kallsyms, _world.BtfTypesJson, () => SeqFileGrain.WorldBtf(_world));
        throw new InvalidOperationException($"no program {name}");
    }

    /// <summary>The program's VM on this CPU, verified and made on its first use; null with the verifier's refusal.</summary>
    private BpfVm? Vm(string name, LoadedProgram lp, out StepResult? refused)
    {
        refused = null;
        if (_vms.TryGetValue(name, out var vm)) return vm;
        PrepareForPrograms();
        try { vm = new BpfVm(lp.Instance, lp.Program, _helpers!); }
        catch (BpfVerifierException ex)
        {
            refused = new StepResult { VerifierError = ex.Message };
            return null;
        }
        _vms[name] = vm;
        return vm;
    }

    /// <summary>Runs a program as the kernel would on this CPU: r1 = a private copy of ctx, r2 = its length.</summary>
    private StepResult Run(in HelperContext ctx, ExecStep step)
    {
        var lp = Program(step.Program!);
        if (Vm(step.Program!, lp, out var refused) is not { } vm) return refused!;
        BpfRunResult result;
        lock (lp)
        {
            BindMaps(lp);
            result = vm.Run(step.CtxBytes, in ctx, _world.Seed ^ step.NowNs);
        }
        var helpers = ImmutableArray.CreateBuilder<HelperTrace>(result.Helpers.Count);
        foreach (var h in result.Helpers) helpers.Add(new HelperTrace(h.Id, h.Name, h.Ret));
        ImmutableArray<SignalTrace>? signals = vm.Signals.Count == 0 ? null : [.. vm.Signals.Select(s => new SignalTrace(s.Tgid, s.Pid, s.Sig))];
        if (result.Fault is { } f)
            return new StepResult { Fault = new FaultInfo(f.Insn, f.LineText, f.Message), Helpers = helpers.MoveToImmutable(), Signals = signals };
        return new StepResult { Ret = result.Ret, Helpers = helpers.MoveToImmutable(), Signals = signals };
    }

    /// <summary>Binds the program's perf event arrays to this CPU's copies of the host's slots, its ring buffers to the host's one ring (call under lock(lp)).</summary>
    private void BindMaps(LoadedProgram lp)
    {
        foreach (var map in lp.Instance.Maps)
            if (map.Spec.Type == BpfMapType.PerfEventArray && _maps.TryGetValue(map.Name, out var array))
                map.External = array;
            else if (map.Spec.Type == BpfMapType.RingBuf && _rings is not null && _rings.TryGet(map.Name, out var ring))
                map.External = ring; // whichever CPU runs
    }

    /// <summary>set_global: writes a value into a global variable by its BTF name, as a skeleton would.</summary>
    private StepResult SetGlobal(ExecStep step)
    {
        var lp = Program(step.Program!);
        var arg = step.Value!;
        var memory = _objects.Memory(_host, _world.Cpus);
        byte[] bytes = arg.Kind switch
        {
            ArgKind.BytesHex => arg.Bytes!,
            ArgKind.Value => lp.Instance.Global(step.Name!).IntegerBytes(arg.Value, (int)step.Offset),
            ArgKind.AddrOf => LittleEndian(lp.Instance.AddressOfGlobal(arg.Name!) + (ulong)arg.Offset, 8),
            ArgKind.Ksym => LittleEndian(WorldPrintk.Kallsyms.AddressOf(arg.Name!) + (ulong)arg.Offset, 8),
            ArgKind.UserBytes or ArgKind.UserStr => LittleEndian(memory.Map(AddressSpace.User, arg.Bytes!), 8),
            ArgKind.KernelBytes or ArgKind.Str => LittleEndian(memory.Map(AddressSpace.Kernel, arg.Bytes!), 8),
            ArgKind.Null => new byte[8],
            ArgKind.BadPtr => LittleEndian(SimMemory.BadAddress, 8),
            _ => throw new InvalidOperationException($"{arg.Kind} is not a global's value"),
        };
        lock (lp) lp.Instance.SetGlobal(step.Name!, bytes, (int)step.Offset);
        return StepResult.Empty;
    }

    private StepResult GetGlobal(ExecStep step)
    {
        var lp = Program(step.Program!);
        lock (lp) return new StepResult { ValueBytes = lp.Instance.GetGlobal(step.Name!) };
    }

    private static byte[] LittleEndian(ulong v, int size)
    {
        var b = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, v);
        return b[..Math.Clamp(size, 1, 8)];
    }
}

using System.Runtime.CompilerServices;
using BenchmarkDotNet.Attributes;
using BpfTraceSim.Bpf.Helpers;
using BpfTraceSim.Bpf.Isa;
using BpfTraceSim.Bpf.Loader;
using BpfTraceSim.Bpf.Vm;
using BpfTraceSim.Kernel;
using BpfTraceSim.Kernel.Btf;
using BpfTraceSim.Kernel.Perf;
using BpfTraceSim.Kernel.Printk;
using BpfTraceSim.Kernel.Seq;

namespace BpfTraceSim.Bench;

/// <summary>
/// tests/bpf/perf_only.bpf.o calls bpf_perf_event_output (8 bytes, BPF_F_CURRENT_CPU) once per run:
/// the run through the IL-compiled program and the interpreter against the same call made directly
/// on the Kernel model. The ring is drained when half full so every write succeeds.
/// </summary>
[MemoryDiagnoser, MinColumn, MedianColumn]
public class BpfHelperCallBenchmarks
{
    private readonly HelperContext _ctx = new(0, SimTask.Idle, ExecContext.Task, 0);
    private readonly CpuModel _model = new(0);
    private PerfEventArray _array = null!;
    private PerfRing _ring = null!;
    private BpfVm _interp = null!;
    private BpfVm _compiled = null!;
    private readonly byte[] _value = BitConverter.GetBytes(0x1122334455667788UL);
    // the parts of the compiled form's cost: a run that returns at once, and one nullary helper call
    private BpfVm _entryOnly = null!;
    private BpfVm _nullaryCall = null!;

    private static string ObjectPath([CallerFilePath] string here = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", "..", "tests", "bpf", "perf_only.bpf.o"));

    [GlobalSetup]
    public void Setup()
    {
        PerfEvent.PerfEventOpen(PerfEventAttr.BpfOutput(), -1, 0, 1, false, 64, false, true, out var ev);
        _ring = ev!.Ring!;
        _array = new PerfEventArray(4);
        _array.Update(0, ev);
        var obj = BpfObject.Load(ObjectPath());
        var helpers = TracingHelpers.Register(BpfHelperTable.CreateGeneric(), _ => _model);
        var instance = new BpfInstance(obj, new SimMemory());
        instance.Map("events").External = _array;
        _interp = new BpfVm(instance, obj.Programs[0], helpers) { RecordHelperCalls = false };
        _compiled = new BpfVm(instance, obj.Programs[0], helpers) { RecordHelperCalls = false };
        _compiled.Compile();
        if (_compiled.RunCompiled([], _ctx).Ret != 0 || _interp.Run([], _ctx).Ret != 0)
            throw new InvalidOperationException("perf_only.bpf.o did not write its record");
        _entryOnly = Assemble("entry_only", [Asm.Mov64(0, 0), Asm.Exit()], helpers);
        _nullaryCall = Assemble("nullary_call", [Asm.Call(HelperProtos.GetSmpProcessorId), Asm.Exit()], helpers);
    }

    private static BpfVm Assemble(string name, BpfInsn[] insns, BpfHelperTable helpers)
    {
        var obj = BpfObject.FromPrograms([BpfProgram.FromInstructions(name, insns)]);
        var vm = new BpfVm(new BpfInstance(obj, new SimMemory()), obj.Programs[0], helpers) { RecordHelperCalls = false };
        vm.Compile();
        return vm;
    }

    private void Drain()
    {
        if (_ring.Used > _ring.Size / 2) _ring.ConsumeAll();
    }

    [Benchmark(Baseline = true)]
    public long KernelModelDirect()
    {
        Drain();
        return _model.PerfEventOutput(in _ctx, _array, BpfFlags.BPF_F_CURRENT_CPU, _value);
    }

    [Benchmark]
    public long CompiledProgram()
    {
        Drain();
        return _compiled.RunCompiled([], _ctx).Ret;
    }

    [Benchmark]
    public long InterpretedProgram()
    {
        Drain();
        return _interp.Run([], _ctx).Ret;
    }

    /// <summary>A compiled run of `r0 = 0; exit`: entering and leaving the VM.</summary>
    [Benchmark]
    public long CompiledEntryOnly() => _entryOnly.RunCompiled([], _ctx).Ret;

    /// <summary>A compiled run of `call bpf_get_smp_processor_id; exit`: entry plus a helper call's frame.</summary>
    [Benchmark]
    public long CompiledNullaryCall() => _nullaryCall.RunCompiled([], _ctx).Ret;
}

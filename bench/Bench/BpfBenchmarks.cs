using System.Runtime.CompilerServices;
using BenchmarkDotNet.Attributes;
using BpfTraceSim.Bpf.Helpers;
using BpfTraceSim.Bpf.Loader;
using BpfTraceSim.Bpf.Vm;
using BpfTraceSim.Kernel;

namespace BpfTraceSim.Bench;

/// <summary>
/// tests/bpf/loop.bpf.o (10,000 iterations of xorshift + FNV, 250,005 instructions per run, counted
/// exactly by the VM) through the interpreter and the IL-compiled form. M insn/s = 250,005 / (ns/op) * 1000.
/// </summary>
[MemoryDiagnoser, MinColumn, MedianColumn]
public class BpfBenchmarks
{
    private BpfVm _interp = null!;
    private BpfVm _compiled = null!;
    private readonly HelperContext _ctx = new(0, SimTask.Idle, ExecContext.Task, 0);

    /// <summary>Executed instructions per run (asserted in GlobalSetup).</summary>
    public const ulong InstructionsPerRun = 250_005;

    private static string ObjectPath([CallerFilePath] string here = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", "..", "tests", "bpf", "loop.bpf.o"));

    [GlobalSetup]
    public void Setup()
    {
        var obj = BpfObject.Load(ObjectPath());
        _interp = new BpfVm(new BpfInstance(obj, new SimMemory()), obj.Programs[0], BpfHelperTable.CreateGeneric()) { RecordHelperCalls = false };
        _compiled = new BpfVm(new BpfInstance(obj, new SimMemory()), obj.Programs[0], BpfHelperTable.CreateGeneric()) { RecordHelperCalls = false };
        _compiled.Compile();
        var a = _interp.Run([], _ctx);
        var b = _compiled.RunCompiled([], _ctx);
        if (a.Instructions != InstructionsPerRun || b.Instructions != InstructionsPerRun || a.Ret != b.Ret)
            throw new InvalidOperationException($"loop program: {a.Instructions}/{b.Instructions} insns, ret {a.Ret}/{b.Ret}");
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = 1)]
    public long Interpreter() => _interp.Run([], _ctx).Ret;

    [Benchmark]
    public long Compiled() => _compiled.RunCompiled([], _ctx).Ret;
}

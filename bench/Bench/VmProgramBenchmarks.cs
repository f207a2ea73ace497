using System.Runtime.CompilerServices;
using BenchmarkDotNet.Attributes;
using BpfTraceSim.Bpf.Helpers;
using BpfTraceSim.Bpf.Loader;
using BpfTraceSim.Bpf.Vm;
using BpfTraceSim.Kernel;

namespace BpfTraceSim.Bench;

/// <summary>
/// The three same-program VM benchmarks (tests/Bpf.Tests/vm-programs, the instruction streams other
/// eBPF VMs were measured on), interpreted and IL-compiled. One run per operation, with the context
/// passed as the caller's bytes; M insns/s = <see cref="Program.Instructions"/> / (ns/op) * 1000
/// (each run's executed count is asserted in GlobalSetup).
/// </summary>
[MemoryDiagnoser, MinColumn, MedianColumn]
public class VmProgramBenchmarks
{
    /// <summary>An object, its context and what one run executes and returns.</summary>
    public sealed record Program(string Object, int CtxBytes, ulong Instructions, ulong R0)
    {
        public override string ToString() => Path.GetFileNameWithoutExtension(Object);
    }

    public static readonly Program[] Programs =
    [
        new("alu-loop.o", 0, 80_000_003, 200000010000000),
        new("prime.o", 0, 10_000_015, 1),
        new("mem-sum.o", 1 << 20, 524_292, 18374971274774970368),
    ];

    public static IEnumerable<Program> All => Programs;

    [ParamsSource(nameof(All))]
    public Program Case { get; set; } = Programs[0];

    private BpfVm _interp = null!;
    private BpfVm _compiled = null!;
    private byte[] _ctxBytes = [];
    private readonly HelperContext _hc = new(0, SimTask.Idle, ExecContext.Task, 0);

    private static string Dir([CallerFilePath] string here = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", "..", "tests", "Bpf.Tests", "vm-programs"));

    /// <summary>The mem-sum context: byte i is 7i mod 256 (the generator's pattern).</summary>
    public static byte[] MemSumCtx(int len)
    {
        var b = new byte[len];
        for (int i = 0; i < len; i++) b[i] = (byte)(i * 7);
        return b;
    }

    private BpfVm Make()
    {
        var obj = BpfObject.Load(Path.Combine(Dir(), Case.Object));
        // alu-loop executes 80 M instructions, more than the default per-run limit
        return new BpfVm(new BpfInstance(obj, new SimMemory()), obj.Programs[0], BpfHelperTable.CreateGeneric())
        {
            RecordHelperCalls = false,
            MaxInstructions = 1UL << 32,
        };
    }

    [GlobalSetup]
    public void Setup()
    {
        _ctxBytes = MemSumCtx(Case.CtxBytes);
        _interp = Make();
        _compiled = Make();
        _compiled.Compile();
        var a = _interp.Run(_ctxBytes, _hc);
        var b = _compiled.RunCompiled(_ctxBytes, _hc);
        foreach (var r in new[] { a, b })
            if (r.Fault is not null || r.Instructions != Case.Instructions || (ulong)r.Ret != Case.R0)
                throw new InvalidOperationException($"{Case}: {r.Instructions} insns, r0 {(ulong)r.Ret}, fault {r.Fault}");
    }

    [Benchmark(Baseline = true)]
    public long Interpreter() => _interp.Run(_ctxBytes, _hc).Ret;

    [Benchmark]
    public long Compiled() => _compiled.RunCompiled(_ctxBytes, _hc).Ret;
}

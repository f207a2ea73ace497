using System.Runtime.CompilerServices;
using BenchmarkDotNet.Attributes;
using BpfTraceSim.Bpf.Helpers;
using BpfTraceSim.Bpf.Isa;
using BpfTraceSim.Bpf.Loader;
using BpfTraceSim.Bpf.Verifier;

namespace BpfTraceSim.Bench;

/// <summary>
/// What the verifier costs at load (BpfVerifier.Verify, the walk BpfVm's constructor runs once per
/// program): tests/bpf/loop.bpf.o, the test object it works hardest on (its bounded loop is walked
/// to the end: 250,005 instructions processed); st_snprintf.bpf.o, the longest (10 constant formats
/// checked through bprintf); and a generated 110,005-instruction raw_tp program of ALU work, stack
/// spills and fills and 5,000 two-way branches whose states the pruning must merge.
/// </summary>
[MemoryDiagnoser, MinColumn, MedianColumn]
public class VerifierBenchmarks
{
    private BpfObject _loop = null!, _snprintf = null!;
    private BpfProgram _generated = null!;
    private readonly BpfHelperTable _helpers = TracingHelpers.Register(BpfHelperTable.CreateGeneric(), _ => throw new InvalidOperationException("the verifier runs no helper"));

    private static string Obj(string name, [CallerFilePath] string here = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", "..", "tests", "bpf", name));

    /// <summary>110,005 instructions: blocks of ALU + spill/fill with a forward branch around half of each.</summary>
    public static BpfProgram Generated(int blocks = 5_000)
    {
        var insns = new List<BpfInsn>(blocks * 20 + 8) { Asm.Mov64(0, 0), Asm.Mov64(6, 1), Asm.Mov64(7, 2) };
        for (int b = 0; b < blocks; b++)
        {
            insns.Add(Asm.Alu64Imm(Op.ADD, 6, b));
            insns.Add(Asm.Alu64Reg(Op.XOR, 7, 6));
            insns.Add(Asm.Stx(Op.DW, 10, 7, -8));
            insns.Add(Asm.JmpImm(Op.JGT, 6, b * 3, 8));         // skip the next 8 on one path
            for (int i = 0; i < 4; i++) insns.Add(Asm.Alu64Imm(Op.MUL, 7, 3 + i));
            insns.Add(Asm.Alu64Imm(Op.AND, 7, 0xffff));
            insns.Add(Asm.Alu64Reg(Op.ADD, 0, 7));
            insns.Add(Asm.Ldx(Op.DW, 8, 10, -8));
            insns.Add(Asm.Alu64Reg(Op.SUB, 0, 8));
            insns.Add(Asm.Alu64Imm(Op.RSH, 6, 1));               // both paths meet here
            for (int i = 0; i < 9; i++) insns.Add(Asm.Alu64Imm(Op.ADD, 0, i));
        }
        insns.Add(Asm.Mov64(0, 0));
        insns.Add(Asm.Exit());
        return BpfProgram.FromInstructions("generated", insns, "raw_tp/bench");
    }

    [GlobalSetup]
    public void Setup()
    {
        _loop = BpfObject.Load(Obj("loop.bpf.o"));
        _snprintf = BpfObject.Load(Obj("st_snprintf.bpf.o"));
        _generated = Generated();
        if (_generated.Insns.Length < 100_000) throw new InvalidOperationException($"generated {_generated.Insns.Length} insns");
        if (LoopObject().Processed != 250_005) throw new InvalidOperationException("loop.bpf.o: unexpected processed count");
        SnprintfObject();
        GeneratedProgram();
    }

    [Benchmark]
    public BpfVerifierResult LoopObject() => BpfVerifier.Verify(_loop.Programs[0], _loop.Maps, _helpers);

    [Benchmark]
    public BpfVerifierResult SnprintfObject() => BpfVerifier.Verify(_snprintf.Programs[0], _snprintf.Maps, _helpers);

    [Benchmark]
    public BpfVerifierResult GeneratedProgram() => BpfVerifier.Verify(_generated, [], _helpers);
}

using System.Runtime.CompilerServices;
using BpfTraceSim.Bpf.Helpers;
using BpfTraceSim.Bpf.Isa;
using BpfTraceSim.Bpf.Loader;
using BpfTraceSim.Bpf.Vm;
using BpfTraceSim.Kernel;

namespace BpfTraceSim.Bpf.Tests;

/// <summary>Paths of the committed tests/bpf objects and small builders for hand-assembled programs.</summary>
public static class TestObjects
{
    public static string Dir([CallerFilePath] string here = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", "bpf"));

    public static string Path_(string name) => Path.Combine(Dir(), name);

    public static BpfObject Load(string name) => BpfObject.Load(Path_(name));

    public static readonly HelperContext Ctx = new(0, new SimTask(100, 99, "app"), ExecContext.Task, 123_456_789UL);

    /// <summary>A VM of one program; decodeOnly skips the verifier (isa_v4.bpf.o's atomics on ctx, which it refuses).</summary>
    public static BpfVm MakeVm(BpfObject obj, string? section = null, string? function = null, BpfHelperTable? helpers = null, int cpus = 1, bool decodeOnly = false)
    {
        var inst = new BpfInstance(obj, new SimMemory(), cpus);
        var prog = obj.FindProgram(section, function);
        return new BpfVm(inst, decodeOnly ? prog.DecodeOnlyCopy() : prog, helpers ?? BpfHelperTable.CreateGeneric());
    }

    public static BpfVm Asm(params BpfInsn[] insns) => AsmWith(null, null, insns);

    public static BpfVm AsmWith(IEnumerable<BpfMapSpec>? maps, BpfHelperTable? helpers, params BpfInsn[] insns)
    {
        var prog = BpfProgram.FromInstructions("t", insns, decodeOnly: true);
        var obj = BpfObject.FromPrograms([prog], maps);
        return new BpfVm(new BpfInstance(obj, new SimMemory()), prog, helpers ?? BpfHelperTable.CreateGeneric());
    }

    public static BpfInsn[] P(params object[] parts)
    {
        var l = new List<BpfInsn>();
        foreach (var p in parts)
        {
            if (p is BpfInsn i) l.Add(i);
            else if (p is BpfInsn[] a) l.AddRange(a);
            else throw new ArgumentException(p.GetType().Name);
        }
        return l.ToArray();
    }
}

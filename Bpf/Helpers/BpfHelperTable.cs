using BpfTraceSim.Kernel;
using BpfTraceSim.Bpf.Loader;
using BpfTraceSim.Bpf.Vm;

namespace BpfTraceSim.Bpf.Helpers;

/// <summary>A helper as the VM calls it: (vm, r1..r5) -> r0. Negative errno travels as its two's complement.</summary>
public delegate ulong BpfHelperFn(BpfVm vm, ulong r1, ulong r2, ulong r3, ulong r4, ulong r5);

/// <summary>Where the VM finds helpers: by id, for the program's type (null = the verifier would refuse the call).</summary>
public interface IBpfHelperHost
{
    BpfHelperFn? Resolve(int helperId, BpfProgramType type);
}

/// <summary>A dispatch table of helpers by id, each optionally limited to some program types.</summary>
public sealed class BpfHelperTable : IBpfHelperHost
{
    private readonly BpfHelperFn?[] _fns = new BpfHelperFn?[256];
    private readonly BpfProgramType[]?[] _only = new BpfProgramType[]?[256];

    /// <summary>
    /// Registers (or replaces) helper id; <paramref name="onlyFor"/> limits it to those program types
    /// (by default what its prototype says: an iterator-only helper is for iter programs).
    /// </summary>
    public BpfHelperTable Register(int id, BpfHelperFn fn, params BpfProgramType[] onlyFor)
    {
        _fns[id] = fn;
        if (onlyFor.Length == 0 && HelperProtos.Of(id) is { IterOnly: true }) onlyFor = [BpfProgramType.Iter];
        _only[id] = onlyFor.Length == 0 ? null : onlyFor;
        return this;
    }

    public BpfHelperFn? Resolve(int helperId, BpfProgramType type)
    {
        if ((uint)helperId >= (uint)_fns.Length) return null;
        var fn = _fns[helperId];
        if (fn is null) return null;
        var only = _only[helperId];
        return only is null || Array.IndexOf(only, type) >= 0 ? fn : null;
    }

    /// <summary>A table with the generic helpers (maps, time, cpu, task, random, probe_read).</summary>
    public static BpfHelperTable CreateGeneric() => GenericHelpers.Register(new BpfHelperTable());
}

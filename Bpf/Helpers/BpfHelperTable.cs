using BpfTraceSim.Kernel;
using BpfTraceSim.Bpf.Loader;
using BpfTraceSim.Bpf.Vm;

namespace BpfTraceSim.Bpf.Helpers;

/// <summary>A helper as the VM calls it: (vm, r1..r5) -> r0. Negative errno travels as its two's complement.</summary>
public delegate ulong BpfHelperFn(BpfVm vm, ulong r1, ulong r2, ulong r3, ulong r4, ulong r5);

/// <summary>How a helper's implementation reaches the program's memory.</summary>
public enum HelperMemory
{
    /// <summary>May read or write any simulated memory by address (SimMemory), the context included:
    /// the VM gives the context its own mapped copy before the call.</summary>
    ByAddress,
    /// <summary>Only through <see cref="BpfVm.TryGetSpan"/>, which sees a borrowed context as it is:
    /// the call leaves the caller's context bytes borrowed (no copy).</summary>
    ThroughSpans,
}

/// <summary>Where the VM finds helpers: by id, for the program's type (null = the verifier would refuse the call).</summary>
public interface IBpfHelperHost
{
    BpfHelperFn? Resolve(int helperId, BpfProgramType type);

    /// <summary>How helper id reaches memory (the safe answer, ByAddress, unless its registration says otherwise).</summary>
    HelperMemory MemoryOf(int helperId) => HelperMemory.ByAddress;
}

/// <summary>A dispatch table of helpers by id, each optionally limited to some program types.</summary>
public sealed class BpfHelperTable : IBpfHelperHost
{
    private readonly BpfHelperFn?[] _fns = new BpfHelperFn?[256];
    private readonly BpfProgramType[]?[] _only = new BpfProgramType[]?[256];
    private readonly HelperMemory[] _memory = new HelperMemory[256];

    /// <summary>
    /// Registers (or replaces) helper id; <paramref name="onlyFor"/> limits it to those program types
    /// (by default what its prototype says: an iterator-only helper is for iter programs).
    /// </summary>
    public BpfHelperTable Register(int id, BpfHelperFn fn, params BpfProgramType[] onlyFor) =>
        Register(id, fn, HelperMemory.ByAddress, onlyFor);

    /// <inheritdoc cref="Register(int, BpfHelperFn, BpfProgramType[])"/>
    /// <param name="memory">How fn reaches the program's memory (ThroughSpans only when every access is a TryGetSpan).</param>
    public BpfHelperTable Register(int id, BpfHelperFn fn, HelperMemory memory, params BpfProgramType[] onlyFor)
    {
        _fns[id] = fn;
        _memory[id] = memory;
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

    public HelperMemory MemoryOf(int helperId) => (uint)helperId < (uint)_memory.Length ? _memory[helperId] : HelperMemory.ByAddress;

    /// <summary>A table with the generic helpers (maps, time, cpu, task, random, probe_read).</summary>
    public static BpfHelperTable CreateGeneric() => GenericHelpers.Register(new BpfHelperTable());
}

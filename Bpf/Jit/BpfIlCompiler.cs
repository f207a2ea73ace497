using BpfTraceSim.Bpf.Vm;

namespace BpfTraceSim.Bpf.Vm;

/// <summary>Counters a compiled program keeps while it runs.</summary>
public struct BpfCompiledState
{
    public ulong Count;
}

/// <summary>Signature of a compiled program: (vm, r1, r2, r10, state) -> r0.</summary>
public delegate ulong BpfCompiledEntry(BpfVm vm, ulong r1, ulong r2, ulong r10, ref BpfCompiledState state);

public sealed class BpfCompiledProgram
{
    internal BpfCompiledProgram(BpfCompiledEntry entry) => Entry = entry;
    public BpfCompiledEntry Entry { get; }
}

internal static class BpfIlCompiler
{
    public static BpfCompiledProgram Compile(BpfVm vm) => throw new NotImplementedException();
}

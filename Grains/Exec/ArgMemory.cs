using System.Buffers.Binary;
using BpfTraceSim.Contracts.Exec;
using BpfTraceSim.Kernel;
using BpfTraceSim.Kernel.Printk;

namespace BpfTraceSim.Grains.Exec;

/// <summary>
/// Places an exec step's typed arguments in simulated memory and passes them by address, as a
/// program would pass pointers to its strings, addresses and symbols.
/// </summary>
public static class ArgMemory
{
    /// <summary>The 64-bit value a program would pass for one argument.</summary>
    public static ulong Place(ArgSpec arg, SimMemory memory, Kallsyms kallsyms) => arg.Kind switch
    {
        ArgKind.Value => arg.Value,
        ArgKind.Str or ArgKind.BytesHex or ArgKind.KernelBytes or ArgKind.Ipv4 or ArgKind.Ipv6 => memory.Map(AddressSpace.Kernel, arg.Bytes!),
        ArgKind.UserStr or ArgKind.UserBytes => memory.Map(AddressSpace.User, arg.Bytes!),
        ArgKind.Null => 0,
        ArgKind.BadPtr => SimMemory.BadAddress,
        ArgKind.Ksym => kallsyms.AddressOf(arg.Name!) + (ulong)arg.Offset,
        _ => throw new InvalidOperationException($"argument kind {arg.Kind} is not a format argument"),
    };

    /// <summary>
    /// The bytes a varargs helper reads at `args` (data_len of them), and whether args is NULL: from
    /// typed `args` (8 bytes each), or from raw `args_ptr` words followed by zeros up to 128 bytes.
    /// </summary>
    public static (byte[] Data, bool IsNull) Varargs(ExecStep step, SimMemory memory, Kallsyms kallsyms)
    {
        if (step.DataLen is ulong dataLen)
        {
            if (step.ArgsPtrNull) return (new byte[dataLen], true);
            var words = step.ArgsPtr ?? [];
            var mem = new byte[Math.Max(128, Math.Max((int)dataLen, words.Length * 8))];
            for (int i = 0; i < words.Length; i++) BinaryPrimitives.WriteUInt64LittleEndian(mem.AsSpan(i * 8), words[i]);
            return (mem[..(int)dataLen], false);
        }
        var data = new byte[step.Args.Length * 8];
        for (int i = 0; i < step.Args.Length; i++)
            BinaryPrimitives.WriteUInt64LittleEndian(data.AsSpan(i * 8), Place(step.Args[i], memory, kallsyms));
        return (data, false);
    }
}

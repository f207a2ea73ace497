using System.Collections.Immutable;
using System.Text;
using BpfTraceSim.Bpf.Vm;
using BpfTraceSim.Contracts.Exec;
using BpfTraceSim.Kernel;
using BpfTraceSim.Kernel.Printk;

namespace BpfTraceSim.Grains.Exec;

/// <summary>
/// User space on an object's stack_trace map (the bpf(2) commands on the map's fd): lookup_slot is
/// BPF_MAP_LOOKUP_ELEM (bpf_stackmap_copy), next_slot BPF_MAP_GET_NEXT_KEY, delete_slot
/// BPF_MAP_DELETE_ELEM. The map is the host's, shared by every CPU, as the program's own maps are.
/// </summary>
public sealed partial class CpuKernel
{
    // The first program (in "programs" order) whose object declares the stack map (the parser checked one does).
    private (LoadedProgram Lp, BpfStackMap Map) StackMapOf(string name)
    {
        foreach (var p in _world.Programs)
        {
            var lp = Program(p.Name);
            foreach (var m in lp.Instance.Maps)
                if (m.Name == name && m.Stacks is { } st) return (lp, st);
        }
        throw new InvalidOperationException($"no stack_trace map {name}");
    }

    // map_lookup_elem: a map created BPF_F_WRONLY cannot be read from user space (-EPERM)
    private StepResult LookupStack(ExecStep step)
    {
        var (lp, st) = StackMapOf(step.Map!);
        if ((st.Flags & BpfFlags.BPF_F_WRONLY) != 0) return StepResult.Of(-Errno.EPERM);
        var value = new byte[st.ValueSize];
        lock (lp)
        {
            int ret = st.Copy((uint)step.Index, value);
            if (ret != 0) return StepResult.Of(ret);
            return new StepResult { Ret = 0, ValueBytes = value, Stack = Symbolised(st.StackAt((uint)step.Index), WorldPrintk.Kallsyms) };
        }
    }

    // map_get_next_key: needs read access too; index absent = a NULL key (the first id)
    private StepResult NextStack(ExecStep step)
    {
        var (lp, st) = StackMapOf(step.Map!);
        if ((st.Flags & BpfFlags.BPF_F_WRONLY) != 0) return StepResult.Of(-Errno.EPERM);
        lock (lp)
        {
            int ret = st.NextKey(step.Index < 0 ? null : (uint)step.Index, out uint next);
            return ret != 0 ? StepResult.Of(ret) : new StepResult { Ret = 0, Key = next };
        }
    }

    // map_delete_elem: a map created BPF_F_RDONLY cannot be written from user space (-EPERM)
    private StepResult DeleteStack(ExecStep step)
    {
        var (lp, st) = StackMapOf(step.Map!);
        if ((st.Flags & BpfFlags.BPF_F_RDONLY) != 0) return StepResult.Of(-Errno.EPERM);
        lock (lp) return StepResult.Of(st.Delete((uint)step.Index));
    }

    /// <summary>Each frame as %pS prints it (func+0xoff/0xsize) when the kallsyms hold it, else its address in hex.</summary>
    public static ImmutableArray<string> Symbolised(ReadOnlySpan<ulong> ips, Kallsyms kallsyms)
    {
        var b = ImmutableArray.CreateBuilder<string>(ips.Length);
        foreach (ulong ip in ips)
            b.Add(kallsyms.TryLookup(ip, out var name, out ulong off, out ulong size)
                ? $"{Encoding.ASCII.GetString(name)}+0x{off:x}/0x{size:x}"
                : $"0x{ip:x}");
        return b.MoveToImmutable();
    }
}

using BpfTraceSim.Bpf.Vm;
using BpfTraceSim.Kernel;
using static BpfTraceSim.Kernel.HelperProtos;

namespace BpfTraceSim.Bpf.Helpers;

/// <summary>
/// bpf_get_stackid (27) and bpf_get_stack (67) over the current task's synthetic stacks
/// (<see cref="SimStacks"/>): BPF_F_USER_STACK picks the user stack, else the kernel one. Every
/// program type's variant (kprobe's pt_regs, tp's and raw_tp's fetched regs, perf_event's without
/// a sampled callchain) walks the same stacks, so one implementation serves them all.
/// </summary>
public static class StackHelpers
{
    public static BpfHelperTable Register(BpfHelperTable t)
    {
        t.Register(GetStackid, GetStackidImpl, HelperMemory.ThroughSpans);
        t.Register(GetStack, GetStackImpl, HelperMemory.ThroughSpans);
        return t;
    }

    // bpf_get_stackid(ctx, map, flags)
    private static ulong GetStackidImpl(BpfVm vm, ulong _, ulong map, ulong flags, ulong __, ulong ___)
    {
        var m = vm.Instance.MapByHandle(map) ?? throw BpfVm.HelperFault($"R2 0x{map:x} is not a map pointer");
        var stacks = m.Stacks ?? throw BpfVm.HelperFault($"map '{m.Name}' is not a stack_trace map (the verifier requires one)");
        Span<ulong> scratch = stackalloc ulong[SimStacks.DefaultKernelDepth];
        return unchecked((ulong)stacks.GetStackid(StackOf(vm, flags, scratch), flags));
    }

    // bpf_get_stack(ctx, buf, size, flags): size is a u32 in the kernel's BPF_CALL_4
    private static ulong GetStackImpl(BpfVm vm, ulong _, ulong buf, ulong size, ulong flags, ulong __)
    {
        uint len = (uint)size;
        Span<byte> dst = default;
        if (len != 0 && (len > SimLimits.MaxDataBytes || !vm.TryGetSpan(buf, (int)len, true, out dst)))
            throw BpfVm.HelperFault($"buf: {len} bytes at 0x{buf:x} are not writable program memory");
        Span<ulong> scratch = stackalloc ulong[SimStacks.DefaultKernelDepth];
        return unchecked((ulong)BpfStackMap.GetStack(StackOf(vm, flags, scratch), dst, flags));
    }

    private static ReadOnlySpan<ulong> StackOf(BpfVm vm, ulong flags, Span<ulong> scratch)
    {
        var task = vm.Context.Current;
        return (flags & BpfFlags.BPF_F_USER_STACK) != 0 ? SimStacks.User(task) : SimStacks.Kernel(task, vm.Instance.Kallsyms, scratch);
    }
}

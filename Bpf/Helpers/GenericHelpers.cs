using System.Text;
using BpfTraceSim.Bpf.Vm;
using BpfTraceSim.Kernel;
using static BpfTraceSim.Kernel.HelperProtos;

namespace BpfTraceSim.Bpf.Helpers;

/// <summary>
/// The helpers that need no tracing model: maps, time, CPU, current task, random numbers and the
/// probe_read family against simulated memory. Each returns what the kernel helper returns.
/// </summary>
public static class GenericHelpers
{
    public static BpfHelperTable Register(BpfHelperTable t)
    {
        t.Register(MapLookupElem, MapLookup);
        t.Register(MapUpdateElem, MapUpdate);
        t.Register(MapDeleteElem, MapDelete);
        t.Register(KtimeGetNs, (vm, _, _, _, _, _) => vm.Context.NowNs);
        t.Register(KtimeGetBootNs, (vm, _, _, _, _, _) => vm.Context.NowNs);
        t.Register(KtimeGetCoarseNs, (vm, _, _, _, _, _) => vm.Context.NowNs);
        t.Register(KtimeGetTaiNs, (vm, _, _, _, _, _) => vm.Context.NowNs);
        t.Register(GetPrandomU32, (vm, _, _, _, _, _) => vm.NextPrandom());
        t.Register(GetSmpProcessorId, (vm, _, _, _, _, _) => (ulong)vm.Context.Cpu);
        t.Register(GetCurrentPidTgid, (vm, _, _, _, _, _) => ((ulong)(uint)vm.Context.Current.Tgid << 32) | (uint)vm.Context.Current.Pid);
        t.Register(GetCurrentComm, GetCurrentCommImpl);
        t.Register(Loop, BpfLoop);
        t.Register(ProbeRead, (vm, dst, size, src, _, _) => ProbeReadCommon(vm, dst, size, src, SimMemory.SpaceOf(src)));
        t.Register(ProbeReadUser, (vm, dst, size, src, _, _) => ProbeReadCommon(vm, dst, size, src, AddressSpace.User));
        t.Register(ProbeReadKernel, (vm, dst, size, src, _, _) => ProbeReadCommon(vm, dst, size, src, AddressSpace.Kernel));
        t.Register(ProbeReadStr, (vm, dst, size, src, _, _) => ProbeReadStrCommon(vm, dst, size, src, SimMemory.SpaceOf(src)));
        t.Register(ProbeReadUserStr, (vm, dst, size, src, _, _) => ProbeReadStrCommon(vm, dst, size, src, AddressSpace.User));
        t.Register(ProbeReadKernelStr, (vm, dst, size, src, _, _) => ProbeReadStrCommon(vm, dst, size, src, AddressSpace.Kernel));
        return t;
    }

    private static BpfMap MapArg(BpfVm vm, ulong r1) =>
        vm.Instance.MapByHandle(r1) ?? throw BpfVm.HelperFault($"R1 0x{r1:x} is not a map pointer");

    private static Span<byte> Mem(BpfVm vm, ulong addr, int len, bool write, string what)
    {
        if (!vm.TryGetSpan(addr, len, write, out var s))
            throw BpfVm.HelperFault($"{what}: {len} bytes at 0x{addr:x} are not {(write ? "writable" : "readable")} program memory");
        return s;
    }

    // bpf_map_lookup_elem
    private static ulong MapLookup(BpfVm vm, ulong map, ulong key, ulong _, ulong __, ulong ___)
    {
        var m = MapArg(vm, map);
        if (m.Spec.Type == Loader.BpfMapType.PerfEventArray) throw BpfVm.HelperFault($"map '{m.Name}' (perf_event_array) cannot be looked up from a program");
        return m.Lookup(Mem(vm, key, m.Spec.KeySize, false, "key"), vm.Context.Cpu);
    }

    // bpf_map_update_elem
    private static ulong MapUpdate(BpfVm vm, ulong map, ulong key, ulong value, ulong flags, ulong _)
    {
        var m = MapArg(vm, map);
        if (m.Spec.Type == Loader.BpfMapType.PerfEventArray) throw BpfVm.HelperFault($"map '{m.Name}' (perf_event_array) cannot be updated from a program");
        var k = Mem(vm, key, m.Spec.KeySize, false, "key");
        var v = Mem(vm, value, m.Spec.ValueSize, false, "value");
        return (ulong)m.Update(k, v, flags, vm.Context.Cpu);
    }

    // bpf_map_delete_elem
    private static ulong MapDelete(BpfVm vm, ulong map, ulong key, ulong _, ulong __, ulong ___)
    {
        var m = MapArg(vm, map);
        if (m.Spec.Type == Loader.BpfMapType.PerfEventArray) throw BpfVm.HelperFault($"map '{m.Name}' (perf_event_array) cannot be deleted from a program");
        return (ulong)m.Delete(Mem(vm, key, m.Spec.KeySize, false, "key"));
    }

    // bpf_loop (kernel/bpf/bpf_iter.c): flags are checked first (-EINVAL), then nr_loops, a u32 (the
    // upper half of r1 is ignored), against BPF_MAX_LOOPS (-E2BIG). The callback gets (i, ctx) and
    // runs until it returns non-zero (the verifier allows only 0 and 1); the result is the number of
    // calls made: i + 1 for a stop at index i, nr_loops otherwise (0 for none).
    private static ulong BpfLoop(BpfVm vm, ulong nrLoops, ulong fn, ulong ctx, ulong flags, ulong _)
    {
        if (flags != 0) return unchecked((ulong)(long)-Errno.EINVAL);
        uint n = (uint)nrLoops;
        if (n > MaxLoops) return unchecked((ulong)(long)-Errno.E2BIG);
        for (uint i = 0; i < n; i++)
            if (vm.InvokeCallback(fn, i, ctx) != 0) return i + 1UL;
        return n;
    }

    // bpf_get_current_comm: the comm padded with NULs, cut to size-1 bytes plus a NUL.
    private static ulong GetCurrentCommImpl(BpfVm vm, ulong buf, ulong size, ulong _, ulong __, ulong ___)
    {
        var dst = Mem(vm, buf, (int)Math.Min(size, 1 << 16), true, "buf");
        dst.Clear();
        if (dst.Length == 0) return 0;
        var comm = Encoding.UTF8.GetBytes(vm.Context.Current.Comm);
        int n = Math.Min(Math.Min(comm.Length, 15), dst.Length - 1);
        comm.AsSpan(0, n).CopyTo(dst);
        return 0;
    }

    // bpf_probe_read_{kernel,user}: all or nothing; on failure the destination is zeroed.
    private static ulong ProbeReadCommon(BpfVm vm, ulong dstAddr, ulong size, ulong src, AddressSpace space)
    {
        var dst = Mem(vm, dstAddr, (int)Math.Min(size, 1 << 20), true, "dst");
        if (!vm.Memory.TryRead(src, dst, space))
        {
            dst.Clear();
            return unchecked((ulong)(long)-Errno.EFAULT);
        }
        return 0;
    }

    // bpf_probe_read_{kernel,user}_str: bytes copied including the NUL, or -EFAULT with dst zeroed.
    private static ulong ProbeReadStrCommon(BpfVm vm, ulong dstAddr, ulong size, ulong src, AddressSpace space)
    {
        var dst = Mem(vm, dstAddr, (int)Math.Min(size, 1 << 20), true, "dst");
        int r = vm.Memory.ReadString(src, dst, space);
        if (r < 0) dst.Clear();
        return unchecked((ulong)(long)r);
    }
}

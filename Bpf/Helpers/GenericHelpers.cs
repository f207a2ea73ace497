using System.Buffers.Binary;
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
        t.Register(MapLookupElem, MapLookup, HelperMemory.ThroughSpans);
        t.Register(MapUpdateElem, MapUpdate, HelperMemory.ThroughSpans);
        t.Register(MapDeleteElem, MapDelete, HelperMemory.ThroughSpans);
        t.Register(KtimeGetNs, (vm, _, _, _, _, _) => vm.Context.NowNs, HelperMemory.ThroughSpans);
        t.Register(KtimeGetBootNs, (vm, _, _, _, _, _) => vm.Context.NowNs, HelperMemory.ThroughSpans);
        t.Register(KtimeGetCoarseNs, (vm, _, _, _, _, _) => vm.Context.NowNs, HelperMemory.ThroughSpans);
        t.Register(KtimeGetTaiNs, (vm, _, _, _, _, _) => vm.Context.NowNs, HelperMemory.ThroughSpans);
        t.Register(GetPrandomU32, (vm, _, _, _, _, _) => vm.NextPrandom(), HelperMemory.ThroughSpans);
        t.Register(GetSmpProcessorId, (vm, _, _, _, _, _) => (ulong)vm.Context.Cpu, HelperMemory.ThroughSpans);
        t.Register(GetCurrentPidTgid, (vm, _, _, _, _, _) => ((ulong)(uint)vm.Context.Current.Tgid << 32) | (uint)vm.Context.Current.Pid, HelperMemory.ThroughSpans);
        t.Register(GetCurrentComm, GetCurrentCommImpl, HelperMemory.ThroughSpans);
        t.Register(Loop, BpfLoop);
        // the VM runs a direct call itself (IOp.CALL_TAIL); only a callx with the id 12 reaches this
        t.Register(TailCall, (_, _, _, _, _, _) => throw BpfVm.HelperFault("bpf_tail_call reached through callx: the verifier requires a direct call"),
            HelperMemory.ThroughSpans);
        t.Register(GetCurrentUidGid, (vm, _, _, _, _, _) => ((ulong)vm.Context.Current.Gid << 32) | vm.Context.Current.Uid, HelperMemory.ThroughSpans);
        // bpf_get_current_task(_btf): current's task_struct, mapped into the world's kernel memory on first ask
        t.Register(GetCurrentTask, (vm, _, _, _, _, _) => SimTaskMemory.Current(vm.Memory, vm.Context.Current, vm.Context.Cpu), HelperMemory.ThroughSpans);
        t.Register(GetCurrentTaskBtf, (vm, _, _, _, _, _) => SimTaskMemory.Current(vm.Memory, vm.Context.Current, vm.Context.Cpu), HelperMemory.ThroughSpans);
        // bpf_per_cpu_ptr: NULL for a CPU at or past nr_cpu_ids; bpf_this_cpu_ptr: the running CPU's copy
        t.Register(PerCpuPtr, (vm, ptr, cpu, _, _, _) => (uint)cpu >= (uint)vm.Instance.Cpus ? 0 : SimPerCpu.Ptr(vm.Memory, ptr, (int)(uint)cpu), HelperMemory.ThroughSpans);
        t.Register(ThisCpuPtr, (vm, ptr, _, _, _, _) => SimPerCpu.Ptr(vm.Memory, ptr, vm.Context.Cpu), HelperMemory.ThroughSpans);
        t.Register(GetNumaNodeId, (_, _, _, _, _, _) => 0, HelperMemory.ThroughSpans); // numa_node_id(): the simulated machine is one node
        t.Register(GetNsCurrentPidTgid, GetNsCurrentPidTgidImpl);
        t.Register(Strncmp, StrncmpImpl);
        t.Register(GetAttachCookie, (_, _, _, _, _, _) => 0, HelperMemory.ThroughSpans); // no link in the simulator carries a bpf_cookie: the default 0
        t.Register(SendSignal, SendSignalImpl);
        t.Register(ProbeRead, (vm, dst, size, src, _, _) => ProbeReadCommon(vm, dst, size, src, SimMemory.SpaceOf(src)));
        t.Register(ProbeReadUser, (vm, dst, size, src, _, _) => ProbeReadCommon(vm, dst, size, src, AddressSpace.User));
        t.Register(ProbeReadKernel, (vm, dst, size, src, _, _) => ProbeReadCommon(vm, dst, size, src, AddressSpace.Kernel));
        t.Register(ProbeReadStr, (vm, dst, size, src, _, _) => ProbeReadStrCommon(vm, dst, size, src, SimMemory.SpaceOf(src)));
        t.Register(ProbeReadUserStr, (vm, dst, size, src, _, _) => ProbeReadStrCommon(vm, dst, size, src, AddressSpace.User));
        t.Register(ProbeReadKernelStr, (vm, dst, size, src, _, _) => ProbeReadStrCommon(vm, dst, size, src, AddressSpace.Kernel));
        return StackHelpers.Register(t);
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

    // bpf_get_ns_current_pid_tgid (kernel/bpf/helpers.c): in order, size != sizeof(struct bpf_pidns_info),
    // a dev that does not fit dev_t (u32) and a dev/ino that is not the task's pid namespace are all
    // -EINVAL with the buffer zeroed (-ENOENT only for a task without a pid namespace, which a
    // simulated task always has). Every simulated task is in the initial namespace (SimPidNs).
    private static ulong GetNsCurrentPidTgidImpl(BpfVm vm, ulong dev, ulong ino, ulong buf, ulong size, ulong _)
    {
        var dst = Mem(vm, buf, (int)Math.Min(size, 1 << 16), true, "nsdata");
        if (size != PidnsInfoSize || dev != (uint)dev || dev != SimPidNs.Dev || ino != SimPidNs.Ino)
        {
            dst.Clear();
            return unchecked((ulong)(long)-Errno.EINVAL);
        }
        BinaryPrimitives.WriteUInt32LittleEndian(dst, (uint)vm.Context.Current.Pid);
        BinaryPrimitives.WriteUInt32LittleEndian(dst[4..], (uint)vm.Context.Current.Tgid);
        return 0;
    }

    // bpf_strncmp: lib/string.c strncmp(s1, s2, s1_sz) on unsigned chars, -1/0/1; s2 is a constant
    // NUL-terminated string (the verifier checks it), s1 need not be terminated within s1_sz.
    private static ulong StrncmpImpl(BpfVm vm, ulong s1, ulong s1Size, ulong s2, ulong _, ulong __)
    {
        var a = Mem(vm, s1, (int)Math.Min(s1Size, 1 << 16), false, "s1");
        var b = ConstStr(vm, s2);
        for (int i = 0; i < a.Length; i++)
        {
            byte c1 = a[i], c2 = i < b.Length ? b[i] : (byte)0;
            if (c1 != c2) return c1 < c2 ? ulong.MaxValue : 1;
            if (c1 == 0) break;
        }
        return 0;
    }

    // s2 of bpf_strncmp: up to and including its NUL, in read-only program memory.
    private static ReadOnlySpan<byte> ConstStr(BpfVm vm, ulong addr)
    {
        var r = vm.Memory.Find(addr) ?? throw BpfVm.HelperFault($"s2 0x{addr:x} is not mapped");
        var s = r.Bytes.AsSpan((int)(addr - r.Start));
        int nul = s.IndexOf((byte)0);
        if (nul < 0) throw BpfVm.HelperFault("s2 is not NUL-terminated");
        return s[..(nul + 1)];
    }

    // bpf_send_signal (kernel/trace/bpf_trace.c bpf_send_signal_common, PIDTYPE_TGID): -EPERM for a
    // kernel thread (the idle task, pid 0) and for init (pid 1); then, with preemption or interrupts
    // disabled (every BPF program context but a preemptible task one), the deferred path: -EINVAL
    // for a signal number past _NSIG (64), -EBUSY while this CPU's irq_work from an earlier call of
    // the run is still queued, else 0; otherwise group_send_sig_info at once (-EINVAL past 64).
    private static ulong SendSignalImpl(BpfVm vm, ulong sigArg, ulong _, ulong __, ulong ___, ulong ____)
    {
        var c = vm.Context;
        uint sig = (uint)sigArg;
        if (c.Current.Pid == 0 || c.Current.Tgid == 1) return unchecked((ulong)(long)-Errno.EPERM);
        if (sig > MaxSignal) return unchecked((ulong)(long)-Errno.EINVAL);
        var s = new BpfSignal(c.Current.Tgid, c.Current.Pid, sig);
        if (c.PreemptDepth == 0 && c.Context == ExecContext.Task)
        {
            vm.SendSignalNow(s);
            return 0;
        }
        return vm.QueueSignal(s) ? 0 : unchecked((ulong)(long)-Errno.EBUSY);
    }

    /// <summary>_NSIG on x86-64: valid_signal accepts 0..64.</summary>
    private const uint MaxSignal = 64;

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

using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using BpfTraceSim.Bpf.Loader;
using BpfTraceSim.Bpf.Vm;
using BpfTraceSim.Kernel;
using static BpfTraceSim.Kernel.HelperProtos;
using BpfTraceSim.Kernel.Perf;
using BpfTraceSim.Kernel.Printk;
using BpfTraceSim.Kernel.Ringbuf;
using BpfTraceSim.Kernel.Seq;

namespace BpfTraceSim.Bpf.Helpers;

/// <summary>
/// Binds the tracing helpers (ids 6, 22, 25, 55, 126, 127, 128, 130-134, 165, 177) to the Kernel model: the
/// VM reads the program's memory arguments and calls the helper on the <see cref="CpuModel"/> of the
/// CPU the program runs on (whoever owns that model: a CPU grain, or a scenario host's engine).
/// A perf_event_array map must have its Kernel <see cref="PerfEventArray"/> in <see cref="BpfMap.External"/>.
/// </summary>
public static class TracingHelpers
{
    // HelperMemory.ThroughSpans marks the helpers whose model call sees only the spans read here
    // (the printk family and seq_printf read %s/%p arguments by address, so they keep the default).
    /// <param name="cpuOf">The kernel model of a CPU, by number (the VM's context names the CPU it runs on).</param>
    public static BpfHelperTable Register(BpfHelperTable t, Func<int, CpuModel> cpuOf)
    {
        t.Register(TracePrintk, (vm, fmt, fmtSize, a1, a2, a3) =>
            (ulong)Cpu(vm, cpuOf).TracePrintk(vm.Context, World(vm, cpuOf),
                Mem(vm, fmt, fmtSize, "fmt"), a1, a2, a3));
        t.Register(TraceVprintk, (vm, fmt, fmtSize, args, dataLen, _) =>
            (ulong)Cpu(vm, cpuOf).TraceVprintk(vm.Context, World(vm, cpuOf),
                Mem(vm, fmt, fmtSize, "fmt"), args == 0 ? default : Mem(vm, args, dataLen, "args"), args == 0));
        t.Register(Snprintf, (vm, str, strSize, fmt, args, dataLen) =>
            (ulong)Cpu(vm, cpuOf).Snprintf(vm.Context, World(vm, cpuOf),
                WritableOrEmpty(vm, str, strSize), ConstString(vm, fmt), args == 0 ? default : Mem(vm, args, dataLen, "args"), args == 0));
        t.Register(PerfEventOutput, (vm, _, map, flags, data, size) =>
            (ulong)Cpu(vm, cpuOf).PerfEventOutput(vm.Context, PerfMap(vm, map), flags, Mem(vm, data, size, "data")), HelperMemory.ThroughSpans);
        t.Register(PerfEventRead, (vm, map, flags, _, _, _) =>
            Cpu(vm, cpuOf).PerfEventRead(vm.Context, PerfMap(vm, map), flags), HelperMemory.ThroughSpans);
        t.Register(PerfEventReadValue, (vm, map, flags, buf, size, _) =>
            (ulong)Cpu(vm, cpuOf).PerfEventReadValue(vm.Context, PerfMap(vm, map), flags, WritableOrEmpty(vm, buf, size)), HelperMemory.ThroughSpans);
        t.Register(SeqPrintf, (vm, _, fmt, fmtSize, data, dataLen) =>
            (ulong)Cpu(vm, cpuOf).SeqPrintf(SeqOf(vm, cpuOf), World(vm, cpuOf),
                Mem(vm, fmt, fmtSize, "fmt"), data == 0 ? default : Mem(vm, data, dataLen, "data"), data == 0));
        t.Register(SeqWrite, (vm, _, data, len, _, _) =>
            (ulong)CpuModel.SeqWrite(SeqOf(vm, cpuOf), Mem(vm, data, len, "data")), HelperMemory.ThroughSpans);
        t.Register(SeqPrintfBtf, (vm, _, ptr, ptrSize, flags, _) =>
        {
            var btf = Cpu(vm, cpuOf).VmlinuxBtf ?? throw BpfVm.HelperFault("bpf_seq_printf_btf: the world has no vmlinux BTF");
            var bp = BtfPtrArg(vm, ptr, ptrSize);
            return (ulong)CpuModel.SeqPrintfBtf(SeqOf(vm, cpuOf), btf, World(vm, cpuOf), bp, (uint)ptrSize, flags);
        });
        t.Register(SnprintfBtf, (vm, str, strSize, ptr, ptrSize, flags) =>
        {
            var btf = Cpu(vm, cpuOf).VmlinuxBtf ?? throw BpfVm.HelperFault("bpf_snprintf_btf: the world has no vmlinux BTF");
            var bp = BtfPtrArg(vm, ptr, ptrSize);
            return (ulong)CpuModel.SnprintfBtf(WritableOrEmpty(vm, str, strSize), btf, World(vm, cpuOf), bp, (uint)ptrSize, flags);
        });
        t.Register(RingbufOutput, (vm, map, data, size, flags, _) =>
            (ulong)Cpu(vm, cpuOf).RingbufOutput(vm.Context, RingMap(vm, map), flags, Mem(vm, data, size, "data")), HelperMemory.ThroughSpans);
        t.Register(RingbufReserve, (vm, map, size, flags, _, _) =>
            Cpu(vm, cpuOf).RingbufReserve(vm.Context, RingMap(vm, map), size, flags), HelperMemory.ThroughSpans);
        t.Register(RingbufSubmit, (vm, sample, flags, _, _, _) => Commit(vm, cpuOf, sample, flags, discard: false), HelperMemory.ThroughSpans);
        t.Register(RingbufDiscard, (vm, sample, flags, _, _, _) => Commit(vm, cpuOf, sample, flags, discard: true), HelperMemory.ThroughSpans);
        t.Register(RingbufQuery, (vm, map, flags, _, _, _) => CpuModel.RingbufQuery(RingMap(vm, map), flags), HelperMemory.ThroughSpans);
        t.Register(GetFuncIp, (vm, _, _, _, _, _) => FuncIpOf(vm.Program.FuncIpTarget, World(vm, cpuOf).Kallsyms), HelperMemory.ThroughSpans);
        return t;
    }

    /// <summary>
    /// bpf_get_func_ip: the address of the program's attach function (BpfProgramTypes.FuncIpTarget)
    /// in the simulated kallsyms; 0 without one, or for a function the kallsyms lack (the kernel could
    /// not have attached there; user addresses of uprobes are not modelled).
    /// </summary>
    public static ulong FuncIp(string section, Kallsyms kallsyms) => FuncIpOf(BpfProgramTypes.FuncIpTarget(section), kallsyms);

    private static ulong FuncIpOf(string? target, Kallsyms kallsyms) =>
        !string.IsNullOrEmpty(target) && kallsyms.TryGetAddress(target, out ulong a) ? a : 0;

    // struct btf_ptr { void *ptr; __u32 type_id; __u32 flags; }: its first bytes (ptrSize is checked by the helper)
    private static BtfPtr BtfPtrArg(BpfVm vm, ulong ptr, ulong ptrSize)
    {
        var raw = Mem(vm, ptr, Math.Min(ptrSize, 16), "ptr");
        Span<byte> b = stackalloc byte[16];
        b.Clear();
        raw.CopyTo(b);
        return new BtfPtr(BinaryPrimitives.ReadUInt64LittleEndian(b), BinaryPrimitives.ReadUInt32LittleEndian(b[8..]), BinaryPrimitives.ReadUInt32LittleEndian(b[12..]));
    }

    // submit/discard are RET_VOID: r0 is left 0.
    private static ulong Commit(BpfVm vm, Func<int, CpuModel> cpuOf, ulong sample, ulong flags, bool discard) =>
        Cpu(vm, cpuOf).RingbufCommit(sample, flags, discard)
            ? 0UL
            : throw BpfVm.HelperFault($"{(discard ? "bpf_ringbuf_discard" : "bpf_ringbuf_submit")}: 0x{sample:x} is not a ringbuf reservation that is still held (the verifier requires one)");

    private static BpfRingbuf RingMap(BpfVm vm, ulong handle)
    {
        var m = vm.Instance.MapByHandle(handle) ?? throw BpfVm.HelperFault($"0x{handle:x} is not a map pointer");
        return m.External as BpfRingbuf
            ?? throw BpfVm.HelperFault($"map '{m.Name}' is not a ringbuf bound to a simulated ring");
    }

    // The fault messages are built out of line: inlined, their string handlers widen every
    // helper's frame (zeroed on each call) for a path a verified program never takes.
    private static ReadOnlySpan<byte> Mem(BpfVm vm, ulong addr, ulong len, string what)
    {
        if (len == 0) return default;
        if (len > 1 << 20 || !vm.TryGetSpan(addr, (int)len, false, out var s)) throw Unreadable(what, addr, len);
        return s;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static BpfFaultException Unreadable(string what, ulong addr, ulong len) =>
        BpfVm.HelperFault($"{what}: {len} bytes at 0x{addr:x} are not readable program memory");

    private static Span<byte> WritableOrEmpty(BpfVm vm, ulong addr, ulong len)
    {
        if (len == 0) return default;
        if (len > 1 << 20 || !vm.TryGetSpan(addr, (int)len, true, out var s)) throw Unwritable(addr, len);
        return s;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static BpfFaultException Unwritable(ulong addr, ulong len) =>
        BpfVm.HelperFault($"{len} bytes at 0x{addr:x} are not writable program memory");

    // snprintf's format: a constant string in read-only data, up to and including its NUL.
    private static ReadOnlySpan<byte> ConstString(BpfVm vm, ulong addr)
    {
        var r = vm.Memory.Find(addr) ?? throw BpfVm.HelperFault($"fmt 0x{addr:x} is not mapped");
        var s = r.Bytes.AsSpan((int)(addr - r.Start));
        int nul = s.IndexOf((byte)0);
        if (nul < 0) throw BpfVm.HelperFault("fmt is not NUL-terminated");
        return s[..(nul + 1)];
    }

    private static PerfEventArray PerfMap(BpfVm vm, ulong handle) =>
        vm.Instance.MapByHandle(handle)?.External as PerfEventArray ?? throw NotPerfMap(vm, handle);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static BpfFaultException NotPerfMap(BpfVm vm, ulong handle) =>
        vm.Instance.MapByHandle(handle) is { } m
            ? BpfVm.HelperFault($"map '{m.Name}' is not a perf_event_array bound to simulated perf events")
            : BpfVm.HelperFault($"0x{handle:x} is not a map pointer");

    private static CpuModel Cpu(BpfVm vm, Func<int, CpuModel> cpuOf)
    {
        int cpu = vm.Context.Cpu;
        if (vm.ModelCache is { } m && vm.ModelCacheCpu == cpu && ReferenceEquals(vm.ModelCacheOwner, cpuOf)) return m;
        m = cpuOf(cpu);
        vm.ModelCache = m;
        vm.ModelCacheOwner = cpuOf;
        vm.ModelCacheCpu = cpu;
        return m;
    }

    private static PrintkWorld World(BpfVm vm, Func<int, CpuModel> cpuOf) =>
        Cpu(vm, cpuOf).ProgramWorld ?? throw BpfVm.HelperFault("the CPU has no program memory world");

    private static SeqFile SeqOf(BpfVm vm, Func<int, CpuModel> cpuOf) =>
        Cpu(vm, cpuOf).Seq ?? throw BpfVm.HelperFault("no seq_file: the program does not run as an iterator");
}

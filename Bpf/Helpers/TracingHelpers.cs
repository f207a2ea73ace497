using System.Buffers.Binary;
using BpfTraceSim.Bpf.Vm;
using BpfTraceSim.Kernel;
using BpfTraceSim.Kernel.Perf;
using BpfTraceSim.Kernel.Printk;
using BpfTraceSim.Kernel.Seq;

namespace BpfTraceSim.Bpf.Helpers;

/// <summary>What the tracing helpers need from the simulated machine a VM runs in.</summary>
public interface IBpfTracingHost
{
    /// <summary>The perf helpers' per-CPU state of that CPU.</summary>
    PerfCpu PerfCpu(int cpu);
    /// <summary>The printf helpers' world (memory, kallsyms, trace buffers).</summary>
    PrintkWorld Printk { get; }
    /// <summary>The printf helpers' per-CPU state (bprintf buffers, trace buffer) of that CPU.</summary>
    PrintkCpu PrintkCpu(int cpu);
    /// <summary>The seq_file of the iterator object being shown (seq_printf/seq_write/seq_printf_btf), or null.</summary>
    SeqFile? Seq(BpfVm vm);
    /// <summary>The vmlinux BTF seq_printf_btf prints with, or null.</summary>
    Kernel.Btf.Btf? VmlinuxBtf { get; }
}

/// <summary>
/// Binds the tracing helpers (ids 6, 22, 25, 55, 126, 127, 128, 165, 177) to the Kernel model: the
/// VM reads the program's memory arguments and calls PerfHelpers / PrintkHelpers / SeqHelpers.
/// A perf_event_array map must have its Kernel <see cref="PerfEventArray"/> in <see cref="BpfMap.External"/>.
/// </summary>
public static class TracingHelpers
{
    public const int TracePrintk = 6, PerfEventRead = 22, PerfEventOutput = 25, PerfEventReadValue = 55,
        SeqPrintf = 126, SeqWrite = 127, SeqPrintfBtf = 128, Snprintf = 165, TraceVprintk = 177;

    public static BpfHelperTable Register(BpfHelperTable t, IBpfTracingHost host)
    {
        t.Register(TracePrintk, (vm, fmt, fmtSize, a1, a2, a3) =>
            (ulong)PrintkHelpers.TracePrintk(vm.Context, host.PrintkCpu(vm.Context.Cpu), host.Printk,
                Mem(vm, fmt, fmtSize, "fmt"), a1, a2, a3));
        t.Register(TraceVprintk, (vm, fmt, fmtSize, args, dataLen, _) =>
            (ulong)PrintkHelpers.TraceVprintk(vm.Context, host.PrintkCpu(vm.Context.Cpu), host.Printk,
                Mem(vm, fmt, fmtSize, "fmt"), args == 0 ? default : Mem(vm, args, dataLen, "args"), args == 0));
        t.Register(Snprintf, (vm, str, strSize, fmt, args, dataLen) =>
            (ulong)PrintkHelpers.Snprintf(vm.Context, host.PrintkCpu(vm.Context.Cpu), host.Printk,
                WritableOrEmpty(vm, str, strSize), ConstString(vm, fmt), args == 0 ? default : Mem(vm, args, dataLen, "args"), args == 0));
        t.Register(PerfEventOutput, (vm, _, map, flags, data, size) =>
            (ulong)PerfHelpers.PerfEventOutput(vm.Context, host.PerfCpu(vm.Context.Cpu), PerfMap(vm, map), flags, Mem(vm, data, size, "data")));
        t.Register(PerfEventRead, (vm, map, flags, _, _, _) =>
            PerfHelpers.PerfEventRead(vm.Context, PerfMap(vm, map), flags));
        t.Register(PerfEventReadValue, (vm, map, flags, buf, size, _) =>
            (ulong)PerfHelpers.PerfEventReadValue(vm.Context, PerfMap(vm, map), flags, WritableOrEmpty(vm, buf, size)));
        t.Register(SeqPrintf, (vm, _, fmt, fmtSize, data, dataLen) =>
            (ulong)SeqHelpers.SeqPrintf(SeqOf(vm, host), host.PrintkCpu(vm.Context.Cpu), host.Printk,
                Mem(vm, fmt, fmtSize, "fmt"), data == 0 ? default : Mem(vm, data, dataLen, "data"), data == 0),
            Loader.BpfProgramType.Iter);
        t.Register(SeqWrite, (vm, _, data, len, _, _) =>
            (ulong)SeqHelpers.SeqWrite(SeqOf(vm, host), Mem(vm, data, len, "data")), Loader.BpfProgramType.Iter);
        t.Register(SeqPrintfBtf, (vm, _, ptr, ptrSize, flags, _) =>
        {
            var btf = host.VmlinuxBtf ?? throw BpfVm.HelperFault("bpf_seq_printf_btf: the world has no vmlinux BTF");
            var raw = Mem(vm, ptr, Math.Min(ptrSize, 16), "ptr");
            Span<byte> b = stackalloc byte[16];
            b.Clear();
            raw.CopyTo(b);
            var bp = new BtfPtr(BinaryPrimitives.ReadUInt64LittleEndian(b), BinaryPrimitives.ReadUInt32LittleEndian(b[8..]), BinaryPrimitives.ReadUInt32LittleEndian(b[12..]));
            return (ulong)SeqHelpers.SeqPrintfBtf(SeqOf(vm, host), btf, host.Printk, bp, (uint)ptrSize, flags);
        }, Loader.BpfProgramType.Iter);
        return t;
    }

    private static ReadOnlySpan<byte> Mem(BpfVm vm, ulong addr, ulong len, string what)
    {
        if (len == 0) return default;
        if (len > 1 << 20 || !vm.TryGetSpan(addr, (int)len, false, out var s))
            throw BpfVm.HelperFault($"{what}: {len} bytes at 0x{addr:x} are not readable program memory");
        return s;
    }

    private static Span<byte> WritableOrEmpty(BpfVm vm, ulong addr, ulong len)
    {
        if (len == 0) return default;
        if (len > 1 << 20 || !vm.TryGetSpan(addr, (int)len, true, out var s))
            throw BpfVm.HelperFault($"{len} bytes at 0x{addr:x} are not writable program memory");
        return s;
    }

    // snprintf's format: a constant string in read-only data, up to and including its NUL.
    private static ReadOnlySpan<byte> ConstString(BpfVm vm, ulong addr)
    {
        var r = vm.Memory.Find(addr) ?? throw BpfVm.HelperFault($"fmt 0x{addr:x} is not mapped");
        var s = r.Bytes.AsSpan((int)(addr - r.Start));
        int nul = s.IndexOf((byte)0);
        if (nul < 0) throw BpfVm.HelperFault("fmt is not NUL-terminated");
        return s[..(nul + 1)];
    }

    private static PerfEventArray PerfMap(BpfVm vm, ulong handle)
    {
        var m = vm.Instance.MapByHandle(handle) ?? throw BpfVm.HelperFault($"0x{handle:x} is not a map pointer");
        return m.External as PerfEventArray
            ?? throw BpfVm.HelperFault($"map '{m.Name}' is not a perf_event_array bound to simulated perf events");
    }

    private static SeqFile SeqOf(BpfVm vm, IBpfTracingHost host) =>
        host.Seq(vm) ?? throw BpfVm.HelperFault("no seq_file: the program does not run as an iterator");
}

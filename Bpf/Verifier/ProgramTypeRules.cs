using BpfTraceSim.Bpf.Loader;
using BpfTraceSim.Kernel;

namespace BpfTraceSim.Bpf.Verifier;

/// <summary>
/// What a program type's bpf_verifier_ops say (kernel/trace/bpf_trace.c, kernel/bpf/helpers.c):
/// which helpers get_func_proto offers, how big the context is and how it may be read, and the
/// range check_return_code enforces on R0 at exit. Only for the helpers HelperProtos knows.
/// </summary>
internal static class ProgramTypeRules
{
    /// <summary>bpf_base_func_proto for a loader with CAP_BPF and CAP_PERFMON.</summary>
    private static readonly int[] Base =
    [
        HelperProtos.MapLookupElem, HelperProtos.MapUpdateElem, HelperProtos.MapDeleteElem,
        HelperProtos.GetPrandomU32, HelperProtos.GetSmpProcessorId, HelperProtos.KtimeGetNs, HelperProtos.KtimeGetBootNs,
        HelperProtos.KtimeGetCoarseNs, HelperProtos.KtimeGetTaiNs,
        HelperProtos.RingbufOutput, HelperProtos.RingbufReserve, HelperProtos.RingbufSubmit, HelperProtos.RingbufDiscard, HelperProtos.RingbufQuery,
        HelperProtos.Snprintf, HelperProtos.Loop, HelperProtos.TracePrintk, HelperProtos.TraceVprintk,
        HelperProtos.ProbeReadUser, HelperProtos.ProbeReadKernel, HelperProtos.ProbeReadUserStr, HelperProtos.ProbeReadKernelStr,
        HelperProtos.Strncmp, HelperProtos.TailCall,
    ];

    /// <summary>bpf_tracing_func_proto adds these (probe_read/_str: x86 has non-overlapping address spaces).</summary>
    private static readonly int[] Tracing =
    [
        HelperProtos.GetCurrentPidTgid, HelperProtos.GetCurrentComm, HelperProtos.PerfEventRead, HelperProtos.PerfEventReadValue,
        HelperProtos.ProbeRead, HelperProtos.ProbeReadStr,
        HelperProtos.GetCurrentUidGid, HelperProtos.GetCurrentTask, HelperProtos.GetCurrentTaskBtf, HelperProtos.GetNumaNodeId,
        HelperProtos.SendSignal, HelperProtos.GetNsCurrentPidTgid, HelperProtos.SnprintfBtf,
        HelperProtos.PerCpuPtr, HelperProtos.ThisCpuPtr,
        // bpf_get_func_ip_proto_tracing is offered to every tracing type; check_get_func_ip then refuses it (FuncIpRefusal)
        HelperProtos.GetFuncIp,
    ];

    /// <summary>get_func_proto of the program type: is helper id offered to it?</summary>
    public static bool Offers(BpfProgramType type, string section, int id)
    {
        // bpf_seq_*: tracing_prog_func_proto only for expected_attach_type BPF_TRACE_ITER (the proto says which).
        if (HelperProtos.Of(id) is { IterOnly: true }) return type == BpfProgramType.Iter;
        if (Array.IndexOf(Base, id) >= 0) return true;
        if (type is BpfProgramType.SocketFilter or BpfProgramType.Unknown) return false;
        if (Array.IndexOf(Tracing, id) >= 0) return true;
        // kprobe, tp, raw_tp and perf_event each have their get_stackid/get_stack; tracing_prog_func_proto
        // (tp_btf, fentry/fexit, iter) falls through to raw_tp's. bpf_tracing_func_proto has neither.
        if (id is HelperProtos.GetStackid or HelperProtos.GetStack)
            return type is BpfProgramType.Kprobe or BpfProgramType.Tracepoint or BpfProgramType.RawTracepoint
                or BpfProgramType.PerfEvent or BpfProgramType.Tracing or BpfProgramType.Iter;
        // kprobe/tp/raw_tp/perf_event each have their perf_event_output; tracing_prog_func_proto reaches raw_tp's.
        if (id == HelperProtos.PerfEventOutput) return true;
        // kprobe, tp and perf_event have their own get_attach_cookie; tracing only with a trampoline (not raw_tp, iter, tp_btf)
        if (id == HelperProtos.GetAttachCookie)
            return type is BpfProgramType.Kprobe or BpfProgramType.Tracepoint or BpfProgramType.PerfEvent || HasTrampoline(type, section);
        return false;
    }

    /// <summary>bpf_prog_has_trampoline: fentry, fexit and fmod_ret (the tracing attach types that go through a BPF trampoline).</summary>
    public static bool HasTrampoline(BpfProgramType type, string section) =>
        type == BpfProgramType.Tracing && (section.StartsWith("fentry", StringComparison.Ordinal) || section.StartsWith("fexit", StringComparison.Ordinal)
            || section.StartsWith("fmod_ret", StringComparison.Ordinal));

    /// <summary>
    /// check_get_func_ip: bpf_get_func_ip is for kprobes and trampoline programs; elsewhere the load
    /// fails with -ENOTSUPP and this message (null when the call is fine).
    /// </summary>
    public static string? FuncIpRefusal(BpfProgramType type, string section, int id)
    {
        const string Name = "bpf_get_func_ip";
        if (type == BpfProgramType.Kprobe) return null;
        if (type == BpfProgramType.Tracing || type == BpfProgramType.Iter)
            return HasTrampoline(type, section) ? null : $"func {Name}#{id} supported only for fentry/fexit/fmod_ret programs";
        return $"func {Name}#{id} not supported for program type {KernelTypeNumber(type)}";
    }

    /// <summary>enum bpf_prog_type's value, as the kernel prints it.</summary>
    public static int KernelTypeNumber(BpfProgramType type) => type switch
    {
        BpfProgramType.SocketFilter => 1,
        BpfProgramType.Kprobe => 2,
        BpfProgramType.Tracepoint => 5,
        BpfProgramType.PerfEvent => 7,
        BpfProgramType.RawTracepoint => 17,
        BpfProgramType.Tracing or BpfProgramType.Iter => 26,
        BpfProgramType.Syscall => 31,
        _ => 0,
    };

    /// <summary>The context's size for reads (is_valid_access), and whether it may be written.</summary>
    public static (int Size, bool Writable, bool Aligned) Ctx(BpfProgramType type) => type switch
    {
        BpfProgramType.Kprobe => (PtRegsSize, false, true),                  // struct pt_regs (x86-64)
        BpfProgramType.Tracepoint => (2048, false, true),                    // PERF_MAX_TRACE_SIZE
        BpfProgramType.RawTracepoint or BpfProgramType.Tracing or BpfProgramType.Iter => (8 * 12, false, true), // u64 args[MAX_BPF_FUNC_ARGS]
        BpfProgramType.PerfEvent => (PtRegsSize + 16, false, true),          // struct bpf_perf_event_data
        BpfProgramType.Syscall => (ushort.MaxValue, true, true),             // ctx_size_in, read and write
        BpfProgramType.SocketFilter => (192, false, true),                   // struct __sk_buff (reads only here)
        _ => (ushort.MaxValue, true, false),                                 // a section the simulator does not type
    };

    public const int PtRegsSize = 21 * 8;

    /// <summary>check_return_code's range for R0 at the main program's exit, or null when any value goes.</summary>
    public static (int Min, int Max)? ReturnRange(BpfProgramType type, string section)
    {
        if (type == BpfProgramType.Iter) return (0, 1);
        if (type == BpfProgramType.Tracing && (section.StartsWith("fentry", StringComparison.Ordinal) || section.StartsWith("fexit", StringComparison.Ordinal)))
            return (0, 0);
        return null;
    }

    /// <summary>A BTF-typed context (btf_ctx_access): 8-byte loads of it give kernel pointers.</summary>
    public static bool BtfCtx(BpfProgramType type) => type is BpfProgramType.Tracing or BpfProgramType.Iter;
}

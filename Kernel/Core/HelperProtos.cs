namespace BpfTraceSim.Kernel;

/// <summary>The argument kinds of a helper's prototype (the kernel's enum bpf_arg_type, the ones used here).</summary>
public enum HelperArg
{
    /// <summary>ARG_ANYTHING: any scalar.</summary>
    Anything,
    /// <summary>ARG_PTR_TO_CTX: the program's context.</summary>
    PtrToCtx,
    /// <summary>ARG_CONST_MAP_PTR: a map reference (ld_imm64 of a map).</summary>
    ConstMapPtr,
    /// <summary>ARG_PTR_TO_MAP_KEY / ARG_PTR_TO_MAP_VALUE.</summary>
    PtrToMapKey,
    PtrToMapValue,
    /// <summary>ARG_PTR_TO_MEM (| MEM_RDONLY): readable memory whose size is the next argument.</summary>
    PtrToMem,
    /// <summary>ARG_PTR_TO_MEM | PTR_MAYBE_NULL: the same, or a constant NULL.</summary>
    PtrToMemOrNull,
    /// <summary>ARG_PTR_TO_UNINIT_MEM: memory the helper writes, sized by the next argument.</summary>
    PtrToUninitMem,
    /// <summary>ARG_PTR_TO_MEM_OR_NULL | MEM_WRITE: memory the helper writes (it need not be initialized), or NULL.</summary>
    PtrToUninitMemOrNull,
    /// <summary>ARG_CONST_SIZE: a bounded, positive size.</summary>
    ConstSize,
    /// <summary>ARG_CONST_SIZE_OR_ZERO: a bounded size, zero allowed.</summary>
    ConstSizeOrZero,
    /// <summary>ARG_PTR_TO_CONST_STR: a NUL-terminated string in read-only map data.</summary>
    PtrToConstStr,
    /// <summary>ARG_PTR_TO_BTF_ID: a kernel object (the seq_file of an iterator).</summary>
    PtrToBtfId,
    /// <summary>ARG_CONST_ALLOC_SIZE_OR_ZERO: a known constant size of memory the helper allocates.</summary>
    ConstAllocSizeOrZero,
    /// <summary>ARG_PTR_TO_RINGBUF_MEM | OBJ_RELEASE: a ringbuf reservation, released by the call.</summary>
    PtrToRingbufMemRelease,
    /// <summary>ARG_PTR_TO_FUNC: a subprogram (ld_imm64 src BPF_PSEUDO_FUNC), the callback.</summary>
    PtrToFunc,
    /// <summary>ARG_PTR_TO_STACK_OR_NULL: the program's stack, or NULL (bpf_loop's callback context).</summary>
    PtrToStackOrNull,
    /// <summary>ARG_PTR_TO_PERCPU_BTF_ID: a typed __ksym of a per-CPU variable (PTR_TO_BTF_ID | MEM_PERCPU).</summary>
    PtrToPercpuBtfId,
}

/// <summary>A helper's return kind (enum bpf_return_type, the ones used here).</summary>
public enum HelperRet
{
    /// <summary>RET_INTEGER: a value or a negative errno.</summary>
    Integer,
    /// <summary>RET_PTR_TO_MAP_VALUE_OR_NULL.</summary>
    PtrToMapValueOrNull,
    /// <summary>RET_PTR_TO_RINGBUF_MEM_OR_NULL: a reservation the program must release on every path.</summary>
    PtrToRingbufMemOrNull,
    /// <summary>RET_VOID.</summary>
    Void,
    /// <summary>RET_PTR_TO_BTF_ID_TRUSTED: a kernel object (bpf_get_current_task_btf's task_struct).</summary>
    PtrToBtfId,
    /// <summary>
    /// RET_PTR_TO_MEM_OR_BTF_ID | MEM_RDONLY: the per-CPU argument's type decides, PTR_TO_BTF_ID for a
    /// struct, PTR_TO_MEM | MEM_RDONLY of the type's size otherwise (bpf_this_cpu_ptr).
    /// </summary>
    PtrToMemOrBtfId,
    /// <summary>The same | PTR_MAYBE_NULL (bpf_per_cpu_ptr: NULL for a CPU past nr_cpu_ids).</summary>
    PtrToMemOrBtfIdOrNull,
}

/// <summary>Which map type a helper's ConstMapPtr argument must be (check_map_func_compatibility).</summary>
public enum HelperMap
{
    Any,
    PerfEventArray,
    /// <summary>BPF_MAP_TYPE_RINGBUF.</summary>
    Ringbuf,
    /// <summary>BPF_MAP_TYPE_STACK_TRACE.</summary>
    StackTrace,
    /// <summary>BPF_MAP_TYPE_PROG_ARRAY (bpf_tail_call's jump table).</summary>
    ProgArray,
}

/// <summary>
/// One helper's prototype, as the kernel keeps a bpf_func_proto beside each BPF_CALL: its id (enum
/// bpf_func_id), its name, argument kinds r1..r5, return kind, the map type its map argument must
/// have, and whether only iterator programs may call it. The verifier's argument rules and the
/// metrics read it; the helper's behaviour lives in the Kernel function it names.
/// </summary>
/// <param name="RetBtf">For RET_PTR_TO_BTF_ID: the kernel type the pointer has (the proto's ret_btf_id), e.g. "struct task_struct".</param>
public sealed record HelperProto(int Id, HelperRet Ret, HelperArg[] Args, HelperMap Map = HelperMap.Any, bool IterOnly = false, string? RetBtf = null)
{
    /// <summary>The uapi name (bpf_...), also the metric tag of its calls.</summary>
    public string Name => BpfHelperNames.Name(Id);
}

/// <summary>The prototypes of every helper the simulator implements, by id.</summary>
public static class HelperProtos
{
    public const int MapLookupElem = 1, MapUpdateElem = 2, MapDeleteElem = 3, ProbeRead = 4, KtimeGetNs = 5,
        TracePrintk = 6, GetPrandomU32 = 7, GetSmpProcessorId = 8, GetCurrentPidTgid = 14, GetCurrentComm = 16,
        PerfEventRead = 22, PerfEventOutput = 25, ProbeReadStr = 45, PerfEventReadValue = 55,
        ProbeReadUser = 112, ProbeReadKernel = 113, ProbeReadUserStr = 114, ProbeReadKernelStr = 115,
        KtimeGetBootNs = 125, SeqPrintf = 126, SeqWrite = 127, SnprintfBtf = 149, SeqPrintfBtf = 150, KtimeGetCoarseNs = 160,
        Snprintf = 165, TraceVprintk = 177, Loop = 181, KtimeGetTaiNs = 208;

    /// <summary>bpf_tail_call (kernel/bpf/core.c JMP_TAIL_CALL): the VM runs it itself (BpfVm.TailCall).</summary>
    public const int TailCall = 12;

    /// <summary>MAX_TAIL_CALL_CNT (include/linux/bpf.h): tail calls one run may take before bpf_tail_call falls through.</summary>
    public const int MaxTailCallCnt = 33;

    /// <summary>The current task's ids and the program's attach point (kernel/bpf/helpers.c, kernel/trace/bpf_trace.c).</summary>
    public const int GetCurrentUidGid = 15, GetCurrentTask = 35, GetNumaNodeId = 42, SendSignal = 109, GetNsCurrentPidTgid = 120,
        GetCurrentTaskBtf = 158, PerCpuPtr = 153, ThisCpuPtr = 154, GetFuncIp = 173, GetAttachCookie = 174, Strncmp = 182;

    /// <summary>The stack helpers (kernel/bpf/stackmap.c, and their per-program-type variants in kernel/trace/bpf_trace.c).</summary>
    public const int GetStackid = 27, GetStack = 67;

    /// <summary>sizeof(struct bpf_pidns_info): u32 pid, u32 tgid.</summary>
    public const int PidnsInfoSize = 8;

    /// <summary>The ring buffer helpers (kernel/bpf/ringbuf.c).</summary>
    public const int RingbufOutput = 130, RingbufReserve = 131, RingbufSubmit = 132, RingbufDiscard = 133, RingbufQuery = 134;

    private static readonly HelperProto?[] ById = Build(
    [
        new(MapLookupElem, HelperRet.PtrToMapValueOrNull, [HelperArg.ConstMapPtr, HelperArg.PtrToMapKey]),
        new(MapUpdateElem, HelperRet.Integer, [HelperArg.ConstMapPtr, HelperArg.PtrToMapKey, HelperArg.PtrToMapValue, HelperArg.Anything]),
        new(MapDeleteElem, HelperRet.Integer, [HelperArg.ConstMapPtr, HelperArg.PtrToMapKey]),
        new(ProbeRead, HelperRet.Integer, [HelperArg.PtrToUninitMem, HelperArg.ConstSizeOrZero, HelperArg.Anything]),
        new(KtimeGetNs, HelperRet.Integer, []),
        new(TracePrintk, HelperRet.Integer, [HelperArg.PtrToMem, HelperArg.ConstSize]), // r3-r5 are not checked (ARG_DONTCARE)
        new(GetPrandomU32, HelperRet.Integer, []),
        new(GetSmpProcessorId, HelperRet.Integer, []),
        new(GetCurrentPidTgid, HelperRet.Integer, []),
        new(GetCurrentComm, HelperRet.Integer, [HelperArg.PtrToUninitMem, HelperArg.ConstSize]),
        new(PerfEventRead, HelperRet.Integer, [HelperArg.ConstMapPtr, HelperArg.Anything], HelperMap.PerfEventArray),
        new(PerfEventOutput, HelperRet.Integer,
            [HelperArg.PtrToCtx, HelperArg.ConstMapPtr, HelperArg.Anything, HelperArg.PtrToMem, HelperArg.ConstSizeOrZero], HelperMap.PerfEventArray),
        new(ProbeReadStr, HelperRet.Integer, [HelperArg.PtrToUninitMem, HelperArg.ConstSizeOrZero, HelperArg.Anything]),
        new(PerfEventReadValue, HelperRet.Integer,
            [HelperArg.ConstMapPtr, HelperArg.Anything, HelperArg.PtrToUninitMem, HelperArg.ConstSize], HelperMap.PerfEventArray),
        new(ProbeReadUser, HelperRet.Integer, [HelperArg.PtrToUninitMem, HelperArg.ConstSizeOrZero, HelperArg.Anything]),
        new(ProbeReadKernel, HelperRet.Integer, [HelperArg.PtrToUninitMem, HelperArg.ConstSizeOrZero, HelperArg.Anything]),
        new(ProbeReadUserStr, HelperRet.Integer, [HelperArg.PtrToUninitMem, HelperArg.ConstSizeOrZero, HelperArg.Anything]),
        new(ProbeReadKernelStr, HelperRet.Integer, [HelperArg.PtrToUninitMem, HelperArg.ConstSizeOrZero, HelperArg.Anything]),
        new(KtimeGetBootNs, HelperRet.Integer, []),
        new(SeqPrintf, HelperRet.Integer,
            [HelperArg.PtrToBtfId, HelperArg.PtrToMem, HelperArg.ConstSize, HelperArg.PtrToMemOrNull, HelperArg.ConstSizeOrZero], IterOnly: true),
        new(SeqWrite, HelperRet.Integer, [HelperArg.PtrToBtfId, HelperArg.PtrToMem, HelperArg.ConstSizeOrZero], IterOnly: true),
        // bpf_snprintf_btf_proto: str ARG_PTR_TO_MEM | MEM_WRITE, ARG_CONST_SIZE, the btf_ptr read-only
        new(SnprintfBtf, HelperRet.Integer, [HelperArg.PtrToUninitMem, HelperArg.ConstSize, HelperArg.PtrToMem, HelperArg.ConstSize, HelperArg.Anything]),
        new(SeqPrintfBtf, HelperRet.Integer, [HelperArg.PtrToBtfId, HelperArg.PtrToMem, HelperArg.ConstSizeOrZero, HelperArg.Anything], IterOnly: true),
        new(RingbufOutput, HelperRet.Integer,
            [HelperArg.ConstMapPtr, HelperArg.PtrToMem, HelperArg.ConstSizeOrZero, HelperArg.Anything], HelperMap.Ringbuf),
        new(RingbufReserve, HelperRet.PtrToRingbufMemOrNull,
            [HelperArg.ConstMapPtr, HelperArg.ConstAllocSizeOrZero, HelperArg.Anything], HelperMap.Ringbuf),
        new(RingbufSubmit, HelperRet.Void, [HelperArg.PtrToRingbufMemRelease, HelperArg.Anything]),
        new(RingbufDiscard, HelperRet.Void, [HelperArg.PtrToRingbufMemRelease, HelperArg.Anything]),
        new(RingbufQuery, HelperRet.Integer, [HelperArg.ConstMapPtr, HelperArg.Anything], HelperMap.Ringbuf),
        new(KtimeGetCoarseNs, HelperRet.Integer, []),
        new(Snprintf, HelperRet.Integer,
            [HelperArg.PtrToUninitMemOrNull, HelperArg.ConstSizeOrZero, HelperArg.PtrToConstStr, HelperArg.PtrToMemOrNull, HelperArg.ConstSizeOrZero]),
        new(TraceVprintk, HelperRet.Integer, [HelperArg.PtrToMem, HelperArg.ConstSize, HelperArg.PtrToMemOrNull, HelperArg.ConstSizeOrZero]),
        new(KtimeGetTaiNs, HelperRet.Integer, []),
        new(GetCurrentUidGid, HelperRet.Integer, []),
        new(GetCurrentTask, HelperRet.Integer, []),
        new(GetNumaNodeId, HelperRet.Integer, []),
        new(SendSignal, HelperRet.Integer, [HelperArg.Anything]),
        new(GetNsCurrentPidTgid, HelperRet.Integer, [HelperArg.Anything, HelperArg.Anything, HelperArg.PtrToUninitMem, HelperArg.ConstSize]),
        new(GetCurrentTaskBtf, HelperRet.PtrToBtfId, [], RetBtf: "struct task_struct"),
        new(PerCpuPtr, HelperRet.PtrToMemOrBtfIdOrNull, [HelperArg.PtrToPercpuBtfId, HelperArg.Anything]),
        new(ThisCpuPtr, HelperRet.PtrToMemOrBtfId, [HelperArg.PtrToPercpuBtfId]),
        new(GetFuncIp, HelperRet.Integer, [HelperArg.PtrToCtx]),
        new(GetAttachCookie, HelperRet.Integer, [HelperArg.PtrToCtx]),
        new(Strncmp, HelperRet.Integer, [HelperArg.PtrToMem, HelperArg.ConstSize, HelperArg.PtrToConstStr]),
        // bpf_get_stackid_proto (and _tp, _raw_tp, _pe: the same argument kinds)
        new(GetStackid, HelperRet.Integer, [HelperArg.PtrToCtx, HelperArg.ConstMapPtr, HelperArg.Anything], HelperMap.StackTrace),
        // bpf_get_stack_proto: buf ARG_PTR_TO_UNINIT_MEM sized by ARG_CONST_SIZE_OR_ZERO (raw_tp's too since 6.12)
        new(GetStack, HelperRet.Integer, [HelperArg.PtrToCtx, HelperArg.PtrToUninitMem, HelperArg.ConstSizeOrZero, HelperArg.Anything]),
        // kernel/bpf/bpf_iter.c bpf_loop_proto: (u32 nr_loops, callback_fn, callback_ctx, u64 flags)
        new(Loop, HelperRet.Integer, [HelperArg.Anything, HelperArg.PtrToFunc, HelperArg.PtrToStackOrNull, HelperArg.Anything]),
        // kernel/bpf/core.c bpf_tail_call_proto: (ctx, prog array, u32 index), RET_VOID: r0 is not readable after it
        new(TailCall, HelperRet.Void, [HelperArg.PtrToCtx, HelperArg.ConstMapPtr, HelperArg.Anything], HelperMap.ProgArray),
    ]);

    /// <summary>BPF_MAX_LOOPS (include/linux/bpf.h): bpf_loop refuses more iterations with -E2BIG.</summary>
    public const uint MaxLoops = 1u << 23;

    private static HelperProto?[] Build(HelperProto[] protos)
    {
        var byId = new HelperProto?[BpfHelperNames.Count];
        foreach (var p in protos)
        {
            if (byId[p.Id] is not null) throw new InvalidOperationException($"helper {p.Id} has two prototypes");
            byId[p.Id] = p;
        }
        return byId;
    }

    /// <summary>The prototype of a helper id, or null for one the simulator does not implement.</summary>
    public static HelperProto? Of(int id) => (uint)id < (uint)ById.Length ? ById[id] : null;

    /// <summary>Every implemented helper, by id.</summary>
    public static IEnumerable<HelperProto> All
    {
        get
        {
            foreach (var p in ById)
                if (p is not null) yield return p;
        }
    }
}

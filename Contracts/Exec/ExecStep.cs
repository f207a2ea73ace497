using System.Collections.Immutable;

namespace BpfTraceSim.Contracts.Exec;

/// <summary>The calls an exec step may make (docs/exec.md, "The calls").</summary>
public enum StepCall
{
    PerfEventOutput,
    PerfEventRead,
    PerfEventReadValue,
    TracePrintk,
    TraceVprintk,
    Snprintf,
    SeqPrintf,
    SeqWrite,
    SeqPrintfBtf,
    SeqEndObject,
    ReadSeq,
    AdvanceNs,
    SetTaskCpu,
    UpdateSlot,
    DeleteSlot,
    Enable,
    Disable,
    Consume,
    ReadTracePipe,
    Run,
    SetGlobal,
    GetGlobal,
    RingbufOutput,
    RingbufReserve,
    RingbufSubmit,
    RingbufDiscard,
    RingbufQuery,
    ConsumeRingbuf,
    CloseMap,
    LookupSlot,
    NextSlot,
    ReadIter,
}

/// <summary>What a format argument is: a 64-bit value, or typed memory passed by address.</summary>
public enum ArgKind
{
    Value,
    Str,
    BytesHex,
    Ipv4,
    Ipv6,
    UserStr,
    Null,
    BadPtr,
    Ksym,
    AddrOf,
    UserBytes,
    KernelBytes,
}

/// <summary>A format argument or a global's value (exec "args" entry / set_global value).</summary>
[GenerateSerializer, Immutable]
public sealed record ArgSpec
{
    [Id(0)] public ArgKind Kind { get; init; }
    [Id(1)] public ulong Value { get; init; }
    /// <summary>Bytes placed in memory (strings with their NUL, raw bytes, IP addresses).</summary>
    [Id(2)] public byte[]? Bytes { get; init; }
    /// <summary>Symbol or global name for Ksym / AddrOf.</summary>
    [Id(3)] public string? Name { get; init; }
    [Id(4)] public long Offset { get; init; }
}

/// <summary>A BTF value to print (exec "btf" object).</summary>
[GenerateSerializer, Immutable]
public sealed record BtfArg
{
    [Id(0)] public string? TypeName { get; init; }
    /// <summary>An explicit type id (0 exercises the helper's check); null = resolve TypeName.</summary>
    [Id(1)] public uint? TypeId { get; init; }
    [Id(2)] public byte[]? ValueBytes { get; init; }
    /// <summary>The "value" JSON text, encoded by the kernel model's BTF encoder.</summary>
    [Id(3)] public string? ValueJson { get; init; }
    [Id(4)] public ulong PtrSize { get; init; } = 16;
    /// <summary>ptr: null (false) or a bad pointer.</summary>
    [Id(5)] public bool PtrNull { get; init; }
    [Id(6)] public bool PtrBad { get; init; }
}

/// <summary>One step of an exec document, already validated.</summary>
[GenerateSerializer, Immutable]
public sealed record ExecStep
{
    [Id(0)] public StepCall Call { get; init; }
    [Id(1)] public int Cpu { get; init; }
    /// <summary>The current task's pid; 0 = the CPU's idle task.</summary>
    [Id(2)] public int Pid { get; init; }
    [Id(3)] public int Context { get; init; }
    [Id(4)] public string? Map { get; init; }
    [Id(5)] public ulong Flags { get; init; }
    [Id(6)] public byte[]? Data { get; init; }
    [Id(7)] public ulong Size { get; init; }
    [Id(8)] public ulong BufSize { get; init; }
    [Id(9)] public byte[]? Fmt { get; init; }
    [Id(10)] public ulong FmtSize { get; init; }
    [Id(11)] public ImmutableArray<ArgSpec> Args { get; init; } = [];
    /// <summary>Raw argument words (args_ptr) and data_len; ArgsPtrNull for a constant NULL.</summary>
    [Id(12)] public ImmutableArray<ulong>? ArgsPtr { get; init; }
    [Id(13)] public bool ArgsPtrNull { get; init; }
    [Id(14)] public ulong? DataLen { get; init; }
    [Id(15)] public string? Seq { get; init; }
    [Id(16)] public int? SeqSize { get; init; }
    [Id(17)] public BtfArg? Btf { get; init; }
    [Id(18)] public long ProgRet { get; init; }
    [Id(19)] public int ReadSize { get; init; } = 4096;
    [Id(20)] public ulong AdvanceNs { get; init; }
    [Id(21)] public int To { get; init; }
    [Id(22)] public long Index { get; init; }
    [Id(23)] public string? Event { get; init; }
    [Id(24)] public string? Program { get; init; }
    [Id(25)] public byte[]? CtxBytes { get; init; }
    [Id(26)] public string? Name { get; init; }
    [Id(27)] public ArgSpec? Value { get; init; }
    [Id(28)] public long Offset { get; init; }
    /// <summary>Simulated time at this step (the sum of the advances before it).</summary>
    [Id(29)] public ulong NowNs { get; init; }
    /// <summary>ringbuf_submit/discard: the sample pointer, or the ringbuf_reserve step whose return it is.</summary>
    [Id(30)] public ulong Sample { get; init; }
    [Id(31)] public int? SampleStep { get; init; }
    /// <summary>The step's index in its world (set for ringbuf_reserve, whose return later steps may name).</summary>
    [Id(32)] public int StepIndex { get; init; }
    /// <summary>update_slot of a prog array: the program (of the same object as Program) the slot gets.</summary>
    [Id(33)] public string? SlotProgram { get; init; }
}

using System.Collections.Immutable;

namespace BpfTraceSim.Contracts.Exec;

/// <summary>struct bpf_perf_event_value as read_value fills it.</summary>
[GenerateSerializer, Immutable]
public sealed record PerfValue([property: Id(0)] ulong Counter, [property: Id(1)] ulong Enabled, [property: Id(2)] ulong Running);

/// <summary>One record a consumer read from a ring.</summary>
[GenerateSerializer, Immutable]
public sealed record RingRecord
{
    [Id(0)] public required string Type { get; init; }
    [Id(1)] public int Size { get; init; }
    [Id(2)] public byte[]? Raw { get; init; }
    [Id(3)] public required byte[] Record { get; init; }
    [Id(4)] public ulong? Lost { get; init; }
}

/// <summary>One ring buffer record a consumer read: the sample's size and bytes, or a discarded record.</summary>
[GenerateSerializer, Immutable]
public sealed record RingbufSample([property: Id(0)] uint Size, [property: Id(1)] byte[] Data, [property: Id(2)] bool Discarded);

/// <summary>A helper call a BPF program made, in order.</summary>
[GenerateSerializer, Immutable]
public sealed record HelperTrace([property: Id(0)] int Id, [property: Id(1)] string Name, [property: Id(2)] long Ret);

/// <summary>A signal a BPF program sent with bpf_send_signal: to thread group tgid, from pid's context.</summary>
[GenerateSerializer, Immutable]
public sealed record SignalTrace([property: Id(0)] int Tgid, [property: Id(1)] int Pid, [property: Id(2)] uint Sig);

/// <summary>A run-time fault of a BPF program.</summary>
[GenerateSerializer, Immutable]
public sealed record FaultInfo([property: Id(0)] int Insn, [property: Id(1)] string? Line, [property: Id(2)] string Message);

/// <summary>What one exec step produced; absent fields are null.</summary>
[GenerateSerializer, Immutable]
public sealed record StepResult
{
    [Id(0)] public long? Ret { get; init; }
    [Id(1)] public ulong? RetU64 { get; init; }
    [Id(2)] public PerfValue? Value { get; init; }
    [Id(3)] public byte[]? Buf { get; init; }
    /// <summary>Output text bytes (printk message, snprintf output, seq text).</summary>
    [Id(4)] public byte[]? Text { get; init; }
    [Id(5)] public ImmutableArray<RingRecord>? Records { get; init; }
    [Id(6)] public ulong? DataHead { get; init; }
    [Id(7)] public ulong? LostTotal { get; init; }
    [Id(8)] public ImmutableArray<byte[]>? Lines { get; init; }
    [Id(9)] public ImmutableArray<long>? Reads { get; init; }
    [Id(10)] public ImmutableArray<HelperTrace>? Helpers { get; init; }
    [Id(11)] public FaultInfo? Fault { get; init; }
    [Id(12)] public string? VerifierError { get; init; }
    [Id(13)] public byte[]? ValueBytes { get; init; }
    /// <summary>consume_ringbuf: the records read, the positions after it, the ring's wake-ups so far.</summary>
    [Id(14)] public ImmutableArray<RingbufSample>? RingbufRecords { get; init; }
    [Id(15)] public ulong? ConsumerPos { get; init; }
    [Id(16)] public ulong? ProducerPos { get; init; }
    [Id(17)] public long? Wakeups { get; init; }
    /// <summary>run: the signals bpf_send_signal sent (absent when none).</summary>
    [Id(18)] public ImmutableArray<SignalTrace>? Signals { get; init; }
    /// <summary>next_slot: the next key (a stack id).</summary>
    [Id(19)] public uint? Key { get; init; }
    /// <summary>lookup_slot of a stack_trace map: its frames symbolised ("func+0xoff/0xsize", or the address).</summary>
    [Id(20)] public ImmutableArray<string>? Stack { get; init; }

    public static readonly StepResult Empty = new();
    public static StepResult Of(long ret) => new() { Ret = ret };
}

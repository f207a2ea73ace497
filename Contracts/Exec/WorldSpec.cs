using System.Collections.Immutable;

namespace BpfTraceSim.Contracts.Exec;

/// <summary>A task of a simulated world (exec "tasks" entry).</summary>
[GenerateSerializer, Immutable]
public sealed record TaskSpec([property: Id(0)] int Pid, [property: Id(1)] string Comm, [property: Id(2)] int Cpu, [property: Id(3)] int Tgid,
    [property: Id(4)] uint Uid = 0, [property: Id(5)] uint Gid = 0,
    [property: Id(6)] ImmutableArray<ulong>? KernelStack = null, [property: Id(7)] ImmutableArray<ulong>? UserStack = null);

/// <summary>A perf event as perf_event_open would create it (exec "events" entry).</summary>
[GenerateSerializer, Immutable]
public sealed record EventSpec
{
    [Id(0)] public required string Name { get; init; }
    /// <summary>PERF_TYPE_SOFTWARE by default.</summary>
    [Id(1)] public uint Type { get; init; } = 1;
    /// <summary>PERF_COUNT_SW_BPF_OUTPUT by default.</summary>
    [Id(2)] public ulong Config { get; init; } = 10;
    [Id(3)] public int Cpu { get; init; } = -1;
    [Id(4)] public int Pid { get; init; } = -1;
    [Id(5)] public bool Pinned { get; init; }
    [Id(6)] public bool Inherit { get; init; }
    [Id(7)] public bool Disabled { get; init; }
    /// <summary>PERF_SAMPLE_RAW by default.</summary>
    [Id(8)] public ulong SampleType { get; init; } = 1UL << 10;
    /// <summary>Data pages of the mmapped ring; null = never mmapped, 0 = metadata page only.</summary>
    [Id(9)] public int? RingPages { get; init; }
    [Id(10)] public bool Overwrite { get; init; }
    [Id(11)] public uint WakeupEvents { get; init; } = 1;
    [Id(12)] public uint Watermark { get; init; }
    /// <summary>Event id as the kernel would number it (1-based in document order).</summary>
    [Id(13)] public ulong Id { get; init; }
}

/// <summary>A perf event array (exec "maps" entry).</summary>
[GenerateSerializer, Immutable]
public sealed record MapSpec([property: Id(0)] string Name, [property: Id(1)] string Type, [property: Id(2)] int MaxEntries)
{
    /// <summary>map_flags (BPF_F_PRESERVE_ELEMS): the object's, or the document's "flags".</summary>
    [Id(3)] public uint Flags { get; init; }
}

/// <summary>Everything a world is built from, before its first step.</summary>
[GenerateSerializer, Immutable]
public sealed record WorldSpec
{
    [Id(0)] public required string Id { get; init; }
    [Id(1)] public int Cpus { get; init; } = 1;
    [Id(2)] public bool Pmu { get; init; }
    [Id(3)] public ImmutableArray<TaskSpec> Tasks { get; init; } = [];
    [Id(4)] public ImmutableArray<MapSpec> Maps { get; init; } = [];
    [Id(5)] public ImmutableArray<EventSpec> Events { get; init; } = [];
    /// <summary>Slot contents per map: event name or null per index.</summary>
    [Id(6)] public ImmutableDictionary<string, ImmutableArray<string?>> Slots { get; init; } = ImmutableDictionary<string, ImmutableArray<string?>>.Empty;
    /// <summary>Extra or resized kallsyms entries (name -> size).</summary>
    [Id(7)] public ImmutableDictionary<string, ulong> Kallsyms { get; init; } = ImmutableDictionary<string, ulong>.Empty;
    /// <summary>Key for %p pointer hashing (the per-boot key of the simulated kernel).</summary>
    [Id(8)] public ulong Seed { get; init; }
    /// <summary>The document's own BTF types, as their JSON text (parsed by the kernel model).</summary>
    [Id(9)] public string? BtfTypesJson { get; init; }
    /// <summary>Real BPF programs: name -> object bytes and section.</summary>
    [Id(10)] public ImmutableArray<ProgramSpec> Programs { get; init; } = [];
}

/// <summary>A BPF object program of an exec world.</summary>
[GenerateSerializer, Immutable]
public sealed record ProgramSpec(
    [property: Id(0)] string Name,
    [property: Id(1)] string ObjectPath,
    [property: Id(2)] byte[] ObjectBytes,
    [property: Id(3)] string? Section,
    [property: Id(4)] string? Function)
{
    /// <summary>Globals given their first bytes before the object loads (init_globals), as a libbpf
    /// skeleton sets skel->rodata / ->data / ->bss between open and load: the verifier sees them.</summary>
    [Id(5)] public ImmutableArray<GlobalInit> InitGlobals { get; init; } = [];
}

/// <summary>A global's first bytes, set before load (a variable of .rodata, .data or .bss, by BTF name).</summary>
[GenerateSerializer, Immutable]
public sealed record GlobalInit([property: Id(0)] string Name, [property: Id(1)] byte[] Bytes);

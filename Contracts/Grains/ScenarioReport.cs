using System.Collections.Immutable;

namespace BpfTraceSim.Contracts.Grains;

// What `bpfsim run` writes to report.json (docs/scenarios.md fixes the core fields and their
// order; the writer is Client/Reports/ReportJson.cs). Counts are sums over the fleet, made in a
// fixed order (host index, CPU), so they do not depend on silos or scheduling.

/// <summary>How many times one helper returned one value.</summary>
[GenerateSerializer, Immutable]
public sealed record HelperReturnCount(
    [property: Id(0)] string Helper,
    [property: Id(1)] long Return,
    [property: Id(2)] long Count);

/// <summary>The counters that totals, each per_cpu entry and each host carry.</summary>
[GenerateSerializer, Immutable]
public sealed record ScenarioCounters
{
    /// <summary>Program firings (body runs).</summary>
    [Id(0)] public long Firings { get; init; }
    /// <summary>Sorted by helper name (ordinal), then by return value descending (0 before -1 before -28).</summary>
    [Id(1)] public ImmutableArray<HelperReturnCount> Helpers { get; init; } = [];
    [Id(2)] public long RecordsWritten { get; init; }
    /// <summary>Bytes of the records written, headers and padding included.</summary>
    [Id(3)] public long BytesWritten { get; init; }
    [Id(4)] public long RecordsConsumed { get; init; }
    [Id(5)] public long RecordsInRingAtEnd { get; init; }
    /// <summary>Samples that found no room (-ENOSPC with a ring).</summary>
    [Id(6)] public long Lost { get; init; }
    [Id(7)] public long RingHighWaterBytes { get; init; }
    [Id(8)] public long ConsumerLagP99Ns { get; init; }
    /// <summary>Reader wake-ups signalled by rings.</summary>
    [Id(9)] public long Wakeups { get; init; }
    // Extensions, written after the core counters.
    /// <summary>Losses the reader learnt of from the PERF_RECORD_LOST records it read.</summary>
    [Id(10)] public long LostReported { get; init; }
    /// <summary>Samples an overwrite-mode ring overwrote before anyone read them.</summary>
    [Id(11)] public long RecordsOverwritten { get; init; }
    /// <summary>Samples whose u16 size wrapped to 0: written but never visible to a reader.</summary>
    [Id(12)] public long RecordsInvisible { get; init; }

    /// <summary>lost / (records_written + lost); 0 when both are 0.</summary>
    public double LostRatio => RecordsWritten + Lost == 0 ? 0.0 : (double)Lost / (RecordsWritten + Lost);

    /// <summary>Every helper call counted in <see cref="Helpers"/>.</summary>
    public long HelperCalls
    {
        get
        {
            long n = 0;
            foreach (var h in Helpers) n += h.Count;
            return n;
        }
    }

    public static readonly ScenarioCounters Zero = new();
}

/// <summary>One per_cpu entry: a CPU of a host and its counters over the whole run.</summary>
[GenerateSerializer, Immutable]
public sealed record CpuReport
{
    [Id(0)] public string Host { get; init; } = "";
    [Id(1)] public int Cpu { get; init; }
    [Id(2)] public ScenarioCounters Counters { get; init; } = ScenarioCounters.Zero;
    /// <summary>Extension: lost samples in each window (the heat map's row).</summary>
    [Id(3)] public ImmutableArray<long> LostPerWindow { get; init; } = [];
}

/// <summary>One host's counters over the whole run (extension: per_host, for loss per host).</summary>
[GenerateSerializer, Immutable]
public sealed record HostReport
{
    [Id(0)] public string Host { get; init; } = "";
    [Id(1)] public int Cpus { get; init; }
    [Id(2)] public ScenarioCounters Counters { get; init; } = ScenarioCounters.Zero;
    /// <summary>Lost samples in each window; empty when the fleet is too large to keep them.</summary>
    [Id(3)] public ImmutableArray<long> LostPerWindow { get; init; } = [];
}

/// <summary>One statistics window over the whole fleet.</summary>
[GenerateSerializer, Immutable]
public sealed record WindowReport
{
    [Id(0)] public long StartNs { get; init; }
    [Id(1)] public long Lost { get; init; }
    [Id(2)] public long RecordsWritten { get; init; }
    /// <summary>The fullest any ring got during the window.</summary>
    [Id(3)] public long RingFillMaxBytes { get; init; }
    // Extensions, written after the core fields.
    [Id(4)] public long Firings { get; init; }
    [Id(5)] public long HelperCalls { get; init; }
    /// <summary>Helper calls that returned a negative value.</summary>
    [Id(6)] public long HelperErrors { get; init; }
    [Id(7)] public long RecordsConsumed { get; init; }
    [Id(8)] public long Wakeups { get; init; }
    /// <summary>Records in every ring at the window's end.</summary>
    [Id(9)] public long RecordsInRing { get; init; }
    [Id(10)] public long ConsumerLagP99Ns { get; init; }
}

/// <summary>
/// records_written = records_consumed + records_in_ring_at_end, per ring (checked by the engine);
/// overwrite-mode rings and wrapped sizes add records_overwritten and records_invisible.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record ConservationReport
{
    [Id(0)] public bool Ok { get; init; }
    [Id(1)] public long RecordsWritten { get; init; }
    [Id(2)] public long RecordsConsumed { get; init; }
    [Id(3)] public long RecordsInRingAtEnd { get; init; }
    // Extensions.
    [Id(5)] public long RecordsOverwritten { get; init; }
    [Id(6)] public long RecordsInvisible { get; init; }
    /// <summary>Rings checked.</summary>
    [Id(7)] public long Rings { get; init; }
    /// <summary>When not ok: which rings broke it and how (one line each).</summary>
    [Id(4)] public ImmutableArray<string> Failures { get; init; } = [];
}

/// <summary>
/// A finished run. per_cpu is not in here: it can hold a million entries, so it is read in pages
/// (<see cref="IScenarioGrain.GetPerCpu"/>) and streamed into the file.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record ScenarioReport
{
    [Id(0)] public string Scenario { get; init; } = "";
    [Id(1)] public ulong Seed { get; init; }
    [Id(2)] public long DurationNs { get; init; }
    [Id(3)] public long Hosts { get; init; }
    [Id(4)] public long Cpus { get; init; }
    [Id(5)] public ScenarioCounters Totals { get; init; } = ScenarioCounters.Zero;
    /// <summary>Whether per_cpu lists every CPU (up to 4,096 CPUs, or with --per-cpu); else it is empty.</summary>
    [Id(6)] public bool PerCpuListed { get; init; }
    [Id(7)] public ImmutableArray<WindowReport> Windows { get; init; } = [];
    [Id(8)] public ConservationReport Conservation { get; init; } = new();
    /// <summary>Extension: every host in fleet order.</summary>
    [Id(9)] public ImmutableArray<HostReport> PerHost { get; init; } = [];
    /// <summary>Extension: the scenario's digest (ScenarioDigest.Compute), so a report names what produced it.</summary>
    [Id(10)] public string Digest { get; init; } = "";
    [Id(11)] public long WindowNs { get; init; }
    /// <summary>Extension: the scenario's configuration warnings, "file:line:column: field: message" (report.json lists them when there are any).</summary>
    [Id(12)] public ImmutableArray<string> Warnings { get; init; } = [];
    /// <summary>Extension: the ring memory plan, when a host group sets page_size, kernel, memlock or cap_ipc_lock (report.json's ring_memory).</summary>
    [Id(13)] public BpfTraceSim.Contracts.Scenarios.RingMemoryPlan? RingMemory { get; init; }
    /// <summary>Extension: losses in the agent's view and the first loss, when a consumer models its thread (cpu_load, pauses, service_per_kib, poll).</summary>
    [Id(14)] public LostView? LostViews { get; init; }
    /// <summary>Extension: each `fit: on_off` program's fitted model per CPU (report.json's fitted, only when there is one).</summary>
    [Id(15)] public ImmutableArray<BpfTraceSim.Contracts.Scenarios.FittedProgram> Fitted { get; init; } = [];
}

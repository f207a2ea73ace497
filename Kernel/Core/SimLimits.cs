using System.Globalization;

namespace BpfTraceSim.Kernel;

/// <summary>
/// The one table of per-field limits: the scenario parser, the exec parser, sweeps and the CLI
/// all check a quantity against the same constant (docs/limits.md lists them).
/// </summary>
public static class SimLimits
{
    /// <summary>CPUs of one host: NR_CPUS of a CONFIG_MAXSMP x86_64 kernel.</summary>
    public const int MaxCpus = 8192;
    /// <summary>PID_MAX_LIMIT on 64-bit (include/linux/threads.h).</summary>
    public const int PidMax = 4_194_304;
    /// <summary>Data pages of one perf ring (a power of two; 65,536 pages = 256 MiB).</summary>
    public const int MaxRingPages = 65_536;
    public const int PageSize = 4096;
    /// <summary>The largest ring buffer (max_entries bytes) a scenario host holds (scenario maps and the sweep's transport).</summary>
    public const long MaxScenarioRingbufBytes = 1L << 30;
    /// <summary>max_entries of a map declared in a scenario or an exec world.</summary>
    public const int MaxMapEntries = 1 << 20;
    /// <summary>Rows of one trace or rates file (all CPUs): at 8-16 bytes a row, 2-3 GiB in memory.</summary>
    public const long MaxTraceRows = 200_000_000;
    /// <summary>Bytes of one line of a trace or rates file.</summary>
    public const int MaxTraceLineBytes = 64 << 10;
    /// <summary>Random reader pauses a scenario run may draw (expected count: duration / mean gap).</summary>
    public const long MaxReaderPauses = 1_000_000;
    /// <summary>Hosts of one fleet group.</summary>
    public const int MaxHostsPerGroup = 1_000_000;
    /// <summary>A data, buffer or format size a document may ask a helper to use.</summary>
    public const int MaxDataBytes = 1 << 20;
    /// <summary>A perf_event_output size in an exec step (past u16 header.size on purpose, to see -E2BIG).</summary>
    public const int MaxOutputBytes = 16 << 20;
    /// <summary>A seq_file's buffer and a read() of it (exec read_seq / seq_size, iter read_size / seq_size).</summary>
    public const int MaxSeqBytes = 16 << 20;
    /// <summary>Nesting of mappings/lists (YAML) or objects/arrays (JSON) in one document.</summary>
    public const int MaxNestingDepth = 64;
    /// <summary>Nodes of a YAML document once its aliases are expanded (a "billion laughs" guard).</summary>
    public const int MaxYamlNodes = 1_000_000;
    /// <summary>Sections of one BPF ELF object.</summary>
    public const int MaxElfSections = 4096;
    /// <summary>Bytes of one ELF section (an SHT_NOBITS .bss is allocated, so it is limited too).</summary>
    public const int MaxElfSectionBytes = 64 << 20;
    /// <summary>A document file read by any command (scenario, exec, iter, report).</summary>
    public const long MaxDocumentBytes = 64L << 20;
    /// <summary>Frames of a task's synthetic kernel or user stack (the helpers see at most sysctl_perf_event_max_stack, 127, of them).</summary>
    public const int MaxStackFrames = 1024;
    /// <summary>max_entries of a BPF_MAP_TYPE_STACK_TRACE map an object may declare (its buckets are preallocated, as the kernel's are).</summary>
    public const int MaxStackMapEntries = 1 << 20;
}

/// <summary>
/// Limits on what a run will cost, checked before it starts. The defaults fit a 2-core, 24 GiB
/// machine; each is raised on purpose by its key in a scenario's <c>limits:</c> or an exec world's
/// <c>"limits"</c> (or its <c>--max-...</c> option), and each refusal names the key.
/// </summary>
public sealed record CostLimits
{
    /// <summary>Simulated CPUs over all hosts of a fleet (twice the 1,048,576 of the scale example).</summary>
    public long MaxFleetCpus { get; init; } = 2L << 20;
    /// <summary>Expected helper calls of a run: rate x CPUs x duration x calls per firing (~5 min at 15 M/s).</summary>
    public double MaxHelperCalls { get; init; } = 5e9;
    /// <summary>Statistics windows of a scenario (duration / window).</summary>
    public long MaxWindows { get; init; } = 100_000;
    /// <summary>Ring data bytes held in capture mode at once: pages x page size x CPUs x events.</summary>
    public long MaxRingBytes { get; init; } = 4L << 30;
    /// <summary>Steps of one exec world.</summary>
    public long MaxSteps { get; init; } = 1_000_000;
    /// <summary>Worlds of one exec document (JSON Lines).</summary>
    public long MaxWorlds { get; init; } = 100_000;
    /// <summary>Records a run keeps for --records (expected perf_event_output calls).</summary>
    public double MaxRecords { get; init; } = 50_000_000;

    public static CostLimits Default { get; } = new();

    /// <summary>The keys of a <c>limits</c> section, in documentation order.</summary>
    public static readonly string[] Keys = ["max_fleet_cpus", "max_helper_calls", "max_windows", "max_ring_bytes", "max_steps", "max_worlds", "max_records"];

    /// <summary>A copy with one key set; false for an unknown key or a value below 1.</summary>
    public bool TryWith(string key, double value, out CostLimits limits)
    {
        limits = this;
        if (!(value >= 1) || double.IsNaN(value)) return false;
        long l = value >= long.MaxValue ? long.MaxValue : (long)value;
        limits = key switch
        {
            "max_fleet_cpus" => this with { MaxFleetCpus = l },
            "max_helper_calls" => this with { MaxHelperCalls = value },
            "max_windows" => this with { MaxWindows = l },
            "max_ring_bytes" => this with { MaxRingBytes = l },
            "max_steps" => this with { MaxSteps = l },
            "max_worlds" => this with { MaxWorlds = l },
            "max_records" => this with { MaxRecords = value },
            _ => this,
        };
        return Array.IndexOf(Keys, key) >= 0;
    }

    /// <summary>A count as people read it: 1,048,576 or 5.2e+09.</summary>
    public static string Count(double v) =>
        v < 1e15 ? Math.Round(v).ToString("N0", CultureInfo.InvariantCulture) : v.ToString("0.##e+00", CultureInfo.InvariantCulture);

    /// <summary>Bytes as people read them: 4 GiB, 256 MiB, 12 KiB.</summary>
    public static string Bytes(double v)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
        int u = 0;
        while (v >= 1024 && u < units.Length - 1) { v /= 1024; u++; }
        return v.ToString(v >= 100 || v == Math.Floor(v) ? "0" : "0.#", CultureInfo.InvariantCulture) + " " + units[u];
    }
}

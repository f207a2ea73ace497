namespace BpfTraceSim.Kernel.Perf;

/// <summary>perf_event uapi constants (include/uapi/linux/perf_event.h) the simulator models.</summary>
public static class PerfConstants
{
    // enum perf_type_id
    public const uint PERF_TYPE_HARDWARE = 0;
    public const uint PERF_TYPE_SOFTWARE = 1;
    public const uint PERF_TYPE_TRACEPOINT = 2;
    public const uint PERF_TYPE_HW_CACHE = 3;
    public const uint PERF_TYPE_RAW = 4;
    public const uint PERF_TYPE_BREAKPOINT = 5;

    // enum perf_sw_ids
    public const ulong PERF_COUNT_SW_CPU_CLOCK = 0;
    public const ulong PERF_COUNT_SW_TASK_CLOCK = 1;
    public const ulong PERF_COUNT_SW_PAGE_FAULTS = 2;
    public const ulong PERF_COUNT_SW_CONTEXT_SWITCHES = 3;
    public const ulong PERF_COUNT_SW_CPU_MIGRATIONS = 4;
    public const ulong PERF_COUNT_SW_PAGE_FAULTS_MIN = 5;
    public const ulong PERF_COUNT_SW_PAGE_FAULTS_MAJ = 6;
    public const ulong PERF_COUNT_SW_ALIGNMENT_FAULTS = 7;
    public const ulong PERF_COUNT_SW_EMULATION_FAULTS = 8;
    public const ulong PERF_COUNT_SW_DUMMY = 9;
    public const ulong PERF_COUNT_SW_BPF_OUTPUT = 10;
    public const ulong PERF_COUNT_SW_CGROUP_SWITCHES = 11;
    public const ulong PERF_COUNT_SW_MAX = 12;

    // enum perf_hw_id
    public const ulong PERF_COUNT_HW_CPU_CYCLES = 0;
    public const ulong PERF_COUNT_HW_INSTRUCTIONS = 1;
    public const ulong PERF_COUNT_HW_CACHE_REFERENCES = 2;
    public const ulong PERF_COUNT_HW_CACHE_MISSES = 3;
    public const ulong PERF_COUNT_HW_BRANCH_INSTRUCTIONS = 4;
    public const ulong PERF_COUNT_HW_BRANCH_MISSES = 5;
    public const ulong PERF_COUNT_HW_BUS_CYCLES = 6;
    public const ulong PERF_COUNT_HW_STALLED_CYCLES_FRONTEND = 7;
    public const ulong PERF_COUNT_HW_STALLED_CYCLES_BACKEND = 8;
    public const ulong PERF_COUNT_HW_REF_CPU_CYCLES = 9;
    public const ulong PERF_COUNT_HW_MAX = 10;

    // enum perf_event_sample_format
    public const ulong PERF_SAMPLE_IP = 1UL << 0;
    public const ulong PERF_SAMPLE_TID = 1UL << 1;
    public const ulong PERF_SAMPLE_TIME = 1UL << 2;
    public const ulong PERF_SAMPLE_ADDR = 1UL << 3;
    public const ulong PERF_SAMPLE_READ = 1UL << 4;
    public const ulong PERF_SAMPLE_CALLCHAIN = 1UL << 5;
    public const ulong PERF_SAMPLE_ID = 1UL << 6;
    public const ulong PERF_SAMPLE_CPU = 1UL << 7;
    public const ulong PERF_SAMPLE_PERIOD = 1UL << 8;
    public const ulong PERF_SAMPLE_STREAM_ID = 1UL << 9;
    public const ulong PERF_SAMPLE_RAW = 1UL << 10;
    public const ulong PERF_SAMPLE_BRANCH_STACK = 1UL << 11;
    public const ulong PERF_SAMPLE_REGS_USER = 1UL << 12;
    public const ulong PERF_SAMPLE_STACK_USER = 1UL << 13;
    public const ulong PERF_SAMPLE_WEIGHT = 1UL << 14;
    public const ulong PERF_SAMPLE_DATA_SRC = 1UL << 15;
    public const ulong PERF_SAMPLE_IDENTIFIER = 1UL << 16;
    public const ulong PERF_SAMPLE_TRANSACTION = 1UL << 17;
    public const ulong PERF_SAMPLE_REGS_INTR = 1UL << 18;
    public const ulong PERF_SAMPLE_PHYS_ADDR = 1UL << 19;

    /// <summary>
    /// sample_type bits the simulator can fill for a BPF output sample. READ, CALLCHAIN, the
    /// register/stack dumps and everything above RAW need state the model does not have:
    /// PerfEventOpen refuses them with -EINVAL.
    /// </summary>
    public const ulong SupportedSampleType =
        PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_ADDR | PERF_SAMPLE_ID |
        PERF_SAMPLE_CPU | PERF_SAMPLE_PERIOD | PERF_SAMPLE_STREAM_ID | PERF_SAMPLE_RAW;

    /// <summary>The fixed 8-byte sample fields (each adds 8 bytes to header.size).</summary>
    internal const ulong FixedSampleFields =
        PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_ADDR | PERF_SAMPLE_ID |
        PERF_SAMPLE_CPU | PERF_SAMPLE_PERIOD | PERF_SAMPLE_STREAM_ID;

    // enum perf_event_type
    public const uint PERF_RECORD_LOST = 2;
    public const uint PERF_RECORD_SAMPLE = 9;

    public const ushort PERF_RECORD_MISC_KERNEL = 1;

    /// <summary>sizeof(struct perf_event_header).</summary>
    public const int PerfEventHeaderSize = 8;
    /// <summary>sizeof the PERF_RECORD_LOST record {header, u64 id, u64 lost}.</summary>
    public const int LostRecordSize = 24;
    /// <summary>sizeof(struct bpf_perf_event_value).</summary>
    public const int BpfPerfEventValueSize = 24;

    private static readonly Dictionary<string, uint> TypeNames = new(StringComparer.Ordinal)
    {
        ["hardware"] = PERF_TYPE_HARDWARE,
        ["software"] = PERF_TYPE_SOFTWARE,
        ["tracepoint"] = PERF_TYPE_TRACEPOINT,
        ["hw_cache"] = PERF_TYPE_HW_CACHE,
        ["raw"] = PERF_TYPE_RAW,
        ["breakpoint"] = PERF_TYPE_BREAKPOINT,
    };

    private static readonly Dictionary<string, ulong> SoftwareNames = new(StringComparer.Ordinal)
    {
        ["cpu_clock"] = PERF_COUNT_SW_CPU_CLOCK,
        ["task_clock"] = PERF_COUNT_SW_TASK_CLOCK,
        ["page_faults"] = PERF_COUNT_SW_PAGE_FAULTS,
        ["context_switches"] = PERF_COUNT_SW_CONTEXT_SWITCHES,
        ["cpu_migrations"] = PERF_COUNT_SW_CPU_MIGRATIONS,
        ["page_faults_min"] = PERF_COUNT_SW_PAGE_FAULTS_MIN,
        ["page_faults_maj"] = PERF_COUNT_SW_PAGE_FAULTS_MAJ,
        ["alignment_faults"] = PERF_COUNT_SW_ALIGNMENT_FAULTS,
        ["emulation_faults"] = PERF_COUNT_SW_EMULATION_FAULTS,
        ["dummy"] = PERF_COUNT_SW_DUMMY,
        ["bpf_output"] = PERF_COUNT_SW_BPF_OUTPUT,
        ["cgroup_switches"] = PERF_COUNT_SW_CGROUP_SWITCHES,
    };

    private static readonly Dictionary<string, ulong> HardwareNames = new(StringComparer.Ordinal)
    {
        ["cycles"] = PERF_COUNT_HW_CPU_CYCLES,
        ["cpu_cycles"] = PERF_COUNT_HW_CPU_CYCLES,
        ["instructions"] = PERF_COUNT_HW_INSTRUCTIONS,
        ["cache_references"] = PERF_COUNT_HW_CACHE_REFERENCES,
        ["cache_misses"] = PERF_COUNT_HW_CACHE_MISSES,
        ["branch_instructions"] = PERF_COUNT_HW_BRANCH_INSTRUCTIONS,
        ["branches"] = PERF_COUNT_HW_BRANCH_INSTRUCTIONS,
        ["branch_misses"] = PERF_COUNT_HW_BRANCH_MISSES,
        ["bus_cycles"] = PERF_COUNT_HW_BUS_CYCLES,
        ["stalled_cycles_frontend"] = PERF_COUNT_HW_STALLED_CYCLES_FRONTEND,
        ["stalled_cycles_backend"] = PERF_COUNT_HW_STALLED_CYCLES_BACKEND,
        ["ref_cycles"] = PERF_COUNT_HW_REF_CPU_CYCLES,
        ["ref_cpu_cycles"] = PERF_COUNT_HW_REF_CPU_CYCLES,
    };

    private static readonly Dictionary<string, ulong> SampleNames = new(StringComparer.Ordinal)
    {
        ["ip"] = PERF_SAMPLE_IP,
        ["tid"] = PERF_SAMPLE_TID,
        ["time"] = PERF_SAMPLE_TIME,
        ["addr"] = PERF_SAMPLE_ADDR,
        ["read"] = PERF_SAMPLE_READ,
        ["callchain"] = PERF_SAMPLE_CALLCHAIN,
        ["id"] = PERF_SAMPLE_ID,
        ["cpu"] = PERF_SAMPLE_CPU,
        ["period"] = PERF_SAMPLE_PERIOD,
        ["stream_id"] = PERF_SAMPLE_STREAM_ID,
        ["raw"] = PERF_SAMPLE_RAW,
        ["branch_stack"] = PERF_SAMPLE_BRANCH_STACK,
        ["regs_user"] = PERF_SAMPLE_REGS_USER,
        ["stack_user"] = PERF_SAMPLE_STACK_USER,
        ["weight"] = PERF_SAMPLE_WEIGHT,
        ["data_src"] = PERF_SAMPLE_DATA_SRC,
        ["identifier"] = PERF_SAMPLE_IDENTIFIER,
        ["transaction"] = PERF_SAMPLE_TRANSACTION,
        ["regs_intr"] = PERF_SAMPLE_REGS_INTR,
        ["phys_addr"] = PERF_SAMPLE_PHYS_ADDR,
    };

    /// <summary>"software", "hardware", "tracepoint", "hw_cache", "raw", "breakpoint" -> PERF_TYPE_*.</summary>
    public static bool TryLookupType(string name, out uint type) => TypeNames.TryGetValue(name, out type);

    /// <summary>A config name of the given type ("bpf_output", "cpu_clock", "cycles", ...); false when unknown.</summary>
    public static bool TryLookupConfig(uint type, string name, out ulong config)
    {
        config = 0;
        return type switch
        {
            PERF_TYPE_SOFTWARE => SoftwareNames.TryGetValue(name, out config),
            PERF_TYPE_HARDWARE => HardwareNames.TryGetValue(name, out config),
            _ => false,
        };
    }

    /// <summary>A config name of any type: software names first, then hardware ones.</summary>
    public static bool TryLookupConfig(string name, out uint type, out ulong config)
    {
        if (SoftwareNames.TryGetValue(name, out config)) { type = PERF_TYPE_SOFTWARE; return true; }
        if (HardwareNames.TryGetValue(name, out config)) { type = PERF_TYPE_HARDWARE; return true; }
        type = 0;
        return false;
    }

    /// <summary>The perf type names, in enum perf_type_id order (for messages and suggestions).</summary>
    public static IReadOnlyCollection<string> TypeNameList => TypeNames.Keys;

    /// <summary>The config names of a type (software, hardware); empty for the others.</summary>
    public static IReadOnlyCollection<string> ConfigNameList(uint type) => type switch
    {
        PERF_TYPE_SOFTWARE => SoftwareNames.Keys,
        PERF_TYPE_HARDWARE => HardwareNames.Keys,
        _ => [],
    };

    /// <summary>The sample_type field names, in bit order.</summary>
    public static IReadOnlyCollection<string> SampleNameList => SampleNames.Keys;

    /// <summary>"raw", "tid", "time", "cpu", ... -> the PERF_SAMPLE_* bit; false when unknown.</summary>
    public static bool TryLookupSampleBit(string name, out ulong bit) => SampleNames.TryGetValue(name, out bit);
}

using System.Collections.Immutable;
using System.Text.Json.Serialization;

namespace BpfTraceSim.Contracts.Scenarios;

// The parsed scenario (docs/scenarios.md describes every field). Named YAML mappings become arrays
// in file order; durations are nanoseconds, rates events per second, sizes bytes. Equality of
// two parsed scenarios: compare ScenarioDigest.Compute, not Equals (ImmutableArray compares by reference).

/// <summary>A whole scenario file.</summary>
[GenerateSerializer, Immutable]
public sealed record Scenario
{
    [Id(0)] public string Name { get; init; } = "";
    [Id(1)] public ulong Seed { get; init; }
    [Id(2)] public long DurationNs { get; init; }
    [Id(3)] public long WindowNs { get; init; }
    [Id(4)] public ImmutableArray<HostGroup> Fleet { get; init; } = [];
    [Id(5)] public ImmutableArray<EventSpec> Events { get; init; } = [];
    [Id(6)] public ImmutableArray<MapSpec> Maps { get; init; } = [];
    [Id(7)] public ImmutableArray<SlotsSpec> Slots { get; init; } = [];
    [Id(8)] public ImmutableArray<ProgramSpec> Programs { get; init; } = [];
    [Id(9)] public ImmutableArray<ConsumerSpec> Consumers { get; init; } = [];
    /// <summary>Sorted by time; actions at the same time keep their file order.</summary>
    [Id(10)] public ImmutableArray<TimelineAction> Timeline { get; init; } = [];
    /// <summary>
    /// Settings the kernel accepts but that can only lose (docs/scenarios.md, configuration checks),
    /// with where they are. Not part of the digest: they follow from the rest.
    /// </summary>
    [Id(11), JsonIgnore] public ImmutableArray<ScenarioError> Warnings { get; init; } = [];

    /// <summary>Number of simulated hosts over all groups.</summary>
    [JsonIgnore] public long HostCount => Fleet.Sum(g => (long)g.Hosts);

    /// <summary>Number of simulated CPUs over all hosts.</summary>
    [JsonIgnore] public long CpuCount => Fleet.Sum(g => (long)g.Hosts * g.Cpus);

    /// <summary>Number of statistics windows (duration / window).</summary>
    [JsonIgnore] public long WindowCount => WindowNs == 0 ? 0 : DurationNs / WindowNs;
}

/// <summary>A group of identical hosts named <c>&lt;group&gt;-&lt;i&gt;</c>.</summary>
[GenerateSerializer, Immutable]
public sealed record HostGroup
{
    [Id(0)] public string Group { get; init; } = "";
    [Id(1)] public int Hosts { get; init; } = 1;
    [Id(2)] public int Cpus { get; init; } = 1;
    [Id(3)] public ImmutableArray<TaskSpec> Tasks { get; init; } = [];
    /// <summary>When set, every task moves to the next CPU this often.</summary>
    [Id(4)] public long? MigrateEveryNs { get; init; }
    /// <summary>The hosts have a hardware PMU (hardware events can be opened).</summary>
    [Id(5)] public bool Pmu { get; init; }
    /// <summary>The hosts' page size in bytes (4096, 16384 or 65536); null: 4096. A ring page is one of these.</summary>
    [Id(6)]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? PageSize { get; init; }
    /// <summary>The hosts' kernel version as "MAJOR.MINOR" (which memory accounting applies); null: the model's 6.18.</summary>
    [Id(7)]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Kernel { get; init; }
    /// <summary>The agent's RLIMIT_MEMLOCK in bytes (long.MaxValue: unlimited); null: the kernel's default (MLOCK_LIMIT).</summary>
    [Id(8)]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? Memlock { get; init; }
    /// <summary>The agent has CAP_IPC_LOCK (it runs as root); null: true.</summary>
    [Id(9)]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public bool? CapIpcLock { get; init; }

    public string HostName(int index) => $"{Group}-{index}";

    /// <summary>The page size in effect.</summary>
    [JsonIgnore] public int EffectivePageSize => PageSize ?? 4096;

    /// <summary>Whether any host memory field was written (the report's ring_memory appears only then).</summary>
    [JsonIgnore] public bool HasMemoryFields => PageSize is not null || Kernel is not null || Memlock is not null || CapIpcLock is not null;
}

/// <summary><c>count</c> tasks with pids <c>pid .. pid+count-1</c>, on every host of the group.</summary>
[GenerateSerializer, Immutable]
public sealed record TaskSpec
{
    [Id(0)] public string Comm { get; init; } = "";
    [Id(1)] public int Pid { get; init; }
    [Id(2)] public int Count { get; init; } = 1;
    /// <summary>The CPU of the first task (the others follow round robin); null: task i starts on CPU i mod cpus.</summary>
    [Id(3)] public int? Cpu { get; init; }
}

public enum PerfType
{
    Software = 1,
    Hardware = 0,
    Tracepoint = 2,
    HwCache = 3,
    Raw = 4,
    Breakpoint = 5,
}

public enum EventScope
{
    /// <summary>One event per CPU, bound to it (pid -1, cpu k).</summary>
    Cpu,
    /// <summary>One event per task (pid, cpu -1).</summary>
    Task,
}

/// <summary>A perf event opened on every host, per CPU or per task.</summary>
[GenerateSerializer, Immutable]
public sealed record EventSpec
{
    [Id(0)] public string Name { get; init; } = "";
    [Id(1)] public PerfType Type { get; init; } = PerfType.Software;
    /// <summary>attr.config (bpf_output = 10 for software).</summary>
    [Id(2)] public ulong Config { get; init; } = 10;
    [Id(3)] public EventScope Per { get; init; } = EventScope.Cpu;
    /// <summary>With per task: only tasks with this comm (null: every task).</summary>
    [Id(4)] public string? Comm { get; init; }
    /// <summary>Data pages of the mmapped ring; null = never mmapped, 0 = metadata page only.</summary>
    [Id(5)] public int? RingPages { get; init; }
    /// <summary>Wake the reader every N records (0: at half the ring); unused when Watermark is set.</summary>
    [Id(6)] public int WakeupEvents { get; init; } = 1;
    /// <summary>Wake the reader when this many bytes are unread (attr.watermark).</summary>
    [Id(7)] public int? Watermark { get; init; }
    /// <summary>PERF_SAMPLE_* bits.</summary>
    [Id(8)] public ulong SampleType { get; init; } = 1UL << 10;
    [Id(9)] public bool Pinned { get; init; }
    [Id(10)] public bool Disabled { get; init; }
    /// <summary>Ring mapped read-only: overwrite mode.</summary>
    [Id(11)] public bool Overwrite { get; init; }
    [Id(12)] public bool Inherit { get; init; }
}

public enum MapType
{
    PerfEventArray,
    /// <summary>BPF_MAP_TYPE_RINGBUF: one ring per host shared by its CPUs; max_entries is its size in bytes.</summary>
    Ringbuf,
}

[GenerateSerializer, Immutable]
public sealed record MapSpec
{
    [Id(0)] public string Name { get; init; } = "";
    [Id(1)] public MapType Type { get; init; } = MapType.PerfEventArray;
    /// <summary>null: the host's CPU count (<c>max_entries: cpus</c>).</summary>
    [Id(2)] public int? MaxEntries { get; init; }
    /// <summary>
    /// A ringbuf's spinlock: ns it is held per reservation (null for other maps). Calibrated
    /// default: one producer's 10.9 M records/s in the kernel's ringbuf benchmark (docs/scenarios.md, "Ring buffers").
    /// </summary>
    [Id(3)]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? LockCostNs { get; init; }
    /// <summary>A ringbuf's spinlock: ns added when a CPU takes it from another CPU while it was contended (null for other maps).</summary>
    [Id(4)]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? LockHandoffNs { get; init; }

    /// <summary>1 / 92 ns = 10.9 M/s: the benchmark's one producer (rb-libbpf, nr_prod 1).</summary>
    public const long DefaultLockCostNs = 92;
    /// <summary>1 / (92 + 384) ns = 2.1 M/s: the benchmark's 52 producers sharing one ring.</summary>
    public const long DefaultLockHandoffNs = 384;

    public int MaxEntriesFor(int cpus) => MaxEntries ?? cpus;
}

/// <summary>What a perf event array holds: a layout of one event's per-CPU instances, or an explicit list.</summary>
[GenerateSerializer, Immutable]
public sealed record SlotsSpec
{
    [Id(0)] public string Map { get; init; } = "";
    /// <summary>The per-CPU event the layout places (null for an explicit list).</summary>
    [Id(1)] public string? Event { get; init; }
    [Id(2)] public SlotLayout Layout { get; init; } = new PerCpuLayout();
}

/// <summary>How a map's slots are filled. On a host with C CPUs, slot i (i &lt; min(C, max_entries)) holds:</summary>
[GenerateSerializer, Immutable]
[JsonPolymorphic(TypeDiscriminatorPropertyName = "layout")]
[JsonDerivedType(typeof(PerCpuLayout), "per_cpu")]
[JsonDerivedType(typeof(ShiftedLayout), "shifted")]
[JsonDerivedType(typeof(SparseLayout), "sparse")]
[JsonDerivedType(typeof(SwappedLayout), "swapped")]
[JsonDerivedType(typeof(ExplicitLayout), "explicit")]
public abstract record SlotLayout;

/// <summary>... the event of CPU i.</summary>
[GenerateSerializer, Immutable]
public sealed record PerCpuLayout : SlotLayout;

/// <summary>... the event of CPU (i + Shift) mod C.</summary>
[GenerateSerializer, Immutable]
public sealed record ShiftedLayout : SlotLayout
{
    [Id(0)] public int Shift { get; init; }
}

/// <summary>... the event of CPU i when i is listed, else nothing.</summary>
[GenerateSerializer, Immutable]
public sealed record SparseLayout : SlotLayout
{
    [Id(0)] public ImmutableArray<int> Cpus { get; init; } = [];
}

/// <summary>... the event of CPU i XOR 1 (pairs swapped; the last CPU of an odd count keeps its own).</summary>
[GenerateSerializer, Immutable]
public sealed record SwappedLayout : SlotLayout;

/// <summary>Slot i holds Entries[i]; null entries and slots past the list are empty.</summary>
[GenerateSerializer, Immutable]
public sealed record ExplicitLayout : SlotLayout
{
    [Id(0)] public ImmutableArray<SlotEntry?> Entries { get; init; } = [];
}

/// <summary><c>event@index</c>: the instance of a per-CPU event on CPU Index, or of a per-task event for pid Index.</summary>
[GenerateSerializer, Immutable]
public sealed record SlotEntry
{
    [Id(0)] public string Event { get; init; } = "";
    [Id(1)] public int Index { get; init; }

    public override string ToString() => $"{Event}@{Index}";
}

public enum ProgramContext
{
    Task,
    Softirq,
    Hardirq,
    Nmi,
}

/// <summary>A program attached on the CPUs of every host (of the listed groups), firing per CPU.</summary>
[GenerateSerializer, Immutable]
public sealed record ProgramSpec
{
    [Id(0)] public string Name { get; init; } = "";
    /// <summary>Empty: every CPU.</summary>
    [Id(1)] public ImmutableArray<int> Cpus { get; init; } = [];
    /// <summary>Empty: every group.</summary>
    [Id(2)] public ImmutableArray<string> Groups { get; init; } = [];
    [Id(3)] public ProgramContext Context { get; init; } = ProgramContext.Task;
    [Id(4)] public FireSpec Fire { get; init; } = new PoissonFire();
    /// <summary>Helper calls per firing, in order (empty when Object is set).</summary>
    [Id(5)] public ImmutableArray<HelperCall> Body { get; init; } = [];
    /// <summary>A real BPF object file (path as written, relative to the scenario file).</summary>
    [Id(6)] public string? Object { get; init; }
    [Id(7)] public string? Section { get; init; }

    [JsonIgnore] public bool AllCpus => Cpus.IsDefaultOrEmpty;
}

/// <summary>When a program fires on each of its CPUs.</summary>
[GenerateSerializer, Immutable]
[JsonPolymorphic(TypeDiscriminatorPropertyName = "process")]
[JsonDerivedType(typeof(ConstantFire), "constant")]
[JsonDerivedType(typeof(PoissonFire), "poisson")]
[JsonDerivedType(typeof(BurstsFire), "bursts")]
[JsonDerivedType(typeof(PiecewiseFire), "piecewise")]
[JsonDerivedType(typeof(TraceFire), "trace")]
[JsonDerivedType(typeof(RatesFire), "rates")]
public abstract record FireSpec;

/// <summary>Evenly spaced firings, the first at time 0.</summary>
[GenerateSerializer, Immutable]
public sealed record ConstantFire : FireSpec
{
    [Id(0)] public double RatePerSec { get; init; }
}

/// <summary>Exponential gaps with the given mean rate.</summary>
[GenerateSerializer, Immutable]
public sealed record PoissonFire : FireSpec
{
    [Id(0)] public double RatePerSec { get; init; }
}

/// <summary>Size firings at once at time 0, then again every EveryNs.</summary>
[GenerateSerializer, Immutable]
public sealed record BurstsFire : FireSpec
{
    [Id(0)] public int Size { get; init; }
    [Id(1)] public long EveryNs { get; init; }
}

/// <summary>A rate that changes at given times (0 before the first step), constant or Poisson within a step.</summary>
[GenerateSerializer, Immutable]
public sealed record PiecewiseFire : FireSpec
{
    [Id(0)] public ImmutableArray<RateStep> Steps { get; init; } = [];
    /// <summary>Constant or Poisson firings within each step.</summary>
    [Id(1)] public bool Poisson { get; init; } = true;
}

/// <summary>
/// Firings replayed from a file of events (CSV, JSON Lines or `perf script` text): each row fires
/// the program once on its CPU, on every host. The rows themselves are read by
/// <see cref="TraceFiles"/> (the parser validates the whole file; the engine reads it again only
/// when the parsed form is not in this process).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record TraceFire : FireSpec
{
    /// <summary>Absolute path (resolved against the scenario file's directory); not in the digest, which has Written and Sha256, so a checkout's location does not change it.</summary>
    [Id(0), JsonIgnore] public string File { get; init; } = "";
    [Id(1)] public TraceFormat Format { get; init; }
    /// <summary>Times are divided by it (2: twice the rate, gaps halved).</summary>
    [Id(2)] public double Scale { get; init; } = 1;
    /// <summary>0: play once; otherwise the file repeats every this many ns (of scaled time).</summary>
    [Id(3)] public long LoopNs { get; init; }
    /// <summary>perf script: only lines of this event (e.g. sched:sched_switch); null: every line.</summary>
    [Id(4)] public string? Event { get; init; }
    /// <summary>SHA-256 (hex) of the file's bytes: the digest changes when the data does.</summary>
    [Id(5)] public string Sha256 { get; init; } = "";
    /// <summary>The path as written in the scenario (for messages).</summary>
    [Id(6)] public string Written { get; init; } = "";
    /// <summary>`fit: on_off`: firings generated from this per-CPU model instead of the rows (null: replayed); absent from the digest's JSON when null, so replays keep theirs.</summary>
    [Id(7), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public OnOffFit? Fit { get; init; }
}

public enum TraceFormat
{
    Csv,
    Jsonl,
    PerfScript,
}

/// <summary>A rate per interval from a CSV (t, rate or count[, cpu]): a piecewise-rate process per CPU.</summary>
[GenerateSerializer, Immutable]
public sealed record RatesFire : FireSpec
{
    [Id(0), JsonIgnore] public string File { get; init; } = "";
    /// <summary>Rates are multiplied by it.</summary>
    [Id(1)] public double Scale { get; init; } = 1;
    [Id(2)] public long LoopNs { get; init; }
    [Id(3)] public bool Poisson { get; init; } = true;
    [Id(4)] public string Sha256 { get; init; } = "";
    [Id(5)] public string Written { get; init; } = "";
}

[GenerateSerializer, Immutable]
public sealed record RateStep
{
    [Id(0)] public long AtNs { get; init; }
    [Id(1)] public double RatePerSec { get; init; }
}

/// <summary>One helper call of a program body.</summary>
[GenerateSerializer, Immutable]
[JsonPolymorphic(TypeDiscriminatorPropertyName = "call")]
[JsonDerivedType(typeof(PerfEventOutputCall), "perf_event_output")]
[JsonDerivedType(typeof(PerfEventReadCall), "perf_event_read")]
[JsonDerivedType(typeof(PerfEventReadValueCall), "perf_event_read_value")]
[JsonDerivedType(typeof(TracePrintkCall), "trace_printk")]
[JsonDerivedType(typeof(TraceVprintkCall), "trace_vprintk")]
[JsonDerivedType(typeof(SnprintfCall), "snprintf")]
[JsonDerivedType(typeof(RingbufOutputCall), "ringbuf_output")]
[JsonDerivedType(typeof(RingbufReserveCall), "ringbuf_reserve")]
[JsonDerivedType(typeof(RingbufSubmitCall), "ringbuf_submit")]
[JsonDerivedType(typeof(RingbufDiscardCall), "ringbuf_discard")]
public abstract record HelperCall;

/// <summary>bpf_ringbuf_reserve(map, size, flags); a later ringbuf_submit / ringbuf_discard of the body releases it.</summary>
[GenerateSerializer, Immutable]
public sealed record RingbufReserveCall : HelperCall
{
    [Id(0)] public string Map { get; init; } = "";
    [Id(1)] public ulong Flags { get; init; }
    [Id(2)] public SizeSpec Size { get; init; } = new();
}

/// <summary>bpf_ringbuf_submit(sample, flags) of the body's latest reservation still held (skipped when it was NULL).</summary>
[GenerateSerializer, Immutable]
public sealed record RingbufSubmitCall : HelperCall
{
    [Id(0)] public ulong Flags { get; init; }
}

/// <summary>bpf_ringbuf_discard(sample, flags) of the body's latest reservation still held (skipped when it was NULL).</summary>
[GenerateSerializer, Immutable]
public sealed record RingbufDiscardCall : HelperCall
{
    [Id(0)] public ulong Flags { get; init; }
}

/// <summary>bpf_ringbuf_output(map, data, size, flags) into a ringbuf map.</summary>
[GenerateSerializer, Immutable]
public sealed record RingbufOutputCall : HelperCall
{
    [Id(0)] public string Map { get; init; } = "";
    [Id(1)] public ulong Flags { get; init; }
    [Id(2)] public SizeSpec Size { get; init; } = new();
}

/// <summary>bpf_perf_event_output(ctx, map, flags, data, size).</summary>
[GenerateSerializer, Immutable]
public sealed record PerfEventOutputCall : HelperCall
{
    [Id(0)] public string Map { get; init; } = "";
    [Id(1)] public ulong Flags { get; init; } = 0xffffffffUL;
    [Id(2)] public SizeSpec Size { get; init; } = new();
}

/// <summary>bpf_perf_event_read(map, flags).</summary>
[GenerateSerializer, Immutable]
public sealed record PerfEventReadCall : HelperCall
{
    [Id(0)] public string Map { get; init; } = "";
    [Id(1)] public ulong Flags { get; init; } = 0xffffffffUL;
}

/// <summary>bpf_perf_event_read_value(map, flags, buf, size).</summary>
[GenerateSerializer, Immutable]
public sealed record PerfEventReadValueCall : HelperCall
{
    [Id(0)] public string Map { get; init; } = "";
    [Id(1)] public ulong Flags { get; init; } = 0xffffffffUL;
    [Id(2)] public int Size { get; init; } = 24;
}

/// <summary>bpf_trace_printk(fmt, fmt_size, a1, a2, a3).</summary>
[GenerateSerializer, Immutable]
public sealed record TracePrintkCall : HelperCall
{
    [Id(0)] public string Fmt { get; init; } = "";
    [Id(1)] public ImmutableArray<FormatArg> Args { get; init; } = [];
}

/// <summary>bpf_trace_vprintk(fmt, fmt_size, args, data_len = 8 * Args.Length).</summary>
[GenerateSerializer, Immutable]
public sealed record TraceVprintkCall : HelperCall
{
    [Id(0)] public string Fmt { get; init; } = "";
    [Id(1)] public ImmutableArray<FormatArg> Args { get; init; } = [];
}

/// <summary>bpf_snprintf(str, str_size = Size, fmt, args, data_len = 8 * Args.Length).</summary>
[GenerateSerializer, Immutable]
public sealed record SnprintfCall : HelperCall
{
    [Id(0)] public string Fmt { get; init; } = "";
    [Id(1)] public ImmutableArray<FormatArg> Args { get; init; } = [];
    [Id(2)] public int Size { get; init; } = 128;
}

/// <summary>A data size in bytes: fixed (Min == Max) or uniform in [Min, Max] per call.</summary>
[GenerateSerializer, Immutable]
public sealed record SizeSpec
{
    [Id(0)] public int Min { get; init; }
    [Id(1)] public int Max { get; init; }

    [JsonIgnore] public bool IsFixed => Min == Max;

    public static SizeSpec Fixed(int bytes) => new() { Min = bytes, Max = bytes };
}

public enum FormatArgKind
{
    /// <summary>The current task's tgid.</summary>
    Pid,
    /// <summary>The current task's pid (thread id).</summary>
    Tid,
    Cpu,
    /// <summary>The program's firing count on this CPU, from 0.</summary>
    Counter,
    /// <summary>64 random bits from the (host, CPU, program) stream.</summary>
    Random,
    /// <summary>Virtual time in ns.</summary>
    Time,
    /// <summary>A pointer to the current task's comm (for %s).</summary>
    Comm,
    /// <summary>Value, a 64-bit constant.</summary>
    Constant,
    /// <summary>A pointer to Text in kernel memory (for %s).</summary>
    String,
}

[GenerateSerializer, Immutable]
public sealed record FormatArg
{
    [Id(0)] public FormatArgKind Kind { get; init; }
    [Id(1)] public ulong Value { get; init; }
    [Id(2)] public string? Text { get; init; }
}

public enum TailUpdate
{
    /// <summary>libbpf: the tail moves after the records found at a wake-up.</summary>
    PerBatch,
    PerRecord,
}

/// <summary>A user-space reader on every host (libbpf perf_buffer).</summary>
[GenerateSerializer, Immutable]
public sealed record ConsumerSpec
{
    [Id(0)] public string Name { get; init; } = "";
    [Id(1)] public ImmutableArray<string> Events { get; init; } = [];
    [Id(2)] public int Cpu { get; init; }
    [Id(3)] public ServiceSpec Service { get; init; } = new FixedService();
    [Id(4)] public TailUpdate TailUpdate { get; init; } = TailUpdate.PerBatch;
    [Id(5)] public long WakeupLatencyNs { get; init; }
    [Id(6)] public long PollTimeoutNs { get; init; } = 100_000_000;
    /// <summary>A ring buffer reader (libbpf ring_buffer__poll) of this ringbuf map instead of events; absent for perf readers.</summary>
    [Id(7)]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Ringbuf { get; init; }
    /// <summary>The reader as a thread that must be scheduled (cpu_load, pauses, service_per_kib, poll); null: always on a free CPU, epoll.</summary>
    [Id(8)]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public ReaderModel? Model { get; init; }
}

/// <summary>
/// How the reader thread really runs (docs/scenarios.md, consumers): the CPU it competes for, its
/// pauses, a callback cost per KiB of record, and its poll loop.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record ReaderModel
{
    /// <summary>Utilisation of the host's CPUs by other work, piecewise constant from each step's time (0 before the first).</summary>
    [Id(0)] public ImmutableArray<LoadStep> CpuLoad { get; init; } = [];
    /// <summary>Pauses at given times (GC, descheduling): the reader does not run during them.</summary>
    [Id(1)] public ImmutableArray<PauseSpan> Pauses { get; init; } = [];
    /// <summary>Random pauses: gaps between them and their lengths drawn from the consumer's pause stream.</summary>
    [Id(2)] public RandomPauses? RandomPauses { get; init; }
    /// <summary>Callback time per KiB of record (header included), added to the service time.</summary>
    [Id(3)] public long ServicePerKibNs { get; init; }
    /// <summary>Sleep-then-drain loop: the reader ignores wake-ups, sleeps this long, reads every ring with records; null: epoll (perf_buffer__poll).</summary>
    [Id(4)] public long? SleepNs { get; init; }
}

/// <summary>From AtNs on, other work uses Util (0..1) of the CPU the reader needs.</summary>
[GenerateSerializer, Immutable]
public sealed record LoadStep
{
    [Id(0)] public long AtNs { get; init; }
    [Id(1)] public double Util { get; init; }
}

[GenerateSerializer, Immutable]
public sealed record PauseSpan
{
    [Id(0)] public long AtNs { get; init; }
    [Id(1)] public long ForNs { get; init; }
}

[GenerateSerializer, Immutable]
public sealed record RandomPauses
{
    /// <summary>Time from the end of one pause to the start of the next.</summary>
    [Id(0)] public ServiceSpec Every { get; init; } = new ExponentialService();
    [Id(1)] public ServiceSpec For { get; init; } = new FixedService();
}

/// <summary>Time a reader spends per record.</summary>
[GenerateSerializer, Immutable]
[JsonPolymorphic(TypeDiscriminatorPropertyName = "kind")]
[JsonDerivedType(typeof(FixedService), "fixed")]
[JsonDerivedType(typeof(ExponentialService), "exponential")]
[JsonDerivedType(typeof(UniformService), "uniform")]
public abstract record ServiceSpec;

[GenerateSerializer, Immutable]
public sealed record FixedService : ServiceSpec
{
    [Id(0)] public long Ns { get; init; }
}

[GenerateSerializer, Immutable]
public sealed record ExponentialService : ServiceSpec
{
    [Id(0)] public long MeanNs { get; init; }
}

[GenerateSerializer, Immutable]
public sealed record UniformService : ServiceSpec
{
    [Id(0)] public long MinNs { get; init; }
    [Id(1)] public long MaxNs { get; init; }
}

/// <summary>Which hosts an action applies to: every host (Group null), a group (Index null), or one host.</summary>
[GenerateSerializer, Immutable]
public sealed record HostSelector
{
    [Id(0)] public string? Group { get; init; }
    [Id(1)] public int? Index { get; init; }

    public static readonly HostSelector All = new();

    public override string ToString() => Group is null ? "*" : Index is null ? Group : $"{Group}-{Index}";
}

/// <summary>Something that happens at a virtual time.</summary>
[GenerateSerializer, Immutable]
[JsonPolymorphic(TypeDiscriminatorPropertyName = "action")]
[JsonDerivedType(typeof(CpuOfflineAction), "cpu_offline")]
[JsonDerivedType(typeof(CpuOnlineAction), "cpu_online")]
[JsonDerivedType(typeof(SlotsAction), "slots")]
[JsonDerivedType(typeof(ConsumerStallAction), "consumer_stall")]
[JsonDerivedType(typeof(RateAction), "rate")]
[JsonDerivedType(typeof(TaskMigrateAction), "task_migrate")]
[JsonDerivedType(typeof(EventDisableAction), "event_disable")]
[JsonDerivedType(typeof(EventEnableAction), "event_enable")]
public abstract record TimelineAction
{
    [Id(0)] public long AtNs { get; init; }
}

[GenerateSerializer, Immutable]
public sealed record CpuOfflineAction : TimelineAction
{
    [Id(0)] public HostSelector Host { get; init; } = HostSelector.All;
    [Id(1)] public int Cpu { get; init; }
}

[GenerateSerializer, Immutable]
public sealed record CpuOnlineAction : TimelineAction
{
    [Id(0)] public HostSelector Host { get; init; } = HostSelector.All;
    [Id(1)] public int Cpu { get; init; }
}

/// <summary>The map's slots are rewritten (what an agent restart does).</summary>
[GenerateSerializer, Immutable]
public sealed record SlotsAction : TimelineAction
{
    [Id(0)] public HostSelector Host { get; init; } = HostSelector.All;
    [Id(1)] public SlotsSpec Slots { get; init; } = new();
}

/// <summary>The reader does nothing for ForNs (records keep arriving).</summary>
[GenerateSerializer, Immutable]
public sealed record ConsumerStallAction : TimelineAction
{
    [Id(0)] public HostSelector Host { get; init; } = HostSelector.All;
    [Id(1)] public string Consumer { get; init; } = "";
    [Id(2)] public long ForNs { get; init; }
}

/// <summary>A constant or Poisson program fires at a new rate from now on.</summary>
[GenerateSerializer, Immutable]
public sealed record RateAction : TimelineAction
{
    [Id(0)] public string Program { get; init; } = "";
    [Id(1)] public double RatePerSec { get; init; }
}

/// <summary>set_task_cpu of one task (pid) on the selected hosts.</summary>
[GenerateSerializer, Immutable]
public sealed record TaskMigrateAction : TimelineAction
{
    [Id(0)] public HostSelector Host { get; init; } = HostSelector.All;
    [Id(1)] public int Pid { get; init; }
    [Id(2)] public int ToCpu { get; init; }
}

/// <summary>PERF_EVENT_IOC_DISABLE of an event's instances (one CPU's, or all when Cpu is null).</summary>
[GenerateSerializer, Immutable]
public sealed record EventDisableAction : TimelineAction
{
    [Id(0)] public HostSelector Host { get; init; } = HostSelector.All;
    [Id(1)] public string Event { get; init; } = "";
    [Id(2)] public int? Cpu { get; init; }
}

/// <summary>PERF_EVENT_IOC_ENABLE of an event's instances (one CPU's, or all when Cpu is null).</summary>
[GenerateSerializer, Immutable]
public sealed record EventEnableAction : TimelineAction
{
    [Id(0)] public HostSelector Host { get; init; } = HostSelector.All;
    [Id(1)] public string Event { get; init; } = "";
    [Id(2)] public int? Cpu { get; init; }
}

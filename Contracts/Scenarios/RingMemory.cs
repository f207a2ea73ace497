using System.Collections.Immutable;
using System.Globalization;

namespace BpfTraceSim.Contracts.Scenarios;

/// <summary>One host group's ring memory and locked-memory accounting (docs/scenarios.md, configuration checks).</summary>
[GenerateSerializer, Immutable]
public sealed record GroupMemory
{
    [Id(0)] public string Group { get; init; } = "";
    [Id(1)] public int Hosts { get; init; }
    [Id(2)] public int PageSize { get; init; }
    [Id(3)] public string Kernel { get; init; } = "";
    /// <summary>Rings per host: perf rings (one per mmapped event instance) and ringbuf maps.</summary>
    [Id(4)] public long Rings { get; init; }
    /// <summary>Bytes of ring memory per host: perf rings (1 + ring_pages) pages each, ringbufs max_entries + 2 pages.</summary>
    [Id(5)] public long BytesPerHost { get; init; }
    /// <summary>RLIMIT_MEMLOCK in bytes (long.MaxValue: unlimited).</summary>
    [Id(6)] public long Memlock { get; init; }
    /// <summary>Bytes the agent's perf mmaps charge to RLIMIT_MEMLOCK (pinned_vm), beyond perf_event_mlock_kb per CPU.</summary>
    [Id(7)] public long PinnedBytes { get; init; }
    /// <summary>Bytes of BPF maps charged to RLIMIT_MEMLOCK (kernels before 5.11; 0 after: memcg).</summary>
    [Id(8)] public long MapChargeBytes { get; init; }
    /// <summary>"rlimit" (before 5.11: maps count against RLIMIT_MEMLOCK) or "memcg".</summary>
    [Id(9)] public string Accounting { get; init; } = "";
    /// <summary>Bytes of data pages alone per host (perf rings' ring_pages, ringbufs' max_entries).</summary>
    [Id(10)] public long DataBytesPerHost { get; init; }
}

/// <summary>The fleet's ring memory plan (report.json's ring_memory).</summary>
[GenerateSerializer, Immutable]
public sealed record RingMemoryPlan
{
    [Id(0)] public ImmutableArray<GroupMemory> Groups { get; init; } = [];
    [Id(1)] public long FleetBytes { get; init; }

    /// <summary>The line bpfsim run prints before the run.</summary>
    public string Summary() =>
        "ring memory: " + string.Join("; ", Groups.Select(g =>
            $"group '{g.Group}': {g.Rings} rings, {RingMemory.Bytes(g.DataBytesPerHost)} of data, {RingMemory.Bytes(g.BytesPerHost)} with metadata pages per host ({RingMemory.Bytes(g.PageSize)} pages, kernel {g.Kernel}), " +
            $"{RingMemory.Bytes(g.BytesPerHost * g.Hosts)} for {g.Hosts} hosts")) +
        $"; fleet {RingMemory.Bytes(FleetBytes)}";
}

/// <summary>
/// What a host's rings cost in memory and how the kernel accounts it, per kernel version:
/// <list type="bullet">
/// <item>perf_mmap (every version): a ring of N data pages maps 1 + N pages. The pages are charged to
/// the user's locked_vm up to an allowance of perf_event_mlock_kb (default 512 KiB + one page) per
/// online CPU; what goes beyond is charged to the process's pinned_vm, and when pinned_vm would pass
/// RLIMIT_MEMLOCK the mmap fails with EPERM unless the process has CAP_IPC_LOCK (or
/// perf_event_paranoid is -1, not modelled).</item>
/// <item>BPF_MAP_CREATE before 5.11: the map's pages are charged to the user's locked_vm (the same
/// counter perf's allowance reads) and creation fails with EPERM past RLIMIT_MEMLOCK, whatever the
/// capabilities (why tools raised the limit to infinity). From 5.11 map memory is charged to the
/// memory cgroup instead and RLIMIT_MEMLOCK is not consulted (libbpf 1.0 stopped raising it there).</item>
/// <item>RLIMIT_MEMLOCK's default (MLOCK_LIMIT): 64 KiB before 5.16, 8 MiB from 5.16.</item>
/// </list>
/// Map charge sizes (approximations of the kernels' cost formulas, stated in the docs): a
/// perf_event_array charges its header (320 bytes) plus 8 bytes per entry, rounded up to pages; a
/// ringbuf its data plus 2 pages (consumer and producer positions).
/// </summary>
public static class RingMemory
{
    public const string ModelKernel = "6.18";
    public static readonly int[] PageSizes = [4096, 16384, 65536];
    private const long ArrayHeaderBytes = 320;

    /// <summary>A refused setup: where (an event's ring_pages or a map) and the message.</summary>
    public sealed record Refusal(string Group, string? Event, string? Map, string Message);

    public static (int Major, int Minor) ParseKernel(string? kernel)
    {
        string k = kernel ?? ModelKernel;
        int dot = k.IndexOf('.');
        return (int.Parse(k[..dot], CultureInfo.InvariantCulture), int.Parse(k[(dot + 1)..], CultureInfo.InvariantCulture));
    }

    /// <summary>Before 5.11 BPF maps count against RLIMIT_MEMLOCK.</summary>
    public static bool MapsUseRlimit(string? kernel) => ParseKernel(kernel) is var (a, b) && (a < 5 || (a == 5 && b < 11));

    /// <summary>MLOCK_LIMIT: 64 KiB before 5.16, 8 MiB from it.</summary>
    public static long DefaultMemlock(string? kernel) => ParseKernel(kernel) is var (a, b) && (a < 5 || (a == 5 && b < 16)) ? 64L << 10 : 8L << 20;

    public static long EffectiveMemlock(HostGroup g) => g.Memlock ?? DefaultMemlock(g.Kernel);

    /// <summary>perf_event_mlock_kb's default: 512 KiB plus one page, in bytes.</summary>
    public static long PerfMlockAllowance(int pageSize) => (512L << 10) + pageSize;

    public static RingMemoryPlan Plan(Scenario s)
    {
        var groups = ImmutableArray.CreateBuilder<GroupMemory>();
        long fleet = 0;
        foreach (var g in s.Fleet)
        {
            var m = Account(s, g, out _);
            groups.Add(m);
            fleet += m.BytesPerHost * g.Hosts;
        }
        return new RingMemoryPlan { Groups = groups.ToImmutable(), FleetBytes = fleet };
    }

    /// <summary>The first setup step the kernel refuses on a host of the group, or null.</summary>
    public static Refusal? FirstRefusal(Scenario s, HostGroup g)
    {
        Account(s, g, out var refusal);
        return refusal;
    }

    /// <summary>Creates the maps, then mmaps every ring in event order and CPU (task) order, as an agent does.</summary>
    private static GroupMemory Account(Scenario s, HostGroup g, out Refusal? refusal)
    {
        refusal = null;
        long page = g.EffectivePageSize;
        long limitPages = EffectiveMemlock(g) == long.MaxValue ? long.MaxValue : EffectiveMemlock(g) / page;
        bool rlimitMaps = MapsUseRlimit(g.Kernel);
        bool cap = g.CapIpcLock ?? true;
        long lockedVm = 0, pinned = 0, mapCharge = 0, bytes = 0, data = 0, rings = 0;
        foreach (var m in s.Maps)
        {
            long mapPages = m.Type == MapType.Ringbuf
                ? (long)m.MaxEntriesFor(g.Cpus) / page + 2
                : (ArrayHeaderBytes + 8L * m.MaxEntriesFor(g.Cpus) + page - 1) / page;
            if (m.Type == MapType.Ringbuf)
            {
                bytes += (m.MaxEntriesFor(g.Cpus) / page + 2) * page;
                data += m.MaxEntriesFor(g.Cpus);
                rings++;
            }
            if (!rlimitMaps) continue;
            if (refusal is null && lockedVm + mapPages > limitPages)
                refusal = new Refusal(g.Group, null, m.Name,
                    $"BPF_MAP_CREATE fails with -EPERM (-1) on group '{g.Group}' (kernel {g.Kernel ?? ModelKernel}): the maps need {Bytes((lockedVm + mapPages) * page)} " +
                    $"of locked memory and RLIMIT_MEMLOCK is {Bytes(EffectiveMemlock(g))} (before 5.11 map memory counts against it; raise memlock, e.g. memlock: unlimited, as libbpf and bcc do)");
            lockedVm += mapPages;
            mapCharge += mapPages;
        }
        long allowance = PerfMlockAllowance(g.EffectivePageSize) / page * g.Cpus;
        foreach (var e in s.Events)
        {
            if (e.RingPages is not int pages) continue;
            long instances = e.Per == EventScope.Cpu ? g.Cpus : g.Tasks.Where(t => e.Comm is null || t.Comm == e.Comm).Sum(t => (long)t.Count);
            for (long i = 0; i < instances; i++)
            {
                long extraPages = pages + 1L;
                long userLocked = Math.Min(lockedVm, allowance) + extraPages;
                long extra = Math.Max(0, userLocked - allowance);
                if (refusal is null && !cap && pinned + extra > limitPages)
                    refusal = new Refusal(g.Group, e.Name, null,
                        $"mmap of ring {i} of {instances} ({pages} + 1 pages of {Bytes(page)}) fails with -EPERM (-1) on group '{g.Group}': the rings need " +
                        $"{Bytes((pinned + extra) * page)} of locked memory beyond perf_event_mlock_kb ({Bytes(PerfMlockAllowance(g.EffectivePageSize))} per CPU) " +
                        $"and RLIMIT_MEMLOCK is {Bytes(EffectiveMemlock(g))} without CAP_IPC_LOCK");
                lockedVm += extraPages - extra;
                pinned += extra;
                bytes += extraPages * page;
                data += pages * page;
                rings++;
            }
        }
        return new GroupMemory
        {
            Group = g.Group, Hosts = g.Hosts, PageSize = g.EffectivePageSize, Kernel = g.Kernel ?? ModelKernel, Rings = rings, BytesPerHost = bytes, DataBytesPerHost = data,
            Memlock = EffectiveMemlock(g), PinnedBytes = pinned * page, MapChargeBytes = mapCharge * page, Accounting = rlimitMaps ? "rlimit" : "memcg",
        };
    }

    /// <summary>A byte count as the largest binary unit that divides it, else two decimals (1.50 GiB); "unlimited" for long.MaxValue.</summary>
    public static string Bytes(long b)
    {
        if (b == long.MaxValue) return "unlimited";
        string[] units = ["GiB", "MiB", "KiB"];
        for (int i = 0; i < units.Length; i++)
        {
            long u = 1L << (10 * (3 - i));
            if (b >= u && b % u == 0) return (b / u).ToString(CultureInfo.InvariantCulture) + " " + units[i];
        }
        for (int i = 0; i < units.Length; i++)
        {
            long u = 1L << (10 * (3 - i));
            if (b >= u) return (b / (double)u).ToString("0.00", CultureInfo.InvariantCulture) + " " + units[i];
        }
        return b.ToString(CultureInfo.InvariantCulture) + " bytes";
    }
}

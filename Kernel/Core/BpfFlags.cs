namespace BpfTraceSim.Kernel;

/// <summary>Flag constants of the BPF uapi (include/uapi/linux/bpf.h) the tracing helpers use.</summary>
public static class BpfFlags
{
    public const ulong BPF_F_INDEX_MASK = 0xffffffffUL;
    public const ulong BPF_F_CURRENT_CPU = BPF_F_INDEX_MASK;
    public const ulong BPF_F_CTXLEN_MASK = 0xfffffUL << 32;

    public const ulong BTF_F_COMPACT = 1;
    public const ulong BTF_F_NONAME = 2;
    public const ulong BTF_F_PTR_RAW = 4;
    public const ulong BTF_F_ZERO = 8;

    public const int MAX_TRACE_PRINTK_VARARGS = 3;
    public const int MAX_BPRINTF_VARARGS = 12;
    public const int MAX_BPRINTF_BUF = 1024;
    public const int MAX_BPRINTF_BIN_ARGS = 512;
    public const int MAX_BPRINTF_NEST_LEVEL = 3;
    public const int PAGE_SIZE = 4096;

    // BPF ring buffer (include/uapi/linux/bpf.h): wake-up flags of output/submit/discard, the
    // bpf_ringbuf_query selectors, the record header's bits and size, and the create flag it accepts.
    public const ulong BPF_RB_NO_WAKEUP = 1;
    public const ulong BPF_RB_FORCE_WAKEUP = 2;
    public const ulong BPF_RB_AVAIL_DATA = 0;
    public const ulong BPF_RB_RING_SIZE = 1;
    public const ulong BPF_RB_CONS_POS = 2;
    public const ulong BPF_RB_PROD_POS = 3;
    public const uint BPF_RINGBUF_BUSY_BIT = 1u << 31;
    public const uint BPF_RINGBUF_DISCARD_BIT = 1u << 30;
    public const int BPF_RINGBUF_HDR_SZ = 8;
    public const uint BPF_F_NUMA_NODE = 1u << 2;
    /// <summary>map_flags of a perf event array: its slots outlive the user's map fd (perf_event_fd_array_release).</summary>
    public const uint BPF_F_PRESERVE_ELEMS = 1u << 11;
    /// <summary>bpf_get_stackid / bpf_get_stack flags: frames to skip (the low byte), which stack, how to bucket.</summary>
    public const ulong BPF_F_SKIP_FIELD_MASK = 0xff;
    public const ulong BPF_F_USER_STACK = 1UL << 8;
    public const ulong BPF_F_FAST_STACK_CMP = 1UL << 9;
    public const ulong BPF_F_REUSE_STACKID = 1UL << 10;
    public const ulong BPF_F_USER_BUILD_ID = 1UL << 11;
    /// <summary>map_flags of BPF_MAP_CREATE: user space may only read / only write the map; a stack map of build ids.</summary>
    public const uint BPF_F_RDONLY = 1u << 3;
    public const uint BPF_F_WRONLY = 1u << 4;
    public const uint BPF_F_STACK_BUILD_ID = 1u << 5;
    /// <summary>map_flags of BPF_MAP_CREATE: programs may only read / only write the map (a prog array takes neither).</summary>
    public const uint BPF_F_RDONLY_PROG = 1u << 7;
    public const uint BPF_F_WRONLY_PROG = 1u << 8;

    private static readonly Dictionary<string, ulong> Names = new(StringComparer.Ordinal)
    {
        ["BPF_F_INDEX_MASK"] = BPF_F_INDEX_MASK,
        ["BPF_F_CURRENT_CPU"] = BPF_F_CURRENT_CPU,
        ["BPF_F_CTXLEN_MASK"] = BPF_F_CTXLEN_MASK,
        ["BTF_F_COMPACT"] = BTF_F_COMPACT,
        ["BTF_F_NONAME"] = BTF_F_NONAME,
        ["BTF_F_PTR_RAW"] = BTF_F_PTR_RAW,
        ["BTF_F_ZERO"] = BTF_F_ZERO,
        ["BPF_RB_NO_WAKEUP"] = BPF_RB_NO_WAKEUP,
        ["BPF_RB_FORCE_WAKEUP"] = BPF_RB_FORCE_WAKEUP,
        ["BPF_RB_AVAIL_DATA"] = BPF_RB_AVAIL_DATA,
        ["BPF_RB_RING_SIZE"] = BPF_RB_RING_SIZE,
        ["BPF_RB_CONS_POS"] = BPF_RB_CONS_POS,
        ["BPF_RB_PROD_POS"] = BPF_RB_PROD_POS,
        ["BPF_F_PRESERVE_ELEMS"] = BPF_F_PRESERVE_ELEMS,
        ["BPF_F_USER_STACK"] = BPF_F_USER_STACK,
        ["BPF_F_FAST_STACK_CMP"] = BPF_F_FAST_STACK_CMP,
        ["BPF_F_REUSE_STACKID"] = BPF_F_REUSE_STACKID,
        ["BPF_F_USER_BUILD_ID"] = BPF_F_USER_BUILD_ID,
        ["BPF_F_STACK_BUILD_ID"] = BPF_F_STACK_BUILD_ID,
    };

    /// <summary>Looks up a flag by its uapi name; used by document parsers ("BPF_F_CURRENT_CPU|...").</summary>
    public static bool TryLookup(string name, out ulong value) => Names.TryGetValue(name, out value);
}

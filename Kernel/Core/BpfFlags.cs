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

    private static readonly Dictionary<string, ulong> Names = new(StringComparer.Ordinal)
    {
        ["BPF_F_INDEX_MASK"] = BPF_F_INDEX_MASK,
        ["BPF_F_CURRENT_CPU"] = BPF_F_CURRENT_CPU,
        ["BPF_F_CTXLEN_MASK"] = BPF_F_CTXLEN_MASK,
        ["BTF_F_COMPACT"] = BTF_F_COMPACT,
        ["BTF_F_NONAME"] = BTF_F_NONAME,
        ["BTF_F_PTR_RAW"] = BTF_F_PTR_RAW,
        ["BTF_F_ZERO"] = BTF_F_ZERO,
    };

    /// <summary>Looks up a flag by its uapi name; used by document parsers ("BPF_F_CURRENT_CPU|...").</summary>
    public static bool TryLookup(string name, out ulong value) => Names.TryGetValue(name, out value);
}

using System.Text;

namespace BpfTraceSim.Kernel.Printk;

/// <summary>
/// The simulated /proc/kallsyms text symbols (kernel/kallsyms.c lookups as %ps/%pS/%pB use them).
/// Functions are laid out back to back from <see cref="TextBase"/>; each is preceded by a 16-byte
/// <c>__pfx_&lt;name&gt;</c> symbol (the padding the compiler emits for call-depth tracking), so a
/// function's start minus one resolves into its prefix. Addresses are deterministic: they depend
/// only on the order and sizes of the symbols.
/// </summary>
public sealed class Kallsyms
{
    public const ulong TextBase = 0xffff_ffff_8100_0000UL;
    public const ulong PrefixSize = 16;

    /// <summary>Default kernel functions and sizes (bpf_trace_printk 0x100 as docs/exec.md fixes it; the rest chosen).</summary>
    public static readonly IReadOnlyList<(string Name, ulong Size)> DefaultFunctions = new (string, ulong)[]
    {
        ("bpf_trace_printk", 0x100),
        ("bpf_trace_vprintk", 0x120),
        ("bpf_snprintf", 0xe0),
        ("bpf_seq_printf", 0x110),
        ("bpf_seq_write", 0x40),
        ("bpf_perf_event_output", 0x1c0),
        ("bpf_perf_event_read", 0x90),
        ("bpf_perf_event_read_value", 0xb0),
        ("bpf_bprintf_prepare", 0x4a0),
        ("bstr_printf", 0x5c0),
        ("vsnprintf", 0x4e0),
        ("schedule", 0xa0),
        ("__schedule", 0x9f0),
        ("finish_task_switch", 0x290),
        ("try_to_wake_up", 0x5d0),
        ("do_nanosleep", 0x150),
        ("hrtimer_nanosleep", 0xe0),
        ("do_sys_openat2", 0x170),
        ("__x64_sys_openat", 0x60),
        ("ksys_read", 0xe0),
        ("ksys_write", 0xe0),
        ("vfs_read", 0x1e0),
        ("vfs_write", 0x260),
        ("__x64_sys_read", 0x20),
        ("__x64_sys_write", 0x20),
        ("tcp_sendmsg", 0x50),
        ("tcp_v4_connect", 0x5a0),
        ("kernel_clone", 0x3d0),
        ("do_exit", 0xaf0),
        ("__x64_sys_execve", 0x40),
    };

    /// <summary>
    /// Per-CPU variables (kallsyms type 'D' in the percpu section): their addresses are offsets from
    /// each CPU's per-CPU base, as /proc/kallsyms lists them (chosen, x86_64-like). A typed __ksym
    /// of one is a BTF id whose address the verifier takes from here.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, ulong> PerCpuData = new Dictionary<string, ulong>(StringComparer.Ordinal)
    {
        ["bpf_prog_active"] = 0x1f5d0,
        ["runqueues"] = 0x32b40,
    };

    private readonly bool _perCpu; // the default per-CPU variables come with the default functions
    private readonly List<Sym> _funcs = new(); // in layout order
    private readonly Dictionary<string, int> _index = new(StringComparer.Ordinal);
    private ulong[] _starts = Array.Empty<ulong>(); // prefix start of each function, ascending
    private byte[][] _names = Array.Empty<byte[]>();
    private byte[][] _pfxNames = Array.Empty<byte[]>();

    private sealed class Sym
    {
        public required string Name;
        public ulong Size;
    }

    /// <summary>A table holding <see cref="DefaultFunctions"/>.</summary>
    public Kallsyms() : this(true) { }

    public Kallsyms(bool withDefaults)
    {
        _perCpu = withDefaults;
        if (withDefaults)
        {
            foreach (var (name, size) in DefaultFunctions)
                _funcs.Add(new Sym { Name = name, Size = size });
        }
        Relayout();
    }

    public int Count => _funcs.Count;

    /// <summary>Adds a function at the end of the text, or resizes it (functions after it move).</summary>
    public ulong AddOrResize(string name, ulong size)
    {
        if (size == 0) throw new ArgumentOutOfRangeException(nameof(size), "a function has a size");
        if (_index.TryGetValue(name, out int i)) _funcs[i].Size = size;
        else _funcs.Add(new Sym { Name = name, Size = size });
        Relayout();
        return AddressOf(name);
    }

    /// <summary>The function's start address (after its __pfx_ symbol).</summary>
    public ulong AddressOf(string name)
    {
        if (!TryGetAddress(name, out ulong a)) throw new KeyNotFoundException($"no symbol {name}");
        return a;
    }

    public bool TryGetAddress(string name, out ulong address)
    {
        address = 0;
        if (name.StartsWith("__pfx_", StringComparison.Ordinal) && _index.TryGetValue(name[6..], out int p))
        {
            address = _starts[p];
            return true;
        }
        if (_index.TryGetValue(name, out int i))
        {
            address = _starts[i] + PrefixSize;
            return true;
        }
        return _perCpu && PerCpuData.TryGetValue(name, out address);
    }

    public ulong SizeOf(string name) => _funcs[_index[name]].Size;

    private void Relayout()
    {
        int n = _funcs.Count;
        _starts = new ulong[n];
        _names = new byte[n][];
        _pfxNames = new byte[n][];
        _index.Clear();
        ulong at = TextBase;
        for (int i = 0; i < n; i++)
        {
            _starts[i] = at;
            _names[i] = Encoding.UTF8.GetBytes(_funcs[i].Name);
            _pfxNames[i] = Encoding.UTF8.GetBytes("__pfx_" + _funcs[i].Name);
            _index[_funcs[i].Name] = i;
            at += PrefixSize + _funcs[i].Size;
        }
    }

    /// <summary>
    /// kallsyms_lookup_size_offset: the symbol holding addr (name bytes, offset into it, its size).
    /// False when addr is outside the text.
    /// </summary>
    public bool TryLookup(ulong addr, out ReadOnlySpan<byte> name, out ulong offset, out ulong size)
    {
        name = default;
        offset = size = 0;
        var starts = _starts;
        int lo = 0, hi = starts.Length - 1, found = -1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >> 1;
            if (starts[mid] <= addr) { found = mid; lo = mid + 1; }
            else hi = mid - 1;
        }
        if (found < 0) return false;
        ulong off = addr - starts[found];
        ulong fsize = _funcs[found].Size;
        if (off < PrefixSize)
        {
            name = _pfxNames[found];
            offset = off;
            size = PrefixSize;
            return true;
        }
        off -= PrefixSize;
        if (off >= fsize) return false;
        name = _names[found];
        offset = off;
        size = fsize;
        return true;
    }
}

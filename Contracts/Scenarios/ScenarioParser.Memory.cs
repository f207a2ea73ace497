using System.Globalization;
using BpfTraceSim.Kernel;

namespace BpfTraceSim.Contracts.Scenarios;

// The hosts' memory fields (page_size, kernel, memlock, cap_ipc_lock) and the locked-memory checks
// the kernel makes at map creation and perf mmap (RingMemory has the accounting; docs/scenarios.md,
// configuration checks).
public static partial class ScenarioParser
{
    private sealed partial class Reader
    {
        private readonly Dictionary<string, (YNode Node, string Path)> _ringPagesNodes = new(StringComparer.Ordinal);
        private readonly Dictionary<string, (YNode Node, string Path)> _mapNodes = new(StringComparer.Ordinal);

        private HostGroup HostMemoryFields(Fields f, HostGroup g)
        {
            int? pageSize = null;
            if (f["page_size"] is { } ps)
            {
                string text = Scalar(ps, f.P("page_size"), "a page size");
                if (!ScenarioUnits.TryParseBytes(text, out long b) || Array.IndexOf(RingMemory.PageSizes, (int)Math.Min(b, int.MaxValue)) < 0)
                    throw Fail(ps, f.P("page_size"), $"'{text}' is not a page size Linux runs with: 4KiB (x86_64, arm64), 16KiB or 64KiB (arm64, ppc64)");
                pageSize = (int)b;
            }
            string? kernel = null;
            if (f["kernel"] is { } kn)
            {
                string text = Scalar(kn, f.P("kernel"), "a kernel version");
                int dot = text.IndexOf('.');
                if (dot <= 0 || !int.TryParse(text[..dot], NumberStyles.None, CultureInfo.InvariantCulture, out int major) ||
                    !int.TryParse(text[(dot + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out int minor) || major < 4 || major > 7 || minor > 99)
                    throw Fail(kn, f.P("kernel"), $"expected a kernel version MAJOR.MINOR from 4.0 to 7.99 (e.g. 5.10, quoted or not), found '{text}'");
                kernel = $"{major}.{minor}";
            }
            long? memlock = null;
            if (f["memlock"] is { } ml)
            {
                string text = Scalar(ml, f.P("memlock"), "a size or unlimited");
                if (text == "unlimited") memlock = long.MaxValue;
                else if (ScenarioUnits.TryParseBytes(text, out long b)) memlock = b;
                else throw Fail(ml, f.P("memlock"), $"expected a size in bytes (65536, 64KiB, 8MiB) or unlimited, found '{text}'");
            }
            bool? cap = f["cap_ipc_lock"] is { } cl ? Bool(cl, f.P("cap_ipc_lock")) : null;
            return g with { PageSize = pageSize, Kernel = kernel, Memlock = memlock, CapIpcLock = cap };
        }

        /// <summary>
        /// What the kernel refuses before anything runs: a ringbuf not a multiple of the hosts' page
        /// size (BPF_MAP_CREATE: EINVAL), and locked memory past RLIMIT_MEMLOCK at map creation
        /// (before 5.11) or at a ring's perf mmap (without CAP_IPC_LOCK): EPERM.
        /// </summary>
        private void CheckLockedMemory(Scenario s)
        {
            foreach (var g in s.Fleet)
            {
                foreach (var m in s.Maps)
                {
                    if (m.Type != MapType.Ringbuf || m.MaxEntriesFor(g.Cpus) % g.EffectivePageSize == 0) continue;
                    var at = _mapNodes[m.Name];
                    throw Fail(at.Node, at.Path + ".max_entries", $"BPF_MAP_CREATE refuses a ringbuf of {m.MaxEntriesFor(g.Cpus)} bytes with -EINVAL ({-Errno.EINVAL}) " +
                        $"on group '{g.Group}': max_entries must be a multiple of its page size ({g.EffectivePageSize})");
                }
                if (RingMemory.FirstRefusal(s, g) is not { } r) continue;
                var where = r.Event is not null ? _ringPagesNodes[r.Event] : (_mapNodes[r.Map!].Node, _mapNodes[r.Map!].Path);
                throw Fail(where.Node, where.Path, r.Message);
            }
        }
    }
}

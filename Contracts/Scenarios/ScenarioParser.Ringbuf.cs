using System.Globalization;
using BpfTraceSim.Kernel;
using BpfTraceSim.Kernel.Ringbuf;

namespace BpfTraceSim.Contracts.Scenarios;

// The ring buffer part of a scenario (docs/scenarios.md, "Ring buffers"): ringbuf maps, the
// ringbuf_output body step and ring_buffer__poll consumers.
public static partial class ScenarioParser
{
    private sealed partial class Reader
    {
        /// <summary>The largest ring a scenario host simulates (its data is held twice, as the kernel maps it).</summary>
        private const long MaxScenarioRingbuf = SimLimits.MaxScenarioRingbufBytes;

        // max_entries of a ringbuf: bytes, or with a KiB / MiB / GiB suffix; the kernel's creation rules apply.
        private MapSpec RingbufMap(string name, YNode node, Fields f)
        {
            var me = f["max_entries"] ?? throw Fail(node, f.P("max_entries"), "a ringbuf needs max_entries: its size in bytes (a power of 2, a multiple of 4096), e.g. 256KiB");
            if (!ScenarioUnits.TryParseBytes(Scalar(me, f.P("max_entries"), "a size"), out long bytes))
                throw Fail(me, f.P("max_entries"), $"expected a size in bytes (e.g. 262144 or 256KiB), found '{Scalar(me, f.P("max_entries"), "a size")}'");
            int err = BpfRingbuf.CheckCreate((ulong)bytes);
            if (err != 0)
                throw Fail(me, f.P("max_entries"), $"BPF_MAP_CREATE refuses a ringbuf of {bytes} bytes with -{Errno.Name(err)} ({err}): " +
                    $"max_entries must be a power of 2 and a multiple of the page size ({BpfFlags.PAGE_SIZE})");
            if (bytes > MaxScenarioRingbuf)
                throw Fail(me, f.P("max_entries"), $"{bytes} bytes is a valid ring, but a scenario host holds rings of at most {MaxScenarioRingbuf >> 20} MiB");
            long lockCost = f["lock_cost"] is { } lc ? Duration(lc, f.P("lock_cost")) : MapSpec.DefaultLockCostNs;
            long handoff = f["lock_handoff"] is { } lh ? Duration(lh, f.P("lock_handoff")) : MapSpec.DefaultLockHandoffNs;
            foreach (var (key, v) in new[] { ("lock_cost", lockCost), ("lock_handoff", handoff) })
                if (v > 1_000_000)
                    throw Fail(f[key]!, f.P(key), $"{ScenarioUnits.FormatDuration(v)} is longer than 1ms: a spinlock is held for ns, not ms");
            return new MapSpec { Name = name, Type = MapType.Ringbuf, MaxEntries = (int)bytes, LockCostNs = lockCost, LockHandoffNs = handoff };
        }

        private string PerfMapName(YNode node, string path)
        {
            string map = DefinedName(node, path, _maps, "map", "maps");
            if (_maps[map].Type == MapType.Ringbuf)
                throw Fail(node, path, $"map '{map}' is a ringbuf: a perf helper needs a perf_event_array (use ringbuf_output for a ringbuf)");
            return map;
        }

        private string RingbufName(YNode node, string path)
        {
            string map = DefinedName(node, path, _maps, "map", "maps");
            if (_maps[map].Type != MapType.Ringbuf)
                throw Fail(node, path, $"map '{map}' is a {_maps[map].Type switch { MapType.PerfEventArray => "perf_event_array", var t => t.ToString() }}, not a ringbuf");
            return map;
        }

        private HelperCall RingbufOutput(YNode node, string path)
        {
            var f = new Fields(this, node, path, "ringbuf_output's fields", "map", "flags", "size");
            string map = RingbufName(f.Req("map"), f.P("map"));
            ulong flags = f["flags"] is { } fl ? RbFlags(fl, f.P("flags")) : 0;
            return new RingbufOutputCall { Map = map, Flags = flags, Size = OutputSize(f) };
        }

        // A ring buffer helper's flags: a number or BpfFlags' BPF_RB_* names, combined with |.
        private ulong RbFlags(YNode node, string path)
        {
            string text = Scalar(node, path, "flags");
            ulong v = 0;
            foreach (string part in text.Split('|'))
            {
                string p = part.Trim();
                if (TryInteger(p, out ulong f) || (p is "BPF_RB_NO_WAKEUP" or "BPF_RB_FORCE_WAKEUP" && BpfFlags.TryLookup(p, out f)))
                {
                    v |= f;
                    continue;
                }
                throw Fail(node, path, $"unknown flag '{p}'; expected a number or BPF_RB_NO_WAKEUP, BPF_RB_FORCE_WAKEUP, combined with |");
            }
            return v;
        }

        // bpf_ringbuf_reserve: the reservation is held until a later ringbuf_submit / ringbuf_discard.
        private HelperCall RingbufReserve(YNode node, string path, Stack<(YNode, string)> held)
        {
            var f = new Fields(this, node, path, "ringbuf_reserve's fields", "map", "flags", "size");
            string map = RingbufName(f.Req("map"), f.P("map"));
            ulong flags = f["flags"] is { } fl ? RbFlags(fl, f.P("flags")) : 0;
            var call = new RingbufReserveCall { Map = map, Flags = flags, Size = OutputSize(f) };
            held.Push((node, path));
            return call;
        }

        // bpf_ringbuf_submit / bpf_ringbuf_discard of the latest reservation still held (the verifier's
        // rule: a release needs a held reference, and every reference is released before the exit).
        private HelperCall RingbufRelease(YScalar key, YNode node, string path, Stack<(YNode, string)> held)
        {
            var f = new Fields(this, node, path, key.Value + "'s fields", "flags");
            ulong flags = f["flags"] is { } fl ? RbFlags(fl, f.P("flags")) : 0;
            if (held.Count == 0)
                throw Fail(key, path, $"{key.Value} releases the body's latest ringbuf_reserve, and no reservation is held here (the verifier refuses a release without a reference)");
            held.Pop();
            return key.Value == "ringbuf_submit" ? new RingbufSubmitCall { Flags = flags } : new RingbufDiscardCall { Flags = flags };
        }

        private Exception UnreleasedReservation(YNode node, string path) =>
            Fail(node, path, "this ringbuf_reserve is never released: follow it with ringbuf_submit or ringbuf_discard in the same body (the verifier refuses a program that exits holding a reservation: \"Unreleased reference\")");

        // A ring buffer reader: libbpf's ring_buffer__poll on the map (epoll), one per host.
        private ConsumerSpec RingbufConsumer(string name, YNode node, Fields f, YNode rbNode)
        {
            if (f["events"] is { } ev)
                throw Fail(ev, f.P("events"), "give events (a perf_buffer reader) or ringbuf (a ring_buffer reader), not both");
            if (f["tail_update"] is { } tu)
                throw Fail(tu, f.P("tail_update"), "a ring_buffer reader moves consumer_pos after each record (libbpf); tail_update is for perf_buffer readers");
            foreach (string k in ReaderModelKeys)
                if (f[k] is { } rm)
                    throw Fail(rm, f.P(k), $"{k} is modelled for perf_buffer readers (events) only, not yet for a ring_buffer reader");
            string map = RingbufName(rbNode, f.P("ringbuf"));
            foreach (var other in _consumers.Values)
                if (other.Ringbuf == map)
                    throw Fail(rbNode, f.P("ringbuf"), $"ringbuf '{map}' is already read by consumer '{other.Name}': one reader per ring");
            foreach (var pending in _ringbufReaders)
                if (pending == map)
                    throw Fail(rbNode, f.P("ringbuf"), $"ringbuf '{map}' is already read by another consumer: one reader per ring");
            _ringbufReaders.Add(map);
            return ReaderFields(f) with { Name = name, Ringbuf = map };
        }

        private readonly List<string> _ringbufReaders = new();
    }
}

using System.Collections.Immutable;
using System.Globalization;
using BpfTraceSim.Contracts.Scenarios;
using BpfTraceSim.Kernel;
using BpfTraceSim.Kernel.Ringbuf;

namespace BpfTraceSim.Client.Sweeps;

/// <summary>
/// The sweep's two pseudo-parameters (docs/sweeps.md, "Perf buffer or ring buffer"): <c>transport</c>
/// (<c>perf</c>: the scenario as written; <c>ringbuf</c>: every perf_event_array a body outputs to
/// becomes one BPF ring buffer per host of the same name, its perf_event_output steps
/// ringbuf_output steps, its readers ring_buffer__poll readers) and <c>memory</c> (the ring bytes
/// per host: a perf buffer's data pages on all CPUs, or the ring buffer's max_entries). They are
/// applied to the parsed scenario after the real paths.
/// </summary>
public static class SweepTransport
{
    public const string TransportPath = "transport";
    public const string MemoryPath = "memory";
    public const string Perf = "perf", Ringbuf = "ringbuf";

    public static bool IsPseudo(string path) => path is TransportPath or MemoryPath;

    /// <summary>Refuses a value the pseudo-parameter cannot take (before any point is built).</summary>
    public static void Check(string path, string value)
    {
        if (path == TransportPath && value.Trim() is not (Perf or Ringbuf))
            throw new SweepUsageException($"--vary transport: '{value}' is not a transport; expected perf or ringbuf");
        if (path == MemoryPath && !TryBytes(value, out _))
            throw new SweepUsageException($"--vary memory: '{value}' is not a size in bytes (e.g. 65536 or 64KiB)");
    }

    /// <summary>Bytes, or with a KiB / MiB / GiB suffix (the scenario's own size grammar), more than 0.</summary>
    public static bool TryBytes(string value, out long bytes) => ScenarioUnits.TryParseBytes(value, out bytes) && bytes > 0;

    /// <summary>The scenario of one point: the pseudo-parameters' values (null: not swept) applied to s.</summary>
    public static Scenario Apply(Scenario s, string? transport, string? memory)
    {
        long? bytes = memory is null ? null : TryBytes(memory, out long b) ? b : throw new SweepUsageException($"--vary memory: '{memory}' is not a size");
        if (transport?.Trim() == Ringbuf) return ToRingbuf(s, bytes);
        return bytes is long m ? PerfMemory(s, m) : s;
    }

    private static int Cpus(Scenario s)
    {
        int cpus = s.Fleet[0].Cpus;
        if (s.Fleet.Any(g => g.Cpus != cpus))
            throw new SweepUsageException("--vary transport/memory: the fleet's groups have different CPU counts; memory per host needs one");
        return cpus;
    }

    /// <summary>The perf maps bodies output to, and the events their slots place (the rings a perf buffer reads).</summary>
    private static (HashSet<string> Maps, HashSet<string> Events) PerfOutputs(Scenario s)
    {
        var maps = new HashSet<string>(StringComparer.Ordinal);
        foreach (var p in s.Programs)
        {
            if (p.Object is not null)
                throw new SweepUsageException($"--vary transport/memory: programs.{p.Name} is a BPF object; its maps cannot be switched (give two objects and sweep the file path)");
            foreach (var c in p.Body)
                if (c is PerfEventOutputCall o) maps.Add(o.Map);
        }
        if (maps.Count == 0) throw new SweepUsageException("--vary transport/memory: no body calls perf_event_output: nothing to switch");
        var events = new HashSet<string>(StringComparer.Ordinal);
        foreach (var sl in s.Slots)
        {
            if (!maps.Contains(sl.Map)) continue;
            if (sl.Event is { } e) events.Add(e);
            if (sl.Layout is ExplicitLayout x)
                foreach (var en in x.Entries)
                    if (en is not null) events.Add(en.Event);
        }
        return (maps, events);
    }

    private static Scenario PerfMemory(Scenario s, long bytes)
    {
        int cpus = Cpus(s);
        var (_, events) = PerfOutputs(s);
        long per = bytes / cpus;
        long pages = per / BpfFlags.PAGE_SIZE;
        if (per % BpfFlags.PAGE_SIZE != 0 || bytes % cpus != 0 || pages < 1 || (pages & (pages - 1)) != 0 || pages > int.MaxValue)
            throw new SweepUsageException($"--vary memory: {bytes} bytes is not {cpus} CPUs x 4096 x a power of 2 (a perf buffer's ring is 2^n pages per CPU)");
        return s with { Events = [.. s.Events.Select(e => events.Contains(e.Name) ? e with { RingPages = (int)pages } : e)] };
    }

    private static Scenario ToRingbuf(Scenario s, long? memory)
    {
        int cpus = Cpus(s);
        var (maps, events) = PerfOutputs(s);
        foreach (var p in s.Programs)
            foreach (var c in p.Body)
                if (c is PerfEventReadCall { Map: var m1 } && maps.Contains(m1) || c is PerfEventReadValueCall { Map: var m2 } && maps.Contains(m2))
                    throw new SweepUsageException($"--vary transport=ringbuf: programs.{p.Name} reads a perf event from a map it outputs to; only outputs switch");
        foreach (var a in s.Timeline)
            if (a is SlotsAction or ConsumerStallAction or EventDisableAction or EventEnableAction)
                throw new SweepUsageException($"--vary transport=ringbuf: the timeline's {a.GetType().Name.Replace("Action", "", StringComparison.Ordinal)} action acts on perf events, slots or a perf reader, which a ring buffer does not have");

        long size = memory ?? RoundUpPow2(cpus * (long)BpfFlags.PAGE_SIZE * s.Events.Where(e => events.Contains(e.Name)).Select(e => (long)(e.RingPages ?? 1)).DefaultIfEmpty(1).Max());
        if (BpfRingbuf.CheckCreate((ulong)size) != 0 || size > SimLimits.MaxScenarioRingbufBytes)
            throw new SweepUsageException($"--vary memory: {size} bytes is not a ringbuf size (a power of 2, a multiple of 4096, at most {SimLimits.MaxScenarioRingbufBytes >> 30} GiB)");

        var newMaps = s.Maps.Select(m => maps.Contains(m.Name)
            ? new MapSpec { Name = m.Name, Type = MapType.Ringbuf, MaxEntries = (int)size, LockCostNs = MapSpec.DefaultLockCostNs, LockHandoffNs = MapSpec.DefaultLockHandoffNs }
            : m);
        var programs = s.Programs.Select(p => p with
        {
            Body = [.. p.Body.Select(c => c is PerfEventOutputCall o && maps.Contains(o.Map) ? new RingbufOutputCall { Map = o.Map, Size = o.Size } : c)],
        });
        // Which map's events a perf reader read: it reads that ring instead.
        var mapOfEvent = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var sl in s.Slots)
        {
            if (!maps.Contains(sl.Map)) continue;
            if (sl.Event is { } e) mapOfEvent[e] = sl.Map;
            if (sl.Layout is ExplicitLayout x)
                foreach (var en in x.Entries)
                    if (en is not null) mapOfEvent[en.Event] = sl.Map;
        }
        var readers = new HashSet<string>(StringComparer.Ordinal);
        var consumers = ImmutableArray.CreateBuilder<ConsumerSpec>();
        foreach (var c in s.Consumers)
        {
            if (c.Ringbuf is not null || !c.Events.Any(mapOfEvent.ContainsKey))
            {
                consumers.Add(c);
                continue;
            }
            var read = c.Events.Where(mapOfEvent.ContainsKey).Select(e => mapOfEvent[e]).Distinct().ToArray();
            if (read.Length != 1 || c.Events.Any(e => !mapOfEvent.ContainsKey(e)))
                throw new SweepUsageException($"--vary transport=ringbuf: consumers.{c.Name} reads events of several maps (or events no output reaches); a ring buffer reader reads one ring");
            if (!readers.Add(read[0]))
                throw new SweepUsageException($"--vary transport=ringbuf: two consumers read map {read[0]}'s events; a ring has one reader");
            consumers.Add(new ConsumerSpec
            {
                Name = c.Name, Ringbuf = read[0], Cpu = c.Cpu, Service = c.Service,
                WakeupLatencyNs = c.WakeupLatencyNs, PollTimeoutNs = c.PollTimeoutNs,
            });
        }
        return s with
        {
            Maps = [.. newMaps],
            Slots = [.. s.Slots.Where(sl => !maps.Contains(sl.Map))],
            Events = [.. s.Events.Where(e => !events.Contains(e.Name))],
            Programs = [.. programs],
            Consumers = consumers.ToImmutable(),
        };
    }

    private static long RoundUpPow2(long v)
    {
        long p = BpfFlags.PAGE_SIZE;
        while (p < v) p <<= 1;
        return p;
    }
}

namespace BpfTraceSim.Grains.Simulation;

/// <summary>How often one helper returned one value.</summary>
/// <param name="Helper">Kernel name, e.g. <c>bpf_perf_event_output</c>.</param>
/// <param name="Ret">
/// The return value: 0 or a negative errno; printk-like helpers return lengths (positive).
/// bpf_perf_event_read's successes (a counter value, not a code) count under 0, its errors
/// under the negative errno.
/// </param>
/// <param name="Count">Calls that returned it.</param>
public readonly record struct HelperReturnCount(string Helper, long Ret, long Count);

/// <summary>
/// Counts of helper return values, sorted by helper name (ordinal) then return value descending
/// (lengths, then 0, then -1, -2, ...), which is the order reports print them in.
/// </summary>
public sealed class HelperReturns : IEquatable<HelperReturns>
{
    public static readonly HelperReturns Empty = new([]);

    private readonly HelperReturnCount[] _entries;

    private HelperReturns(HelperReturnCount[] sortedEntries) => _entries = sortedEntries;

    /// <summary>Builds from entries in any order (duplicates are added up, zero counts dropped).</summary>
    public static HelperReturns From(IEnumerable<HelperReturnCount> entries)
    {
        var list = new List<HelperReturnCount>(entries);
        list.Sort(Compare);
        var merged = new List<HelperReturnCount>(list.Count);
        foreach (var e in list)
        {
            if (e.Count == 0) continue;
            if (merged.Count > 0 && merged[^1].Helper == e.Helper && merged[^1].Ret == e.Ret)
                merged[^1] = merged[^1] with { Count = merged[^1].Count + e.Count };
            else merged.Add(e);
        }
        return merged.Count == 0 ? Empty : new HelperReturns(merged.ToArray());
    }

    private static int Compare(HelperReturnCount a, HelperReturnCount b)
    {
        int c = string.CompareOrdinal(a.Helper, b.Helper);
        return c != 0 ? c : b.Ret.CompareTo(a.Ret);
    }

    public IReadOnlyList<HelperReturnCount> Entries => _entries;

    /// <summary>Calls of helper that returned ret.</summary>
    public long Get(string helper, long ret)
    {
        foreach (var e in _entries)
            if (e.Helper == helper && e.Ret == ret) return e.Count;
        return 0;
    }

    /// <summary>All calls of helper.</summary>
    public long Calls(string helper)
    {
        long n = 0;
        foreach (var e in _entries)
            if (e.Helper == helper) n += e.Count;
        return n;
    }

    /// <summary>All helper calls.</summary>
    public long TotalCalls
    {
        get
        {
            long n = 0;
            foreach (var e in _entries) n += e.Count;
            return n;
        }
    }

    /// <summary>The helpers present, in order.</summary>
    public IEnumerable<string> Helpers
    {
        get
        {
            string? last = null;
            foreach (var e in _entries)
            {
                if (e.Helper == last) continue;
                last = e.Helper;
                yield return e.Helper;
            }
        }
    }

    /// <summary>The sum of two sets of counts.</summary>
    public HelperReturns Merge(HelperReturns other)
    {
        if (other._entries.Length == 0) return this;
        if (_entries.Length == 0) return other;
        var result = new List<HelperReturnCount>(_entries.Length + other._entries.Length);
        int i = 0, j = 0;
        while (i < _entries.Length || j < other._entries.Length)
        {
            if (j == other._entries.Length) { result.Add(_entries[i++]); continue; }
            if (i == _entries.Length) { result.Add(other._entries[j++]); continue; }
            int c = Compare(_entries[i], other._entries[j]);
            if (c < 0) result.Add(_entries[i++]);
            else if (c > 0) result.Add(other._entries[j++]);
            else
            {
                result.Add(_entries[i] with { Count = _entries[i].Count + other._entries[j].Count });
                i++;
                j++;
            }
        }
        return new HelperReturns(result.ToArray());
    }

    public bool Equals(HelperReturns? other) => other is not null && _entries.AsSpan().SequenceEqual(other._entries);

    public override bool Equals(object? obj) => Equals(obj as HelperReturns);

    public override int GetHashCode() => _entries.Length;

    public override string ToString() =>
        string.Join(", ", Array.ConvertAll(_entries, e => $"{e.Helper}[{e.Ret}]={e.Count}"));
}

/// <summary>
/// The counters of one CPU (or the sum over CPUs/hosts) over one window (or several).
/// Combine two disjoint sets of CPUs with <see cref="Plus"/>; two consecutive periods of the
/// same CPUs with <see cref="FollowedBy"/>.
/// </summary>
public sealed record SimCounters
{
    public static readonly SimCounters Zero = new();

    /// <summary>Program firings (body runs).</summary>
    public long Firings { get; init; }
    /// <summary>Return values of every helper call.</summary>
    public HelperReturns Helpers { get; init; } = HelperReturns.Empty;
    /// <summary>Outputs that reached a ring with data pages (records_written + lost).</summary>
    public long Attempts { get; init; }
    /// <summary>Samples written to rings (successful outputs), counted on the writing CPU.</summary>
    public long RecordsWritten { get; init; }
    /// <summary>Bytes of those samples (header.size: headers and padding; a LOST record in front is not counted).</summary>
    public long BytesWritten { get; init; }
    /// <summary>Failed reservations in a ring with data pages (-ENOSPC, the kernel's lost counter), on the writing CPU.</summary>
    public long Lost { get; init; }
    /// <summary>Losses the reader learnt of: the sum of the counts of the PERF_RECORD_LOST records it read.</summary>
    public long LostReported { get; init; }
    /// <summary>Samples the reader took out (counted on the CPU that wrote them).</summary>
    public long RecordsConsumed { get; init; }
    /// <summary>Samples in the rings at the end of the period, not yet consumed (written on this CPU).</summary>
    public long RecordsInRing { get; init; }
    /// <summary>Samples an overwrite-mode ring overwrote before anyone read them.</summary>
    public long RecordsOverwritten { get; init; }
    /// <summary>Samples whose u16 size wrapped to 0: written (the helper returned 0) but never visible.</summary>
    public long RecordsInvisible { get; init; }
    /// <summary>The fullest (bytes unread) any of the CPU's rings got during the period.</summary>
    public long RingFillMaxBytes { get; init; }
    /// <summary>Wake-ups the CPU's rings raised (wakeup_events / watermark).</summary>
    public long Wakeups { get; init; }
    /// <summary>Time from a sample's write to the end of its service by the reader (ns).</summary>
    public LagHistogram ConsumerLag { get; init; } = LagHistogram.Empty;

    /// <summary>lost / (records_written + lost); 0 when nothing was attempted.</summary>
    public double LostRatio => RecordsWritten + Lost == 0 ? 0 : (double)Lost / (RecordsWritten + Lost);

    /// <summary>99th percentile of the consumer lag (ns), 0 without consumed samples.</summary>
    public long ConsumerLagP99Ns => ConsumerLag.Percentile(99);

    /// <summary>The counters of two disjoint sets of CPUs over the same period.</summary>
    public SimCounters Plus(SimCounters o) => new()
    {
        Firings = Firings + o.Firings,
        Helpers = Helpers.Merge(o.Helpers),
        Attempts = Attempts + o.Attempts,
        RecordsWritten = RecordsWritten + o.RecordsWritten,
        BytesWritten = BytesWritten + o.BytesWritten,
        Lost = Lost + o.Lost,
        LostReported = LostReported + o.LostReported,
        RecordsConsumed = RecordsConsumed + o.RecordsConsumed,
        RecordsInRing = RecordsInRing + o.RecordsInRing,
        RecordsOverwritten = RecordsOverwritten + o.RecordsOverwritten,
        RecordsInvisible = RecordsInvisible + o.RecordsInvisible,
        RingFillMaxBytes = Math.Max(RingFillMaxBytes, o.RingFillMaxBytes),
        Wakeups = Wakeups + o.Wakeups,
        ConsumerLag = ConsumerLag.Merge(o.ConsumerLag),
    };

    /// <summary>The counters of the same CPUs over this period and then the next one (in-ring is the later value).</summary>
    public SimCounters FollowedBy(SimCounters later) => Plus(later) with { RecordsInRing = later.RecordsInRing };
}

/// <summary>One CPU's counters over one window.</summary>
public sealed record CpuWindowStats(int Cpu, SimCounters Counters);

/// <summary>A sample (or LOST record) as the reader found it; only with captureRecords.</summary>
/// <param name="Host">Host name.</param>
/// <param name="Cpu">The CPU that wrote it.</param>
/// <param name="Event">The event whose ring held it.</param>
/// <param name="WriteNs">When it was written.</param>
/// <param name="ConsumeNs">When the reader finished with it.</param>
/// <param name="Size">Bytes it occupied in the ring (header.size as the producer wrote it).</param>
/// <param name="Lost">For a PERF_RECORD_LOST: the count it carries (else 0).</param>
/// <param name="Hex">The record's bytes as the reader read them (header included), lower-case hex.</param>
public sealed record CapturedRecord(string Host, int Cpu, string Event, long WriteNs, long ConsumeNs, int Size,
    bool IsLost, long Lost, string Hex);

/// <summary>What one host did during one window.</summary>
public sealed record WindowStats
{
    public required string Host { get; init; }
    public int GroupIndex { get; init; }
    public int HostIndex { get; init; }
    public long WindowIndex { get; init; }
    public long StartNs { get; init; }
    public long EndNs { get; init; }
    /// <summary>One entry per CPU of the host, in CPU order.</summary>
    public required IReadOnlyList<CpuWindowStats> Cpus { get; init; }
    /// <summary>The sum over the host's CPUs.</summary>
    public required SimCounters Totals { get; init; }
    /// <summary>Records the readers consumed in this window, in consumption order (captureRecords only).</summary>
    public IReadOnlyList<CapturedRecord> Records { get; init; } = [];
    /// <summary>trace_pipe lines written in this window, oldest first (captureTrace only).</summary>
    public IReadOnlyList<string> TraceLines { get; init; } = [];

    public bool Equals(WindowStats? o) =>
        o is not null && Host == o.Host && GroupIndex == o.GroupIndex && HostIndex == o.HostIndex &&
        WindowIndex == o.WindowIndex && StartNs == o.StartNs && EndNs == o.EndNs && Totals.Equals(o.Totals) &&
        Cpus.SequenceEqual(o.Cpus) && Records.SequenceEqual(o.Records) && TraceLines.SequenceEqual(o.TraceLines);

    public override int GetHashCode() => HashCode.Combine(Host, WindowIndex, Totals.Firings);
}

/// <summary>The accounting of one ring (one event instance) since the start of the run.</summary>
/// <param name="Event">Event name.</param>
/// <param name="Instance">The CPU of a per-CPU instance, the pid of a per-task one.</param>
/// <param name="Attempts">Outputs that reached the ring (written + lost).</param>
/// <param name="Written">Samples written (helper returned 0).</param>
/// <param name="Lost">Failed reservations, from the engine's own count.</param>
/// <param name="KernelLost">The ring's lost counter (PerfRing.LostTotal): must equal Lost.</param>
/// <param name="Consumed">Samples the reader took out.</param>
/// <param name="InRing">Samples written and not yet consumed (still in the ring).</param>
/// <param name="Overwritten">Samples overwritten in overwrite mode.</param>
/// <param name="Invisible">Samples whose u16 size wrapped to 0.</param>
public sealed record RingConservation(string Event, int Instance, long Attempts, long Written, long Lost, long KernelLost,
    long Consumed, long InRing, long Overwritten, long Invisible)
{
    /// <summary>attempts = written + lost, kernel lost = lost, written = consumed + in ring + overwritten + invisible.</summary>
    public bool Ok => Attempts == Written + Lost && KernelLost == Lost &&
                      Written == Consumed + InRing + Overwritten + Invisible;
}

/// <summary>The conservation check of every ring of a host.</summary>
public sealed record ConservationResult(string Host, IReadOnlyList<RingConservation> Rings)
{
    public bool Ok => Rings.All(r => r.Ok);
    public long Written => Rings.Sum(r => r.Written);
    public long Consumed => Rings.Sum(r => r.Consumed);
    public long InRing => Rings.Sum(r => r.InRing);
}

/// <summary>A ring broke conservation: a defect of the engine or the kernel model, never a warning.</summary>
public sealed class ConservationException(string host, RingConservation ring)
    : Exception($"conservation violated on {host} ring {ring.Event}@{ring.Instance}: attempts {ring.Attempts}, " +
                $"written {ring.Written}, lost {ring.Lost} (kernel {ring.KernelLost}), consumed {ring.Consumed}, " +
                $"in ring {ring.InRing}, overwritten {ring.Overwritten}, invisible {ring.Invisible}")
{
    public string Host { get; } = host;
    public RingConservation Ring { get; } = ring;
}

/// <summary>A scenario the engine cannot simulate on a host (e.g. perf_event_open refused an event).</summary>
public sealed class SimulationSetupException(string message) : Exception(message);

/// <summary>A host of a scenario: its group (index into Scenario.Fleet), its index in the group and its name.</summary>
public readonly record struct HostId(int Group, int Index, string Name)
{
    /// <summary>Every host of the scenario, group by group.</summary>
    public static IEnumerable<HostId> All(Contracts.Scenarios.Scenario scenario)
    {
        for (int g = 0; g < scenario.Fleet.Length; g++)
        {
            var group = scenario.Fleet[g];
            for (int i = 0; i < group.Hosts; i++) yield return new HostId(g, i, group.HostName(i));
        }
    }

    /// <summary>The host named GROUP-INDEX; false when there is none.</summary>
    public static bool TryParse(Contracts.Scenarios.Scenario scenario, string name, out HostId id)
    {
        id = default;
        int dash = name.LastIndexOf('-');
        if (dash <= 0 || !int.TryParse(name.AsSpan(dash + 1), System.Globalization.NumberStyles.None,
                System.Globalization.CultureInfo.InvariantCulture, out int index)) return false;
        string group = name[..dash];
        for (int g = 0; g < scenario.Fleet.Length; g++)
        {
            if (scenario.Fleet[g].Group != group) continue;
            if (index >= scenario.Fleet[g].Hosts) return false;
            id = new HostId(g, index, name);
            return true;
        }
        return false;
    }
}

namespace BpfTraceSim.Grains.Simulation;

/// <summary>One CPU's counters for the current window (and the samples it wrote that are still unread).</summary>
internal struct CpuWindow
{
    public long Firings, Written, Bytes, Lost, LostReported, Consumed, Overwritten, Invisible, FillMax, Wakeups;
    /// <summary>Samples written by this CPU not yet consumed: carried from window to window.</summary>
    public long InRing;

    /// <summary>Adds another CPU's counters (fill: the maximum).</summary>
    public void Add(in CpuWindow o)
    {
        Firings += o.Firings;
        Written += o.Written;
        Bytes += o.Bytes;
        Lost += o.Lost;
        LostReported += o.LostReported;
        Consumed += o.Consumed;
        Overwritten += o.Overwritten;
        Invisible += o.Invisible;
        if (o.FillMax > FillMax) FillMax = o.FillMax;
        Wakeups += o.Wakeups;
        InRing += o.InRing;
    }

    /// <summary>Adds the same CPUs' next period (in-ring is a level, not a flow: the later value).</summary>
    public void AddLater(in CpuWindow later)
    {
        Add(in later);
        InRing = later.InRing;
    }

    /// <summary>The scalar counters of c (its helper returns and lag are kept elsewhere).</summary>
    public static CpuWindow From(SimCounters c) => new()
    {
        Firings = c.Firings,
        Written = c.RecordsWritten,
        Bytes = c.BytesWritten,
        Lost = c.Lost,
        LostReported = c.LostReported,
        Consumed = c.RecordsConsumed,
        Overwritten = c.RecordsOverwritten,
        Invisible = c.RecordsInvisible,
        FillMax = c.RingFillMaxBytes,
        Wakeups = c.Wakeups,
        InRing = c.RecordsInRing,
    };

    public readonly SimCounters ToCounters(HelperReturns helpers, LagHistogram lag) => new()
    {
        Firings = Firings,
        Helpers = helpers,
        Attempts = Written + Lost,
        RecordsWritten = Written,
        BytesWritten = Bytes,
        Lost = Lost,
        LostReported = LostReported,
        RecordsConsumed = Consumed,
        RecordsInRing = InRing,
        RecordsOverwritten = Overwritten,
        RecordsInvisible = Invisible,
        RingFillMaxBytes = FillMax,
        Wakeups = Wakeups,
        ConsumerLag = lag,
    };
}

/// <summary>A call site's last return key on one CPU and how often it repeated.</summary>
internal struct SiteCount
{
    public long Key;
    public long Count;
}

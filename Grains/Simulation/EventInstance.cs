using BpfTraceSim.Kernel.Perf;

namespace BpfTraceSim.Grains.Simulation;

/// <summary>
/// One opened perf event of a host (a per-CPU instance or a per-task one) with the engine's
/// bookkeeping of its ring: the mirror of the ring's records and the per-ring conservation counters.
/// </summary>
internal sealed class EventInstance
{
    /// <param name="slab">Where the queue of a per-CPU ring lives (its slice: slabOffset, plan.ExpectedRecords entries); null: its own array.</param>
    public EventInstance(EventPlan plan, int key, int task, PerfEvent perfEvent, uint[]? slab = null, int slabOffset = 0)
    {
        Plan = plan;
        FixedSize = plan.FixedSize;
        HasRaw = plan.HasRaw;
        Key = key;
        Task = task;
        Event = perfEvent;
        perfEvent.Owner = this;
        UserEnabled = !plan.Attr.Disabled;
        // A ring with data pages is where outputs are attempted, written or lost.
        if (perfEvent.Ring is { Size: > 0 } ring)
        {
            Ring = ring;
            int expected = perfEvent.Cpu >= 0 ? plan.ExpectedRecords : 4;
            int cpu = perfEvent.Cpu; // -1 for a per-task event: each record keeps its CPU
            Queue = slab is not null ? new RingQueue(ring, cpu, slab, slabOffset, expected) : new RingQueue(ring, cpu, expected);
            ring.ReserveRecords(expected);
        }
    }

    public EventPlan Plan { get; }
    /// <summary>The CPU of a per-CPU instance, the pid of a per-task one.</summary>
    public int Key { get; }
    /// <summary>Task index of a per-task instance; -1 for per-CPU.</summary>
    public int Task { get; }
    /// <summary>The opened event (replaced when a checkpoint is restored).</summary>
    public PerfEvent Event { get; private set; }
    /// <summary>The ring when it has data pages; null otherwise (outputs then fail without counting lost).</summary>
    public PerfRing? Ring { get; private set; }
    public RingQueue? Queue { get; }

    /// <summary>Swaps in the event restored from a checkpoint (same ring geometry).</summary>
    public void ReplaceEvent(PerfEvent perfEvent)
    {
        Event = perfEvent;
        perfEvent.Owner = this;
        Ring = perfEvent.Ring is { Size: > 0 } ring ? ring : null;
        if (Queue is not null && Ring is not null) Queue.Ring = Ring;
    }

    /// <summary>IOC_ENABLE/IOC_DISABLE state; the effective state also needs the CPU online.</summary>
    public bool UserEnabled;
    /// <summary>Virtual time up to which the event's enabled/running times are accounted.</summary>
    public long LastAdvanceNs;

    /// <summary>The reader of this ring and the ring's index among the reader's rings.</summary>
    public Reader? Reader;
    public int ReaderRing = -1;

    public long Attempts, Written, Lost, Consumed, Overwritten, Invisible;
    /// <summary>Samples written and not yet consumed (a per_batch reader may have served some the tail has not passed yet).</summary>
    public long Unread;

    // Copies of the plan's record layout, read on every write.
    public readonly int FixedSize;
    public readonly bool HasRaw;
}

using BpfTraceSim.Grains.Simulation;

namespace BpfTraceSim.Grains.Tests.Simulation;

/// <summary>The reader: wake-ups, latency, service, poll timeout, stalls, what each batch reads.</summary>
public class ReaderTests
{
    private static List<WindowStats> Run(string yaml) => new HostSimulation(SimTestUtil.Parse(yaml), 0, 0).RunToEnd();

    [Fact]
    public void Lag_is_wakeup_latency_plus_service_for_an_idle_reader()
    {
        var t = SimTestUtil.Sum(Run("""
            name: t
            duration: 1s
            fleet: [ { group: g, cpus: 2 } ]
            events: { out: { per: cpu, ring_pages: 1 } }
            maps: { m: { } }
            slots: { m: per_cpu }
            programs:
              p:
                cpus: [1]
                fire: { process: constant, rate: 10/s }
                body: [ { perf_event_output: { map: m, size: 8 } } ]
            consumers:
              c: { events: out, service: { fixed: 7us }, wakeup_latency: 3us }
            """));
        Assert.Equal(10, t.RecordsConsumed);
        Assert.Equal(10, t.ConsumerLag.Count);
        Assert.Equal(10_000, t.ConsumerLag.Min);
        Assert.Equal(10_000, t.ConsumerLag.Max);
        Assert.Equal(10_000, t.ConsumerLagP99Ns);
        Assert.Equal(10, t.Wakeups);
    }

    /// <summary>A ring that has not reached its wakeup_events is not read when another ring wakes the reader.</summary>
    [Fact]
    public void A_signal_batch_reads_only_the_rings_that_signalled()
    {
        var w = Run("""
            name: t
            duration: 100ms
            fleet: [ { group: g, cpus: 2 } ]
            events: { out: { per: cpu, ring_pages: 1, wakeup_events: 16 } }
            maps: { m: { } }
            slots: { m: per_cpu }
            programs:
              fast: { cpus: [0], fire: { process: constant, rate: 1000/s }, body: [ { perf_event_output: { map: m, size: 8 } } ] }
              slow: { cpus: [1], fire: { process: constant, rate: 100/s }, body: [ { perf_event_output: { map: m, size: 8 } } ] }
            consumers:
              c: { events: out, service: { fixed: 1us }, poll_timeout: 1s }
            """);
        var cpu0 = SimTestUtil.SumCpu(w, 0);
        var cpu1 = SimTestUtil.SumCpu(w, 1);
        Assert.Equal(96, cpu0.RecordsConsumed); // read at the 16th, 32nd, ... 96th record
        Assert.Equal(4, cpu0.RecordsInRing);
        // Six by wakeup_events, one more when 2048 bytes (half the ring, the kernel's default
        // watermark, which applies with wakeup_events too) were written since the last mark.
        Assert.Equal(7, cpu0.Wakeups);
        Assert.Equal(0, cpu1.RecordsConsumed);
        Assert.Equal(10, cpu1.RecordsInRing);
    }

    /// <summary>Without signals the poll timeout (counted from when the reader went to sleep) drains every ring.</summary>
    [Fact]
    public void The_poll_timeout_drains_every_ring()
    {
        var t = SimTestUtil.Sum(Run("""
            name: t
            duration: 100ms
            fleet: [ { group: g, cpus: 1 } ]
            events: { out: { per: cpu, ring_pages: 1, wakeup_events: 16 } }
            maps: { m: { } }
            slots: { m: per_cpu }
            programs:
              p: { fire: { process: constant, rate: 100/s }, body: [ { perf_event_output: { map: m, size: 8 } } ] }
            consumers:
              c: { events: out, service: { fixed: 1us }, poll_timeout: 25ms }
            """));
        // Timeouts at 25 ms, 50.003 ms and 75.006 ms take 3 + 3 + 2 records.
        Assert.Equal(8, t.RecordsConsumed);
        Assert.Equal(2, t.RecordsInRing);
        Assert.Equal(0, t.Wakeups);
        Assert.Equal(25_001_000, t.ConsumerLag.Max); // the record of time 0, read first at 25 ms
    }

    [Fact]
    public void A_stalled_reader_reads_nothing_until_the_stall_ends()
    {
        var w = Run("""
            name: t
            duration: 100ms
            window: 10ms
            fleet: [ { group: g, cpus: 1 } ]
            events: { out: { per: cpu, ring_pages: 1 } }
            maps: { m: { } }
            slots: { m: per_cpu }
            programs:
              p: { fire: { process: constant, rate: 1000/s }, body: [ { perf_event_output: { map: m, size: 8 } } ] }
            consumers:
              c: { events: out, service: { fixed: 1us } }
            timeline:
              - { at: 20ms, consumer_stall: { consumer: c, for: 30ms } }
            """);
        Assert.Equal(10, w[1].Totals.RecordsConsumed);
        for (int i = 2; i < 5; i++) Assert.Equal(0, w[i].Totals.RecordsConsumed);
        Assert.Equal(40, w[5].Totals.RecordsConsumed);
        Assert.Equal(30, w[4].Totals.RecordsInRing);
        Assert.Equal(30_001_000, SimTestUtil.Sum(w).ConsumerLag.Max);
        Assert.Equal(100, SimTestUtil.Sum(w).RecordsConsumed);
    }

    [Fact]
    public void A_windows_fill_high_water_mark_includes_the_fill_it_starts_with()
    {
        var w = Run("""
            name: t
            duration: 300ms
            fleet: [ { group: g, cpus: 1 } ]
            events: { out: { per: cpu, ring_pages: 1 } }
            maps: { m: { } }
            slots: { m: per_cpu }
            programs:
              p: { fire: { process: bursts, size: 10, every: 1s }, body: [ { perf_event_output: { map: m, size: 8 } } ] }
            """);
        Assert.Equal([240L, 240L, 240L], w.Select(x => x.Totals.RingFillMaxBytes));
        Assert.Equal([10L, 0L, 0L], w.Select(x => x.Totals.RecordsWritten));
        Assert.Equal([10L, 10L, 10L], w.Select(x => x.Totals.RecordsInRing));
    }
}

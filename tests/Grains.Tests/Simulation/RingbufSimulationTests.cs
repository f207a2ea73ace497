using BpfTraceSim.Grains.Simulation;

namespace BpfTraceSim.Grains.Tests.Simulation;

/// <summary>Ring buffers in a scenario host (docs/scenarios.md "Ring buffers"): the kernel model's rules, counted.</summary>
public class RingbufSimulationTests
{
    private static string Yaml(int cpus, string rate, string consumer, string size = "8", string maxEntries = "4096", string flags = "0") => $$"""
        name: rb
        seed: 3
        duration: 1s
        window: 100ms
        fleet:
          - group: g
            cpus: {{cpus}}
        maps:
          rb: { type: ringbuf, max_entries: {{maxEntries}} }
        programs:
          p:
            fire: { process: constant, rate: {{rate}} }
            body:
              - ringbuf_output: { map: rb, size: {{size}}, flags: {{flags}} }
        {{consumer}}
        """;

    private static SimCounters Run(string yaml, out HostSimulation sim)
    {
        sim = new HostSimulation(SimTestUtil.Parse(yaml), 0, 0);
        sim.RunToEnd();
        return sim.Totals();
    }

    [Fact]
    public void Without_a_reader_a_4096_byte_ring_takes_255_records_of_8_bytes_from_all_cpus_then_EAGAIN()
    {
        var t = Run(Yaml(2, "1000/s", ""), out var sim);
        Assert.Equal(2000, t.Firings);
        Assert.Equal(255, t.RecordsWritten); // one ring for both CPUs, never a whole ring ahead
        Assert.Equal(1745, t.Lost);
        Assert.Equal(255 * 16, t.BytesWritten);
        Assert.Equal(4080, t.RingFillMaxBytes);
        Assert.Equal(1, t.Wakeups); // only the first record found the (never moving) consumer caught up
        Assert.Equal(1745, t.Helpers.Get("bpf_ringbuf_output", -11));
        Assert.Equal(255, t.RecordsInRing);
        Assert.True(Assert.Single(sim.CheckConservation().Rings).Ok);
    }

    [Fact]
    public void A_reader_faster_than_the_producer_is_woken_by_every_record_it_waits_for()
    {
        var t = Run(Yaml(1, "1000/s", "consumers: { c: { ringbuf: rb, service: { fixed: 10us } } }"), out _);
        Assert.Equal(1000, t.RecordsWritten);
        Assert.Equal(0, t.Lost);
        Assert.Equal(1000, t.RecordsConsumed);
        Assert.Equal(1000, t.Wakeups); // adaptive rule: each record finds the consumer caught up
        Assert.Equal(10_000, t.ConsumerLag.Percentile(50)); // 0 wake-up latency + 10 us service
    }

    [Fact]
    public void No_wakeup_leaves_the_reader_to_its_poll_timeout()
    {
        var t = Run(Yaml(1, "1000/s", "consumers: { c: { ringbuf: rb, poll_timeout: 100ms } }", flags: "1"), out _);
        Assert.Equal(0, t.Wakeups);
        Assert.Equal(0, t.Lost); // 100 records per 100 ms fit in the ring (255)
        Assert.True(t.ConsumerLag.Percentile(99) > 90_000_000); // the oldest of each poll waited ~100 ms
        Assert.Equal(t.RecordsWritten, t.RecordsConsumed + t.RecordsInRing);
    }

    [Fact]
    public void A_slow_reader_loses_what_the_ring_cannot_hold_and_conservation_holds_every_window()
    {
        var t = Run(Yaml(4, "20000/s", "consumers: { c: { ringbuf: rb, service: { exponential: 20us } } }", size: "64", maxEntries: "256KiB"), out var sim);
        Assert.Equal(80_000, t.Firings);
        Assert.True(t.Lost > 0);
        Assert.Equal(t.RecordsWritten + t.Lost, t.Helpers.Calls("bpf_ringbuf_output"));
        Assert.Equal(t.RecordsWritten, t.RecordsConsumed + t.RecordsInRing);
        Assert.True(t.RingFillMaxBytes <= 256 * 1024 - 1);
        Assert.True(Assert.Single(sim.CheckConservation().Rings).Ok);
    }

    [Fact]
    public void Same_seed_same_counts()
    {
        string y = Yaml(4, "20000/s", "consumers: { c: { ringbuf: rb, service: { exponential: 20us } } }", size: "64", maxEntries: "256KiB");
        var a = Run(y, out _);
        var b = Run(y, out _);
        Assert.Equal(a.RecordsConsumed, b.RecordsConsumed);
        Assert.Equal(a.Lost, b.Lost);
        Assert.Equal(a.ConsumerLagP99Ns, b.ConsumerLagP99Ns);
    }
}

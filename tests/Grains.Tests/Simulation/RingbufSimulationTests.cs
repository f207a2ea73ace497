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

    private static string BodyYaml(int cpus, string rate, string consumer, string body, string maxEntries = "4096", string process = "poisson") => $$"""
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
            fire: { process: {{process}}, rate: {{rate}} }
            body: {{body}}
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
        Assert.Equal(10_092, t.ConsumerLag.Percentile(50)); // the ring's lock held 92 ns (its default), 0 wake-up latency, 10 us service
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

    private const string Reader = "consumers: { c: { ringbuf: rb, service: { exponential: 20us } } }";

    [Fact]
    public void Reserve_then_submit_counts_as_ringbuf_output_does_and_a_NULL_reservation_is_dropped()
    {
        // bpf_ringbuf_output is __bpf_ringbuf_reserve + copy + bpf_ringbuf_commit: the same ring positions and wake-ups.
        var o = Run(BodyYaml(4, "20000/s", Reader, "[ { ringbuf_output: { map: rb, size: 64 } } ]", "64KiB"), out _);
        var r = Run(BodyYaml(4, "20000/s", Reader, "[ { ringbuf_reserve: { map: rb, size: 64 } }, { ringbuf_submit: {} } ]", "64KiB"), out var sim);
        Assert.True(o.Lost > 0);
        Assert.Equal(o.Firings, r.Firings);
        Assert.Equal((o.RecordsWritten, o.Lost, o.BytesWritten, o.Wakeups, o.RecordsConsumed, o.RingFillMaxBytes, o.ConsumerLagP99Ns),
            (r.RecordsWritten, r.Lost, r.BytesWritten, r.Wakeups, r.RecordsConsumed, r.RingFillMaxBytes, r.ConsumerLagP99Ns));
        Assert.Equal(r.Lost, r.Helpers.Get("bpf_ringbuf_reserve", 0)); // NULL
        Assert.Equal(r.RecordsWritten, r.Helpers.Get("bpf_ringbuf_reserve", 1)); // a sample pointer, counted as 1
        Assert.Equal(r.RecordsWritten, r.Helpers.Calls("bpf_ringbuf_submit")); // the program skips the submit after NULL
        Assert.True(Assert.Single(sim.CheckConservation().Rings).Ok);
    }

    [Fact]
    public void Discarded_reservations_hold_ring_space_until_the_reader_skips_them_and_are_not_records()
    {
        // Without a reader, discarded records fill the ring as any record does (bpf_ringbuf_commit with the DISCARD bit).
        var t = Run(BodyYaml(2, "1000/s", "", "[ { ringbuf_reserve: { map: rb, size: 8 } }, { ringbuf_discard: {} } ]"), out var sim);
        Assert.Equal(0, t.RecordsWritten);
        Assert.Equal(255, t.Helpers.Get("bpf_ringbuf_reserve", 1));
        Assert.Equal(t.Firings - 255, t.Lost);
        Assert.Equal(4080, t.RingFillMaxBytes);
        Assert.Equal(1, t.Wakeups); // a discard notifies by the same adaptive rule
        Assert.Equal(0, t.RecordsInRing);
        Assert.True(Assert.Single(sim.CheckConservation().Rings).Ok);

        // With a reader, a discarded record costs it no service time (libbpf makes no callback for it).
        var d = Run(BodyYaml(1, "1000/s", "consumers: { c: { ringbuf: rb, service: { fixed: 10us } } }",
            "[ { ringbuf_reserve: { map: rb, size: 8 } }, { ringbuf_discard: {} }, { ringbuf_output: { map: rb, size: 8 } } ]", process: "constant"), out sim);
        Assert.Equal(0, d.Lost);
        Assert.Equal(d.RecordsWritten, d.RecordsConsumed);
        Assert.Equal(10_184, d.ConsumerLag.Percentile(50)); // two reservations on one CPU: 2 x 92 ns of lock, then 10 us
        Assert.True(Assert.Single(sim.CheckConservation().Rings).Ok);
    }

    [Fact]
    public void The_reader_stops_at_a_record_still_being_written_by_a_nested_reservation()
    {
        // reserve A, reserve B, output C, submit B, submit A: the reader reads A, B, C in ring order only after A's commit.
        var t = Run(BodyYaml(1, "1000/s", "consumers: { c: { ringbuf: rb, service: { fixed: 1us } } }",
            "[ { ringbuf_reserve: { map: rb, size: 8 } }, { ringbuf_reserve: { map: rb, size: 16 } }, { ringbuf_output: { map: rb, size: 8 } }, { ringbuf_submit: { flags: BPF_RB_NO_WAKEUP } }, { ringbuf_submit: {} } ]", "64KiB"), out var sim);
        Assert.Equal(3 * t.Firings, t.RecordsWritten);
        Assert.Equal(t.RecordsWritten, t.RecordsConsumed);
        Assert.Equal(t.Firings, t.Wakeups); // only A's commit finds the consumer at its record (C's and B's do not)
        Assert.Equal(16 + 24 + 16, t.BytesWritten / t.Firings);
        Assert.Equal(3_092, t.ConsumerLag.Percentile(100)); // A is committed after 92 ns of lock; C waited for A and B (1 us each)
        Assert.True(Assert.Single(sim.CheckConservation().Rings).Ok);
    }

    [Theory]
    [InlineData("[ { ringbuf_reserve: { map: rb, size: 8 } } ]", "programs.p.body[0].ringbuf_reserve", "this ringbuf_reserve is never released")]
    [InlineData("[ { ringbuf_submit: {} } ]", "programs.p.body[0].ringbuf_submit", "ringbuf_submit releases the body's latest ringbuf_reserve, and no reservation is held here")]
    [InlineData("[ { ringbuf_reserve: { map: rb, size: 8 } }, { ringbuf_discard: {} }, { ringbuf_discard: {} } ]", "programs.p.body[2].ringbuf_discard", "ringbuf_discard releases")]
    public void The_parser_applies_the_verifiers_reference_rule_to_reservations(string body, string field, string message)
    {
        var e = Assert.Throws<BpfTraceSim.Contracts.Scenarios.ScenarioException>(() => SimTestUtil.Parse(BodyYaml(1, "1/s", "", body)));
        Assert.Equal(field, e.Error.Field);
        Assert.StartsWith(message, e.Error.Message);
    }
}

using BpfTraceSim.Grains.Simulation;

namespace BpfTraceSim.Grains.Tests.Simulation;

/// <summary>
/// Helper calls made by simulated firings return what the kernel returns in that state
/// (docs/kernel-semantics.md §2-§5, §10), and the engine counts what happened to each record.
/// </summary>
public class HelperSemanticsTests
{
    private const string Out = "bpf_perf_event_output";

    private static List<WindowStats> Run(string yaml, bool records = false, bool trace = false) =>
        new HostSimulation(SimTestUtil.Parse(yaml), 0, 0, records, trace).RunToEnd();

    [Fact]
    public void Swapped_slots_example_returns_eopnotsupp_for_every_current_cpu_output()
    {
        var s = SimTestUtil.Example("swapped-slots.yaml");
        foreach (var host in HostId.All(s))
        {
            var total = SimTestUtil.Sum(new HostSimulation(s, host).RunToEnd());
            Assert.Equal(8000, total.Firings); // 4 CPUs x 1000/s x 2 s, constant
            Assert.Equal(total.Firings, total.Helpers.Get(Out, -95));
            Assert.Equal(total.Firings, total.Helpers.Calls(Out));
            Assert.Equal(0, total.RecordsWritten);
            Assert.Equal(0, total.Lost);
        }
    }

    [Fact]
    public void Swapped_slots_explicit_index_of_the_own_event_works()
    {
        // docs/kernel-semantics.md §10: swapped slots, BPF_F_CURRENT_CPU on CPU 0 -> -EOPNOTSUPP; explicit index 1 (CPU 0's event) -> 0.
        var w = Run("""
            name: t
            duration: 100ms
            fleet: [ { group: g, cpus: 2 } ]
            events: { out: { per: cpu, ring_pages: 1 } }
            maps: { m: { max_entries: cpus } }
            slots: { m: swapped }
            programs:
              p:
                cpus: [0]
                fire: { process: constant, rate: 100/s }
                body:
                  - perf_event_output: { map: m, flags: BPF_F_CURRENT_CPU, size: 8 }
                  - perf_event_output: { map: m, flags: 1, size: 8 }
                  - perf_event_output: { map: m, flags: 0, size: 8 }
                  - perf_event_output: { map: m, flags: 2, size: 8 }
                  - perf_event_output: { map: m, flags: 0x100000000, size: 8 }
            """);
        var t = SimTestUtil.Sum(w);
        Assert.Equal(10, t.Firings);
        Assert.Equal(20, t.Helpers.Get(Out, -95));
        Assert.Equal(10, t.Helpers.Get(Out, 0));
        Assert.Equal(10, t.Helpers.Get(Out, -7));  // index 2 >= max_entries 2
        Assert.Equal(10, t.Helpers.Get(Out, -22)); // a flag bit outside the index mask
        Assert.Equal(10, t.RecordsWritten);
        Assert.Equal(10, w[0].Cpus[0].Counters.RecordsInRing);
        Assert.Equal(0, w[0].Cpus[1].Counters.Firings);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(170)]
    [InlineData(171)]
    [InlineData(500)]
    [InlineData(5000)]
    public void A_burst_into_an_empty_one_page_ring_without_reader_loses_all_but_170(int burst)
    {
        var w = Run($$"""
            name: t
            duration: 100ms
            fleet: [ { group: g, cpus: 1 } ]
            events: { out: { per: cpu, ring_pages: 1 } }
            maps: { m: { } }
            slots: { m: per_cpu }
            programs:
              p:
                fire: { process: bursts, size: {{burst}}, every: 1s }
                body: [ { perf_event_output: { map: m, size: 8 } } ]
            """);
        var t = SimTestUtil.Sum(w);
        int written = Math.Min(burst, 170);
        Assert.Equal(burst, t.Firings);
        Assert.Equal(written, t.RecordsWritten);
        Assert.Equal(burst - written, t.Lost);
        Assert.Equal(written, t.Helpers.Get(Out, 0));
        Assert.Equal(burst - written, t.Helpers.Get(Out, -28));
        Assert.Equal(24L * written, t.BytesWritten);
        Assert.Equal(24L * written, t.RingFillMaxBytes);
        Assert.Equal(written, t.RecordsInRing);
        Assert.Equal(written, t.Wakeups); // wakeup_events 1
    }

    [Fact]
    public void Outputs_to_a_ring_that_was_never_mmapped_fail_without_counting_lost()
    {
        var t = SimTestUtil.Sum(Run("""
            name: t
            duration: 100ms
            fleet: [ { group: g, cpus: 1 } ]
            events: { out: { per: cpu }, meta: { per: cpu, ring_pages: 0 } }
            maps: { m: { }, n: { } }
            slots: { m: { event: out, layout: per_cpu }, n: { event: meta, layout: per_cpu } }
            programs:
              p:
                fire: { process: constant, rate: 100/s }
                body:
                  - perf_event_output: { map: m, size: 8 }
                  - perf_event_output: { map: n, size: 8 }
            """));
        Assert.Equal(20, t.Helpers.Get(Out, -28));
        Assert.Equal(0, t.Lost);
        Assert.Equal(0, t.Attempts);
    }

    [Fact]
    public void An_overwrite_ring_never_loses_and_keeps_the_newest_records()
    {
        // docs/kernel-semantics.md §10: 300 writes of 64 bytes (80-byte records) on one page all return 0; the ring keeps 51.
        var t = SimTestUtil.Sum(Run("""
            name: t
            duration: 100ms
            fleet: [ { group: g, cpus: 1 } ]
            events: { out: { per: cpu, ring_pages: 1, overwrite: true } }
            maps: { m: { } }
            slots: { m: per_cpu }
            programs:
              p:
                fire: { process: bursts, size: 300, every: 1s }
                body: [ { perf_event_output: { map: m, size: 64 } } ]
            """));
        Assert.Equal(300, t.Helpers.Get(Out, 0));
        Assert.Equal(300, t.RecordsWritten);
        Assert.Equal(24000, t.BytesWritten);
        Assert.Equal(0, t.Lost);
        Assert.Equal(51, t.RecordsInRing);
        Assert.Equal(249, t.RecordsOverwritten);
    }

    [Fact]
    public void Records_whose_u16_size_wraps_are_written_but_shrink()
    {
        // 65517 bytes: a 65536-byte record, header.size 0 (nothing visible); 65527: 65544 -> an 8-byte header.
        var t = SimTestUtil.Sum(Run("""
            name: t
            duration: 100ms
            fleet: [ { group: g, cpus: 1 } ]
            events: { out: { per: cpu, ring_pages: 32 } }
            maps: { m: { } }
            slots: { m: per_cpu }
            programs:
              p:
                fire: { process: bursts, size: 1, every: 1s }
                body:
                  - perf_event_output: { map: m, size: 65517 }
                  - perf_event_output: { map: m, size: 65527 }
            consumers:
              c: { events: out, service: { fixed: 1us }, tail_update: per_record }
            """));
        Assert.Equal(2, t.Helpers.Get(Out, 0));
        Assert.Equal(2, t.RecordsWritten);
        Assert.Equal(1, t.RecordsInvisible);
        Assert.Equal(8, t.BytesWritten);
        Assert.Equal(1, t.RecordsConsumed);
        Assert.Equal(0, t.RecordsInRing);
    }

    /// <summary>Records of 4088 bytes (payload 4076): after one loss, LOST + record never fit again.</summary>
    [Theory]
    [InlineData(4076, 1, 19, 0)]  // 4088-byte records: the ring locks up after the first loss
    [InlineData(4052, 10, 10, 9)] // 4064-byte records: 24 + 4064 fits, each burst writes LOST + one record
    public void A_ring_whose_record_is_near_its_size_locks_up_after_a_loss(int payload, int written, int lost, int reported)
    {
        var t = SimTestUtil.Sum(Run($$"""
            name: t
            duration: 100ms
            window: 10ms
            fleet: [ { group: g, cpus: 1 } ]
            events: { out: { per: cpu, ring_pages: 1 } }
            maps: { m: { } }
            slots: { m: per_cpu }
            programs:
              p:
                fire: { process: bursts, size: 2, every: 10ms }
                body: [ { perf_event_output: { map: m, size: {{payload}} } } ]
            consumers:
              c: { events: out, service: { fixed: 1us }, tail_update: per_record }
            """));
        Assert.Equal(20, t.Firings);
        Assert.Equal(written, t.RecordsWritten);
        Assert.Equal(lost, t.Lost);
        Assert.Equal(written, t.RecordsConsumed);
        Assert.Equal(reported, t.LostReported);
        Assert.Equal(0, t.RecordsInRing);
    }

    /// <summary>
    /// Bursts of four 1016-byte records (4 fit on a page) at 0 and 2 ms, 1 ms per record. per_batch
    /// keeps the served records until the batch ends (1 free slot at 2 ms), per_record frees each.
    /// </summary>
    [Theory]
    [InlineData("per_batch", 5, 3)]
    [InlineData("per_record", 6, 2)]
    public void The_tail_update_policy_decides_how_soon_space_is_free(string policy, int written, int lost)
    {
        var t = SimTestUtil.Sum(Run($$"""
            name: t
            duration: 3ms
            window: 1ms
            fleet: [ { group: g, cpus: 1 } ]
            events: { out: { per: cpu, ring_pages: 1 } }
            maps: { m: { } }
            slots: { m: per_cpu }
            programs:
              p:
                fire: { process: bursts, size: 4, every: 2ms }
                body: [ { perf_event_output: { map: m, size: 1000 } } ]
            consumers:
              c: { events: out, service: { fixed: 1ms }, tail_update: {{policy}} }
            """));
        Assert.Equal(written, t.RecordsWritten);
        Assert.Equal(lost, t.Lost);
        Assert.Equal(2, t.RecordsConsumed); // done at 1 ms and 2 ms
    }

    [Fact]
    public void Per_task_events_work_from_the_cpu_their_task_runs_on()
    {
        // Task 100 runs on CPU 0, task 200 on CPU 1; slot 0 holds 100's event, slot 1 200's.
        var w = Run("""
            name: t
            duration: 100ms
            fleet:
              - group: g
                cpus: 2
                tasks: [ { comm: a, pid: 100 }, { comm: b, pid: 200 } ]
            events: { t: { per: task, ring_pages: 1 } }
            maps: { m: { max_entries: 2 } }
            slots: { m: [ t@100, t@200 ] }
            programs:
              p:
                fire: { process: constant, rate: 100/s }
                body:
                  - perf_event_output: { map: m, flags: 0, size: 8 }
                  - perf_event_output: { map: m, flags: 1, size: 8 }
            timeline:
              - { at: 50ms, task_migrate: { pid: 100, to: 1 } }
            """);
        var cpu0 = SimTestUtil.SumCpu(w, 0);
        var cpu1 = SimTestUtil.SumCpu(w, 1);
        // CPU 0: task 100 until 50 ms (5 firings: slot 0 ok, slot 1 not), then idle (5 firings: both -95).
        Assert.Equal(5, cpu0.Helpers.Get(Out, 0));
        Assert.Equal(15, cpu0.Helpers.Get(Out, -95));
        // CPU 1: task 200 alone until 50 ms, then 100 and 200 take turns (tasks in pid order: 100 first).
        Assert.Equal(5 + 5, cpu1.Helpers.Get(Out, 0));
        Assert.Equal(5 + 5, cpu1.Helpers.Get(Out, -95));
        Assert.Equal(15, cpu0.RecordsWritten + cpu1.RecordsWritten);
    }

    [Fact]
    public void Disabled_events_and_offline_cpus_are_not_oncpu()
    {
        var w = Run("""
            name: t
            duration: 100ms
            window: 10ms
            fleet: [ { group: g, cpus: 2 } ]
            events: { out: { per: cpu, ring_pages: 8 } }
            maps: { m: { } }
            slots: { m: per_cpu }
            programs:
              p:
                fire: { process: constant, rate: 1000/s }
                body: [ { perf_event_output: { map: m, size: 8 } } ]
            timeline:
              - { at: 30ms, event_disable: { event: out, cpu: 0 } }
              - { at: 60ms, event_enable: { event: out, cpu: 0 } }
              - { at: 20ms, cpu_offline: { cpu: 1 } }
              - { at: 70ms, cpu_online: { cpu: 1 } }
            """);
        var cpu0 = SimTestUtil.SumCpu(w, 0);
        var cpu1 = SimTestUtil.SumCpu(w, 1);
        Assert.Equal(100, cpu0.Firings);
        Assert.Equal(70, cpu0.Helpers.Get(Out, 0));
        Assert.Equal(30, cpu0.Helpers.Get(Out, -95));
        Assert.Equal(50, cpu1.Firings); // nothing fires from 20 to 70 ms
        Assert.Equal(50, cpu1.Helpers.Get(Out, 0));
        for (int i = 2; i < 7; i++) Assert.Equal(0, w[i].Cpus[1].Counters.Firings);
        Assert.Equal(10, w[7].Cpus[1].Counters.Firings);
    }

    [Fact]
    public void Slots_rewritten_by_the_timeline_shift_outputs_to_other_cpus_events()
    {
        var w = Run("""
            name: t
            duration: 100ms
            window: 50ms
            fleet: [ { group: g, cpus: 4 } ]
            events: { out: { per: cpu, ring_pages: 8 } }
            maps: { m: { } }
            slots: { m: per_cpu }
            programs:
              p:
                fire: { process: constant, rate: 1000/s }
                body: [ { perf_event_output: { map: m, size: 8 } } ]
            timeline:
              - { at: 50ms, slots: { map: m, layout: { shifted: 1 } } }
            """);
        Assert.Equal(200, w[0].Totals.Helpers.Get(Out, 0));
        Assert.Equal(200, w[1].Totals.Helpers.Get(Out, -95));
    }

    [Fact]
    public void Counter_reads_return_the_kernels_codes()
    {
        var t = SimTestUtil.Sum(Run("""
            name: t
            duration: 100ms
            fleet: [ { group: g, cpus: 2 } ]
            events:
              clk: { config: cpu_clock, per: cpu }
              out: { per: cpu, ring_pages: 1 }
            maps: { c: { }, o: { } }
            slots: { c: { event: clk, layout: per_cpu }, o: { event: out, layout: per_cpu } }
            programs:
              p:
                cpus: [1]
                fire: { process: constant, rate: 100/s }
                body:
                  - perf_event_read: { map: c }
                  - perf_event_read: { map: c, flags: 0 }
                  - perf_event_read_value: { map: c }
                  - perf_event_read_value: { map: c, size: 23 }
                  - perf_event_read_value: { map: c, flags: 5 }
                  - perf_event_output: { map: c, size: 8 }
                  - perf_event_read: { map: o }
            """));
        Assert.Equal(10, t.Firings);
        Assert.Equal(10 + 10, t.Helpers.Get("bpf_perf_event_read", 0));  // own counter; a bpf-output event reads 0
        Assert.Equal(10, t.Helpers.Get("bpf_perf_event_read", -22));     // CPU 0's counter from CPU 1
        Assert.Equal(10, t.Helpers.Get("bpf_perf_event_read_value", 0));
        Assert.Equal(10, t.Helpers.Get("bpf_perf_event_read_value", -22)); // size 23
        Assert.Equal(10, t.Helpers.Get("bpf_perf_event_read_value", -7));  // index 5 >= 2
        Assert.Equal(10, t.Helpers.Get(Out, -22));                          // a counter is not an output event
    }

    [Fact]
    public void Captured_records_are_the_bytes_the_reader_reads()
    {
        var w = Run("""
            name: t
            duration: 200ms
            fleet: [ { group: g, cpus: 1 } ]
            events: { out: { per: cpu, ring_pages: 1, sample_type: [tid, cpu, raw] } }
            maps: { m: { } }
            slots: { m: per_cpu }
            programs:
              p:
                fire: { process: constant, rate: 10/s }
                body: [ { perf_event_output: { map: m, size: 5 } } ]
            consumers:
              c: { events: out, service: { fixed: 1us }, tail_update: per_record }
            """, records: true);
        var recs = w.SelectMany(x => x.Records).ToList();
        Assert.Equal(2, recs.Count);
        Assert.Equal(new CapturedRecord("g-0", 0, "out", 0, 1000, 40, false, 0,
            // header type 9 misc 1 size 40 | pid 0 tid 0 (idle) | cpu 0, res 0 | raw size 12 | 00..04 | 7 padding bytes (ring was zero)
            "0900000001002800" + "0000000000000000" + "0000000000000000" + "0c000000" + "0001020304" + "00000000000000"), recs[0]);
        Assert.Equal(100_000_000, recs[1].WriteNs);
        Assert.Equal(100_001_000, recs[1].ConsumeNs);
        Assert.Empty(new HostSimulation(SimTestUtil.Parse("""
            name: t
            duration: 100ms
            fleet: [ { group: g, cpus: 1 } ]
            programs: { p: { fire: { process: constant, rate: 10/s }, body: [] } }
            """), 0, 0, captureRecords: true).RunWindow(0).Records);
    }

    [Fact]
    public void Captured_trace_lines_are_trace_pipe_lines()
    {
        var w = Run("""
            name: t
            duration: 100ms
            fleet:
              - group: g
                cpus: 2
                tasks: [ { comm: app, pid: 100 } ]
            programs:
              p:
                fire: { process: constant, rate: 20/s }
                body:
                  - trace_printk: { fmt: "%s pid=%d n=%d\n", args: [comm, pid, counter] }
                  - snprintf: { fmt: "%s!", args: [{ str: hello }], size: 4 }
            """, trace: true);
        Assert.Equal(
        [
            "             app-100     [000] ...2.     0.000000: bpf_trace_printk: app pid=100 n=0",
            "",
            "          <idle>-0       [001] ...2.     0.000000: bpf_trace_printk: <idle> pid=0 n=0",
            "",
            "             app-100     [000] ...2.     0.050000: bpf_trace_printk: app pid=100 n=1",
            "",
            "          <idle>-0       [001] ...2.     0.050000: bpf_trace_printk: <idle> pid=0 n=1",
            "",
        ], w[0].TraceLines);
        var t = w[0].Totals;
        Assert.Equal(2, t.Helpers.Get("bpf_trace_printk", 16)); // "app pid=100 n=0\n"
        Assert.Equal(2, t.Helpers.Get("bpf_trace_printk", 17)); // "<idle> pid=0 n=0\n"
        Assert.Equal(4, t.Helpers.Get("bpf_snprintf", 7));      // "hello!" + NUL, whatever the buffer
    }

    [Fact]
    public void A_format_the_verifier_refuses_stops_the_scenario()
    {
        var e = Assert.Throws<SimulationSetupException>(() => new HostSimulation(SimTestUtil.Parse("""
            name: t
            duration: 100ms
            fleet: [ { group: g, cpus: 1 } ]
            programs:
              p:
                fire: { process: constant, rate: 10/s }
                body: [ { snprintf: { fmt: "%d %d", args: [1] } } ]
            """), 0, 0));
        Assert.Contains("programs.p.body[0]", e.Message);
        Assert.Contains("verifier", e.Message);
    }

    [Fact]
    public void Printk_errors_are_returned_at_run_time()
    {
        var t = SimTestUtil.Sum(Run("""
            name: t
            duration: 100ms
            fleet: [ { group: g, cpus: 1 } ]
            programs:
              p:
                fire: { process: constant, rate: 100/s }
                body:
                  - trace_printk: { fmt: "%d %d %d %d", args: [1, 2, 3] }
                  - trace_vprintk: { fmt: "%d", args: [1, 2] }
                  - trace_vprintk: { fmt: "%d %d", args: [1] }
                  - trace_vprintk: { fmt: "x", args: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13] }
            """));
        Assert.Equal(10, t.Helpers.Get("bpf_trace_printk", -22));  // 4 conversions
        Assert.Equal(10, t.Helpers.Get("bpf_trace_vprintk", 1));   // extra args are ignored
        Assert.Equal(20, t.Helpers.Get("bpf_trace_vprintk", -22)); // too few args; data_len 104 > 96
    }
}

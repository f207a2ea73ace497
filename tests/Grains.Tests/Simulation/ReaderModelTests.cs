using BpfTraceSim.Contracts.Scenarios;
using BpfTraceSim.Grains.Simulation;

namespace BpfTraceSim.Grains.Tests.Simulation;

/// <summary>
/// The reader as a thread that must be scheduled (cpu_load, pauses, service_per_kib, poll: sleep)
/// and the hosts' memory checks (page_size, kernel, memlock, cap_ipc_lock): docs/scenarios.md.
/// </summary>
public sealed class ReaderModelTests
{
    /// <summary>One CPU, 1,000 records/s of 64 bytes (80-byte records) for 1 s, one reader; extra reader and group lines spliced in.</summary>
    private static string Yaml(string consumer = "", string group = "", int pages = 8, string rate = "1000/s") => $$"""
        duration: 1s
        fleet:
          - group: node
            cpus: 1
        {{group}}
        events:
          out: { per: cpu, ring_pages: {{pages}} }
        maps:
          events: { max_entries: cpus }
        slots:
          events: per_cpu
        programs:
          p:
            fire: { process: constant, rate: {{rate}} }
            body:
              - perf_event_output: { map: events, flags: BPF_F_CURRENT_CPU, size: 64 }
        consumers:
          agent:
            events: out
            service: { fixed: 10us }
        {{consumer}}
        """;

    private static SimCounters Run(string yaml) => SimTestUtil.Sum(new HostSimulation(SimTestUtil.Parse(yaml), 0, 0).RunToEnd());

    private static ScenarioError Refused(string yaml) => Assert.Throws<ScenarioException>(() => SimTestUtil.Parse(yaml)).Error;

    // ---- the CPU the reader gets ----

    [Fact]
    public void Work_stretches_by_the_share_left_and_waits_out_a_saturation()
    {
        var model = new ReaderModel
        {
            CpuLoad = [new LoadStep { AtNs = 0, Util = 0.5 }, new LoadStep { AtNs = 1000, Util = 1 }, new LoadStep { AtNs = 2000, Util = 0 }],
        };
        var cpu = ReaderCpu.Build(model, 10_000, 1)!;
        Assert.Equal(200, cpu.Finish(0, 100));      // half the CPU: 100 ns of work take 200 ns
        Assert.Equal(2100, cpu.Finish(900, 150));   // 50 ns done by 1000, nothing until 2000, the other 100 ns after
        Assert.Equal(2000, cpu.Finish(1500, 0));    // even a zero-length step waits for the CPU
        Assert.Equal(0.0, cpu.ShareAt(1999));
        Assert.Equal(1.0, cpu.ShareAt(2000));
    }

    [Fact]
    public void A_pause_inside_a_load_step_is_no_CPU_and_the_load_comes_back_after_it()
    {
        var model = new ReaderModel { CpuLoad = [new LoadStep { AtNs = 0, Util = 0.75 }], Pauses = [new PauseSpan { AtNs = 100, ForNs = 50 }] };
        var cpu = ReaderCpu.Build(model, 1000, 1)!;
        Assert.Equal(0.0, cpu.ShareAt(120));
        Assert.Equal(0.25, cpu.ShareAt(150));
        Assert.Equal(170, cpu.Finish(80, 10)); // a quarter of 80..100 is 5 ns, paused to 150, 5 ns more at a quarter: 20 ns
    }

    [Fact]
    public void A_100_percent_load_to_the_end_means_the_reader_is_never_scheduled_again()
    {
        var cpu = ReaderCpu.Build(new ReaderModel { CpuLoad = [new LoadStep { AtNs = 500, Util = 1 }] }, 1000, 1)!;
        Assert.Equal(ReaderCpu.Never, cpu.Finish(600, 1));
        Assert.Equal(410, cpu.Finish(400, 10));
    }

    [Fact]
    public void Without_a_model_the_reader_is_unchanged()
    {
        Assert.Null(ReaderCpu.Build(null, 1000, 1));
        // Written-out defaults are no model at all: the same digest as without them.
        var plain = SimTestUtil.Parse(Yaml());
        var explicitDefaults = SimTestUtil.Parse(Yaml("    poll: epoll\n    service_per_kib: 0us"));
        Assert.Null(explicitDefaults.Consumers[0].Model);
        Assert.Equal(ScenarioDigest.Compute(plain), ScenarioDigest.Compute(explicitDefaults));
    }

    [Fact]
    public void A_saturated_CPU_holds_records_in_the_ring_until_the_load_drops()
    {
        // 1,000 records/s, none read between 200 ms and 700 ms: 8 pages hold 409 records of 80 bytes, so 500 - 409 are
        // lost, and 5 more while the reader drains the full ring (4.09 ms: the tail moves at the batch's end, per_batch).
        var t = Run(Yaml("    cpu_load: [{ at: 200ms, util: 100% }, { at: 700ms, util: 0 }]"));
        Assert.Equal(1000, t.Firings);
        Assert.Equal(500 - 409 + 5, t.Lost);
        Assert.Equal(t.Lost, t.LostReported); // the load goes on after 700 ms: the LOST record is written and read
        var sim = new HostSimulation(SimTestUtil.Parse(Yaml("    cpu_load: [{ at: 200ms, util: 100% }, { at: 700ms, util: 0 }]")), 0, 0);
        sim.RunToEnd();
        var view = sim.LostView();
        Assert.Equal(609_000_000, view.FirstLossNs); // the 410th record since 200 ms
        Assert.Equal("not scheduled (cpu_load 100%)", view.FirstLossReader);
        Assert.Equal(1, view.LostCallbacks);          // the ring stays full through the drain: one LOST record carries all 96
        Assert.Equal(0, view.LostUnwritten);
        Assert.Equal(0, Run(Yaml("    cpu_load: [{ at: 200ms, util: 90% }, { at: 700ms, util: 0 }]")).Lost); // a tenth of the CPU is 1 ms per record: enough
    }

    [Fact]
    public void Explicit_pauses_lose_what_the_ring_cannot_hold()
    {
        var t = Run(Yaml("    pauses: [{ at: 100ms, for: 600ms }]"));
        Assert.Equal(600 - 409 + 5, t.Lost); // and 5 during the drain of the full ring, as above
    }

    [Fact]
    public void Random_pauses_are_drawn_from_the_seed()
    {
        string yaml = Yaml("    pauses: { every: { exponential: 100ms }, for: { uniform: [450ms, 600ms] } }");
        var a = Run(yaml);
        Assert.True(a.Lost > 0);
        Assert.Equal(a.Lost, Run(yaml).Lost);
        Assert.NotEqual(a.Lost, Run("seed: 7\n" + yaml).Lost);
    }

    [Fact]
    public void The_callback_costs_more_for_larger_records()
    {
        // 80-byte records at 1 ms per KiB: 78 us each on top of 10 us; at 20,000/s that is more than the CPU (1.76 s of work per second).
        var t = Run(Yaml("    service_per_kib: 1ms", rate: "20000/s"));
        Assert.True(t.Lost > 5000, $"{t.Lost} lost");
        Assert.Equal(0, Run(Yaml(rate: "20000/s")).Lost); // 10 us each: 20 % busy
    }

    [Fact]
    public void A_sleep_then_drain_loop_ignores_wake_ups_and_loses_what_a_sleep_overfills()
    {
        // bcc issue 1033's loop: sleep 500 ms, drain, sleep 500 ms again (past the end). 409 records fit in a ring:
        // one drain reads 409, 409 wait at the end, the other 182 are lost.
        var t = Run(Yaml("    poll: { sleep: 500ms }"));
        Assert.Equal(409, t.RecordsConsumed);
        Assert.Equal(409, t.RecordsInRing);
        Assert.Equal(182, t.Lost);
        Assert.True(t.Wakeups > 0); // the ring still signals; nobody waits in epoll for it
        Assert.Equal(0, Run(Yaml()).Lost); // epoll, woken per record
        Assert.Equal(0, Run(Yaml("    poll: { sleep: 100ms }")).Lost);
    }

    [Fact]
    public void Reader_model_fields_are_checked_with_their_path()
    {
        Assert.Equal("consumers.agent.cpu_load[0].util: 1.5 is more than the whole CPU (at most 1, or 100%)",
            Refused(Yaml("    cpu_load: [{ at: 0s, util: 1.5 }]")).ToString()[(Refused(Yaml("    cpu_load: [{ at: 0s, util: 1.5 }]")).ToString().IndexOf("consumers", StringComparison.Ordinal))..]);
        var e = Refused(Yaml("    cpu_load: [{ at: 1s, util: 50% }]"));
        Assert.Equal("consumers.agent.cpu_load[0].at", e.Field);
        Assert.Equal("1s is not before the end of the scenario (duration 1s)", e.Message);
        e = Refused(Yaml("    cpu_load: [{ at: 200ms, util: 50% }, { at: 100ms, util: 0 }]"));
        Assert.Equal("100ms is not after the previous step (200ms)", e.Message);
        e = Refused(Yaml("    poll: sleep"));
        Assert.Equal("consumers.agent.poll", e.Field);
        Assert.Equal("expected epoll or { sleep: DURATION }, found 'sleep'", e.Message);
        e = Refused(Yaml("    pauses: { every: { fixed: 1ns }, for: { fixed: 1ms } }"));
        Assert.Equal("consumers.agent.pauses.every", e.Field);
        Assert.Equal("a pause every 1ns on average is more than 1,000,000 pauses in 1s", e.Message);
        e = Refused(Yaml("    pauses: [{ at: 100ms, for: 0 }]"));
        Assert.Equal("consumers.agent.pauses[0].for", e.Field);
    }

    // ---- configuration checks: page size and locked memory ----

    [Fact]
    public void A_page_size_Linux_does_not_have_is_refused()
    {
        var e = Refused(Yaml(group: "    page_size: 8KiB"));
        Assert.Equal("fleet[0].page_size", e.Field);
        Assert.Equal("'8KiB' is not a page size Linux runs with: 4KiB (x86_64, arm64), 16KiB or 64KiB (arm64, ppc64)", e.Message);
        Assert.Equal("expected a kernel version MAJOR.MINOR from 4.0 to 7.99 (e.g. 5.10, quoted or not), found 'linux-5'",
            Refused(Yaml(group: "    kernel: linux-5")).Message);
        Assert.Equal("expected a size in bytes (65536, 64KiB, 8MiB) or unlimited, found 'lots'", Refused(Yaml(group: "    memlock: lots")).Message);
    }

    [Fact]
    public void Ring_pages_are_pages_of_the_hosts_page_size()
    {
        var sim = new HostSimulation(SimTestUtil.Parse(Yaml(group: "    page_size: 16KiB", pages: 2)), 0, 0);
        var t = SimTestUtil.Sum(sim.RunToEnd());
        Assert.Equal(32768UL, Assert.Single(sim.InstancesForTest).Ring!.Size);
        Assert.Equal(1000, t.RecordsWritten);
        var g = Assert.Single(RingMemory.Plan(SimTestUtil.Parse(Yaml(group: "    page_size: 16KiB", pages: 2))).Groups);
        Assert.Equal(3 * 16384, g.BytesPerHost);
    }

    [Fact]
    public void Before_5_11_a_map_past_RLIMIT_MEMLOCK_is_refused_with_EPERM()
    {
        string rb = Yaml(group: "    kernel: \"5.10\"").Replace("  events: { max_entries: cpus }", "  events: { max_entries: cpus }\n  rb: { type: ringbuf, max_entries: 256KiB }", StringComparison.Ordinal);
        var e = Refused(rb);
        Assert.Equal("maps.rb", e.Field);
        Assert.Equal("BPF_MAP_CREATE fails with -EPERM (-1) on group 'node' (kernel 5.10): the maps need 268 KiB of locked memory and RLIMIT_MEMLOCK " +
            "is 64 KiB (before 5.11 map memory counts against it; raise memlock, e.g. memlock: unlimited, as libbpf and bcc do)", e.Message);
        // Raised as bcc does, or on 5.11 and later (memcg), the same maps are created.
        Assert.Equal("rlimit", Assert.Single(RingMemory.Plan(SimTestUtil.Parse(rb.Replace("kernel: \"5.10\"", "kernel: \"5.10\"\n    memlock: unlimited", StringComparison.Ordinal))).Groups).Accounting);
        Assert.Equal("memcg", Assert.Single(RingMemory.Plan(SimTestUtil.Parse(rb.Replace("5.10", "5.11", StringComparison.Ordinal))).Groups).Accounting);
    }

    [Fact]
    public void A_perf_mmap_past_RLIMIT_MEMLOCK_without_CAP_IPC_LOCK_is_refused_with_EPERM()
    {
        var e = Refused(Yaml(group: "    cap_ipc_lock: false", pages: 4096));
        Assert.Equal("events.out.ring_pages", e.Field);
        Assert.Equal("mmap of ring 0 of 1 (4096 + 1 pages of 4 KiB) fails with -EPERM (-1) on group 'node': the rings need 15872 KiB of locked memory " +
            "beyond perf_event_mlock_kb (516 KiB per CPU) and RLIMIT_MEMLOCK is 8 MiB without CAP_IPC_LOCK", e.Message);
        // With CAP_IPC_LOCK (the default: agents run as root) the same ring is mapped; it is pinned beyond the allowance.
        var g = Assert.Single(RingMemory.Plan(SimTestUtil.Parse(Yaml(pages: 4096))).Groups);
        Assert.Equal((4097L - 129) * 4096, g.PinnedBytes);
        // 5.10's default limit is 64 KiB: a 1 MiB ring of one CPU already passes it.
        Assert.StartsWith("mmap of ring 0 of 1 (256 + 1 pages of 4 KiB) fails with -EPERM (-1)",
            Refused(Yaml(group: "    cap_ipc_lock: false\n    kernel: \"5.10\"", pages: 256)).Message);
    }

    [Fact]
    public void A_ringbuf_smaller_than_a_64_KiB_page_is_refused_with_EINVAL()
    {
        string rb = Yaml(group: "    page_size: 64KiB").Replace("  events: { max_entries: cpus }", "  events: { max_entries: cpus }\n  rb: { type: ringbuf, max_entries: 16KiB }", StringComparison.Ordinal);
        var e = Refused(rb);
        Assert.Equal("maps.rb.max_entries", e.Field);
        Assert.Equal("BPF_MAP_CREATE refuses a ringbuf of 16384 bytes with -EINVAL (-22) on group 'node': max_entries must be a multiple of its page size (65536)", e.Message);
    }
}

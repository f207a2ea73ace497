using BpfTraceSim.Contracts.Scenarios;

namespace BpfTraceSim.Contracts.Tests.Scenarios;

public class ExampleTests
{
    // Build output lives outside the tree (BPFSIM_ARTIFACTS): find the root from this source file.
    internal static string RepoRoot([System.Runtime.CompilerServices.CallerFilePath] string source = "")
    {
        var dir = new DirectoryInfo(Path.GetDirectoryName(source)!);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "BpfTraceSim.slnx")))
            dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("repository root not found above " + source);
    }

    public static TheoryData<string> ExampleFiles()
    {
        var data = new TheoryData<string>();
        foreach (string f in Directory.GetFiles(Path.Combine(RepoRoot(), "scenarios"), "*.yaml").OrderBy(x => x, StringComparer.Ordinal))
            data.Add(Path.GetFileName(f));
        return data;
    }

    [Theory]
    [MemberData(nameof(ExampleFiles))]
    public void Every_example_parses_and_starts_with_a_header_comment(string name)
    {
        string path = Path.Combine(RepoRoot(), "scenarios", name);
        Scenario s = ScenarioParser.ParseFile(path);
        Assert.Equal(Path.GetFileNameWithoutExtension(name), s.Name);
        Assert.StartsWith("# " + name + " - ", File.ReadAllText(path));
        Assert.Equal(0, s.DurationNs % s.WindowNs);
    }

    [Fact]
    public void The_required_examples_exist()
    {
        string[] required = ["healthy.yaml", "swapped-slots.yaml", "undersized-ring.yaml", "cpu-offline.yaml", "large-fleet.yaml", "quick.yaml"];
        foreach (string f in required)
            Assert.True(File.Exists(Path.Combine(RepoRoot(), "scenarios", f)), f);
    }

    [Fact]
    public void Large_fleet_is_8192_hosts_of_128_cpus()
    {
        var s = ScenarioParser.ParseFile(Path.Combine(RepoRoot(), "scenarios", "large-fleet.yaml"));
        Assert.Equal(8192, s.HostCount);
        Assert.Equal(8192L * 128, s.CpuCount);
        Assert.All(s.Fleet, g => Assert.Equal(128, g.Cpus));
    }

    // The example of docs/scenarios.md ("A scenario"), verbatim.
    internal const string SpecExample = """
        name: undersized-ring            # default: the file name without extension
        seed: 42                         # every random stream derives from it
        duration: 10s                    # virtual time simulated
        window: 100ms                    # statistics and checkpoint interval

        fleet:                           # host groups; hosts are named <group>-<i>
          - group: web
            hosts: 8
            cpus: 4
            tasks:                       # on every host of the group
              - { comm: nginx, pid: 1000, count: 4 }          # pids 1000..1003, spread over CPUs
            migrate: { every: 1s }       # optional: each task moves to the next CPU

        events:                          # perf events opened on every host
          out:
            config: bpf_output           # type defaults to software
            per: cpu                     # cpu: one event per CPU | task: one per task
            ring_pages: 1                # data pages, power of two
            wakeup_events: 1             # or watermark: <bytes>; default wakeup_events 1
            sample_type: [raw]

        maps:
          events: { type: perf_event_array, max_entries: cpus }   # a number or `cpus`
        slots:
          events: per_cpu                # per_cpu | { shifted: N } | { sparse: [0, 2] } | swapped | [out@1, out@0, null]

        programs:
          exec_trace:
            cpus: all                    # all | [0, 1]
            fire: { process: poisson, rate: 20000/s }   # per CPU; constant | poisson |
                                         # { process: bursts, size: 500, every: 1s } | { process: piecewise, steps: [{at: 0s, rate: 1000/s}, ...] }
            body:                        # helper calls per firing, in order
              - perf_event_output: { map: events, flags: BPF_F_CURRENT_CPU, size: 8 }   # size: N | { uniform: [8, 256] }
              - trace_vprintk: { fmt: "pid=%d\n", args: [pid] }   # args from: pid, cpu, counter, random, constants
            # instead of body: object: agent.bpf.o, section: tracepoint/sched/sched_process_exec

        consumers:
          agent:                         # one reader per host, as libbpf's perf_buffer
            events: out
            cpu: 0                       # the CPU it runs on (informational unless CPUs are modelled busy)
            service: { exponential: 50us }   # time per record: { fixed: 10us } | { exponential: mean } | { uniform: [a, b] }
            tail_update: per_batch       # per_batch (libbpf: tail moves after the records found at a wake-up) | per_record
            wakeup_latency: 0us          # from the wake-up to the reader starting
            poll_timeout: 100ms          # the reader also wakes this often without a wake-up

        timeline:                        # things that happen at a time
          - { at: 3s, cpu_offline: { host: web-0, cpu: 2 } }
          - { at: 4s, cpu_online:  { host: web-0, cpu: 2 } }
          - { at: 5s, slots: { map: events, layout: { shifted: 1 } } }   # an agent restart with a bug
          - { at: 6s, consumer_stall: { consumer: agent, for: 500ms } }
          - { at: 7s, rate: { program: exec_trace, rate: 50000/s } }
        """;

    [Fact]
    public void The_spec_example_parses_to_the_values_it_states()
    {
        Scenario s = ScenarioParser.Parse(SpecExample, "spec.yaml");
        Assert.Equal("undersized-ring", s.Name);
        Assert.Equal(42UL, s.Seed);
        Assert.Equal(10_000_000_000L, s.DurationNs);
        Assert.Equal(100_000_000L, s.WindowNs);
        Assert.Equal(8, s.HostCount);
        Assert.Equal(32, s.CpuCount);

        var g = Assert.Single(s.Fleet);
        Assert.Equal(("web", 8, 4, 1_000_000_000L), (g.Group, g.Hosts, g.Cpus, g.MigrateEveryNs!.Value));
        var t = Assert.Single(g.Tasks);
        Assert.Equal(("nginx", 1000, 4), (t.Comm, t.Pid, t.Count));

        var e = Assert.Single(s.Events);
        Assert.Equal(("out", PerfType.Software, 10UL, EventScope.Cpu, 1, 1, 1UL << 10), (e.Name, e.Type, e.Config, e.Per, e.RingPages!.Value, e.WakeupEvents, e.SampleType));

        var m = Assert.Single(s.Maps);
        Assert.Null(m.MaxEntries);
        Assert.Equal(4, m.MaxEntriesFor(4));
        var sl = Assert.Single(s.Slots);
        Assert.Equal(("events", "out"), (sl.Map, sl.Event));
        Assert.IsType<PerCpuLayout>(sl.Layout);

        var p = Assert.Single(s.Programs);
        Assert.True(p.AllCpus);
        Assert.Equal(20000.0, Assert.IsType<PoissonFire>(p.Fire).RatePerSec);
        var output = Assert.IsType<PerfEventOutputCall>(p.Body[0]);
        Assert.Equal(("events", 0xffffffffUL, 8, 8), (output.Map, output.Flags, output.Size.Min, output.Size.Max));
        var printk = Assert.IsType<TraceVprintkCall>(p.Body[1]);
        Assert.Equal("pid=%d\n", printk.Fmt);
        Assert.Equal(FormatArgKind.Pid, Assert.Single(printk.Args).Kind);

        var c = Assert.Single(s.Consumers);
        Assert.Equal("out", Assert.Single(c.Events));
        Assert.Equal(50_000L, Assert.IsType<ExponentialService>(c.Service).MeanNs);
        Assert.Equal((TailUpdate.PerBatch, 0L, 100_000_000L), (c.TailUpdate, c.WakeupLatencyNs, c.PollTimeoutNs));

        Assert.Equal(5, s.Timeline.Length);
        var off = Assert.IsType<CpuOfflineAction>(s.Timeline[0]);
        Assert.Equal((3_000_000_000L, "web", 0, 2), (off.AtNs, off.Host.Group, off.Host.Index!.Value, off.Cpu));
        Assert.IsType<CpuOnlineAction>(s.Timeline[1]);
        var slots = Assert.IsType<SlotsAction>(s.Timeline[2]);
        Assert.Equal(1, Assert.IsType<ShiftedLayout>(slots.Slots.Layout).Shift);
        var stall = Assert.IsType<ConsumerStallAction>(s.Timeline[3]);
        Assert.Equal(("agent", 500_000_000L), (stall.Consumer, stall.ForNs));
        var rate = Assert.IsType<RateAction>(s.Timeline[4]);
        Assert.Equal(("exec_trace", 50000.0), (rate.Program, rate.RatePerSec));
    }
}

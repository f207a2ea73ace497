using BpfTraceSim.Contracts.Scenarios;
using BpfTraceSim.Grains.Simulation;

namespace BpfTraceSim.Grains.Tests.Simulation;

/// <summary>Workloads from data (docs/scenarios.md): trace and rates files replayed exactly.</summary>
public sealed class ReplayTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bpfsim-replay-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Two CPUs, a 1-page ring per CPU and no reader unless asked: what is written stays.</summary>
    private global::BpfTraceSim.Contracts.Scenarios.Scenario Scenario(string fire, string file, string data, string duration = "10ms", string window = "1ms", string consumer = "")
    {
        File.WriteAllText(Path.Combine(_dir, file), data);
        string yaml = $$"""
            seed: 3
            duration: {{duration}}
            window: {{window}}
            fleet:
              - { group: g, hosts: 2, cpus: 2, tasks: [{ comm: app, pid: 100, count: 2 }] }
            events:
              out: { per: cpu, ring_pages: 1 }
            maps:
              events: { max_entries: cpus }
            slots:
              events: per_cpu
            programs:
              p:
                fire: {{fire}}
                body:
                  - perf_event_output: { map: events, size: 8 }
            {{consumer}}
            """;
        return ScenarioParser.Parse(yaml, Path.Combine(_dir, "s.yaml"));
    }

    private static List<WindowStats> Run(global::BpfTraceSim.Contracts.Scenarios.Scenario s, int host = 0) => new HostSimulation(s, 0, host).RunToEnd().ToList();

    [Fact]
    public void Each_csv_row_fires_once_on_its_cpu_with_its_size_and_a_full_ring_loses_the_rest()
    {
        // CPU 0: 20 records of 200 bytes at once (216 bytes each with header and padding: 18 fit in
        // the 4096 bytes, the kernel keeping one byte free), CPU 1: three of 8 bytes (24 bytes each).
        var rows = string.Concat(Enumerable.Range(0, 20).Select(i => $"{1000 + i},0,200\n")) + "0,1,8\n5us,1,8\n9ms,1,8\n";
        var s = Scenario("{ process: trace, file: t.csv }", "t.csv", "time,cpu,size\n" + rows);
        var w = Run(s);
        var c0 = SimTestUtil.SumCpu(w, 0);
        var c1 = SimTestUtil.SumCpu(w, 1);
        Assert.Equal((20, 18, 2, 18 * 216), (c0.Firings, c0.RecordsWritten, c0.Lost, c0.BytesWritten));
        Assert.Equal((3, 3, 0, 3 * 24), (c1.Firings, c1.RecordsWritten, c1.Lost, c1.BytesWritten));
        // The row at 9 ms fires in window 9; nothing else after window 0.
        Assert.Equal(new long[] { 22, 0, 0, 0, 0, 0, 0, 0, 0, 1 }, w.Select(x => x.Totals.Firings).ToArray());
        // Every host replays the same file.
        Assert.Equal(SimTestUtil.Sum(w), SimTestUtil.Sum(Run(s, host: 1)));
    }

    [Fact]
    public void Rows_at_or_after_the_end_do_not_fire_and_rows_without_size_use_the_bodys()
    {
        var s = Scenario("{ process: trace, file: t.csv }", "t.csv", "time,cpu\n0,0\n9999999,0\n10ms,0\n1s,1\n");
        var t = SimTestUtil.Sum(Run(s));
        Assert.Equal((2, 2 * 24), (t.Firings, t.BytesWritten));
    }

    [Fact]
    public void Loop_true_repeats_the_file_every_its_span_plus_one_gap_and_scale_halves_the_gaps()
    {
        // Rows at 0 and 1 ms: the natural period is 2 ms, so 5 loops of 2 rows in 10 ms.
        var once = Scenario("{ process: trace, file: t.csv, loop: true }", "t.csv", "time,cpu\n0,0\n1ms,0\n");
        Assert.Equal(2_000_000, ((TraceFire)once.Programs[0].Fire).LoopNs);
        Assert.Equal(Enumerable.Repeat(1L, 10), Run(once).Select(x => x.Totals.Firings));
        // x2: rows at 0 and 0.5 ms, period 1 ms: two firings in every 1 ms window.
        var twice = Scenario("{ process: trace, file: t.csv, loop: true, scale: x2 }", "t.csv", "time,cpu\n0,0\n1ms,0\n");
        Assert.Equal(Enumerable.Repeat(2L, 10), Run(twice).Select(x => x.Totals.Firings));
        // An explicit period: rows at 0 and 1 ms every 4 ms: windows 0, 1, 4, 5, 8, 9.
        var every4 = Scenario("{ process: trace, file: t.csv, loop: 4ms }", "t.csv", "time,cpu\n0,0\n1ms,0\n");
        Assert.Equal(new long[] { 1, 1, 0, 0, 1, 1, 0, 0, 1, 1 }, Run(every4).Select(x => x.Totals.Firings).ToArray());
    }

    [Fact]
    public void Jsonl_rows_with_sizes_replay_as_csv_rows_do()
    {
        var csv = Scenario("{ process: trace, file: t.csv }", "t.csv", "time,cpu,size\n0,0,100\n10,1,4000\n20,1,100\n");
        var jsonl = Scenario("{ process: trace, file: t.jsonl }", "t.jsonl",
            "{\"time\": 0, \"cpu\": 0, \"size\": 100}\n{\"cpu\": 1, \"time\": \"10ns\", \"size\": 4000}\n\n{\"time\": 20, \"cpu\": 1, \"size\": 100}\n");
        var a = Run(csv);
        Assert.Equal(a, Run(jsonl));
        var c1 = SimTestUtil.SumCpu(a, 1);
        Assert.Equal((2, 1, 1), (c1.Firings, c1.RecordsWritten, c1.Lost)); // 4000 + 112 bytes do not fit one page
    }

    [Fact]
    public void Perf_script_lines_fire_on_their_cpu_relative_to_the_first_line()
    {
        const string perf = """
            # header line
                     swapper     0 [000] 100.000000: sched:sched_switch: prev_comm=swapper/0 ==> next_comm=app
                 Web Content  2001 [001] 100.000500: sched:sched_switch: prev_comm=Web Content ==> next_comm=app
                         app   101 [001] 100.000700: sched:sched_wakeup: comm=app pid=100
            	ffffffff81c0a1b2 __schedule+0x2b2 ([kernel.kallsyms])
                         app 100/100 [000] 100.003000: sched:sched_switch: prev_comm=app ==> next_comm=swapper/0

            """;
        var s = Scenario("{ process: trace, file: s.perf, event: \"sched:sched_switch\" }", "s.perf", perf);
        var d = TraceFiles.Data((TraceFire)s.Programs[0].Fire);
        Assert.Equal(new long[] { 0, 3_000_000 }, d.TimesOf(0).ToArray());
        Assert.Equal(new long[] { 500_000 }, d.TimesOf(1).ToArray());
        Assert.Equal(new[] { 0, 100 }, d.Pids![0]![..2]);
        Assert.Equal(new[] { 2001 }, d.Pids[1]![..1]);
        var w = Run(s);
        Assert.Equal(new long[] { 2, 0, 0, 1, 0, 0, 0, 0, 0, 0 }, w.Select(x => x.Totals.Firings).ToArray());
        // Without the filter the sched_wakeup line fires too.
        var all = Scenario("{ process: trace, file: s.perf }", "s.perf", perf);
        Assert.Equal(4, SimTestUtil.Sum(Run(all)).Firings);
    }

    [Fact]
    public void A_rates_file_with_constant_firing_gives_exactly_rate_times_interval_per_cpu()
    {
        // CPU 0: 1000/s for 100 ms then 0; CPU 1: 200/s from 50 ms (no row before: rate 0).
        var s = Scenario("{ process: rates, file: r.csv, within: constant }", "r.csv", "t,cpu,rate\n0,0,1000\n100ms,0,0\n50ms,1,200/s\n", duration: "1s", window: "100ms");
        var w = Run(s);
        Assert.Equal(100, SimTestUtil.SumCpu(w, 0).Firings);
        Assert.Equal(190, SimTestUtil.SumCpu(w, 1).Firings); // 950 ms at 200/s
        Assert.Equal(110, w[0].Totals.Firings); // 100 on CPU 0, 10 on CPU 1 (50..100 ms)
    }

    [Fact]
    public void A_counts_file_is_counts_per_interval_and_loops_and_scales()
    {
        // 50 events in [0, 100ms), 10 in [100, 200ms) (the last row keeps the interval before it): every CPU.
        var s = Scenario("{ process: rates, file: r.csv, within: constant, loop: true, scale: x2 }", "r.csv", "t,count\n0s,50\n100ms,10\n", duration: "1s", window: "200ms");
        var w = Run(s);
        Assert.Equal(200_000_000, ((RatesFire)s.Programs[0].Fire).LoopNs);
        Assert.Equal(Enumerable.Repeat(2L * 2 * 60, 5), w.Select(x => x.Totals.Firings)); // 2 CPUs x x2 x 60 per period
    }

    [Fact]
    public void A_poisson_rates_replay_is_the_same_every_run_and_has_the_files_mean()
    {
        var s = Scenario("{ process: rates, file: r.csv }", "r.csv", "t,rate\n0,20000\n500ms,2000\n", duration: "1s", window: "100ms",
            consumer: "consumers:\n  agent: { events: out, service: { exponential: 30us } }");
        var a = Run(s);
        Assert.Equal(a, Run(s));
        long n = SimTestUtil.SumCpu(a, 0).Firings;
        Assert.InRange(n, 11_000 - 400, 11_000 + 400); // 10,000 + 1,000 expected, sd ~105
        Assert.NotEqual(a, Run(s, host: 1)); // each host draws its own stream
    }

    [Fact]
    public void A_replay_restored_from_a_checkpoint_gives_the_same_windows()
    {
        var rows = string.Concat(Enumerable.Range(0, 400).Select(i => $"{i * 25_000},{i % 2},{8 + i % 300}\n"));
        var s = Scenario("{ process: trace, file: t.csv, loop: true }", "t.csv", "time,cpu,size\n" + rows,
            consumer: "consumers:\n  agent: { events: out, service: { fixed: 30us }, wakeup_latency: 1ms }");
        var straight = new HostSimulation(s, 0, 0);
        var all = Enumerable.Range(0, 10).Select(i => straight.RunWindow(i)).ToList();
        var first = new HostSimulation(s, 0, 0);
        for (int i = 0; i < 5; i++) first.RunWindow(i);
        var restored = HostSimulation.Restore(s, 0, 0, first.Checkpoint());
        for (int i = 5; i < 10; i++) Assert.Equal(all[i], restored.RunWindow(i));
        Assert.True(SimTestUtil.Sum(all).Lost > 0);
    }
}

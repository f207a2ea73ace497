using System.Globalization;
using System.Text;
using BpfTraceSim.Contracts.Scenarios;
using BpfTraceSim.Grains.Simulation;

namespace BpfTraceSim.Grains.Tests.Simulation;

/// <summary>`fit: on_off` (docs/scenarios.md, "Fitted workloads"): the estimator, the generator, the refusals.</summary>
public sealed class FittedTraceTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bpfsim-fit-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>A seeded on/off process (starts on at 0): `cycles` on periods, each followed by an off period.</summary>
    private static long[] OnOff(int seed, double rate, double meanOnNs, double meanOffNs, int cycles)
    {
        var rng = new Random(seed);
        double Exp() => -Math.Log(1 - rng.NextDouble());
        var times = new List<long>();
        double t = 0;
        for (int c = 0; c < cycles; c++)
        {
            double end = t + Exp() * meanOnNs;
            while ((t += Exp() * 1e9 / rate) < end) times.Add((long)Math.Ceiling(t));
            t = end + Exp() * meanOffNs;
        }
        return [.. times];
    }

    private static void Near(double expected, double actual, double tolerance, string what) =>
        Assert.True(Math.Abs(actual - expected) <= tolerance * expected,
            $"{what}: {actual.ToString("R", CultureInfo.InvariantCulture)} is not within {tolerance:P0} of {expected.ToString("R", CultureInfo.InvariantCulture)}");

    private static void Recovers(OnOffCpu? fit, double rate, double meanOnNs, double meanOffNs, double tolerance)
    {
        Assert.NotNull(fit);
        Near(rate, fit.OnRatePerSec, tolerance, "on-rate");
        Near(meanOnNs, fit.MeanOnNs, tolerance, "mean on");
        Near(meanOffNs, fit.MeanOffNs, tolerance, "mean off");
    }

    [Theory]
    [InlineData(1, 50_000, 2e6, 20e6)]    // 100 events a burst, off 10 x on
    [InlineData(2, 5_000, 10e6, 50e6)]    // 50 events a burst
    [InlineData(3, 1_000_000, 100e3, 1e6)] // 100 events in 100 us, off 1 ms
    public void The_estimator_recovers_a_seeded_on_off_process_within_5_percent(int seed, double rate, double meanOnNs, double meanOffNs)
    {
        // 3,000 cycles: the standard error of each mean is about 1 / sqrt(3000) = 1.8 %.
        var times = OnOff(seed, rate, meanOnNs, meanOffNs, 3000);
        Recovers(OnOffFitter.Fit(0, times, out string why), rate, meanOnNs, meanOffNs, 0.05);
        Assert.Equal("", why);
    }

    [Fact]
    public void The_generator_makes_firings_the_estimator_fits_back_to_the_model()
    {
        // The engine's own stream, 3,000-odd cycles: refitting what it generated gives the model back.
        var model = new OnOffCpu { Cpu = 0, Events = 1000, Bursts = 10, ThresholdNs = 1, OnRatePerSec = 50_000, MeanOnNs = 2e6, MeanOffNs = 20e6 };
        var trace = new TraceData { Times = [new long[1]], Counts = [1], Rows = 1, LastNs = 0, CpusUsed = 1 };
        var fire = new TraceFire { Fit = new OnOffFit { Cpus = [model] } };
        var prog = new ProgramPlan { Name = "p", OnCpu = [true], Fire = fire, Body = [], Kind = FiringProcess.KindOf(fire), Fit = fire.Fit, Trace = trace };
        Assert.Equal(FireKind.Fitted, prog.Kind);
        var fs = new FiringState { FireRng = Xoshiro256.FromSeed(11) };
        FiringProcess.Start(ref fs, prog, 0, 0);
        var times = new List<long>();
        while (fs.NextNs < 66_000_000_000)
        {
            Assert.True(times.Count == 0 || fs.NextNs >= times[^1], "firings in time order");
            Assert.Equal(0, fs.K); // the only row
            times.Add(fs.NextNs);
            FiringProcess.Next(ref fs, prog, 0);
        }
        Recovers(OnOffFitter.Fit(0, times.ToArray(), out _), 50_000, 2e6, 20e6, 0.05);
    }

    [Fact]
    public void Too_few_events_or_a_single_burst_cannot_be_fitted_and_say_why()
    {
        var few = OnOff(4, 50_000, 2e6, 20e6, 100).AsSpan(0, OnOffFitter.MinEvents - 1);
        Assert.Null(OnOffFitter.Fit(3, few, out string why));
        Assert.Equal("CPU 3 has 99 events; fit: on_off needs at least 100 on each CPU that has any", why);
        var even = Enumerable.Range(0, 200).Select(i => i * 1000L).ToArray();
        Assert.Null(OnOffFitter.Fit(1, even, out why));
        Assert.Equal("CPU 1: no gap is longer than 20us (20 x the median gap): one burst has no off period to fit; replay it (no fit) or use process: poisson", why);
        Assert.Null(OnOffFitter.Fit(0, new long[200], out why));
        Assert.Equal("CPU 0: half its gaps are 0 ns (timestamps too coarse to tell bursts apart)", why);
    }

    /// <summary>Two hosts of 2 CPUs, a 4-page ring per CPU, no reader.</summary>
    private global::BpfTraceSim.Contracts.Scenarios.Scenario Scenario(string fire, string data, string duration = "5s")
    {
        File.WriteAllText(Path.Combine(_dir, "t.csv"), data);
        string yaml = $$"""
            seed: 3
            duration: {{duration}}
            window: 500ms
            fleet:
              - { group: g, hosts: 2, cpus: 2 }
            events:
              out: { per: cpu, ring_pages: 4 }
            maps:
              events: { max_entries: cpus }
            slots:
              events: per_cpu
            programs:
              p:
                fire: {{fire}}
                body:
                  - perf_event_output: { map: events, size: 8 }
            """;
        return ScenarioParser.Parse(yaml, Path.Combine(_dir, "s.yaml"));
    }

    /// <summary>CPU 0: the first 2 s of an on/off trace with sizes 8, 16 or 24 (cycling); CPU 1: none.</summary>
    private static string Csv(long[] times)
    {
        var sb = new StringBuilder("time,cpu,size\n");
        for (int i = 0; i < times.Length && times[i] < 2_000_000_000; i++) sb.Append(times[i]).Append(",0,").Append(8 * (1 + i % 3)).Append('\n');
        return sb.ToString();
    }

    [Fact]
    public void A_fitted_trace_fires_for_the_whole_run_each_host_its_own_stream_the_same_every_run()
    {
        var s = Scenario("{ process: trace, file: t.csv, fit: on_off }", Csv(OnOff(5, 50_000, 2e6, 20e6, 100)));
        var fit = Assert.IsType<TraceFire>(s.Programs[0].Fire).Fit!;
        Assert.Equal(0, fit.Cpus[0].Cpu);
        Assert.True(fit.Cpus[0].Events >= OnOffFitter.MinEvents);
        var h0 = new HostSimulation(s, 0, 0).RunToEnd().ToList();
        var again = new HostSimulation(s, 0, 0).RunToEnd().ToList();
        var h1 = new HostSimulation(s, 0, 1).RunToEnd().ToList();
        Assert.Equal(h0.Select(w => w.Totals).ToList(), again.Select(w => w.Totals).ToList());
        Assert.NotEqual(SimTestUtil.Sum(h0).Firings, SimTestUtil.Sum(h1).Firings);
        // The trace ends before 2 s; the model fires in every window of the 5 s run, on CPU 0 only.
        Assert.All(h0, w => Assert.True(w.Totals.Firings > 0, $"window at {w.StartNs}: no firings; fitted {fit.Cpus[0]}"));
        Assert.Equal(0, SimTestUtil.SumCpu(h0, 1).Firings);
        // Sizes are drawn from the rows: 8, 16 or 24 bytes (24, 32 or 40 in the ring), never another.
        var c0 = SimTestUtil.SumCpu(h0, 0);
        Assert.InRange(c0.BytesWritten, 24 * c0.RecordsWritten, 40 * c0.RecordsWritten);
        Assert.NotEqual(24 * c0.RecordsWritten, c0.BytesWritten);
        Assert.NotEqual(40 * c0.RecordsWritten, c0.BytesWritten);
    }

    [Fact]
    public void A_host_restored_from_a_checkpoint_mid_run_fires_as_one_that_ran_straight()
    {
        // The on/off state (last arrival, end of the on period, the stream) is in the checkpoint.
        var s = Scenario("{ process: trace, file: t.csv, fit: on_off }", Csv(OnOff(6, 50_000, 2e6, 20e6, 100)), duration: "5s");
        var straight = new HostSimulation(s, 0, 0);
        var all = new List<WindowStats>();
        for (int w = 0; w < 10; w++) all.Add(straight.RunWindow(w));
        var first = new HostSimulation(s, 0, 0);
        for (int w = 0; w < 5; w++) Assert.Equal(all[w], first.RunWindow(w));
        var restored = HostSimulation.Restore(s, 0, 0, first.Checkpoint());
        for (int w = 5; w < 10; w++) Assert.Equal(all[w], restored.RunWindow(w));
        Assert.True(all.Skip(5).Sum(x => x.Totals.Firings) > 0);
    }

    private ScenarioError Refused(string fire, string data) =>
        Assert.Throws<ScenarioException>(() => Scenario(fire, data)).Error;

    [Fact]
    public void A_trace_too_short_to_fit_is_refused_naming_the_scenario_field_and_the_data_file()
    {
        string data = Csv(OnOff(7, 50_000, 2e6, 20e6, 100)) + "1999999999,1,8\n";
        var e = Refused("{ process: trace, file: t.csv, fit: on_off }", data);
        Assert.Equal((Path.Combine(_dir, "s.yaml"), "programs.p.fire.fit"), (e.File, e.Field));
        Assert.Equal($"{Path.Combine(_dir, "t.csv")}: CPU 1 has 1 event; fit: on_off needs at least 100 on each CPU that has any", e.Message);
    }

    [Fact]
    public void Fit_with_loop_or_an_unknown_model_is_refused()
    {
        string data = Csv(OnOff(8, 50_000, 2e6, 20e6, 100));
        var e = Refused("{ process: trace, file: t.csv, fit: on_off, loop: 1s }", data);
        Assert.Equal(("programs.p.fire.loop", "a fitted process runs for the whole duration: loop repeats a replayed file, give one or the other"), (e.Field, e.Message));
        e = Refused("{ process: trace, file: t.csv, fit: mmpp }", data);
        Assert.Equal("programs.p.fire.fit", e.Field);
        Assert.Contains("on_off", e.Message);
    }
}

using System.Collections.Immutable;
using BpfTraceSim.Client.Sweeps;
using BpfTraceSim.Client.Tests.Scenarios;
using BpfTraceSim.Contracts.Grains;

namespace BpfTraceSim.Client.Tests.Sweeps;

/// <summary>
/// The budget search on made-up loss curves (no simulation): which points it runs, what it
/// chooses, the neighbour check, the fallback when loss is not monotone, and the plain answers.
/// </summary>
public sealed class SweepSearchTests : IDisposable
{
    private readonly ScenarioSiloFixture.TempDir _tmp = ScenarioSiloFixture.Temp();
    private readonly string _file;

    public SweepSearchTests()
    {
        Directory.CreateDirectory(_tmp.Path);
        _file = _tmp["s.yaml"];
        File.WriteAllText(_file, SweepScenarios.Mm1k(ringPages: 1, size: 8, rate: "1000/s", service: "10us", duration: "100ms"));
    }

    public void Dispose() => _tmp.Dispose();

    private SweepPlan Plan(int seeds, params string[] vary) => SweepPlan.Build(_file, [.. vary.Select(SweepParameter.Parse)], seeds);

    /// <summary>An evaluator whose lost_ratio is loss(values, seed) rounded to 1e-6 (1e6 samples; half to even), recording which points ran.</summary>
    private static SweepSearch.Evaluate Fake(Func<string[], int, double> loss, List<int> ran) => points =>
    {
        var list = new List<PointResult>();
        foreach (var p in points)
        {
            ran.Add(p.Index);
            string[] values = [.. p.Assignments.Select(a => a.Value)];
            var seeds = new List<ScenarioCounters>();
            for (int s = 0; s < 3; s++)
            {
                long lost = (long)Math.Round(loss(values, s) * 1_000_000);
                seeds.Add(new ScenarioCounters { RecordsWritten = 1_000_000 - lost, Lost = lost });
            }
            list.Add(new PointResult(p, [.. seeds]));
        }
        return Task.FromResult<IReadOnlyList<PointResult>>(list);
    };

    private static readonly SweepTarget Target = SweepTarget.Parse("lost_ratio<=0.001");

    [Fact]
    public async Task Bisection_finds_the_cheapest_ring_runs_few_points_and_checks_both_neighbours()
    {
        var plan = Plan(3, "events.out.ring_pages=1..1024*2");   // 11 values
        var ran = new List<int>();
        // Loss halves per doubling from 0.064 at 1 page: 32 pages gives 0.002, 64 gives 0.001 (meets).
        var (o, results) = await SweepSearch.RunAsync(plan, Target, new SweepObjective("events.out.ring_pages", 0, false), false,
            Fake((v, s) => 0.064 / int.Parse(v[0]) - (s == 2 ? 1e-6 : 0), ran));
        Assert.Equal("bisection", o.Search);
        Assert.True(o.Found);
        Assert.Equal(6, o.Chosen);          // 64 pages
        Assert.Equal(5, o.Cheaper);         // 32 fails
        Assert.Equal(7, o.Dearer);          // 128 meets
        Assert.False(o.NotMonotone);
        // Ends, then bisection (indexes 5, 7 or so), then the dearer neighbour: far fewer than 11.
        Assert.True(ran.Count <= 2 + (int)Math.Ceiling(Math.Log2(11)) + 1, string.Join(",", ran));
        Assert.Equal(ran.Count, ran.Distinct().Count());
        Assert.Equal(ran.Order(), results.Keys);
        Assert.Equal(
            "cheapest setting meeting lost_ratio<=0.001 at every seed (3 seeds, smallest events.out.ring_pages): events.out.ring_pages=64: lost_ratio 0.001 at its worst seed (mean 0.000999667)\n" +
            "  cheaper neighbour events.out.ring_pages=32: lost_ratio 0.002 at its worst seed (mean 0.00199967): fails\n" +
            "  dearer neighbour events.out.ring_pages=128: lost_ratio 0.0005 at its worst seed (mean 0.000499667): meets",
            o.Message);
    }

    [Fact]
    public async Task A_point_must_meet_the_target_at_every_seed()
    {
        var plan = Plan(3, "events.out.ring_pages=1,2,4,8");
        var ran = new List<int>();
        // At 4 pages two seeds meet, one does not: 8 is the answer.
        var (o, _) = await SweepSearch.RunAsync(plan, Target, new SweepObjective("events.out.ring_pages", 0, false), false,
            Fake((v, s) => v[0] switch { "1" => 0.1, "2" => 0.01, "4" => s == 1 ? 0.0011 : 0.0001, _ => 0 }, ran));
        Assert.Equal(3, o.Chosen);
        Assert.Equal(2, o.Cheaper);
    }

    [Fact]
    public async Task Maximize_searches_from_the_other_end()
    {
        // The slowest consumer that is still safe: service time 40us meets, 50us does not.
        var plan = Plan(3, "consumers.agent.service.exponential=10us..80us+10us");
        var ran = new List<int>();
        var (o, _) = await SweepSearch.RunAsync(plan, Target, new SweepObjective("consumers.agent.service.exponential", 0, true), false,
            Fake((v, _) => int.Parse(v[0][..^2]) >= 50 ? 0.01 : 0, ran));
        Assert.Equal(3, o.Chosen);   // 40us
        Assert.Equal(4, o.Cheaper);  // 50us: cheaper means a slower consumer here
        Assert.Equal(2, o.Dearer);
        Assert.Contains("largest consumers.agent.service.exponential", o.Message);
    }

    [Fact]
    public async Task A_non_monotone_curve_caught_at_the_neighbours_runs_every_value()
    {
        var plan = Plan(3, "events.out.ring_pages=1..256*2");   // 9 values
        var ran = new List<int>();
        // 16 meets but 32 does not (a made-up resonance), 64 and up meet.
        var (o, results) = await SweepSearch.RunAsync(plan, Target, new SweepObjective("events.out.ring_pages", 0, false), false,
            Fake((v, _) => v[0] switch { "16" => 0, "32" => 0.01, _ => int.Parse(v[0]) >= 64 ? 0 : 0.01 }, ran));
        Assert.True(o.NotMonotone);
        Assert.Equal(9, results.Count);
        Assert.Equal(4, o.Chosen);   // 16: the cheapest that meets, found by running all
        Assert.Contains("is not monotone in events.out.ring_pages", o.Message);
    }

    [Fact]
    public async Task When_nothing_meets_the_answer_says_so_plainly()
    {
        var plan = Plan(3, "events.out.ring_pages=1..64*2");
        var ran = new List<int>();
        var (o, _) = await SweepSearch.RunAsync(plan, Target, new SweepObjective("events.out.ring_pages", 0, false), false,
            Fake((v, _) => 0.5 / int.Parse(v[0]), ran));
        Assert.False(o.Found);
        Assert.Null(o.Chosen);
        Assert.Equal(
            "no value of events.out.ring_pages meets lost_ratio<=0.001 at every seed: even events.out.ring_pages=64 gives lost_ratio 0.007812 at its worst seed " +
            "(bisection assumes lost_ratio improves as events.out.ring_pages gets dearer, so the cheaper values were not all run; --exhaustive runs them)",
            o.Message);
        Assert.Equal([0, 6], ran.Order());

        var (g, _) = await SweepSearch.RunAsync(plan, Target, new SweepObjective("events.out.ring_pages", 0, false), true,
            Fake((v, _) => 0.5 / int.Parse(v[0]), []));
        Assert.False(g.Found);
        Assert.StartsWith("no point meets lost_ratio<=0.001 at every seed (7 points run, 3 seeds each): the closest, events.out.ring_pages=64, gives lost_ratio 0.007812", g.Message);
    }

    [Fact]
    public async Task Grid_over_two_parameters_chooses_the_cheapest_and_gives_the_frontier()
    {
        var plan = Plan(3, "events.out.ring_pages=1..8*2", "programs.p.fire.rate=1000/s,2000/s,4000/s");
        var ran = new List<int>();
        // Loss ~ rate / pages: meets when rate/pages <= 1000.
        var (o, results) = await SweepSearch.RunAsync(plan, Target, new SweepObjective("events.out.ring_pages", 0, false), false,
            Fake((v, _) => int.Parse(v[1][..^2]) / int.Parse(v[0]) <= 1000 ? 0 : 0.01, ran));
        Assert.Equal(12, results.Count);
        Assert.Equal("grid", o.Search);
        Assert.Equal(0, o.Chosen);                       // 1 page at 1000/s
        Assert.Null(o.Cheaper);
        Assert.Equal(3, o.Dearer);                       // 2 pages at 1000/s
        Assert.Equal([0, 4, 8], o.Frontier.Select(f => f.Point));
        Assert.EndsWith(
            "cheapest events.out.ring_pages meeting lost_ratio<=0.001 for each setting of the other parameters:\n" +
            "  programs.p.fire.rate=1000/s: 1 (lost_ratio 0 at its worst seed)\n" +
            "  programs.p.fire.rate=2000/s: 2 (lost_ratio 0 at its worst seed)\n" +
            "  programs.p.fire.rate=4000/s: 4 (lost_ratio 0 at its worst seed)",
            o.Message);
    }

    [Fact]
    public async Task Without_an_objective_every_point_runs_and_the_meeting_ones_are_counted()
    {
        var plan = Plan(3, "events.out.ring_pages=1,2,4");
        var (o, r) = await SweepSearch.RunAsync(plan, Target, null, false, Fake((v, _) => v[0] == "1" ? 0.5 : 0, []));
        Assert.Equal(3, r.Count);
        Assert.Equal("2 of 3 points meet lost_ratio<=0.001 at every seed", o.Message);
        var (n, _) = await SweepSearch.RunAsync(plan, null, null, false, Fake((_, _) => 0, []));
        Assert.Equal("", n.Message);
    }

    [Fact]
    public void Seeds_are_common_random_numbers_derived_from_the_file_seed_and_the_index_only()
    {
        var plan = Plan(4, "events.out.ring_pages=1,2");
        Assert.Equal([42UL, 43, 44, 45], Enumerable.Range(0, 4).Select(plan.SeedAt));
        var a = plan.Job(plan.Points[0], 2);
        var b = plan.Job(plan.Points[1], 2);
        Assert.Equal(44UL, a.Scenario.Seed);
        Assert.Equal(a.Seed, b.Seed);
        Assert.NotEqual(a.Digest, b.Digest);
        Assert.NotEqual(a.Digest, plan.Job(plan.Points[0], 3).Digest);
        Assert.Equal(a.Digest, plan.Job(plan.Points[0], 2).Digest);
        Assert.Equal((1, 2), (a.Scenario.Events[0].RingPages!.Value, b.Scenario.Events[0].RingPages!.Value));
    }
}

/// <summary>The example sweeps build with the --vary lists their headers document.</summary>
public sealed class SweepExampleTests
{
    [Theory]
    [InlineData("sweep-ring-pages.yaml", 9, "events.out.ring_pages=1..256*2")]
    [InlineData("sweep-ring-pages.yaml", 64, "events.out.ring_pages=1..128*2", "programs.exec_trace.fire.rate=5000/s..40000/s+5000/s")]
    [InlineData("sweep-consumer-speed.yaml", 14, "consumers.agent.service.exponential=4us..30us+2us")]
    [InlineData("sweep-wakeup-events.yaml", 11, "events.out.wakeup_events=1..1024*2")]
    public void Example_sweeps_build(string example, int points, params string[] vary)
    {
        string file = ScenarioSiloFixture.Example(example);
        foreach (var v in vary) Assert.Contains("--vary " + v, File.ReadAllText(file));
        var plan = SweepPlan.Build(file, [.. vary.Select(SweepParameter.Parse)], 8);
        Assert.Equal(points, plan.Points.Length);
    }
}

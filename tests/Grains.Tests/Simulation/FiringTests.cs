using BpfTraceSim.Grains.Simulation;

namespace BpfTraceSim.Grains.Tests.Simulation;

/// <summary>When programs fire: the four processes and rate changes (firings start at time 0).</summary>
public class FiringTests
{
    private static List<WindowStats> Run(string fire, string duration = "1s", string window = "100ms", int cpus = 1, string timeline = "") =>
        new HostSimulation(SimTestUtil.Parse($$"""
            name: t
            seed: 3
            duration: {{duration}}
            window: {{window}}
            fleet: [ { group: g, cpus: {{cpus}} } ]
            programs:
              p: { fire: {{fire}}, body: [] }
            {{timeline}}
            """), 0, 0).RunToEnd();

    private static long[] PerWindow(List<WindowStats> w) => w.Select(x => x.Totals.Firings).ToArray();

    [Fact]
    public void Constant_firings_are_evenly_spaced_from_time_zero()
    {
        Assert.Equal(Enumerable.Repeat(100L, 10), PerWindow(Run("{ process: constant, rate: 1000/s }")));
        // 3/s: at 0, 333.33 ms, 666.67 ms -> windows 0, 3, 6 (no drift from rounding)
        Assert.Equal([1L, 0, 0, 1, 0, 0, 1, 0, 0, 0], PerWindow(Run("{ process: constant, rate: 3/s }")));
    }

    [Fact]
    public void Bursts_fire_their_size_at_once_every_period()
    {
        Assert.Equal([3L, 0, 3, 0, 0, 3, 0, 3, 0, 0], PerWindow(Run("{ process: bursts, size: 3, every: 250ms }")));
    }

    [Fact]
    public void Piecewise_rates_hold_from_each_step_on()
    {
        var w = PerWindow(Run("{ process: piecewise, within: constant, steps: [ { at: 200ms, rate: 1000/s }, { at: 500ms, rate: 0/s }, { at: 800ms, rate: 50/s } ] }"));
        Assert.Equal([0L, 0, 100, 100, 100, 0, 0, 0, 5, 5], w);
        var p = Run("{ process: piecewise, steps: [ { at: 0s, rate: 20000/s }, { at: 500ms, rate: 0/s } ] }", cpus: 4);
        long n = p.Sum(x => x.Totals.Firings);
        Assert.InRange(n, 40000 - 5 * 200, 40000 + 5 * 200); // Poisson: mean 40000, sd 200
        Assert.All(p.Skip(5), x => Assert.Equal(0, x.Totals.Firings));
    }

    [Fact]
    public void Poisson_counts_have_the_right_mean_per_cpu()
    {
        var w = Run("{ process: poisson, rate: 10000/s }", cpus: 4);
        for (int c = 0; c < 4; c++)
            Assert.InRange(SimTestUtil.SumCpu(w, c).Firings, 10000 - 500, 10000 + 500); // sd 100
        Assert.NotEqual(SimTestUtil.SumCpu(w, 0).Firings, SimTestUtil.SumCpu(w, 1).Firings);
    }

    [Fact]
    public void A_rate_action_changes_the_rate_from_then_on()
    {
        var w = Run("{ process: constant, rate: 1000/s }", timeline: "timeline: [ { at: 500ms, rate: { program: p, rate: 2000/s } } ]");
        Assert.Equal([100L, 100, 100, 100, 100, 200, 200, 200, 200, 200], PerWindow(w));
        var stop = Run("{ process: poisson, rate: 1000/s }", timeline: "timeline: [ { at: 500ms, rate: { program: p, rate: 0/s } } ]");
        Assert.All(stop.Skip(5), x => Assert.Equal(0, x.Totals.Firings));
    }

    [Fact]
    public void Migrations_move_tasks_round_robin()
    {
        // One task (pid 1000) on two CPUs, moved to the next CPU every 100 ms: "%d" of its pid is
        // 4 characters, of the idle task's 0 one, so the return values show where it runs.
        var w = new HostSimulation(SimTestUtil.Parse("""
            name: t
            duration: 400ms
            fleet:
              - group: g
                cpus: 2
                tasks: [ { comm: a, pid: 1000 } ]
                migrate: { every: 100ms }
            programs:
              p: { fire: { process: constant, rate: 100/s }, body: [ { trace_printk: { fmt: "%d", args: [pid] } } ] }
            """), 0, 0).RunToEnd();
        for (int i = 0; i < 4; i++)
        {
            int on = i % 2; // CPU 0 first, then 1, 0, 1
            Assert.Equal(10, w[i].Cpus[on].Counters.Helpers.Get("bpf_trace_printk", 4));
            Assert.Equal(10, w[i].Cpus[1 - on].Counters.Helpers.Get("bpf_trace_printk", 1));
        }
    }
}

using BpfTraceSim.Kernel;

namespace BpfTraceSim.Contracts.Scenarios;

/// <summary>
/// What a scenario will cost, from its parsed form alone: the expected firings and helper calls
/// per program (mean rate x CPUs x duration), so that the parser can refuse a run past the
/// <see cref="CostLimits"/> before anything starts.
/// </summary>
public static class ScenarioCost
{
    /// <summary>Expected firings of one CPU over the run (means: Poisson counts are rate x time).</summary>
    public static double FiringsPerCpu(FireSpec fire, long durationNs)
    {
        double seconds = durationNs / 1e9;
        switch (fire)
        {
            case ConstantFire c: return c.RatePerSec * seconds;
            case PoissonFire p: return p.RatePerSec * seconds;
            case BurstsFire b: return durationNs <= 0 ? 0 : (double)b.Size * ((durationNs - 1) / b.EveryNs + 1);
            case PiecewiseFire w:
            {
                double n = 0;
                for (int i = 0; i < w.Steps.Length; i++)
                {
                    long from = Math.Min(w.Steps[i].AtNs, durationNs);
                    long to = i + 1 < w.Steps.Length ? Math.Min(w.Steps[i + 1].AtNs, durationNs) : durationNs;
                    n += w.Steps[i].RatePerSec * ((to - from) / 1e9);
                }
                return n;
            }
            case TraceFire t: return TraceFirings(t, TraceFiles.Data(t), durationNs) / Math.Max(1, TraceFiles.Data(t).CpusUsed);
            case RatesFire r:
            {
                var d = TraceFiles.Data(r);
                double most = 0;
                if (d.All is not null) return StepFirings(d.All, r.LoopNs, durationNs);
                foreach (var steps in d.PerCpu)
                    if (steps is not null) most = Math.Max(most, StepFirings(steps, r.LoopNs, durationNs));
                return most;
            }
            default: return 0;
        }
    }

    /// <summary>Firings of one host replaying the file for durationNs (every CPU together).</summary>
    public static double TraceFirings(TraceFire t, TraceData d, long durationNs)
    {
        if (t.Fit is { } fit) return FittedFirings(fit, durationNs);
        if (t.LoopNs > 0) return d.Rows * (double)durationNs / t.LoopNs;
        long n = 0;
        for (int c = 0; c < d.Times.Length; c++)
        {
            int i = Array.BinarySearch(d.Times[c], 0, d.Counts[c], durationNs);
            n += i >= 0 ? FirstAtOrAfter(d.Times[c], i) : ~i;
        }
        return n;
    }

    /// <summary>A fitted trace: each CPU's long-run rate over the run (every CPU together).</summary>
    private static double FittedFirings(OnOffFit fit, long durationNs)
    {
        double n = 0;
        foreach (var c in fit.Cpus) n += c.MeanRatePerSec * (durationNs / 1e9);
        return n;
    }

    private static int FirstAtOrAfter(long[] times, int i)
    {
        while (i > 0 && times[i - 1] == times[i]) i--;
        return i;
    }

    /// <summary>The integral of a step rate over the run (looped with period loopNs when it is not 0).</summary>
    private static double StepFirings(RateStep[] steps, long loopNs, long durationNs)
    {
        double Over(long end)
        {
            double n = 0;
            for (int i = 0; i < steps.Length; i++)
            {
                long from = Math.Min(steps[i].AtNs, end);
                long to = i + 1 < steps.Length ? Math.Min(steps[i + 1].AtNs, end) : end;
                n += steps[i].RatePerSec * ((to - from) / 1e9);
            }
            return n;
        }
        if (loopNs <= 0) return Over(durationNs);
        return Over(loopNs) * (durationNs / loopNs) + Over(durationNs % loopNs);
    }

    /// <summary>CPUs the program is attached to, over every host of its groups.</summary>
    public static long Cpus(Scenario s, ProgramSpec p)
    {
        long n = 0;
        foreach (var g in s.Fleet)
        {
            if (!p.Groups.IsDefaultOrEmpty && !p.Groups.Contains(g.Group)) continue;
            n += (long)g.Hosts * (p.AllCpus ? g.Cpus : p.Cpus.Length);
        }
        return n;
    }

    /// <summary>Helper calls per firing: the body's length (an object program counts one per firing, a lower bound).</summary>
    public static int CallsPerFiring(ProgramSpec p) => p.Body.IsDefaultOrEmpty ? 1 : p.Body.Length;

    /// <summary>Expected helper calls of one program over the run.</summary>
    public static double HelperCalls(Scenario s, ProgramSpec p) => Firings(s, p) * CallsPerFiring(p);

    /// <summary>Expected firings of one program over the run and the fleet (a trace: its rows on every host).</summary>
    public static double Firings(Scenario s, ProgramSpec p)
    {
        if (p.Fire is not TraceFire t) return FiringsPerCpu(p.Fire, s.DurationNs) * Cpus(s, p);
        long hosts = 0;
        foreach (var g in s.Fleet)
            if (p.Groups.IsDefaultOrEmpty || p.Groups.Contains(g.Group)) hosts += g.Hosts;
        return TraceFirings(t, TraceFiles.Data(t), s.DurationNs) * hosts;
    }

    /// <summary>Expected perf_event_output calls (the records --records would keep); object programs count one per firing.</summary>
    public static double OutputCalls(Scenario s)
    {
        double n = 0;
        foreach (var p in s.Programs)
        {
            int outputs = 0;
            if (p.Body.IsDefaultOrEmpty) outputs = 1;
            else
                foreach (var c in p.Body)
                    if (c is PerfEventOutputCall) outputs++;
            n += Firings(s, p) * outputs;
        }
        return n;
    }

    /// <summary>"1e30/s", "bursts of 4 every 1ms", ...: how a program fires, for refusal messages.</summary>
    public static string Describe(FireSpec fire) => fire switch
    {
        ConstantFire c => ScenarioUnits.FormatRate(c.RatePerSec),
        PoissonFire p => ScenarioUnits.FormatRate(p.RatePerSec),
        BurstsFire b => $"bursts of {b.Size} every {ScenarioUnits.FormatDuration(b.EveryNs)}",
        PiecewiseFire => "a piecewise rate",
        TraceFire { Fit: not null } t => $"an on/off process fitted to a trace of {CostLimits.Count(TraceFiles.Data(t).Rows)} events",
        TraceFire t => $"a trace of {CostLimits.Count(TraceFiles.Data(t).Rows)} events{(t.LoopNs > 0 ? $" looped every {ScenarioUnits.FormatDuration(t.LoopNs)}" : "")}",
        RatesFire => "a rates file",
        _ => "?",
    };
}

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
            default: return 0;
        }
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
    public static double HelperCalls(Scenario s, ProgramSpec p) =>
        FiringsPerCpu(p.Fire, s.DurationNs) * Cpus(s, p) * CallsPerFiring(p);

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
            n += FiringsPerCpu(p.Fire, s.DurationNs) * Cpus(s, p) * outputs;
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
        _ => "?",
    };
}

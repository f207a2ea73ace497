using System.Collections.Immutable;

namespace BpfTraceSim.Contracts.Scenarios;

/// <summary>
/// `fit: on_off` of a trace program: per CPU, a two-state Markov-modulated Poisson process (on:
/// Poisson firings at OnRatePerSec; off: none; exponential on and off durations) fitted to the
/// trace's times by <see cref="OnOffFitter"/>. The engine generates firings from it, seeded, for
/// the whole run; the trace's rows only lend their sizes and tasks (a row drawn per firing).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record OnOffFit
{
    /// <summary>Index = CPU, up to the highest CPU of the trace; a CPU without rows has Events 0 and never fires.</summary>
    [Id(0)] public ImmutableArray<OnOffCpu> Cpus { get; init; } = [];
}

/// <summary>A fitted program's model, as report.json's `fitted` lists it.</summary>
[GenerateSerializer, Immutable]
public sealed record FittedProgram
{
    [Id(0)] public string Program { get; init; } = "";
    [Id(1)] public ImmutableArray<OnOffCpu> Cpus { get; init; } = [];

    /// <summary>The fitted programs of a scenario, in program order.</summary>
    public static ImmutableArray<FittedProgram> Of(Scenario s)
    {
        var b = ImmutableArray.CreateBuilder<FittedProgram>();
        foreach (var p in s.Programs)
            if (p.Fire is TraceFire { Fit: { } fit }) b.Add(new FittedProgram { Program = p.Name, Cpus = fit.Cpus });
        return b.ToImmutable();
    }
}

/// <summary>One CPU's fitted on/off model and what it was fitted from.</summary>
[GenerateSerializer, Immutable]
public sealed record OnOffCpu
{
    [Id(0)] public int Cpu { get; init; }
    /// <summary>The trace's events on this CPU.</summary>
    [Id(1)] public long Events { get; init; }
    /// <summary>Runs of events split at gaps longer than ThresholdNs.</summary>
    [Id(2)] public long Bursts { get; init; }
    /// <summary>A gap longer than this is an off period (GapFactor x the median gap).</summary>
    [Id(3)] public long ThresholdNs { get; init; }
    [Id(4)] public double OnRatePerSec { get; init; }
    [Id(5)] public double MeanOnNs { get; init; }
    [Id(6)] public double MeanOffNs { get; init; }

    /// <summary>"CPU 0: 3905 events in 40 bursts (off gap > 280us): on 50000/s for 2000us (mean), off 20000us (mean)", for stderr.</summary>
    public string Summary() => Events == 0 ? $"CPU {Cpu}: no events, never fires" :
        $"CPU {Cpu}: {Events} events in {Bursts} bursts (off gap > {ScenarioUnits.FormatDuration(ThresholdNs)}): on {ScenarioUnits.FormatRate(Math.Round(OnRatePerSec))} for {Us(MeanOnNs)} (mean), off {Us(MeanOffNs)} (mean)";

    private static string Us(double ns) => (ns / 1e3).ToString("0.#", System.Globalization.CultureInfo.InvariantCulture) + "us";

    /// <summary>The long-run firing rate: the on-rate for the share of time spent on.</summary>
    public double MeanRatePerSec => MeanOnNs + MeanOffNs > 0 ? OnRatePerSec * MeanOnNs / (MeanOnNs + MeanOffNs) : 0;
}

/// <summary>
/// The on/off estimator (docs/scenarios.md, "Fitted workloads"). For one CPU's sorted times:
/// 1. the threshold is GapFactor (20) x the median gap: within a burst of rate r a gap exceeds it
///    with probability 2^-20, so bursts are not split by chance; shorter off periods are merged;
/// 2. gaps above it are off gaps; the runs between them are bursts (B bursts of n events);
/// 3. off periods are exponential, so an off gap's excess over the threshold is one off period
///    (memoryless): mean off = mean off gap - threshold; a share 1 - exp(-threshold / mean off)
///    of the off periods were shorter and merged into bursts: that many bursts more (H), and
///    their gaps (mean off given below the threshold, plus 2 / r) taken out of the within gaps;
/// 4. after each on event the next is either another event or the end of the on period,
///    competing exponentials of rates lambda and mu, so within-burst gaps are exponential of
///    rate r = lambda + mu and a burst's count is geometric of mean r / mu: hence
///    r = within gaps / their sum, mean on = n / (B + H) / r, lambda = r - 1 / mean on;
/// 5. an on period ends before its first event with probability 1 - p, p = lambda / r, and then
///    lengthens an off gap by about 1 / r and an off period: mean off = M p - (1 - p) / r, with M
///    the mean excess of step 3.
/// </summary>
public static class OnOffFitter
{
    /// <summary>Fewest events on a CPU to fit (fewer give estimates no better than a guess).</summary>
    public const int MinEvents = 100;
    /// <summary>The threshold as a multiple of the median gap.</summary>
    public const int GapFactor = 20;

    /// <summary>Fits times (sorted, ns); null with why when they cannot be fitted.</summary>
    public static OnOffCpu? Fit(int cpu, ReadOnlySpan<long> times, out string why)
    {
        why = "";
        if (times.Length < MinEvents)
        {
            why = $"CPU {cpu} has {times.Length} {(times.Length == 1 ? "event" : "events")}; fit: on_off needs at least {MinEvents} on each CPU that has any";
            return null;
        }
        long median = MedianGap(times);
        if (median <= 0)
        {
            why = $"CPU {cpu}: half its gaps are 0 ns (timestamps too coarse to tell bursts apart)";
            return null;
        }
        long threshold = median * GapFactor;
        long bursts = 1, offCount = 0;
        double offSum = 0, withinSum = 0;
        for (int i = 1; i < times.Length; i++)
        {
            long g = times[i] - times[i - 1];
            if (g > threshold) { bursts++; offCount++; offSum += g; }
            else withinSum += g;
        }
        if (offCount == 0)
        {
            why = $"CPU {cpu}: no gap is longer than {ScenarioUnits.FormatDuration(threshold)} ({GapFactor} x the median gap): one burst has no off period to fit; replay it (no fit) or use process: poisson";
            return null;
        }
        // In ns: r the within-burst rate, d the off periods shorter than the threshold (merged).
        double meanOff = Math.Max(1, offSum / offCount - threshold);
        double seen = Math.Exp(-threshold / meanOff);
        double hidden = offCount * (1 - seen) / seen;
        double within = times.Length - bursts, r0 = within / withinSum;
        if (hidden > 1e-9 && within - hidden >= 1)
        {
            double shortOff = meanOff - threshold * seen / (1 - seen);
            withinSum -= hidden * (shortOff + 2 / r0);
            within -= hidden;
        }
        double r = withinSum > 0 ? within / withinSum : r0;
        double meanOn = times.Length / (bursts + hidden) / r;
        double lambda = (r - 1 / meanOn) * 1e9;
        // An on period without events (probability 1 - lambda / r) hides in an off gap: of the
        // observed mean excess M, M = (mean off + (1 - p) / r) / p with p = lambda / r.
        double p = lambda / 1e9 / r;
        if (p > 0) meanOff = Math.Max(1, meanOff * p - (1 - p) / r);
        return new OnOffCpu
        {
            Cpu = cpu, Events = times.Length, Bursts = bursts, ThresholdNs = threshold,
            OnRatePerSec = lambda, MeanOnNs = meanOn, MeanOffNs = meanOff,
        };
    }

    /// <summary>The lower median of the gaps (a copy is sorted: the trace's times stay as they are).</summary>
    private static long MedianGap(ReadOnlySpan<long> times)
    {
        var gaps = new long[times.Length - 1];
        for (int i = 1; i < times.Length; i++) gaps[i - 1] = times[i] - times[i - 1];
        Array.Sort(gaps);
        return gaps[(gaps.Length - 1) / 2];
    }
}

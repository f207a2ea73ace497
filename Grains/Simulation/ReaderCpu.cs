using System.Collections.Immutable;
using BpfTraceSim.Contracts.Scenarios;

namespace BpfTraceSim.Grains.Simulation;

/// <summary>
/// The CPU a reader thread gets over time (docs/scenarios.md, consumers: cpu_load and pauses): a
/// piecewise-constant share, 1 - util of the other work, and 0 during a pause or at 100% load
/// (the thread is runnable but not scheduled until the load drops or the pause ends). Work of w ns
/// started at t (a wake-up latency, a record's callback) ends when the share integrated from t
/// reaches w. Built once from the scenario and the seed; it keeps no run state (checkpoints need nothing).
/// </summary>
internal sealed class ReaderCpu
{
    /// <summary>Not before the end of time: a reader that is never scheduled again.</summary>
    public const long Never = long.MaxValue / 4;

    private readonly long[] _start; // segment i covers [_start[i], _start[i + 1]); the last one never ends
    private readonly double[] _share;
    private readonly bool[] _paused;  // the share is 0 because of a pause (else of the load)

    private ReaderCpu(long[] start, double[] share, bool[] paused)
    {
        _start = start;
        _share = share;
        _paused = paused;
    }

    /// <summary>null when the reader always has its CPU (no cpu_load, no pauses).</summary>
    public static ReaderCpu? Build(ReaderModel? model, long durationNs, ulong pauseSeed)
    {
        if (model is null) return null;
        var pauses = new List<(long From, long To)>();
        foreach (var p in model.Pauses) pauses.Add((p.AtNs, p.AtNs + p.ForNs));
        if (model.RandomPauses is { } rp)
        {
            var rng = Xoshiro256.FromSeed(pauseSeed);
            long t = Draw(ref rng, rp.Every);
            while (t < durationNs)
            {
                long d = Math.Max(1, Draw(ref rng, rp.For));
                pauses.Add((t, t + d));
                t += d + Math.Max(1, Draw(ref rng, rp.Every));
            }
        }
        if (model.CpuLoad.IsEmpty && pauses.Count == 0) return null;
        // Breakpoints: load steps and pause edges; each segment's share is the load's, or 0 inside a pause.
        var points = new SortedSet<long> { 0 };
        foreach (var s in model.CpuLoad) points.Add(s.AtNs);
        foreach (var (f, to) in pauses)
        {
            points.Add(f);
            points.Add(to);
        }
        pauses.Sort();
        var starts = new List<long>();
        var shares = new List<double>();
        var pausedAt = new List<bool>();
        int pi = 0;
        foreach (long at in points)
        {
            while (pi < pauses.Count && pauses[pi].To <= at) pi++;
            bool paused = false;
            for (int j = pi; j < pauses.Count && pauses[j].From <= at; j++)
                if (pauses[j].To > at) { paused = true; break; }
            double share = paused ? 0 : 1 - LoadAt(model.CpuLoad, at);
            if (shares.Count > 0 && shares[^1] == share && pausedAt[^1] == paused) continue;
            starts.Add(at);
            shares.Add(share);
            pausedAt.Add(paused);
        }
        return new ReaderCpu([.. starts], [.. shares], [.. pausedAt]);
    }

    private static double LoadAt(ImmutableArray<LoadStep> steps, long t)
    {
        double u = 0;
        foreach (var s in steps)
        {
            if (s.AtNs > t) break;
            u = s.Util;
        }
        return u;
    }

    private static long Draw(ref Xoshiro256 rng, ServiceSpec s) => s switch
    {
        ExponentialService e => (long)Math.Round(rng.NextExponential() * e.MeanNs, MidpointRounding.ToEven),
        UniformService u => rng.NextInclusive(u.MinNs, u.MaxNs),
        FixedService f => f.Ns,
        _ => 0,
    };

    /// <summary>The share of the CPU the reader has at t (0: not scheduled).</summary>
    public double ShareAt(long t) => _share[Segment(t)];

    /// <summary>Whether t is inside a pause.</summary>
    public bool PausedAt(long t) => _paused[Segment(t)];

    /// <summary>When `work` ns of the reader's own CPU time started at t are done (Never if it is never scheduled again).</summary>
    public long Finish(long t, long work)
    {
        int i = Segment(t);
        double left = work;
        while (true)
        {
            long end = i + 1 < _start.Length ? _start[i + 1] : long.MaxValue;
            double share = _share[i];
            if (share > 0)
            {
                double need = left / share;
                if (end == long.MaxValue || need <= end - t) return Math.Min(Never, t + (long)Math.Ceiling(need));
                left -= (end - t) * share;
            }
            else if (end == long.MaxValue) return Never;
            t = end;
            i++;
        }
    }

    private int Segment(long t)
    {
        int i = Array.BinarySearch(_start, t);
        return i >= 0 ? i : ~i - 1;
    }
}

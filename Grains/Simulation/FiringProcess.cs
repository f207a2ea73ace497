using BpfTraceSim.Contracts.Scenarios;

namespace BpfTraceSim.Grains.Simulation;

/// <summary>The firing process state of one program on one CPU, and its two random streams.</summary>
internal struct FiringState
{
    /// <summary>Time of the next firing; long.MaxValue when there is none.</summary>
    public long NextNs;
    /// <summary>Firings run so far (the `counter` argument).</summary>
    public long Counter;
    /// <summary>Constant/Poisson: the current rate (per second); a `rate` action changes it.</summary>
    public double Rate;
    /// <summary>1e9 / Rate: the mean gap in ns.</summary>
    public double GapNs;
    /// <summary>Poisson: the exact (fractional ns) time of the last arrival drawn.</summary>
    public double Clock;
    /// <summary>Constant (also within a piecewise step): start of the evenly spaced run and the index of its next firing.</summary>
    public long SegStart, K;
    /// <summary>Piecewise: the current step (-1 before the first).</summary>
    public int Step;
    /// <summary>Bursts: firings left in the current burst and its index.</summary>
    public int BurstLeft;
    public long BurstIndex;
    public bool Attached;
    public Xoshiro256 FireRng;
    public Xoshiro256 BodyRng;
}

internal enum FireKind : byte
{
    None,
    Constant,
    Poisson,
    Bursts,
    Piecewise,
    /// <summary>Replayed rows: K is the row of NextNs, SegStart the start of the current loop.</summary>
    Trace,
    /// <summary>A rates file: the piecewise process over that CPU's steps, SegStart the start of the current loop.</summary>
    Rates,
    /// <summary>A trace's fitted on/off model: Clock the last arrival, SegStart the end of the current on period, K the row lending size and task.</summary>
    Fitted,
}

/// <summary>
/// When programs fire. Constant: the k-th firing of a run that starts at S with rate R is at
/// S + floor(k * 1e9 / R) (no drift); Poisson: exponential gaps accumulated in fractional ns, a
/// firing at the next whole ns; bursts: `size` firings at j * every; piecewise: each step is a
/// constant run from its start or a Poisson process (redrawn at each step start, which is exact
/// for a Poisson process because it is memoryless). Rate 0 fires nothing.
/// </summary>
internal static class FiringProcess
{
    public static FireKind KindOf(FireSpec fire) => fire switch
    {
        ConstantFire => FireKind.Constant,
        PoissonFire => FireKind.Poisson,
        BurstsFire => FireKind.Bursts,
        PiecewiseFire => FireKind.Piecewise,
        TraceFire { Fit: not null } => FireKind.Fitted,
        TraceFire => FireKind.Trace,
        RatesFire => FireKind.Rates,
        _ => FireKind.None,
    };

    public static void Start(ref FiringState fs, ProgramPlan prog, long now, int cpu)
    {
        if (prog.Kind == FireKind.Trace)
        {
            fs.K = 0;
            fs.SegStart = 0;
            var times = prog.Trace!.TimesOf(cpu);
            fs.NextNs = times.Length > 0 ? times[0] : long.MaxValue;
            return;
        }
        if (prog.Kind == FireKind.Fitted)
        {
            StartFitted(ref fs, prog.Fit!.Cpus, cpu);
            NextFitted(ref fs, prog, cpu);
            return;
        }
        if (prog.Kind == FireKind.Rates)
        {
            fs.Step = -1;
            fs.Clock = 0;
            fs.K = 0;
            fs.SegStart = 0;
            NextSteps(ref fs, prog.Rates!.StepsOf(cpu), ((RatesFire)prog.Fire).Poisson, prog.LoopNs);
            return;
        }
        switch (prog.Fire)
        {
            case ConstantFire c:
                SetRate(ref fs, prog, c.RatePerSec, now);
                break;
            case PoissonFire p:
                SetRate(ref fs, prog, p.RatePerSec, now);
                break;
            case BurstsFire b:
                fs.BurstIndex = 0;
                fs.BurstLeft = b.Size;
                fs.NextNs = b.Size > 0 ? 0 : long.MaxValue;
                break;
            case PiecewiseFire pw:
                fs.Step = -1;
                fs.Clock = 0;
                fs.K = 0;
                NextPiecewise(ref fs, pw);
                break;
            default:
                fs.NextNs = long.MaxValue;
                break;
        }
    }

    /// <summary>A new rate from now on (constant: a new evenly spaced run whose first firing is now; Poisson: redrawn from now).</summary>
    public static void SetRate(ref FiringState fs, ProgramPlan prog, double rate, long now)
    {
        fs.Rate = rate;
        fs.GapNs = rate > 0 ? 1e9 / rate : 0;
        if (prog.Kind == FireKind.Poisson)
        {
            fs.Clock = now;
            NextPoisson(ref fs);
        }
        else
        {
            fs.SegStart = now;
            fs.K = 0;
            NextConstant(ref fs);
        }
    }

    /// <summary>Schedules the firing after the one that just happened.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public static void Next(ref FiringState fs, ProgramPlan prog, int cpu)
    {
        if (prog.Kind == FireKind.Poisson) NextPoisson(ref fs);
        else if (prog.Kind == FireKind.Trace) NextRow(ref fs, prog.Trace!.Times[cpu], prog.Trace.Counts[cpu], prog.LoopNs);
        else NextOther(ref fs, prog, cpu);
    }

    /// <summary>The next row of the CPU's times; past the last, the first again one period later (or none).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private static void NextRow(ref FiringState fs, long[] times, int count, long loopNs)
    {
        long k = fs.K + 1;
        if (k >= count)
        {
            if (loopNs <= 0)
            {
                fs.NextNs = long.MaxValue;
                return;
            }
            k = 0;
            fs.SegStart += loopNs;
        }
        fs.K = k;
        fs.NextNs = fs.SegStart + times[k];
    }

    private static void NextOther(ref FiringState fs, ProgramPlan prog, int cpu)
    {
        switch (prog.Fire)
        {
            case ConstantFire:
                NextConstant(ref fs);
                break;
            case BurstsFire b:
                if (--fs.BurstLeft <= 0)
                {
                    fs.BurstIndex++;
                    fs.BurstLeft = b.Size;
                    fs.NextNs = CheckedTime(fs.BurstIndex, b.EveryNs);
                }
                break;
            case PiecewiseFire pw:
                NextPiecewise(ref fs, pw);
                break;
            case TraceFire when prog.Kind == FireKind.Fitted:
                NextFitted(ref fs, prog, cpu);
                break;
            case RatesFire r:
                NextSteps(ref fs, prog.Rates!.StepsOf(cpu), r.Poisson, prog.LoopNs);
                break;
            default:
                fs.NextNs = long.MaxValue;
                break;
        }
    }

    /// <summary>
    /// The fitted model's first state, drawn from its stationary law: on with probability
    /// mean on / (mean on + mean off), the period's remainder exponential (memoryless); else off
    /// for an exponential time first. Rate holds the on-rate (a CPU without rows: 0, never fires).
    /// </summary>
    private static void StartFitted(ref FiringState fs, System.Collections.Immutable.ImmutableArray<OnOffCpu> cpus, int cpu)
    {
        var m = cpu < cpus.Length ? cpus[cpu] : null;
        fs.Rate = m is { Events: > 0 } ? m.OnRatePerSec : 0;
        fs.GapNs = fs.Rate > 0 ? 1e9 / fs.Rate : 0;
        fs.K = 0;
        if (m is null || !(fs.Rate > 0)) return;
        bool on = fs.FireRng.NextDouble() * (m.MeanOnNs + m.MeanOffNs) < m.MeanOnNs;
        fs.Clock = on ? 0 : fs.FireRng.NextExponential() * m.MeanOffNs;
        fs.SegStart = ToTime(fs.Clock + fs.FireRng.NextExponential() * m.MeanOnNs);
    }

    /// <summary>
    /// The next arrival of the on/off process: an exponential gap at the on-rate if it falls in
    /// the current on period; otherwise the period ends, an off period follows and a new on period
    /// starts (the gap redrawn from its start, exact because the process is memoryless). Each
    /// firing draws the trace row (of its CPU) whose size and task it takes.
    /// </summary>
    private static void NextFitted(ref FiringState fs, ProgramPlan prog, int cpu)
    {
        if (!(fs.Rate > 0))
        {
            fs.NextNs = long.MaxValue;
            return;
        }
        var m = prog.Fit!.Cpus[cpu];
        while (true)
        {
            double next = fs.Clock + fs.FireRng.NextExponential() * fs.GapNs;
            if (next < fs.SegStart)
            {
                fs.Clock = next;
                fs.NextNs = ToTime(next);
                fs.K = fs.FireRng.NextInclusive(0, prog.Trace!.Counts[cpu] - 1);
                return;
            }
            if (fs.SegStart >= long.MaxValue / 2)
            {
                fs.NextNs = long.MaxValue;
                return;
            }
            fs.Clock = fs.SegStart + fs.FireRng.NextExponential() * m.MeanOffNs;
            fs.SegStart = ToTime(fs.Clock + fs.FireRng.NextExponential() * m.MeanOnNs);
        }
    }

    private static long CheckedTime(long index, long every)
    {
        long t = index * every;
        return index != 0 && t / index != every ? long.MaxValue : t;
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private static void NextPoisson(ref FiringState fs)
    {
        if (!(fs.Rate > 0))
        {
            fs.NextNs = long.MaxValue;
            return;
        }
        fs.Clock += fs.FireRng.NextExponential() * fs.GapNs;
        fs.NextNs = ToTime(fs.Clock);
    }

    private static void NextConstant(ref FiringState fs)
    {
        if (!(fs.Rate > 0))
        {
            fs.NextNs = long.MaxValue;
            return;
        }
        double offset = fs.K * fs.GapNs;
        fs.K++;
        fs.NextNs = offset >= long.MaxValue / 2 ? long.MaxValue : fs.SegStart + (long)offset;
    }

    private static long ToTime(double ns) => ns >= long.MaxValue / 2 ? long.MaxValue : (long)Math.Ceiling(ns);

    private static void NextPiecewise(ref FiringState fs, PiecewiseFire pw) => NextSteps(ref fs, pw.Steps.AsSpan(), pw.Poisson, 0);

    /// <summary>
    /// Piecewise (and rates files): the steps' times are offsets from SegStart (0 unless looped);
    /// with loopNs the steps start again at SegStart + loopNs (rate 0 before the first step of each
    /// period, as before the first step of a piecewise process).
    /// </summary>
    private static void NextSteps(ref FiringState fs, ReadOnlySpan<RateStep> steps, bool poisson, long loopNs)
    {
        if (steps.Length == 0)
        {
            fs.NextNs = long.MaxValue;
            return;
        }
        while (true)
        {
            long stepEnd = fs.Step + 1 < steps.Length ? fs.SegStart + steps[fs.Step + 1].AtNs
                : loopNs > 0 ? fs.SegStart + loopNs : long.MaxValue;
            double rate = fs.Step >= 0 ? steps[fs.Step].RatePerSec : 0;
            if (rate > 0)
            {
                if (poisson)
                {
                    double next = fs.Clock + fs.FireRng.NextExponential() * (1e9 / rate);
                    if (next < stepEnd)
                    {
                        fs.Clock = next;
                        fs.NextNs = ToTime(next);
                        return;
                    }
                }
                else
                {
                    double offset = fs.K * (1e9 / rate);
                    long start = fs.SegStart + steps[fs.Step].AtNs;
                    long t = offset >= long.MaxValue / 2 ? long.MaxValue : start + (long)offset;
                    if (t < stepEnd)
                    {
                        fs.K++;
                        fs.NextNs = t;
                        return;
                    }
                }
            }
            if (stepEnd == long.MaxValue)
            {
                fs.NextNs = long.MaxValue;
                return;
            }
            if (fs.Step + 1 < steps.Length) fs.Step++;
            else
            {
                fs.SegStart += loopNs;
                fs.Step = steps[0].AtNs == 0 ? 0 : -1;
            }
            fs.Clock = fs.SegStart + (fs.Step >= 0 ? steps[fs.Step].AtNs : 0);
            fs.K = 0;
        }
    }
}

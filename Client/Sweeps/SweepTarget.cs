using System.Globalization;
using BpfTraceSim.Contracts.Grains;

namespace BpfTraceSim.Client.Sweeps;

/// <summary>
/// The report totals a sweep keeps per run and a target may name. Names are report.json's totals
/// (docs/scenarios.md) plus <c>enospc</c>: bpf_perf_event_output's -ENOSPC (-28) count.
/// </summary>
public static class SweepMetrics
{
    /// <summary>The metrics in sweep.json's row order.</summary>
    public static readonly string[] Names =
    [
        "lost_ratio", "lost", "enospc", "ring_high_water_bytes", "consumer_lag_p99_ns", "wakeups",
        "firings", "records_written", "bytes_written", "records_consumed", "records_in_ring_at_end",
        "lost_reported", "records_overwritten", "records_invisible",
    ];

    public const string PerfEventOutput = "bpf_perf_event_output";
    public const long Enospc = -28;

    public static bool IsKnown(string name) => Array.IndexOf(Names, name) >= 0;

    public static double Get(ScenarioCounters t, string name) => name switch
    {
        "lost_ratio" => t.LostRatio,
        "lost" => t.Lost,
        "enospc" => EnospcCount(t),
        "ring_high_water_bytes" => t.RingHighWaterBytes,
        "consumer_lag_p99_ns" => t.ConsumerLagP99Ns,
        "wakeups" => t.Wakeups,
        "firings" => t.Firings,
        "records_written" => t.RecordsWritten,
        "bytes_written" => t.BytesWritten,
        "records_consumed" => t.RecordsConsumed,
        "records_in_ring_at_end" => t.RecordsInRingAtEnd,
        "lost_reported" => t.LostReported,
        "records_overwritten" => t.RecordsOverwritten,
        "records_invisible" => t.RecordsInvisible,
        _ => throw new ArgumentException($"unknown metric '{name}'", nameof(name)),
    };

    public static long EnospcCount(ScenarioCounters t)
    {
        foreach (var h in t.Helpers)
            if (h.Helper == PerfEventOutput && h.Return == Enospc) return h.Count;
        return 0;
    }
}

/// <summary>
/// A target on one report total, met by a point only when it holds at every seed:
/// <c>lost_ratio&lt;=0.001</c>, <c>consumer_lag_p99_ns&lt;2000000</c>, <c>lost==0</c>.
/// </summary>
public sealed record SweepTarget(string Metric, string Op, double Bound, string Text)
{
    private static readonly string[] Ops = ["<=", ">=", "==", "<", ">"];

    public static SweepTarget Parse(string text)
    {
        string t = text.Trim();
        foreach (var op in Ops)
        {
            int i = t.IndexOf(op, StringComparison.Ordinal);
            if (i <= 0) continue;
            string metric = t[..i].Trim();
            string bound = t[(i + op.Length)..].Trim();
            if (!SweepMetrics.IsKnown(metric))
                throw new SweepUsageException($"--target '{text}': unknown total '{metric}'; targets name one of: {string.Join(", ", SweepMetrics.Names)}");
            if (!double.TryParse(bound.Replace("_", "", StringComparison.Ordinal), NumberStyles.Float, CultureInfo.InvariantCulture, out double b) || !double.IsFinite(b))
                throw new SweepUsageException($"--target '{text}': '{bound}' is not a number");
            return new SweepTarget(metric, op, b, $"{metric}{op}{bound}");
        }
        throw new SweepUsageException($"--target '{text}': write TOTAL OP NUMBER with OP one of <= < >= > ==, e.g. --target 'lost_ratio<=0.001'");
    }

    public bool Holds(double v) => Op switch
    {
        "<=" => v <= Bound,
        "<" => v < Bound,
        ">=" => v >= Bound,
        ">" => v > Bound,
        _ => v == Bound,
    };

    /// <summary>The seed value that decides a point: the largest for an upper bound, the smallest for a lower one.</summary>
    public double Worst(IEnumerable<double> values) =>
        Op is ">=" or ">" ? values.Min() : values.Max();

    public override string ToString() => Text;
}

using System.Diagnostics;
using System.Diagnostics.Metrics;
using BpfTraceSim.Kernel;

namespace BpfTraceSim.Grains.Telemetry;

/// <summary>
/// The simulator's own metrics (Meter "BpfTraceSim"), for grains to record into. The silo process exports them
/// with OpenTelemetry on /metrics (Prometheus text: bpfsim_helper_calls_total, bpfsim_perf_records_total,
/// bpfsim_perf_lost_total, bpfsim_window_duration_seconds). Cheap when nobody listens; record once per batch, not per call.
/// </summary>
public static class SimMetrics
{
    public const string MeterName = "BpfTraceSim";

    private static readonly Meter Meter = new(MeterName, "1.0");

    /// <summary>Helper calls by helper and result ("ok" or the errno name, e.g. "EOPNOTSUPP").</summary>
    public static readonly Counter<long> HelperCalls =
        Meter.CreateCounter<long>("bpfsim.helper.calls", "{call}", "BPF helper calls served, by helper and result");

    /// <summary>Records written into perf rings.</summary>
    public static readonly Counter<long> Records =
        Meter.CreateCounter<long>("bpfsim.perf.records", "{record}", "Records written into perf rings");

    /// <summary>Samples lost (ring full), as PERF_RECORD_LOST counts them.</summary>
    public static readonly Counter<long> Lost =
        Meter.CreateCounter<long>("bpfsim.perf.lost", "{sample}", "Samples lost because a perf ring was full");

    /// <summary>Wall time one scenario window took to simulate.</summary>
    public static readonly Histogram<double> WindowDuration =
        Meter.CreateHistogram<double>("bpfsim.window.duration", "s", "Wall time to simulate one scenario window");

    // Result tag values, built once: no string per call.
    private static readonly string[] ErrnoTags = BuildErrnoTags(256);

    /// <summary>count calls of helper (e.g. "perf_event_output") that returned ret (0/positive, or a negative errno).</summary>
    public static void HelperCall(string helper, long ret, long count = 1)
    {
        if (!HelperCalls.Enabled || count == 0) return;
        HelperCalls.Add(count, new KeyValuePair<string, object?>("helper", helper), new KeyValuePair<string, object?>("result", Result(ret)));
    }

    /// <summary>records written and lost samples of one batch or window.</summary>
    public static void RingActivity(long records, long lost)
    {
        if (records != 0 && Records.Enabled) Records.Add(records);
        if (lost != 0 && Lost.Enabled) Lost.Add(lost);
    }

    /// <summary>One window simulated, in wall time elapsed between two Stopwatch.GetTimestamp() readings.</summary>
    public static void WindowSimulated(long startTimestamp, long endTimestamp)
    {
        if (WindowDuration.Enabled) WindowDuration.Record(Stopwatch.GetElapsedTime(startTimestamp, endTimestamp).TotalSeconds);
    }

    /// <summary>The "result" tag for a return value: "ok", or the errno's name, or "E&lt;n&gt;" for an unnamed one.</summary>
    public static string Result(long ret)
    {
        if (ret >= 0) return "ok";
        long e = -ret;
        return e < ErrnoTags.Length ? ErrnoTags[e] : "E" + e;
    }

    private static string[] BuildErrnoTags(int n)
    {
        var tags = new string[n];
        tags[0] = "ok";
        for (int e = 1; e < n; e++) tags[e] = Errno.Name(e) ?? "E" + e;
        return tags;
    }
}

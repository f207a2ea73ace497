using BpfTraceSim.Grains.Simulation;
using CsCheck;

namespace BpfTraceSim.Grains.Tests.Simulation;

/// <summary>The statistics records, the lag histogram and the random variates.</summary>
public class StatsTests
{
    private static LagHistogram Of(IEnumerable<long> values)
    {
        var b = new LagHistogram.Builder();
        foreach (long v in values) b.Record(v);
        return b.Build();
    }

    [Fact]
    public void Buckets_cover_every_value_with_at_most_one_32nd_of_error()
    {
        Gen.Long[0, long.MaxValue / 2].Sample(v =>
        {
            int b = LagHistogram.BucketOf(v);
            long lo = LagHistogram.BucketLow(b), hi = LagHistogram.BucketHigh(b);
            Assert.InRange(v, lo, hi);
            Assert.True(hi - lo <= Math.Max(0, v / 32), $"bucket {b} [{lo}, {hi}] too wide for {v}");
            Assert.Equal(b + 1, LagHistogram.BucketOf(hi + 1)); // buckets are contiguous
        });
        for (long v = 0; v < 64; v++) Assert.Equal(v, LagHistogram.BucketHigh(LagHistogram.BucketOf(v)));
    }

    [Fact]
    public void Percentiles_are_the_exact_rank_rounded_up_to_the_bucket()
    {
        Gen.Long[0, 10_000_000_000].Array[1, 300].Sample(values =>
        {
            var h = Of(values);
            var sorted = values.OrderBy(x => x).ToArray();
            foreach (double p in new[] { 0.0, 50, 90, 99, 99.9, 100 })
            {
                long rank = Math.Max(1, (long)Math.Ceiling(p / 100 * sorted.Length));
                long exact = sorted[rank - 1];
                long got = h.Percentile(p);
                Assert.InRange(got, exact, Math.Min(sorted[^1], exact + exact / 32));
            }
            Assert.Equal(sorted.Length, h.Count);
            Assert.Equal(sorted[0], h.Min);
            Assert.Equal(sorted[^1], h.Max);
        });
    }

    [Fact]
    public void Merging_histograms_is_recording_everything_in_one()
    {
        Gen.Select(Gen.Long[0, 1_000_000_000].Array[0, 100], Gen.Long[0, 50_000].Array[0, 100], Gen.Long[0, 70].Array[0, 20])
            .Sample((a, b, c) =>
            {
                var all = Of(a.Concat(b).Concat(c));
                Assert.Equal(all, Of(a).Merge(Of(b)).Merge(Of(c)));
                Assert.Equal(all, Of(c).Merge(Of(b).Merge(Of(a))));
                Assert.Equal(all, LagHistogram.FromParts(all.FirstBucket, all.Counts.ToArray(), all.Min, all.Max));
            });
        Assert.Same(LagHistogram.Empty, new LagHistogram.Builder().Build());
        Assert.Equal(0, LagHistogram.Empty.Percentile(99));
    }

    [Fact]
    public void Helper_returns_merge_and_sort_successes_before_errors()
    {
        var a = HelperReturns.From([
            new("bpf_perf_event_output", -28, 2), new("bpf_perf_event_output", 0, 5), new("bpf_trace_printk", 12, 1),
            new("bpf_perf_event_output", -28, 1),
        ]);
        var b = HelperReturns.From([new("bpf_perf_event_output", -95, 4), new("bpf_perf_event_output", 0, 1)]);
        var m = a.Merge(b);
        Assert.Equal(
            [new("bpf_perf_event_output", 0, 6), new("bpf_perf_event_output", -28, 3), new("bpf_perf_event_output", -95, 4),
             new HelperReturnCount("bpf_trace_printk", 12, 1)], m.Entries);
        Assert.Equal(m, b.Merge(a));
        Assert.Equal(13, m.Calls("bpf_perf_event_output"));
        Assert.Equal(14, m.TotalCalls);
        Assert.Equal(["bpf_perf_event_output", "bpf_trace_printk"], m.Helpers);
        Assert.Equal(0, m.Get("bpf_snprintf", 0));
    }

    [Fact]
    public void Counters_add_across_cpus_and_follow_across_windows()
    {
        var x = new SimCounters { Firings = 3, RecordsWritten = 2, Lost = 1, RecordsInRing = 5, RingFillMaxBytes = 100 };
        var y = new SimCounters { Firings = 4, RecordsWritten = 6, Lost = 2, RecordsInRing = 1, RingFillMaxBytes = 40 };
        var sum = x.Plus(y);
        Assert.Equal(7, sum.Firings);
        Assert.Equal(6, sum.RecordsInRing);
        Assert.Equal(100, sum.RingFillMaxBytes);
        Assert.Equal(3.0 / 11, sum.LostRatio, 12);
        var seq = x.FollowedBy(y);
        Assert.Equal(1, seq.RecordsInRing);
        Assert.Equal(8, seq.RecordsWritten);
        Assert.Equal(0, SimCounters.Zero.LostRatio);
    }

    /// <summary>The ziggurat exponential against the distribution's own facts (1,000,000 draws).</summary>
    [Fact]
    public void Exponential_variates_have_the_exponential_distribution()
    {
        var rng = Xoshiro256.FromSeed(12345);
        const int n = 1_000_000;
        double sum = 0;
        int above1 = 0, above3 = 0, above8 = 0;
        for (int i = 0; i < n; i++)
        {
            double x = rng.NextExponential();
            Assert.True(x >= 0);
            sum += x;
            if (x > 1) above1++;
            if (x > 3) above3++;
            if (x > 8) above8++; // past the ziggurat's tail start (7.697)
        }
        static void Near(double p, int count) =>
            Assert.InRange((double)count / n, p - 5 * Math.Sqrt(p * (1 - p) / n), p + 5 * Math.Sqrt(p * (1 - p) / n));
        Assert.InRange(sum / n, 1 - 5e-3, 1 + 5e-3); // sd of the mean 1e-3
        Near(Math.Exp(-1), above1);
        Near(Math.Exp(-3), above3);
        Near(Math.Exp(-8), above8);
    }

    [Fact]
    public void Uniform_integers_cover_the_inclusive_range()
    {
        var rng = Xoshiro256.FromSeed(7);
        var seen = new int[5];
        for (int i = 0; i < 10_000; i++) seen[rng.NextInclusive(10, 14) - 10]++;
        Assert.All(seen, c => Assert.InRange(c, 1800, 2200));
    }
}

using BpfTraceSim.Grains.Simulation;
using Xunit.Abstractions;

namespace BpfTraceSim.Grains.Tests.Simulation;

/// <summary>
/// With per_record, wakeup_latency 0, wakeup_events 1, Poisson firings and exponential service,
/// one CPU's ring is an M/M/1/K queue (docs/scenarios.md, "Semantics"): the record in service holds its
/// space until its service ends, so K counts it. Blocking probability (PASTA: what arrivals see)
/// P_K = (1 - rho) rho^K / (1 - rho^(K+1)). The simulated loss ratio must be within 4 standard
/// errors of it; the standard error comes from batch means over 1 s windows.
/// </summary>
public class QueueingTests(ITestOutputHelper output)
{
    private static double BlockingProbability(double rho, int k) =>
        Math.Abs(rho - 1) < 1e-12 ? 1.0 / (k + 1) : (1 - rho) * Math.Pow(rho, k) / (1 - Math.Pow(rho, k + 1));

    private void AssertLossRatio(string yaml, double rho, int k, double maxStdErr)
    {
        var windows = new HostSimulation(SimTestUtil.Parse(yaml), 0, 0).RunToEnd();
        var total = SimTestUtil.Sum(windows);
        double expected = BlockingProbability(rho, k);
        double simulated = total.LostRatio;
        // Batch means: each 1 s window's loss ratio is one (nearly independent) observation.
        var ratios = windows.Select(w => w.Totals.LostRatio).ToArray();
        double mean = ratios.Average();
        double sd = Math.Sqrt(ratios.Sum(r => (r - mean) * (r - mean)) / (ratios.Length - 1));
        double se = sd / Math.Sqrt(ratios.Length);
        output.WriteLine($"rho={rho} K={k}: P_K={expected:F5} simulated={simulated:F5} (batch mean {mean:F5}, se {se:F5}), " +
                         $"arrivals {total.Attempts}, lost {total.Lost}, lost reported {total.LostReported}");
        Assert.True(se < maxStdErr, $"standard error {se} too large for a meaningful check");
        Assert.InRange(simulated, expected - 4 * se, expected + 4 * se);
        Assert.Equal(total.Attempts, total.Firings);
    }

    /// <summary>
    /// K = 4 with 980-byte payloads (992-byte records): 4 fit on a page with 127 bytes to spare, a
    /// 5th never does, and the spare room holds a LOST record before each of the 4 (4 x 24 = 96),
    /// so a LOST record never costs a place: the ring is exactly M/M/1/4, with no perturbation.
    /// rho = 0.8: P_4 = 0.1218.
    /// </summary>
    [Fact]
    public void A_ring_of_four_records_is_exactly_mm1k()
    {
        AssertLossRatio("""
            name: mm1k4
            seed: 11
            duration: 60s
            window: 1s
            fleet: [ { group: g, cpus: 1 } ]
            events: { out: { per: cpu, ring_pages: 1, wakeup_events: 1 } }
            maps: { m: { } }
            slots: { m: per_cpu }
            programs:
              p:
                fire: { process: poisson, rate: 10000/s }
                body: [ { perf_event_output: { map: m, size: 980 } } ]
            consumers:
              c: { events: out, service: { exponential: 80us }, tail_update: per_record, wakeup_latency: 0us }
            """, rho: 0.8, k: 4, maxStdErr: 0.002);
    }

    /// <summary>
    /// K = 170 with 8-byte payloads (24-byte records), the example of docs/scenarios.md. Here a LOST record (24
    /// bytes, the size of a record) does take a place: right after a loss only 168 or 169 records
    /// fit. Choosing rho = 1.25 makes that irrelevant: for rho &gt; 1 and large K, P_K = (rho-1)/rho
    /// to 16 digits whether K is 168 or 170 (and the queue fills in 34 ms, so the start is negligible).
    /// </summary>
    [Fact]
    public void A_one_page_ring_of_eight_byte_records_is_mm1k_with_k_170()
    {
        Assert.Equal(BlockingProbability(1.25, 170), BlockingProbability(1.25, 168), 12);
        AssertLossRatio("""
            name: mm1k170
            seed: 12
            duration: 20s
            window: 1s
            fleet: [ { group: g, cpus: 1 } ]
            events: { out: { per: cpu, ring_pages: 1, wakeup_events: 1 } }
            maps: { m: { } }
            slots: { m: per_cpu }
            programs:
              p:
                fire: { process: poisson, rate: 25000/s }
                body: [ { perf_event_output: { map: m, size: 8 } } ]
            consumers:
              c: { events: out, service: { exponential: 50us }, tail_update: per_record, wakeup_latency: 0us }
            """, rho: 1.25, k: 170, maxStdErr: 0.003);
    }
}

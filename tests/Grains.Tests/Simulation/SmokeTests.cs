using BpfTraceSim.Grains.Simulation;
using Xunit.Abstractions;

namespace BpfTraceSim.Grains.Tests.Simulation;

public class SmokeTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("quick.yaml")]
    [InlineData("undersized-ring.yaml")]
    [InlineData("healthy.yaml")]
    [InlineData("swapped-slots.yaml")]
    [InlineData("cpu-offline.yaml")]
    public void Prints_totals(string file)
    {
        var s = SimTestUtil.Example(file);
        var sim = new HostSimulation(s, 0, 0);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var windows = sim.RunToEnd();
        var t = SimTestUtil.Sum(windows);
        output.WriteLine($"{file}: {sw.ElapsedMilliseconds} ms firings={t.Firings} helpers={t.Helpers} written={t.RecordsWritten} lost={t.Lost} lostrep={t.LostReported} consumed={t.RecordsConsumed} inring={t.RecordsInRing} fill={t.RingFillMaxBytes} wake={t.Wakeups} lag={t.ConsumerLag} ratio={t.LostRatio}");
    }
}

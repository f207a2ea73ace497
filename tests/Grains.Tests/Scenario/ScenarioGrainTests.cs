using BpfTraceSim.Contracts.Grains;

namespace BpfTraceSim.Grains.Tests.Scenario;

/// <summary>The scenario grain: the same result on one silo or three and at any parallelism; its states and refusals.</summary>
[Collection(ScenarioClustersCollection.Name)]
public sealed class ScenarioGrainTests(ScenarioClusters clusters)
{
    [Fact]
    public async Task One_silo_three_silos_and_any_parallelism_give_the_same_report()
    {
        var s = ScenarioClusters.Parse(ScenarioClusters.SmallFleet);
        var (g1, p1) = await ScenarioClusters.Run(clusters.One.GrainFactory, s);
        var (g3, p3) = await ScenarioClusters.Run(clusters.Three.GrainFactory, s);
        var (g3s, p3s) = await ScenarioClusters.Run(clusters.Three.GrainFactory, s, new ScenarioRunOptions { Parallelism = 1 });
        var (g3w, p3w) = await ScenarioClusters.Run(clusters.Three.GrainFactory, s, new ScenarioRunOptions { Parallelism = 64 });
        foreach (var p in new[] { p1, p3, p3s, p3w }) Assert.True(p.State == ScenarioRunState.Done, p.Error);
        string one = await ScenarioClusters.Snapshot(g1);
        Assert.Equal(one, await ScenarioClusters.Snapshot(g3));
        Assert.Equal(one, await ScenarioClusters.Snapshot(g3s));
        Assert.Equal(one, await ScenarioClusters.Snapshot(g3w));

        var r = await g1.GetReport();
        Assert.Equal(7, r.Hosts);
        Assert.Equal(3 * 2 + 4 * 3, r.Cpus);
        Assert.Equal(4, r.Windows.Length);
        Assert.True(r.Totals.Firings > 0);
        Assert.True(r.Conservation.Ok);
        Assert.Equal(r.Totals.RecordsWritten, r.Conservation.RecordsWritten);
        Assert.Equal(["a-0", "a-1", "a-2", "b-0", "b-1", "b-2", "b-3"], r.PerHost.Select(h => h.Host));
        Assert.Equal(r.Totals.Firings, r.PerHost.Sum(h => h.Counters.Firings));
        Assert.Equal(r.Totals.Firings, r.Windows.Sum(w => w.Firings));
        Assert.Equal(r.Totals.Lost, r.Windows.Sum(w => w.Lost));
        // Helper counts: sorted by name, then return value descending.
        var keys = r.Totals.Helpers.Select(h => (h.Helper, h.Return)).ToList();
        Assert.Equal(keys.OrderBy(k => k.Helper, StringComparer.Ordinal).ThenByDescending(k => k.Return), keys);

        // Progress at the end agrees with the report.
        Assert.Equal(4, p1.WindowsDone);
        Assert.Equal(4, p1.WindowCount);
        Assert.Equal(s.DurationNs, p1.VirtualNsDone);
        Assert.Equal(r.Totals.HelperCalls, p1.HelperCalls);
        Assert.Equal(r.Totals.Firings, p1.Firings);

        // per_cpu pages: hosts in order, CPUs in order, each with its lost count per window.
        var page = await g1.GetPerCpu(2, 2);
        Assert.Equal(["a-2/0", "a-2/1", "b-0/0", "b-0/1", "b-0/2"], page.Select(c => $"{c.Host}/{c.Cpu}"));
        Assert.All(page, c => Assert.Equal(4, c.LostPerWindow.Length));
        Assert.All(page, c => Assert.Equal(c.Counters.Lost, c.LostPerWindow.Sum()));
        Assert.Empty(await g1.GetPerCpu(7, 5));
        foreach (var g in new[] { g1, g3, g3s, g3w }) await g.Shutdown();
    }

    [Fact]
    public async Task Another_seed_changes_the_result()
    {
        var s = ScenarioClusters.Parse(ScenarioClusters.SmallFleet);
        var (a, _) = await ScenarioClusters.Run(clusters.One.GrainFactory, s);
        var (b, _) = await ScenarioClusters.Run(clusters.One.GrainFactory, s with { Seed = 6 });
        Assert.NotEqual((await a.GetReport()).Windows.Select(w => w.Firings), (await b.GetReport()).Windows.Select(w => w.Firings));
    }

    [Fact]
    public async Task Captured_trace_lines_come_window_by_window_in_host_order_with_host_prefixes()
    {
        var s = ScenarioClusters.Parse(ScenarioClusters.SmallFleet);
        var (g, p) = await ScenarioClusters.Run(clusters.Three.GrainFactory, s, new ScenarioRunOptions { CaptureTrace = true });
        Assert.True(p.State == ScenarioRunState.Done, p.Error);
        var c = await g.TakeCapture(int.MaxValue);
        Assert.Empty(c.Records);
        var r = await g.GetReport();
        long printed = r.Totals.Helpers.Where(h => h.Helper == "bpf_trace_printk" && h.Return > 0).Sum(h => h.Count);
        // "n=%d\n": the message line and the empty line the event adds (docs/kernel-semantics.md §5), each with the host in front.
        Assert.Equal(2 * printed, c.TraceLines.Length);
        Assert.Equal(printed, c.TraceLines.Count(l => l.EndsWith(": \n", StringComparison.Ordinal)));
        Assert.All(c.TraceLines, l => Assert.EndsWith("\n", l));
        // Within each window hosts come in fleet order: the host sequence only goes back to a-0 when a window starts.
        string[] order = ["a-0", "a-1", "a-2", "b-0", "b-1", "b-2", "b-3"];
        int prev = -1, restarts = 0;
        foreach (var line in c.TraceLines)
        {
            int h = Array.IndexOf(order, line[..line.IndexOf(':')]);
            Assert.True(h >= 0, line);
            if (h < prev) restarts++;
            prev = h;
        }
        Assert.InRange(restarts, 1, 3); // 4 windows
        Assert.True((await g.TakeCapture(10)).IsEmpty);
        await g.Shutdown();
    }

    [Fact]
    public async Task Start_twice_and_reports_before_the_end_are_refused()
    {
        var s = ScenarioClusters.Parse(ScenarioClusters.SmallFleet);
        var g = clusters.One.GrainFactory.GetGrain<IScenarioGrain>("refusals-" + Guid.NewGuid().ToString("N"));
        var notStarted = await Assert.ThrowsAsync<ScenarioRunException>(() => g.GetReport());
        Assert.Contains("is NotStarted, not done", notStarted.Message);
        Assert.Equal(ScenarioRunState.NotStarted, (await g.GetProgress()).State);
        await g.Start(s, new ScenarioRunOptions());
        var again = await Assert.ThrowsAsync<ScenarioRunException>(() => g.Start(s, new ScenarioRunOptions()));
        Assert.Contains("was already started", again.Message);
        ScenarioProgress p;
        while ((p = await g.GetProgress()).State == ScenarioRunState.Running) await Task.Delay(20);
        Assert.Equal(ScenarioRunState.Done, p.State);
        await g.Shutdown();
    }

    [Fact]
    public async Task Cancel_stops_the_run_and_there_is_no_report()
    {
        var s = ScenarioClusters.Parse(ScenarioClusters.SmallFleet.Replace("duration: 400ms", "duration: 60s"));
        var g = clusters.One.GrainFactory.GetGrain<IScenarioGrain>("cancel-" + Guid.NewGuid().ToString("N"));
        await g.Start(s, new ScenarioRunOptions());
        await g.Cancel();
        ScenarioProgress p;
        while ((p = await g.GetProgress()).State == ScenarioRunState.Running) await Task.Delay(20);
        Assert.Equal(ScenarioRunState.Cancelled, p.State);
        Assert.True(p.WindowsDone < 600);
        var e = await Assert.ThrowsAsync<ScenarioRunException>(() => g.GetReport());
        Assert.StartsWith("cancelled after ", e.Message);
        await g.Shutdown();
    }
}

using BpfTraceSim.Contracts.Scenarios;
using BpfTraceSim.Grains.Simulation;

namespace BpfTraceSim.Grains.Tests.Simulation;

internal static class SimTestUtil
{
    /// <summary>The repository root, found from this source file (build output lives elsewhere).</summary>
    public static string RepoRoot([System.Runtime.CompilerServices.CallerFilePath] string source = "")
    {
        var dir = new DirectoryInfo(Path.GetDirectoryName(source)!);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "BpfTraceSim.slnx")))
            dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("repository root not found above " + source);
    }

    public static global::BpfTraceSim.Contracts.Scenarios.Scenario Example(string file) => ScenarioParser.ParseFile(Path.Combine(RepoRoot(), "scenarios", file));

    public static global::BpfTraceSim.Contracts.Scenarios.Scenario Parse(string yaml) => ScenarioParser.Parse(yaml, "test.yaml");

    /// <summary>The sum of a list of windows of one host (in order).</summary>
    public static SimCounters Sum(IEnumerable<WindowStats> windows)
    {
        var total = SimCounters.Zero;
        foreach (var w in windows) total = total.FollowedBy(w.Totals);
        return total;
    }

    /// <summary>One CPU's counters over a list of windows.</summary>
    public static SimCounters SumCpu(IEnumerable<WindowStats> windows, int cpu)
    {
        var total = SimCounters.Zero;
        foreach (var w in windows) total = total.FollowedBy(w.Cpus[cpu].Counters);
        return total;
    }
}

using System.Runtime.CompilerServices;
using BenchmarkDotNet.Attributes;
using BpfTraceSim.Contracts.Scenarios;
using BpfTraceSim.Grains.Simulation;

namespace BpfTraceSim.Bench;

/// <summary>
/// What a large fleet pays per host before its first report: building one 128-CPU host of the scale
/// example (scenarios/large-fleet.yaml: its CPU models, perf events, rings and their mirrors, firing
/// state) and that plus its first 500 ms window (~6,400 perf_event_output calls).
/// </summary>
[MemoryDiagnoser]
public class HostBuildBenchmarks
{
    private Scenario _scenario = null!;

    private static string ScenarioPath([CallerFilePath] string here = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", "..", "scenarios", "large-fleet.yaml"));

    [GlobalSetup]
    public void Setup() => _scenario = ScenarioParser.Parse(File.ReadAllText(ScenarioPath()), "large-fleet.yaml");

    [Benchmark(Description = "build one 128-CPU host")]
    public int Build() => new HostSimulation(_scenario, 0, 0, perCpuWindows: false, perCpuTotals: false).CpuCount;

    [Benchmark(Description = "build it and run its first 500 ms window")]
    public long BuildAndFirstWindow()
    {
        var h = new HostSimulation(_scenario, 0, 0, perCpuWindows: false, perCpuTotals: false);
        return h.RunWindow(0).Totals.Firings;
    }
}

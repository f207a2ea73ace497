using System.Diagnostics;
using BpfTraceSim.Contracts.Scenarios;
using BpfTraceSim.Grains.Simulation;

namespace BpfTraceSim.Bench;

/// <summary>
/// The replay load driver (issue 19: a recorded trace of 10 M events at >= 5 M events/s wall):
/// parses a scenario whose programs replay a file (the whole file is read and checked), then runs
/// every host of it to the end in this process without Orleans, and prints events (firings) per
/// wall second for the parse, the run and both. Each run's windows are compared with the first
/// run's: a difference is an error (the replay must be deterministic).
///   dotnet run -c Release --project bench/Bench -- replay bench/replay-10m.yaml [RUNS]
/// </summary>
public static class ReplayDriver
{
    public static int Run(string[] args)
    {
        string file = args.Length > 1 ? args[1] : "bench/replay-10m.yaml";
        int runs = args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 3;
        List<WindowStats>? first = null;
        Console.WriteLine($"{"run",4} {"events",12} {"parse s",8} {"M ev/s",8} {"sim s",8} {"M ev/s",8} {"total s",8} {"M ev/s",8}  lost");
        for (int r = 1; r <= runs; r++)
        {
            var sw = Stopwatch.StartNew();
            var scenario = ScenarioParser.ParseFile(file);
            double parse = sw.Elapsed.TotalSeconds;
            var windows = new List<WindowStats>();
            for (int g = 0; g < scenario.Fleet.Length; g++)
                for (int h = 0; h < scenario.Fleet[g].Hosts; h++)
                    windows.AddRange(new HostSimulation(scenario, g, h).RunToEnd());
            double total = sw.Elapsed.TotalSeconds;
            long events = 0, lost = 0;
            foreach (var w in windows)
            {
                events += w.Totals.Firings;
                lost += w.Totals.Lost;
            }
            if (first is null) first = windows;
            else if (!first.SequenceEqual(windows))
            {
                Console.Error.WriteLine($"run {r}: the windows differ from run 1's: the replay is not deterministic");
                return 1;
            }
            double sim = total - parse;
            Console.WriteLine($"{r,4} {events,12:N0} {parse,8:F2} {events / parse / 1e6,8:F2} {sim,8:F2} {events / sim / 1e6,8:F2} {total,8:F2} {events / total / 1e6,8:F2}  {lost:N0}");
        }
        return 0;
    }
}

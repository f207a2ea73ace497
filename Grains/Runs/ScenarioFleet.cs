using BpfTraceSim.Contracts.Grains;
using BpfTraceSim.Contracts.Scenarios;
using BpfTraceSim.Grains.Checkpoints;

namespace BpfTraceSim.Grains.Runs;

/// <summary>One host of a run: its place in the fleet and its grain (both interfaces of the one grain).</summary>
internal sealed record HostRef(int Group, int Index, string Name, int Cpus, IScenarioHostGrain Grain, IScenarioHostRecovery Recovery);

/// <summary>
/// Set-up of one run, all derived from the scenario and the run options: the hosts in fleet order,
/// each host's first flat CPU index, what the hosts are asked to keep, and how many host calls go
/// out at a time.
/// </summary>
internal sealed class ScenarioFleet
{
    /// <summary>Rows times windows up to which lost counts per window are kept per host and per CPU (the heat maps).</summary>
    public const long MaxHeatCells = 4_000_000;

    public ScenarioFleet(Scenario scenario, ScenarioRunOptions options, string runId, IGrainFactory grains)
    {
        Scenario = scenario;
        Options = options;
        var hosts = new List<HostRef>();
        for (int g = 0; g < scenario.Fleet.Length; g++)
        {
            var group = scenario.Fleet[g];
            for (int i = 0; i < group.Hosts; i++)
            {
                string name = group.HostName(i);
                string key = new ScenarioHostKey(runId, name).ToString();
                hosts.Add(new HostRef(g, i, name, group.Cpus, grains.GetGrain<IScenarioHostGrain>(key), grains.GetGrain<IScenarioHostRecovery>(key)));
            }
        }
        Hosts = [.. hosts];
        long windows = scenario.WindowCount;
        long cpus = scenario.CpuCount;
        CpuHeat = cpus <= ScenarioRunOptions.PerCpuLimit && cpus * windows <= MaxHeatCells;
        HostHeat = (long)Hosts.Length * windows <= MaxHeatCells;
        HostOptions = new HostRunOptions
        {
            CaptureTrace = options.CaptureTrace,
            CaptureRecords = options.CaptureRecords,
            CpuLostPerWindow = CpuHeat,
            PrefixTraceWithHost = Hosts.Length > 1,
            PerCpuTotals = options.ListsPerCpu(cpus),
        };
        CpuBase = new long[Hosts.Length];
        long flat = 0;
        for (int h = 0; h < Hosts.Length; h++)
        {
            CpuBase[h] = flat;
            flat += Hosts[h].Cpus;
        }
        Parallelism = options.Parallelism > 0 ? options.Parallelism : Environment.ProcessorCount * 4;
    }

    public Scenario Scenario { get; }
    public ScenarioRunOptions Options { get; }
    public HostRef[] Hosts { get; }
    public HostRunOptions HostOptions { get; }
    /// <summary>Flat index of each host's CPU 0.</summary>
    public long[] CpuBase { get; }
    /// <summary>Each CPU's lost count per window is kept (fleets up to the per-CPU limit).</summary>
    public bool CpuHeat { get; }
    /// <summary>Each host's lost count per window is kept.</summary>
    public bool HostHeat { get; }
    /// <summary>Host calls in flight at most.</summary>
    public int Parallelism { get; }

    /// <summary>
    /// Calls f for every host index with at most Parallelism calls in flight. The workers run on
    /// the calling activation's scheduler; results go to slots by host index, so order of
    /// completion does not matter.
    /// </summary>
    public Task ForEachHost(Func<int, Task> f)
    {
        int next = 0;
        int n = Hosts.Length;
        async Task Worker()
        {
            while (true)
            {
                int h = next++;
                if (h >= n) return;
                await f(h);
            }
        }
        var workers = new Task[Math.Min(Parallelism, n)];
        for (int i = 0; i < workers.Length; i++) workers[i] = Worker();
        return Task.WhenAll(workers);
    }

    /// <summary>Shuts every host grain down, Parallelism at a time.</summary>
    public async Task ShutdownHosts()
    {
        for (int i = 0; i < Hosts.Length; i += Parallelism)
            await Task.WhenAll(Hosts.Skip(i).Take(Parallelism).Select(h => h.Grain.Shutdown()));
    }
}

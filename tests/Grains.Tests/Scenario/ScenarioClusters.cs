using System.Collections.Immutable;
using System.Text.Json;
using BpfTraceSim.Contracts.Grains;
using BpfTraceSim.Contracts.Scenarios;
using Orleans.TestingHost;

namespace BpfTraceSim.Grains.Tests.Scenario;

/// <summary>In-process clusters of one and of three silos with the simulated-host placement.</summary>
public sealed class ScenarioClusters : IAsyncLifetime
{
    public TestCluster One { get; private set; } = null!;
    public TestCluster Three { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        One = Build(1);
        Three = Build(3);
        await Task.WhenAll(One.DeployAsync(), Three.DeployAsync());
    }

    private static TestCluster Build(short silos)
    {
        var b = new TestClusterBuilder { Options = { InitialSilosCount = silos } };
        b.AddSiloBuilderConfigurator<Configurator>();
        return b.Build();
    }

    public async Task DisposeAsync()
    {
        await Task.WhenAll(One.StopAllSilosAsync(), Three.StopAllSilosAsync());
        await One.DisposeAsync();
        await Three.DisposeAsync();
    }

    public sealed class Configurator : ISiloConfigurator
    {
        public void Configure(ISiloBuilder silo) => silo.AddBpfSimGrains().AddSimHostPlacement();
    }

    /// <summary>Starts a run and polls it to its end.</summary>
    public static async Task<(IScenarioGrain Grain, ScenarioProgress Progress)> Run(IGrainFactory grains, Contracts.Scenarios.Scenario s, ScenarioRunOptions? options = null, string? runId = null)
    {
        var g = grains.GetGrain<IScenarioGrain>(runId ?? "t-" + Guid.NewGuid().ToString("N"));
        await g.Start(s, options ?? new ScenarioRunOptions());
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(3);
        ScenarioProgress p;
        while ((p = await g.GetProgress()).State == ScenarioRunState.Running)
        {
            Assert.True(DateTime.UtcNow < deadline, "the run did not finish in 3 minutes");
            await Task.Delay(20);
        }
        return (g, p);
    }

    /// <summary>The report and every per_cpu entry as JSON, for byte comparisons.</summary>
    public static async Task<string> Snapshot(IScenarioGrain g)
    {
        var report = await g.GetReport();
        var perCpu = ImmutableArray.CreateBuilder<CpuReport>();
        for (long h = 0; h < report.Hosts; h += 2) perCpu.AddRange(await g.GetPerCpu(h, 2));
        return JsonSerializer.Serialize(new { report, perCpu = perCpu.ToImmutable() });
    }

    public const string SmallFleet = """
        name: grain-test
        seed: 5
        duration: 400ms
        window: 100ms
        fleet:
          - group: a
            hosts: 3
            cpus: 2
            tasks: [{ comm: app, pid: 100, count: 2 }]
          - group: b
            hosts: 4
            cpus: 3
        events:
          out: { per: cpu, ring_pages: 1 }
        maps:
          events: { max_entries: cpus }
        slots:
          events: per_cpu
        programs:
          p:
            fire: { process: poisson, rate: 20000/s }
            body:
              - perf_event_output: { map: events, size: 64 }
              - trace_printk: { fmt: "n=%d\n", args: [counter] }
        consumers:
          agent:
            events: out
            service: { exponential: 100us }
        """;

    public static Contracts.Scenarios.Scenario Parse(string yaml) => ScenarioParser.Parse(yaml, "test.yaml");
}

[CollectionDefinition(Name)]
public sealed class ScenarioClustersCollection : ICollectionFixture<ScenarioClusters>
{
    public const string Name = "scenario clusters";
}

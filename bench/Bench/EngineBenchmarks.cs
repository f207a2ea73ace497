using BenchmarkDotNet.Attributes;
using BpfTraceSim.Contracts.Scenarios;
using BpfTraceSim.Grains.Simulation;

namespace BpfTraceSim.Bench;

/// <summary>
/// The scenario engine's inner loop: one host of 64 CPUs, one program per CPU calling
/// bpf_perf_event_output with 8 bytes at 200,000 Poisson firings/s per CPU (12.8 M/s per host),
/// each CPU's 8-page ring read by the host's single reader (libbpf perf_buffer: per_batch,
/// wake-up every 64 records or at the poll timeout, 50 ns per record, fast enough for the load).
/// One operation = one 1 ms window = 12,800 helper calls on average, so
/// simulated helper calls per wall second = ops/s x 12,800. The host runs on from window to
/// window (steady state); it is rebuilt when its 100 s of virtual time run out (100,000 windows: the max_windows limit).
/// </summary>
[MemoryDiagnoser]
public class EngineBenchmarks
{
    /// <summary>Mean helper calls per operation (64 CPUs x 200,000/s x 1 ms).</summary>
    public const double CallsPerOp = 64 * 200_000 * 0.001;

    public const string Yaml = """
        name: engine-bench
        seed: 1
        duration: 100s
        window: 1ms
        fleet:
          - group: bench
            cpus: 64
            tasks:
              - { comm: app, pid: 1000, count: 64 }
        events:
          out: { per: cpu, ring_pages: 8, wakeup_events: 64 }
        maps:
          events: { max_entries: cpus }
        slots:
          events: per_cpu
        programs:
          hot:
            fire: { process: poisson, rate: 200000/s }
            body:
              - perf_event_output: { map: events, size: 8 }
        consumers:
          agent:
            events: out
            service: { fixed: 50ns }
            tail_update: per_batch
            poll_timeout: 1ms
        """;

    private Scenario _scenario = null!;
    private HostSimulation _host = null!;

    [GlobalSetup]
    public void Setup()
    {
        _scenario = ScenarioParser.Parse(Yaml, "engine-bench.yaml");
        _host = new HostSimulation(_scenario, 0, 0);
        for (int i = 0; i < 20; i++) _host.RunWindow(_host.NextWindow); // fill the rings' steady state
    }

    [Benchmark(Description = "one 1 ms window, 64 CPUs, ~12,800 perf_event_output calls")]
    public long Window()
    {
        if (_host.Finished) _host = new HostSimulation(_scenario, 0, 0);
        return _host.RunWindow(_host.NextWindow).Totals.Firings;
    }
}

namespace BpfTraceSim.Client.Tests.Sweeps;

/// <summary>Scenario texts for the sweep tests.</summary>
internal static class SweepScenarios
{
    /// <summary>
    /// One host, one CPU: Poisson firings writing one raw record each into a per-CPU ring read by a
    /// per_record reader with exponential service, woken at every record without delay: the
    /// M/M/1/K queue of docs/scenarios.md (K = the records that fit).
    /// </summary>
    public static string Mm1k(int ringPages, int size, string rate, string service, string duration, ulong seed = 42) => $$"""
        name: mm1k
        seed: {{seed}}
        duration: {{duration}}
        window: {{duration}}
        fleet:
          - group: h
            cpus: 1
            tasks:
              - { comm: app, pid: 100 }
        events:
          out: { per: cpu, ring_pages: {{ringPages}}, wakeup_events: 1, sample_type: [raw] }
        maps:
          events: { max_entries: cpus }
        slots:
          events: per_cpu
        programs:
          p:
            fire: { process: poisson, rate: {{rate}} }
            body:
              - perf_event_output: { map: events, flags: BPF_F_CURRENT_CPU, size: {{size}} }
        consumers:
          agent:
            events: out
            service: { exponential: {{service}} }
            tail_update: per_record
            wakeup_latency: 0us
            poll_timeout: 100ms
        """;

    /// <summary>One burst of `burst` 8-byte outputs at time 0 into a one-page ring nobody reads.</summary>
    public static string Burst(int burst) => $$"""
        name: burst
        seed: 1
        duration: 10ms
        window: 10ms
        fleet:
          - group: h
            cpus: 1
        events:
          out: { per: cpu, ring_pages: 1 }
        maps:
          events: { max_entries: cpus }
        slots:
          events: per_cpu
        programs:
          p:
            fire: { process: bursts, size: {{burst}}, every: 1s }
            body:
              - perf_event_output: { map: events, size: 8 }
        """;
}

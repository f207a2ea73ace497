using BpfTraceSim.Grains.Simulation;

namespace BpfTraceSim.Grains.Tests.Simulation;

/// <summary>
/// A clang-built object using a ringbuf map (tests/bpf/ringbuf.bpf.o) in a scenario: its map binds
/// to the host's ring of the same name and its helper calls are counted as body steps' are.
/// </summary>
public class ObjectRingbufTests
{
    private static string Yaml(string maps = "rb: { type: ringbuf, max_entries: 64KiB }", string reader = "consumers: { agent: { ringbuf: rb, service: { fixed: 2us } } }")
    {
        string obj = Path.Combine(SimTestUtil.RepoRoot(), "tests", "bpf", "ringbuf.bpf.o");
        return $$"""
            name: obj-rb
            seed: 5
            duration: 200ms
            window: 50ms
            fleet: [ { group: g, cpus: 2 } ]
            maps: { {{maps}} }
            programs:
              out:
                fire: { process: constant, rate: 1000/s }
                object: "{{obj}}"
                section: raw_tp/sys_enter
              res:
                fire: { process: constant, rate: 1500/s }
                object: "{{obj}}"
                section: raw_tp/sys_exit
            {{reader}}
            """;
    }

    [Fact]
    public void Object_outputs_and_reservations_reach_the_hosts_ring_and_are_counted()
    {
        var sim = new HostSimulation(SimTestUtil.Parse(Yaml()), 0, 0);
        var t = SimTestUtil.Sum(sim.RunToEnd());
        Assert.Equal(1000, t.Firings); // 2 CPUs x (1000/s + 1500/s) x 200 ms
        Assert.Equal(400, t.Helpers.Get("bpf_ringbuf_output", 0));
        Assert.Equal(600, t.Helpers.Get("bpf_ringbuf_reserve", 1)); // a sample pointer each time
        long submits = t.Helpers.Calls("bpf_ringbuf_submit"), discards = t.Helpers.Calls("bpf_ringbuf_discard");
        Assert.Equal(600, submits + discards);
        Assert.True(submits > 0 && discards > 0); // the program discards odd sequence numbers
        Assert.Equal(400 + submits, t.RecordsWritten); // discarded records are not records
        Assert.Equal(24 * t.RecordsWritten, t.BytesWritten); // header 8 + struct event 16
        Assert.Equal(0, t.Lost);
        Assert.Equal(t.RecordsWritten, t.RecordsConsumed + t.RecordsInRing);
        Assert.True(Assert.Single(sim.CheckConservation().Rings).Ok);
    }

    [Fact]
    public void The_scenario_maps_size_wins_over_the_objects_and_a_full_ring_gives_EAGAIN_and_NULL()
    {
        // Scenario ring 4 KiB and no reader: 4080 / 24 = 170 records, then -EAGAIN / NULL (dropped).
        var sim = new HostSimulation(SimTestUtil.Parse(Yaml("rb: { type: ringbuf, max_entries: 4096 }", "")), 0, 0);
        var t = SimTestUtil.Sum(sim.RunToEnd());
        Assert.Equal(4080, t.RingFillMaxBytes);
        Assert.Equal(170, t.Helpers.Get("bpf_ringbuf_output", 0) + t.Helpers.Get("bpf_ringbuf_reserve", 1));
        Assert.Equal(1000 - 170, t.Helpers.Get("bpf_ringbuf_output", -11) + t.Helpers.Get("bpf_ringbuf_reserve", 0));
        Assert.Equal(1000 - 170, t.Lost);
        Assert.True(Assert.Single(sim.CheckConservation().Rings).Ok);
    }

    [Fact]
    public void An_objects_ringbuf_without_a_scenario_map_of_its_name_is_a_setup_error()
    {
        var e = Assert.Throws<SimulationSetupException>(() => new HostSimulation(SimTestUtil.Parse(Yaml("other: { type: ringbuf, max_entries: 4096 }", "")), 0, 0));
        Assert.Contains("ringbuf 'rb' has no scenario ringbuf map of that name", e.Message);
    }

    [Fact]
    public void The_example_scenario_runs_with_every_output_returning_0()
    {
        var sim = new HostSimulation(SimTestUtil.Example("objects/ringbuf-object.yaml"), 0, 0);
        var t = SimTestUtil.Sum(sim.RunToEnd());
        Assert.Equal(t.Helpers.Calls("bpf_ringbuf_output"), t.Helpers.Get("bpf_ringbuf_output", 0));
        Assert.Equal(0, t.Lost);
        Assert.True(Assert.Single(sim.CheckConservation().Rings).Ok);
    }
}

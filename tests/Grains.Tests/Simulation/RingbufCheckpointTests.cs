using BpfTraceSim.Contracts.Scenarios;
using BpfTraceSim.Grains.Simulation;

namespace BpfTraceSim.Grains.Tests.Simulation;

/// <summary>Checkpoint/restore of ringbuf hosts (failover): the ring, its reader, its lock and its queued records.</summary>
public class RingbufCheckpointTests
{
    private static global::BpfTraceSim.Contracts.Scenarios.Scenario Example(string file) => SimTestUtil.Example(file);

    private static global::BpfTraceSim.Contracts.Scenarios.Scenario Body(string body, string maps = "rb: { type: ringbuf, max_entries: 16KiB }") => SimTestUtil.Parse($$"""
        name: rb-cp
        seed: 9
        duration: 1s
        window: 100ms
        fleet: [ { group: g, cpus: 4 } ]
        maps: { {{maps}} }
        programs:
          p:
            fire: { process: poisson, rate: 20000/s }
            body: {{body}}
        consumers: { c: { ringbuf: rb, service: { exponential: 15us }, wakeup_latency: 5us } }
        """);

    public static TheoryData<string> Cases() => new()
    {
        "example:ringbuf.yaml",
        "example:objects/ringbuf-object.yaml",
        "body:[ { ringbuf_reserve: { map: rb, size: { uniform: [8, 200] } } }, { ringbuf_discard: {} }, { ringbuf_output: { map: rb, size: 64 } }, { ringbuf_reserve: { map: rb, size: 32 } }, { ringbuf_submit: { flags: BPF_RB_NO_WAKEUP } } ]",
        // a lock so slow that commits cross window ends: delayed (deferred) wake-ups are state too
        "lock:[ { ringbuf_output: { map: rb, size: 8 } } ]",
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void A_restored_ringbuf_host_gives_the_same_windows_as_one_that_ran_straight(string which)
    {
        string kind = which[..which.IndexOf(':')], arg = which[(which.IndexOf(':') + 1)..];
        var s = kind switch
        {
            "example" => Example(arg),
            "body" => Body(arg),
            _ => Body(arg, "rb: { type: ringbuf, max_entries: 1MiB, lock_cost: 20us, lock_handoff: 30us }"),
        };
        var straight = new HostSimulation(s, 0, 0);
        var all = new List<WindowStats>();
        for (int w = 0; w < 10; w++) all.Add(straight.RunWindow(w));

        var first = new HostSimulation(s, 0, 0);
        for (int w = 0; w < 5; w++) Assert.Equal(all[w], first.RunWindow(w));
        byte[] checkpoint = first.Checkpoint();
        var restored = HostSimulation.Restore(s, 0, 0, checkpoint);
        Assert.Equal(checkpoint, restored.Checkpoint()); // the restored state is the checkpointed state
        for (int w = 5; w < 10; w++) Assert.Equal(all[w], restored.RunWindow(w));
        Assert.Equal(straight.Checkpoint(), restored.Checkpoint());
        Assert.True(restored.CheckConservation().Rings.All(r => r.Ok));
        Assert.True(all.Sum(x => SimTestUtil.Sum([x]).RecordsConsumed) > 0);
    }

    [Fact]
    public void A_damaged_ringbuf_checkpoint_is_refused()
    {
        var s = Example("ringbuf.yaml");
        var sim = new HostSimulation(s, 0, 0);
        sim.RunWindow(0);
        byte[] cp = sim.Checkpoint();
        Assert.Throws<CheckpointMismatchException>(() => HostSimulation.Restore(s, 0, 0, cp[..^3]));
        Assert.Throws<CheckpointMismatchException>(() => HostSimulation.Restore(s, 0, 0, [.. cp, 0]));
    }
}

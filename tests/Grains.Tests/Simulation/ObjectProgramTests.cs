using BpfTraceSim.Grains.Simulation;

namespace BpfTraceSim.Grains.Tests.Simulation;

/// <summary>
/// Programs given as a real BPF object (tests/bpf/perf_only.bpf.o: one 8-byte
/// bpf_perf_event_output with BPF_F_CURRENT_CPU per run) run in the VM at each firing, against
/// the same perf event arrays, rings and accounting as body programs.
/// </summary>
public class ObjectProgramTests
{
    private const string Out = "bpf_perf_event_output";

    private static string Yaml(string slots, ulong seed = 11, string fire = "{ process: constant, rate: 1000/s }")
    {
        string obj = Path.Combine(SimTestUtil.RepoRoot(), "tests", "bpf", "perf_only.bpf.o");
        return $$"""
            name: obj
            seed: {{seed}}
            duration: 200ms
            window: 50ms
            fleet: [ { group: g, cpus: 2 } ]
            events: { out: { per: cpu, ring_pages: 2, sample_type: [raw] } }
            maps: { events: { max_entries: cpus } }
            slots: { events: {{slots}} }
            programs:
              emit:
                fire: {{fire}}
                object: "{{obj}}"
                section: raw_tp/sys_enter
            consumers:
              agent:
                events: out
                service: { fixed: 2us }
            """;
    }

    [Fact]
    public void Per_cpu_slots_every_firing_writes_the_programs_8_bytes()
    {
        var sim = new HostSimulation(SimTestUtil.Parse(Yaml("per_cpu")), 0, 0, captureRecords: true);
        var w = sim.RunToEnd();
        var t = SimTestUtil.Sum(w);
        Assert.Equal(400, t.Firings); // 2 CPUs x 1000/s x 200 ms
        Assert.Equal(400, t.Helpers.Get(Out, 0));
        Assert.Equal(400, t.Helpers.Calls(Out));
        Assert.Equal(400, t.Helpers.TotalCalls); // the program calls nothing else
        Assert.Equal(400, t.RecordsWritten);
        Assert.Equal(400 * 24, t.BytesWritten); // header 8 + raw (4 + 8, padded to 16)
        Assert.Equal(0, t.Lost);
        for (int c = 0; c < 2; c++)
        {
            var cpu = SimTestUtil.SumCpu(w, c);
            Assert.Equal(200, cpu.Firings);
            Assert.Equal(200, cpu.Helpers.Get(Out, 0));
            Assert.Equal(200, cpu.RecordsWritten);
        }
        // Conservation: every record written is consumed or still in its ring.
        Assert.Equal(t.RecordsWritten, t.RecordsConsumed + t.RecordsInRing);
        var cons = sim.CheckConservation();
        Assert.Equal(2, cons.Rings.Count);
        Assert.Equal(400, cons.Rings.Sum(r => r.Written));

        // The payload is the program's: PERF_RECORD_SAMPLE, misc PERF_RECORD_MISC_KERNEL, size 24, raw size 12
        // (8 data bytes + 4 of padding to keep the record u64-aligned), the u64 0x1122334455667788, zero padding.
        var records = w.SelectMany(x => x.Records).Where(r => !r.IsLost).ToList();
        Assert.Equal(t.RecordsConsumed, records.Count);
        Assert.All(records, r => Assert.Equal("09000000" + "0100" + "1800" + "0c000000" + "8877665544332211" + "00000000", r.Hex));
        Assert.Equal(records.Count(r => r.Cpu == 0), records.Count(r => r.Cpu == 1));
    }

    [Fact]
    public void Swapped_slots_every_output_returns_eopnotsupp()
    {
        var t = SimTestUtil.Sum(new HostSimulation(SimTestUtil.Parse(Yaml("swapped")), 0, 0).RunToEnd());
        Assert.Equal(400, t.Firings);
        Assert.Equal(400, t.Helpers.Get(Out, -95));
        Assert.Equal(400, t.Helpers.Calls(Out));
        Assert.Equal(0, t.RecordsWritten);
        Assert.Equal(0, t.BytesWritten);
        Assert.Equal(0, t.Lost);
    }

    [Fact]
    public void A_burst_into_a_ring_without_time_to_drain_loses_records_and_counts_enospc()
    {
        // 2 pages = 8192 bytes = 341 records of 24 bytes; 1000 firings per CPU at time 0, the reader has not run yet.
        var sim = new HostSimulation(SimTestUtil.Parse(Yaml("per_cpu", fire: "{ process: bursts, size: 1000, every: 1s }")), 0, 0);
        var t = SimTestUtil.Sum(sim.RunToEnd());
        Assert.Equal(2000, t.Firings);
        Assert.Equal(2 * 341, t.Helpers.Get(Out, 0));
        Assert.Equal(2 * (1000 - 341), t.Helpers.Get(Out, -28));
        Assert.Equal(2 * 341, t.RecordsWritten);
        Assert.Equal(2 * (1000 - 341), t.Lost);
        Assert.True(sim.CheckConservation().Rings.All(r => r.Ok));
    }

    [Fact]
    public void Same_seed_gives_identical_stats()
    {
        var s1 = SimTestUtil.Parse(Yaml("per_cpu", 5, "{ process: poisson, rate: 3000/s }"));
        var s2 = SimTestUtil.Parse(Yaml("per_cpu", 5, "{ process: poisson, rate: 3000/s }"));
        var a = new HostSimulation(s1, 0, 0).RunToEnd();
        var b = new HostSimulation(s2, 0, 0).RunToEnd();
        Assert.Equal(a, b);
        Assert.True(SimTestUtil.Sum(a).Firings > 0);
        var c = SimTestUtil.Sum(new HostSimulation(SimTestUtil.Parse(Yaml("per_cpu", 6, "{ process: poisson, rate: 3000/s }")), 0, 0).RunToEnd());
        Assert.NotEqual(SimTestUtil.Sum(a).Firings, c.Firings);
    }

    [Fact]
    public void A_checkpoint_of_object_programs_restores_to_bit_identical_windows()
    {
        var s = SimTestUtil.Parse(Yaml("per_cpu", fire: "{ process: poisson, rate: 3000/s }"));
        var straight = new HostSimulation(s, 0, 0, captureRecords: true);
        var all = straight.RunToEnd();
        var first = new HostSimulation(s, 0, 0, captureRecords: true);
        for (int w = 0; w < 2; w++) Assert.Equal(all[w], first.RunWindow(w));
        byte[] checkpoint = first.Checkpoint();
        var restored = HostSimulation.Restore(s, 0, 0, checkpoint, captureRecords: true);
        Assert.Equal(checkpoint, restored.Checkpoint());
        for (int w = 2; w < all.Count; w++) Assert.Equal(all[w], restored.RunWindow(w));
        Assert.Equal(straight.Checkpoint(), restored.Checkpoint());
    }

    /// <summary>
    /// tests/bpf/globals.bpf.o's raw_tp/globals: each run adds to a .data counter, an array, a hash
    /// and a per-CPU array. A restored host whose maps were not restored would end with other map
    /// bytes than the host that ran straight through.
    /// </summary>
    [Fact]
    public void Object_maps_and_globals_are_part_of_the_checkpoint()
    {
        var s = SimTestUtil.Parse(Yaml("per_cpu").Replace("perf_only.bpf.o", "globals.bpf.o").Replace("raw_tp/sys_enter", "raw_tp/globals"));
        var straight = new HostSimulation(s, 0, 0);
        straight.RunToEnd();
        var first = new HostSimulation(s, 0, 0);
        for (int w = 0; w < 2; w++) first.RunWindow(w);
        byte[] checkpoint = first.Checkpoint();
        var restored = HostSimulation.Restore(s, 0, 0, checkpoint);
        Assert.Equal(checkpoint, restored.Checkpoint());
        restored.RunToEnd();
        Assert.Equal(straight.Checkpoint(), restored.Checkpoint());
    }

    [Fact]
    public void A_missing_object_or_section_is_a_setup_error()
    {
        var badSection = Yaml("per_cpu").Replace("raw_tp/sys_enter", "raw_tp/nope");
        var e1 = Assert.Throws<SimulationSetupException>(() => new HostSimulation(SimTestUtil.Parse(badSection), 0, 0));
        Assert.Contains("programs.emit", e1.Message);
        Assert.Contains("raw_tp/nope", e1.Message);
        var badPath = Yaml("per_cpu").Replace("perf_only.bpf.o", "no_such.bpf.o");
        // A missing object file is refused when the scenario is read (before any silo starts), with its position.
        var e2 = Assert.Throws<BpfTraceSim.Contracts.Scenarios.ScenarioException>(() => SimTestUtil.Parse(badPath));
        Assert.Contains("programs.emit.object", e2.Message);
        Assert.Contains("no_such.bpf.o", e2.Message);
    }

    [Fact]
    public void The_bpf_object_example_runs()
    {
        // The example's object path is relative to the example file: parsing the file resolves it.
        string file = Path.Combine(SimTestUtil.RepoRoot(), "scenarios", "objects", "bpf-object.yaml");
        var scenario = BpfTraceSim.Contracts.Scenarios.ScenarioParser.ParseFile(file);
        Assert.Equal(Path.Combine(SimTestUtil.RepoRoot(), "tests", "bpf", "perf_only.bpf.o"), scenario.Programs[0].Object);
        var sim = new HostSimulation(scenario, 0, 0);
        var t = SimTestUtil.Sum(sim.RunToEnd());
        Assert.True(t.Firings > 4 * 1500, $"{t.Firings} firings"); // 4 CPUs x poisson 2000/s x 1 s
        Assert.Equal(t.Firings, t.Helpers.Get(Out, 0));
        Assert.Equal(t.Firings, t.RecordsWritten);
        Assert.Equal(24 * t.Firings, t.BytesWritten);
        Assert.True(sim.CheckConservation().Ok);
    }
}

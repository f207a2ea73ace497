using BpfTraceSim.Contracts.Scenarios;
using BpfTraceSim.Grains.Simulation;
using CsCheck;

namespace BpfTraceSim.Grains.Tests.Simulation;

/// <summary>Same scenario + seed + host => the same windows, whoever runs them and however they are batched.</summary>
public class DeterminismTests
{
    /// <summary>The example cut to its first `ms` milliseconds (timeline entries after that never come).</summary>
    private static global::BpfTraceSim.Contracts.Scenarios.Scenario Shorter(string file, long ms) =>
        SimTestUtil.Example(file) with { DurationNs = ms * 1_000_000 };

    private static List<WindowStats> Run(global::BpfTraceSim.Contracts.Scenarios.Scenario s, int group, int host,
        bool records = false, bool trace = false) =>
        new HostSimulation(s, group, host, records, trace).RunToEnd();

    [Fact]
    public void Same_seed_gives_identical_windows_and_another_seed_different_ones()
    {
        var s = Shorter("undersized-ring.yaml", 1000);
        var a = Run(s, 0, 3);
        var b = Run(Shorter("undersized-ring.yaml", 1000), 0, 3);
        Assert.Equal(10, a.Count);
        Assert.Equal(a, b); // a fresh parse (another Scenario object, another plan) changes nothing
        var other = Run(s with { Seed = s.Seed + 1 }, 0, 3);
        Assert.NotEqual(SimTestUtil.Sum(a).Firings, SimTestUtil.Sum(other).Firings);
        Assert.NotEqual(a, other);
    }

    [Fact]
    public void Hosts_of_a_group_have_their_own_streams()
    {
        var s = Shorter("undersized-ring.yaml", 300);
        var h0 = SimTestUtil.Sum(Run(s, 0, 0));
        var h1 = SimTestUtil.Sum(Run(s, 0, 1));
        Assert.NotEqual(h0.Firings, h1.Firings);
    }

    [Fact]
    public void Hosts_run_in_parallel_threads_give_what_they_give_alone()
    {
        var s = Shorter("cpu-offline.yaml", 5000);
        var alone = new[] { Run(s, 0, 0), Run(s, 0, 1) };
        var parallel = new List<WindowStats>[2];
        Parallel.For(0, 2, i => parallel[i] = Run(s, 0, i));
        Assert.Equal(alone[0], parallel[0]);
        Assert.Equal(alone[1], parallel[1]);
    }

    public static TheoryData<string, bool> CheckpointCases() => new()
    {
        { "undersized-ring.yaml", false },
        { "cpu-offline.yaml", false },
        { "quick.yaml", true },
        { "healthy.yaml", false },
    };

    /// <summary>10 windows in one go vs 5, checkpoint, restore in a new object (as another silo would), 5 more.</summary>
    [Theory]
    [MemberData(nameof(CheckpointCases))]
    public void Restoring_a_checkpoint_after_window_5_gives_bit_identical_windows(string file, bool capture)
    {
        var s = file == "cpu-offline.yaml"
            // windows of 500 ms so that window 5 comes after the offline/online/slots actions
            ? ScenarioParser.Parse(ScenarioPaths.Set(File.ReadAllText(Path.Combine(SimTestUtil.RepoRoot(), "scenarios", file)), "window", "500ms"), file) with { DurationNs = 5_000_000_000 }
            : Shorter(file, 1000);
        var straight = new HostSimulation(s, 0, 0, capture, capture);
        var all = new List<WindowStats>();
        for (int w = 0; w < 10; w++) all.Add(straight.RunWindow(w));

        var first = new HostSimulation(s, 0, 0, capture, capture);
        for (int w = 0; w < 5; w++) Assert.Equal(all[w], first.RunWindow(w));
        byte[] checkpoint = first.Checkpoint();
        var restored = HostSimulation.Restore(s, 0, 0, checkpoint, capture, capture);
        Assert.Equal(5, restored.NextWindow);
        Assert.Equal(checkpoint, restored.Checkpoint()); // the restored state is the checkpointed state
        for (int w = 5; w < 10; w++) Assert.Equal(all[w], restored.RunWindow(w));
        Assert.Equal(straight.Checkpoint(), restored.Checkpoint());
    }

    [Fact]
    public void The_agents_view_of_losses_survives_a_checkpoint()
    {
        var s = Shorter("undersized-ring.yaml", 1000);
        var straight = new HostSimulation(s, 0, 0);
        for (int w = 0; w < 10; w++) straight.RunWindow(w);
        var first = new HostSimulation(s, 0, 0);
        for (int w = 0; w < 5; w++) first.RunWindow(w);
        var restored = HostSimulation.Restore(s, 0, 0, first.Checkpoint());
        Assert.Equal(first.LostView(), restored.LostView());
        for (int w = 5; w < 10; w++) restored.RunWindow(w);
        var view = straight.LostView();
        Assert.True(view.FirstLossNs >= 0 && view.LostUnwritten + view.LostCallbacks > 0);
        Assert.Equal(view, restored.LostView());
    }

    [Fact]
    public void A_checkpoint_of_another_host_or_scenario_is_refused()
    {
        var s = Shorter("undersized-ring.yaml", 300);
        var sim = new HostSimulation(s, 0, 0);
        sim.RunWindow(0);
        byte[] cp = sim.Checkpoint();
        Assert.Throws<CheckpointMismatchException>(() => HostSimulation.Restore(s, 0, 1, cp));
        Assert.Throws<CheckpointMismatchException>(() => HostSimulation.Restore(s with { Seed = 9 }, 0, 0, cp));
        Assert.Throws<CheckpointMismatchException>(() => HostSimulation.Restore(s, 0, 0, cp[..^3]));
        Assert.Throws<CheckpointMismatchException>(() => HostSimulation.Restore(s, 0, 0, cp, captureRecords: true));
    }

    [Fact]
    public void Windows_must_run_in_order()
    {
        var s = Shorter("quick.yaml", 300);
        var sim = new HostSimulation(s, 0, 0);
        Assert.Throws<InvalidOperationException>(() => sim.RunWindow(1));
        sim.RunToEnd();
        Assert.True(sim.Finished);
        Assert.Throws<InvalidOperationException>(() => sim.RunWindow(3));
    }

    [Fact]
    public void Stream_seeds_depend_on_the_names_and_the_seed_only()
    {
        // SipHash-2-4 reference vector (Aumasson & Bernstein, appendix A): key 00..0f, message 00..0e.
        byte[] msg = new byte[15];
        for (int i = 0; i < msg.Length; i++) msg[i] = (byte)i;
        Assert.Equal(0xa129ca6149be45e5UL, BpfTraceSim.Kernel.SipHash.Hash24(0x0706050403020100UL, 0x0f0e0d0c0b0a0908UL, msg));
        Assert.Equal(StreamSeeds.Program(42, "web-0", 1, "p", "fire"), StreamSeeds.Program(42, "web-0", 1, "p", "fire"));
        Assert.NotEqual(StreamSeeds.Program(42, "web-0", 1, "p", "fire"), StreamSeeds.Program(42, "web-0", 2, "p", "fire"));
        Assert.NotEqual(StreamSeeds.Program(42, "web-0", 1, "p", "fire"), StreamSeeds.Program(43, "web-0", 1, "p", "fire"));
        Assert.NotEqual(StreamSeeds.Program(42, "web-0", 1, "p", "fire"), StreamSeeds.Program(42, "web-1", 1, "p", "fire"));
    }

    [Fact]
    public void A_programs_stream_seed_is_the_hash_of_its_documented_text()
    {
        // StreamSeeds.Program builds its bytes without a string; they must stay those of the text
        // "prog\0{purpose}\0{host}\0{cpu}\0{program}" (every report's streams depend on them).
        var names = Gen.String[Gen.Char.AlphaNumeric, 0, 40];
        var any = Gen.String[0, 300]; // any UTF-16, long ones past the stack buffer
        Gen.Select(Gen.ULong, Gen.OneOf(names, any), Gen.Int[0, 1 << 20], names, Gen.OneOf(names, any))
            .Sample((seed, host, cpu, program, purpose) =>
                Assert.Equal(StreamSeeds.Hash(seed, $"prog\0{purpose}\0{host}\0{cpu.ToString(System.Globalization.CultureInfo.InvariantCulture)}\0{program}"),
                    StreamSeeds.Program(seed, host, cpu, program, purpose)));
    }

    [Fact]
    public void Xoshiro256_starstar_matches_the_reference_sequence()
    {
        // Hand-computed from the reference algorithm with state {1, 2, 3, 4}.
        var x = new Xoshiro256 { S0 = 1, S1 = 2, S2 = 3, S3 = 4 };
        Assert.Equal(11520UL, x.Next());
        Assert.Equal(0UL, x.Next());
        Assert.Equal(1509978240UL, x.Next());
    }
}

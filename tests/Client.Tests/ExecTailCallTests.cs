using System.Text.Json;

namespace BpfTraceSim.Client.Tests;

/// <summary>bpf_tail_call through `bpfsim exec`: tests/bpf/tailcall.bpf.o and scenarios/exec/tailcall.json.</summary>
[Collection(SiloCollection.Name)]
public sealed class ExecTailCallTests(EmbeddedSiloFixture silo)
{
    private static string Bpf => Path.Combine(Repo.Root, "tests", "bpf");

    private static long Ret(JsonElement step) => step.GetProperty("ret").GetInt64();

    private static long[] HelperRets(JsonElement step) => [.. step.GetProperty("helpers").EnumerateArray().Select(h => h.GetProperty("ret").GetInt64())];

    [Fact]
    public async Task The_example_world_chains_jumps_and_changes_slots_from_user_space()
    {
        var (exit, lines, err) = await silo.Exec(File.ReadAllText(Path.Combine(Repo.Root, "scenarios/exec/tailcall.json")),
            Path.Combine(Repo.Root, "scenarios/exec"));
        Assert.True(exit == 0, err);
        var r = lines[0].GetProperty("results");
        // slot 0 chains to itself: 33 tail calls taken, the 34th falls through, chain returns 42
        Assert.Equal(42, Ret(r[0]));
        Assert.Equal([.. Enumerable.Repeat(0L, 33), -2], HelperRets(r[0]));
        Assert.Equal("2100000000000000", r[1].GetProperty("value_hex").GetString()); // hits_chain = 33
        // slot 1: emit's trace line and perf sample come from the caller's CPU 0
        Assert.Equal(3, Ret(r[3]));
        Assert.Equal([0L, 6, 0], HelperRets(r[3]));
        Assert.Equal("             app-100     [000] ...2.     0.000000: bpf_trace_printk: emit 1", r[4].GetProperty("lines")[0].GetString());
        var rec = Assert.Single(r[5].GetProperty("records").EnumerateArray());
        Assert.Equal("010000000000000000000000", rec.GetProperty("raw_hex").GetString());
        // update_slot puts emit into the empty slot 2; delete_slot empties it again
        Assert.Equal(0, Ret(r[6]));
        Assert.Equal(3, Ret(r[8]));
        Assert.Equal(0, Ret(r[9]));
        Assert.Equal(-2, Ret(r[10]));   // -ENOENT: already empty
        Assert.Equal(7, Ret(r[11]));    // fell through
        Assert.Equal([-2L], HelperRets(r[11]));
        Assert.Equal(-7, Ret(r[12]));   // -E2BIG: index past max_entries
        Assert.Equal(-22, Ret(r[13]));  // -EINVAL: flags other than BPF_ANY
    }

    [Theory]
    [InlineData("""{ "call": "update_slot", "program": "e", "map": "events", "index": 0, "prog": "emit" }""", "steps[0].map",
        "no prog array named \"events\" in the object of program \"e\"")]
    [InlineData("""{ "call": "update_slot", "program": "e", "map": "jmp_table", "index": 0, "prog": "nope" }""", "steps[0].prog",
        "no program named \"nope\" in tailcall.bpf.o (programs: chain, emit, entry, from_sub)")]
    [InlineData("""{ "call": "update_slot", "program": "e", "map": "jmp_table", "index": 0, "event": "x" }""", "steps[0].event",
        "a prog array slot holds a program: give \"prog\", not \"event\"")]
    [InlineData("""{ "call": "delete_slot", "program": "q", "map": "jmp_table", "index": 0 }""", "steps[0].program",
        "no program named \"q\" in \"programs\"")]
    public async Task A_bad_prog_array_step_names_the_field(string step, string field, string message)
    {
        var (exit, lines, _) = await silo.Exec($$"""
            { "programs": { "e": { "object": "tailcall.bpf.o", "program": "entry" } }, "steps": [ {{step}} ] }
            """, Bpf);
        Assert.Equal(2, exit);
        var e = Assert.Single(lines).GetProperty("error");
        Assert.Equal(field, e.GetProperty("field").GetString());
        Assert.Equal(message, e.GetProperty("message").GetString());
    }
}

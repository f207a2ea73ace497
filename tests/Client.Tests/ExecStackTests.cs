using System.Text.Json;

namespace BpfTraceSim.Client.Tests;

/// <summary>Synthetic stacks and a stack_trace map through `bpfsim exec` (scenarios/exec/stacks.json, tests/bpf/stack.bpf.o).</summary>
[Collection(SiloCollection.Name)]
public sealed class ExecStackTests(EmbeddedSiloFixture silo)
{
    private static string Obj => Path.Combine(Repo.Root, "tests", "bpf", "stack.bpf.o").Replace("\\", "/", StringComparison.Ordinal);

    [Fact]
    public async Task Example_world_counts_stack_ids_and_reads_the_map_back_symbolised()
    {
        var (exit, lines, err) = await silo.Exec(File.ReadAllText(Path.Combine(Repo.Root, "scenarios/exec/stacks.json")),
            Path.Combine(Repo.Root, "scenarios/exec"));
        Assert.True(exit == 0, err);
        var r = lines[0].GetProperty("results");
        var helpers = r[0].GetProperty("helpers");
        Assert.Equal(27, helpers[0].GetProperty("id").GetInt32());
        Assert.Equal(2, helpers[0].GetProperty("ret").GetInt64());   // jhash2 of the three ips & 3
        Assert.Equal(16, helpers[3].GetProperty("ret").GetInt64());  // two user frames copied
        Assert.Equal(2, r[1].GetProperty("helpers")[0].GetProperty("ret").GetInt64()); // the same stack, the same id
        Assert.Equal("a611400000000000909d228a3c7f0000" + new string('0', 96), r[3].GetProperty("value_hex").GetString());
        Assert.Equal(24, r[4].GetProperty("helpers")[3].GetProperty("ret").GetInt64()); // pid 200: the default user stack
        Assert.Equal(2u, r[6].GetProperty("key").GetUInt32());
        Assert.Equal(-2, r[7].GetProperty("ret").GetInt64());       // an empty bucket
        Assert.Equal(["vfs_read+0x1d/0x1e0", "ksys_read+0x73/0xe0", "__x64_sys_read+0x19/0x20"],
            r[9].GetProperty("stack").EnumerateArray().Select(x => x.GetString()!).ToArray());
        Assert.Equal(["vfs_write+0x40/0x260", "ksys_write+0x73/0xe0"], r[10].GetProperty("stack").EnumerateArray().Select(x => x.GetString()!).ToArray());
        Assert.Equal(-2, r[11].GetProperty("ret").GetInt64());      // past n_buckets: -ENOENT on lookup
        Assert.Equal(-7, r[12].GetProperty("ret").GetInt64());      // ... and -E2BIG on delete
        Assert.Equal(-14, r[14].GetProperty("helpers")[0].GetProperty("ret").GetInt64()); // skip 2 of 2 user frames
    }

    [Theory]
    [InlineData("""{ "tasks": [], "steps": [] }""")]
    [InlineData("""{ "tasks": [ { "pid": 5, "comm": "a" } ], "steps": [] }""")]
    public async Task A_world_whose_tasks_give_no_stacks_runs(string world)
    {
        // found by the exec fuzzer: giving the tasks their stacks failed on a list of 0 or 1 tasks
        var (exit, lines, err) = await silo.Exec(world, Repo.Root);
        Assert.True(exit == 0, err);
        Assert.Equal(0, lines[0].GetProperty("results").GetArrayLength());
    }

    [Fact]
    public async Task Delete_empties_a_bucket_and_next_slot_walks_what_is_left()
    {
        var r = await silo.Results($$"""
            { "tasks": [ { "pid": 7, "kernel_stack": [ "0xffffffff81000100" ] }, { "pid": 8, "kernel_stack": [ 18446744071578845696, "vfs_read" ] } ],
              "programs": { "p": { "object": "{{Obj}}", "section": "raw_tp/sys_enter" } },
              "steps": [
                { "pid": 7, "call": "run", "program": "p" }, { "pid": 8, "call": "run", "program": "p" },
                { "call": "next_slot", "map": "stacks" }, { "call": "next_slot", "map": "stacks", "index": 0 },
                { "call": "delete_slot", "map": "stacks", "index": 1 }, { "call": "delete_slot", "map": "stacks", "index": 1 },
                { "call": "next_slot", "map": "stacks" }, { "call": "delete_slot", "map": "stacks", "index": 2 }, { "call": "next_slot", "map": "stacks" }
              ] }
            """);
        long a = r[0].GetProperty("helpers")[0].GetProperty("ret").GetInt64(), b = r[1].GetProperty("helpers")[0].GetProperty("ret").GetInt64();
        Assert.Equal([1L, 2L], new[] { a, b }.Order().ToArray());
        Assert.Equal(1u, r[2].GetProperty("key").GetUInt32());
        Assert.Equal(1u, r[3].GetProperty("key").GetUInt32()); // key 0 is an empty bucket: start over
        Assert.Equal(0, r[4].GetProperty("ret").GetInt64());
        Assert.Equal(-2, r[5].GetProperty("ret").GetInt64());
        Assert.Equal(2u, r[6].GetProperty("key").GetUInt32());
        Assert.Equal(0, r[7].GetProperty("ret").GetInt64());
        Assert.Equal(-2, r[8].GetProperty("ret").GetInt64());
        Assert.False(r[8].TryGetProperty("key", out _));
    }

    [Theory]
    [InlineData("""{ "tasks": [ { "pid": 7, "kernel_stack": [ "no_such_fn+0x10" ] } ] }""", "tasks[0].kernel_stack[0]", "no symbol \"no_such_fn\" in the simulated kallsyms")]
    [InlineData("""{ "tasks": [ { "pid": 7, "user_stack": "0x401000" } ] }""", "tasks[0].user_stack", "must be an array of addresses (innermost first), found a string")]
    [InlineData("""{ "tasks": [ { "pid": 7, "kernel_stack": [ "vfs_read+zz" ] } ] }""", "tasks[0].kernel_stack[0]", "the offset after '+' must be an integer")]
    [InlineData("""{ "steps": [ { "call": "lookup_slot", "map": "nope", "index": 0 } ] }""", "steps[0].map", "no stack_trace map named \"nope\" in the programs' objects")]
    public async Task Bad_stacks_and_maps_are_refused_naming_the_field(string doc, string field, string message)
    {
        var (exit, lines, err) = await silo.Exec(doc);
        Assert.Equal(2, exit);
        var e = Assert.Single(lines).GetProperty("error");
        Assert.Equal(field, e.GetProperty("field").GetString());
        Assert.Contains(message, e.GetProperty("message").GetString());
        Assert.DoesNotContain("   at ", err);
    }

    [Fact]
    public async Task A_stack_deeper_than_the_limit_is_refused_before_running()
    {
        string frames = string.Join(", ", Enumerable.Repeat("1", 1025));
        var (exit, lines, _) = await silo.Exec($$"""{ "tasks": [ { "pid": 7, "user_stack": [ {{frames}} ] } ] }""");
        Assert.Equal(2, exit);
        Assert.Equal("has 1025 frames, more than the 1024 a simulated stack may have (the helpers see at most 127)",
            lines[0].GetProperty("error").GetProperty("message").GetString());
    }
}

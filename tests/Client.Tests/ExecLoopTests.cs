using System.Text.Json;

namespace BpfTraceSim.Client.Tests;

/// <summary>bpf_loop through `bpfsim exec`: tests/bpf/loop_cb.bpf.o, built by clang from loop_cb.bpf.c.</summary>
[Collection(SiloCollection.Name)]
public sealed class ExecLoopTests(EmbeddedSiloFixture silo)
{
    private static string Bpf => Path.Combine(Repo.Root, "tests", "bpf");

    private static long Le64(JsonElement step) => BitConverter.ToInt64(Convert.FromHexString(step.GetProperty("value_hex").GetString()!));

    [Fact]
    public async Task Callbacks_sum_into_the_stack_stop_early_and_print()
    {
        var (exit, lines, err) = await silo.Exec("""
            { "id": "loop", "tasks": [ { "pid": 100, "comm": "app", "cpu": 0 } ],
              "programs": { "sum": { "object": "loop_cb.bpf.o", "section": "raw_tp/loop_sum" },
                            "stop": { "object": "loop_cb.bpf.o", "section": "raw_tp/loop_stop" },
                            "print": { "object": "loop_cb.bpf.o", "section": "raw_tp/loop_print" } },
              "steps": [
                { "pid": 100, "call": "run", "program": "sum" },
                { "call": "get_global", "program": "sum", "name": "out_ret" },
                { "call": "get_global", "program": "sum", "name": "out_sum" },
                { "pid": 100, "call": "run", "program": "stop" },
                { "call": "get_global", "program": "stop", "name": "out_ret" },
                { "call": "get_global", "program": "stop", "name": "out_sum" },
                { "pid": 100, "call": "run", "program": "print" },
                { "call": "read_trace_pipe" }
              ] }
            """, Bpf);
        Assert.True(exit == 0, err);
        var r = lines[0].GetProperty("results");
        Assert.Equal(0, r[0].GetProperty("ret").GetInt64());
        var loop = Assert.Single(r[0].GetProperty("helpers").EnumerateArray());
        Assert.Equal(181, loop.GetProperty("id").GetInt32());
        Assert.Equal("bpf_loop", loop.GetProperty("name").GetString());
        Assert.Equal(10, loop.GetProperty("ret").GetInt64());
        Assert.Equal(10, Le64(r[1]));
        Assert.Equal(45, Le64(r[2]));
        Assert.Equal(4, Le64(r[4]));  // stopped at index 3
        Assert.Equal(3, Le64(r[5]));  // 0 + 1 + 2
        string[] names = [.. r[6].GetProperty("helpers").EnumerateArray().Select(h => h.GetProperty("name").GetString()!)];
        Assert.Equal(["bpf_trace_printk", "bpf_trace_printk", "bpf_trace_printk", "bpf_loop"], names);
        string[] pipe = [.. r[7].GetProperty("lines").EnumerateArray().Select(l => l.GetString()!)];
        Assert.Equal(
        [
            "             app-100     [000] ...2.     0.000000: bpf_trace_printk: cb 0",
            "             app-100     [000] ...2.     0.000000: bpf_trace_printk: cb 1",
            "             app-100     [000] ...2.     0.000000: bpf_trace_printk: cb 2",
        ], pipe);
    }

    [Fact]
    public async Task Count_and_flags_from_globals_reach_the_kernels_errno()
    {
        var (exit, lines, err) = await silo.Exec("""
            { "programs": { "p": { "object": "loop_cb.bpf.o", "section": "raw_tp/loop_cfg" } },
              "steps": [
                { "call": "set_global", "program": "p", "name": "cfg_nr", "value": 8388609 },
                { "call": "run", "program": "p" },
                { "call": "set_global", "program": "p", "name": "cfg_flags", "value": 1 },
                { "call": "run", "program": "p" },
                { "call": "set_global", "program": "p", "name": "cfg_nr", "value": 8388608 },
                { "call": "set_global", "program": "p", "name": "cfg_flags", "value": 0 },
                { "call": "run", "program": "p" },
                { "call": "get_global", "program": "p", "name": "out_calls" }
              ] }
            """, Bpf);
        Assert.True(exit == 0, err);
        var r = lines[0].GetProperty("results");
        long Ret(int step) => r[step].GetProperty("helpers")[0].GetProperty("ret").GetInt64();
        Assert.Equal(-7, Ret(1));   // nr_loops 2^23 + 1: -E2BIG
        Assert.Equal(-22, Ret(3));  // flags != 0 is checked first: -EINVAL
        Assert.Equal(3, Ret(6));    // 2^23 is allowed; the callback stops at index 2
        Assert.Equal(2, Le64(r[7]));
    }
}

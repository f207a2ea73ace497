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

/// <summary>The current-task and attach-point helpers through `bpfsim exec`: tests/bpf/task.bpf.o (a kprobe on vfs_read).</summary>
[Collection(SiloCollection.Name)]
public sealed class ExecTaskHelperTests(EmbeddedSiloFixture silo)
{
    private static string Bpf => Path.Combine(Repo.Root, "tests", "bpf");

    private static ulong Le(JsonElement step)
    {
        var b = Convert.FromHexString(step.GetProperty("value_hex").GetString()!);
        var eight = new byte[8];
        b.CopyTo(eight, 0);
        return BitConverter.ToUInt64(eight);
    }

    [Fact]
    public async Task A_kprobe_reads_its_task_and_namespace_and_signals_the_caller()
    {
        string[] outs = ["out_uid_gid", "out_task", "out_ns_ret", "out_ns_pid", "out_ns_tgid", "out_cmp", "out_func_ip", "out_numa", "out_signal"];
        string gets = string.Join(",\n", outs.Select(o => $$"""{ "call": "get_global", "program": "p", "name": "{{o}}" }"""));
        var (exit, lines, err) = await silo.Exec($$"""
            { "cpus": 2, "tasks": [ { "pid": 100, "tgid": 90, "comm": "app", "cpu": 1, "uid": 1000, "gid": 1001 } ],
              "programs": { "p": { "object": "task.bpf.o" } },
              "steps": [
                { "call": "set_global", "program": "p", "name": "cfg_dev", "value": 4 },
                { "call": "set_global", "program": "p", "name": "cfg_ino", "value": 4026531836 },
                { "call": "set_global", "program": "p", "name": "cfg_sig", "value": 10 },
                { "cpu": 1, "pid": 100, "call": "run", "program": "p" },
                {{gets}}
              ] }
            """, Bpf);
        Assert.True(exit == 0, err);
        var r = lines[0].GetProperty("results");
        Assert.Equal(0, r[3].GetProperty("ret").GetInt64());
        var sig = Assert.Single(r[3].GetProperty("signals").EnumerateArray());
        Assert.Equal("{\"tgid\":90,\"pid\":100,\"sig\":10}", sig.GetRawText().Replace(" ", "", StringComparison.Ordinal));
        ulong V(string name) => Le(r[4 + Array.IndexOf(outs, name)]);
        Assert.Equal((1001UL << 32) | 1000, V("out_uid_gid"));
        Assert.Equal(0xffff_8890_0019_0000UL, V("out_task"));
        Assert.Equal(0UL, V("out_ns_ret"));
        Assert.Equal(100UL, V("out_ns_pid"));
        Assert.Equal(90UL, V("out_ns_tgid"));
        Assert.Equal(0UL, V("out_cmp"));
        Assert.Equal(new BpfTraceSim.Kernel.Printk.Kallsyms().AddressOf("vfs_read"), V("out_func_ip"));
        Assert.Equal(0UL, V("out_numa"));
        Assert.Equal(0UL, V("out_signal"));
    }

    [Fact]
    public async Task Another_namespace_and_another_comm()
    {
        var (exit, lines, err) = await silo.Exec("""
            { "tasks": [ { "pid": 7, "comm": "apple" } ],
              "programs": { "p": { "object": "task.bpf.o" } },
              "steps": [
                { "call": "set_global", "program": "p", "name": "cfg_dev", "value": 4 },
                { "call": "set_global", "program": "p", "name": "cfg_ino", "value": 4026531835 },
                { "pid": 7, "call": "run", "program": "p" },
                { "call": "get_global", "program": "p", "name": "out_ns_ret" },
                { "call": "get_global", "program": "p", "name": "out_ns_pid" },
                { "call": "get_global", "program": "p", "name": "out_cmp" },
                { "call": "get_global", "program": "p", "name": "out_uid_gid" }
              ] }
            """, Bpf);
        Assert.True(exit == 0, err);
        var r = lines[0].GetProperty("results");
        Assert.False(r[2].TryGetProperty("signals", out _));
        Assert.Equal(unchecked((ulong)-22L), Le(r[3]));
        Assert.Equal(0UL, Le(r[4]));          // zeroed on error
        Assert.Equal(1UL, Le(r[5]));          // "apple" vs "app": 'l' above the NUL
        Assert.Equal(0UL, Le(r[6]));          // no uid/gid given: root
    }

    /// <summary>tests/bpf/task_btf.bpf.o reads current's task_struct (probe_read_kernel, BPF_CORE_READ, direct BTF loads).</summary>
    [Fact]
    public async Task A_raw_tracepoint_reads_the_worlds_task_struct_three_ways()
    {
        string[] outs = ["read_pid", "read_tgid", "read_comm", "core_pid", "core_tgid", "core_comm", "direct_pid", "direct_tgid", "direct_comm"];
        string gets = string.Join(",\n", outs.Select(o => $$"""{ "call": "get_global", "program": "p", "name": "{{o}}" }"""));
        var (exit, lines, err) = await silo.Exec($$"""
            { "cpus": 2, "tasks": [ { "pid": 4321, "tgid": 4300, "comm": "nginx-worker", "cpu": 1 } ],
              "programs": { "p": { "object": "task_btf.bpf.o" } },
              "steps": [
                { "cpu": 1, "pid": 4321, "call": "run", "program": "p" },
                {{gets}}
              ] }
            """, Bpf);
        Assert.True(exit == 0, err);
        var r = lines[0].GetProperty("results");
        Assert.Equal(0, r[0].GetProperty("ret").GetInt64());
        for (int way = 0; way < 3; way++)
        {
            Assert.Equal("e1100000", r[1 + way * 3].GetProperty("value_hex").GetString());   // 4321
            Assert.Equal("cc100000", r[2 + way * 3].GetProperty("value_hex").GetString());   // 4300
            Assert.Equal(Convert.ToHexStringLower("nginx-worker\0\0\0\0"u8), r[3 + way * 3].GetProperty("value_hex").GetString());
        }
    }
}

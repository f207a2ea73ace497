using System.Text;
using System.Text.Json;

namespace BpfTraceSim.Client.Tests;

/// <summary>The perf edge cases of docs/kernel-semantics.md §10, asked through `bpfsim exec` documents.</summary>
[Collection(SiloCollection.Name)]
public sealed class ExecPerfTests(EmbeddedSiloFixture silo)
{
    private const string TwoCpuWorld = """
        "cpus": 2,
        "tasks": [ { "pid": 100, "comm": "app", "cpu": 0 }, { "pid": 200, "comm": "sleepy", "cpu": 1 } ],
        "maps": { "events": { "type": "perf_event_array", "max_entries": 4 }, "one": { "max_entries": 1 } },
        "events": {
          "out0": { "type": "software", "config": "bpf_output", "cpu": 0, "ring_pages": 1 },
          "out1": { "config": "bpf_output", "cpu": 1, "ring_pages": 1 },
          "clk0": { "config": "cpu_clock", "cpu": 0 },
          "clk1": { "config": "cpu_clock", "cpu": 1, "pinned": true },
          "mine": { "config": "bpf_output", "pid": 100, "ring_pages": 1 },
          "theirs": { "config": "bpf_output", "pid": 200, "ring_pages": 1 },
          "tclk": { "config": "task_clock", "pid": 100, "cpu": 1 },
          "tclkp": { "config": "task_clock", "pid": 100, "cpu": 1, "pinned": true },
          "off": { "config": "bpf_output", "cpu": 0, "ring_pages": 1, "disabled": true },
          "nomap": { "config": "bpf_output", "cpu": 0 },
          "meta": { "config": "bpf_output", "cpu": 0, "ring_pages": 0 },
          "inh": { "config": "cpu_clock", "cpu": 0, "inherit": true },
          "dummy": { "config": "dummy", "cpu": 0 }
        },
        """;

    private static string Doc(string slots, string steps) =>
        "{ \"id\": \"t\", " + TwoCpuWorld + " \"slots\": " + slots + ", \"steps\": [" + steps + "] }";

    private async Task<long[]> Rets(string slots, string steps)
    {
        var results = await silo.Results(Doc(slots, steps));
        return [.. results.Select(r => r.TryGetProperty("ret", out var v) ? v.GetInt64() : long.MinValue)];
    }

    [Fact]
    public async Task Issue_acceptance_swapped_slots_on_two_cpus()
    {
        var results = await silo.Results(Doc("""{ "events": ["out1", "out0"] }""", """
            { "cpu": 0, "call": "perf_event_output", "map": "events", "flags": "BPF_F_CURRENT_CPU", "data_hex": "0102030405" },
            { "cpu": 0, "call": "perf_event_output", "map": "events", "flags": 1, "data_hex": "0102030405" },
            { "call": "consume", "event": "out0" },
            { "call": "consume", "event": "out1" }
            """));
        Assert.Equal(-95, results[0].GetProperty("ret").GetInt64());
        Assert.Equal(0, results[1].GetProperty("ret").GetInt64());
        var rec = Assert.Single(results[2].GetProperty("records").EnumerateArray());
        Assert.Equal("sample", rec.GetProperty("type").GetString());
        Assert.Equal(24, rec.GetProperty("size").GetInt32());
        // header type 9, misc 1, size 24; raw size field 12; data then 7 padding bytes (fresh ring: zeros)
        Assert.Equal("09000000010018000c000000" + "0102030405" + "00000000000000", rec.GetProperty("record_hex").GetString());
        Assert.Equal("0102030405" + "00000000000000", rec.GetProperty("raw_hex").GetString());
        Assert.Equal(24, results[2].GetProperty("data_head").GetInt64());
        Assert.Empty(results[3].GetProperty("records").EnumerateArray());
        Assert.Equal(0, results[3].GetProperty("data_head").GetInt64());
    }

    [Fact]
    public async Task Slot_index_and_cpu_are_independent()
    {
        var r = await Rets("""{ "events": [null, null, null, "out0"] }""", """
            { "cpu": 0, "call": "perf_event_output", "map": "events", "flags": 3, "size": 8 },
            { "cpu": 1, "call": "perf_event_output", "map": "events", "flags": 3, "size": 8 }
            """);
        Assert.Equal([0, -95], r);
    }

    [Fact]
    public async Task Empty_slots_enoent_and_small_map_with_current_cpu_e2big()
    {
        var r = await Rets("""{ "events": ["out0"], "one": ["out0"] }""", """
            { "cpu": 0, "call": "perf_event_output", "map": "events", "flags": 2, "size": 8 },
            { "cpu": 1, "call": "perf_event_output", "map": "one", "flags": "BPF_F_CURRENT_CPU", "size": 8 },
            { "cpu": 0, "call": "perf_event_output", "map": "events", "flags": "0x1ffffffff", "size": 8 },
            { "cpu": 0, "call": "perf_event_output", "map": "events", "flags": "0xfffffffe", "size": 8 },
            { "cpu": 0, "call": "perf_event_output", "map": "events", "flags": "0x7fffffff", "size": 8 }
            """);
        Assert.Equal([-2, -7, -22, -7, -7], r);
    }

    [Fact]
    public async Task Ipi_on_another_cpu_sees_the_task_events_as_not_current()
    {
        var r = await silo.Results(Doc("""{ "events": ["mine", "mine", "clk0", "tclk"] }""", """
            { "cpu": 1, "pid": 100, "context": "hardirq", "call": "perf_event_output", "map": "events", "flags": 0, "size": 8 },
            { "cpu": 1, "pid": 100, "context": "hardirq", "call": "perf_event_read", "map": "events", "flags": 3 },
            { "cpu": 1, "context": "hardirq", "call": "perf_event_output", "map": "events", "flags": "BPF_F_CURRENT_CPU", "size": 8 }
            """));
        Assert.Equal(-95, r[0].GetProperty("ret").GetInt64());
        Assert.Equal(-22, r[1].GetProperty("ret").GetInt64());
        Assert.Equal("18446744073709551594", r[1].GetProperty("ret_u64").GetString());
        Assert.Equal(-95, r[2].GetProperty("ret").GetInt64());
    }

    [Fact]
    public async Task Own_per_task_event_works_anywhere_another_sleeping_tasks_does_not()
    {
        var r = await Rets("""{ "events": ["mine", "theirs"] }""", """
            { "pid": 100, "call": "perf_event_output", "map": "events", "flags": 0, "size": 8 },
            { "call": "set_task_cpu", "pid": 100, "to": 1 },
            { "cpu": 1, "pid": 100, "call": "perf_event_output", "map": "events", "flags": 0, "size": 8 },
            { "cpu": 0, "pid": 100, "context": "softirq", "call": "perf_event_output", "map": "events", "flags": 1, "size": 8 },
            { "cpu": 1, "pid": 100, "call": "perf_event_output", "map": "events", "flags": 1, "size": 8 }
            """);
        Assert.Equal([0, long.MinValue, 0, -95, -95], r);
    }

    [Fact]
    public async Task Counters_in_an_output_slot_are_einval_even_on_their_own_cpu()
    {
        var r = await Rets("""{ "events": ["clk0", "dummy"] }""", """
            { "cpu": 0, "call": "perf_event_output", "map": "events", "flags": 0, "size": 8 },
            { "cpu": 0, "call": "perf_event_output", "map": "events", "flags": 1, "size": 8 }
            """);
        Assert.Equal([-22, -22], r);
    }

    [Fact]
    public async Task Disabled_event_is_eopnotsupp_until_enabled()
    {
        var r = await Rets("""{ "events": ["off"] }""", """
            { "cpu": 0, "call": "perf_event_output", "map": "events", "flags": 0, "size": 8 },
            { "call": "enable", "event": "off" },
            { "cpu": 0, "call": "perf_event_output", "map": "events", "flags": 0, "size": 8 },
            { "call": "disable", "event": "off" },
            { "cpu": 0, "call": "perf_event_output", "map": "events", "flags": 0, "size": 8 }
            """);
        Assert.Equal([-95, long.MinValue, 0, long.MinValue, -95], r);
    }

    [Fact]
    public async Task Unmapped_and_metadata_only_rings_enospc_without_counting_lost()
    {
        var r = await silo.Results(Doc("""{ "events": ["nomap", "meta"] }""", """
            { "cpu": 0, "call": "perf_event_output", "map": "events", "flags": 0, "size": 8 },
            { "cpu": 0, "call": "perf_event_output", "map": "events", "flags": 1, "size": 8 },
            { "call": "consume", "event": "nomap" },
            { "call": "consume", "event": "meta" }
            """));
        Assert.Equal(-28, r[0].GetProperty("ret").GetInt64());
        Assert.Equal(-28, r[1].GetProperty("ret").GetInt64());
        Assert.Equal(0, r[2].GetProperty("lost_total").GetInt64());
        Assert.Equal(0, r[3].GetProperty("lost_total").GetInt64());
        Assert.Equal(0, r[3].GetProperty("data_head").GetInt64());
    }

    [Theory]
    [InlineData(4, 255)]     // 16-byte records
    [InlineData(8, 170)]     // 24-byte records: data_head 4080
    [InlineData(64, 51)]     // 80-byte records
    [InlineData(1000, 4)]    // 1016-byte records
    [InlineData(4076, 1)]    // one 4088-byte record
    [InlineData(4077, 0)]    // 4096 bytes never fit: one byte is always free
    public async Task One_page_without_consumer_fills_then_counts_lost(int payload, int fits)
    {
        var steps = new StringBuilder();
        for (int i = 0; i < fits + 2; i++)
            steps.Append($$"""{ "cpu": 0, "call": "perf_event_output", "map": "events", "flags": 0, "size": {{payload}} },""");
        steps.Append("""{ "call": "consume", "event": "out0" }""");
        var r = await silo.Results(Doc("""{ "events": ["out0"] }""", steps.ToString()));
        for (int i = 0; i < fits; i++) Assert.Equal(0, r[i].GetProperty("ret").GetInt64());
        Assert.Equal(-28, r[fits].GetProperty("ret").GetInt64());
        Assert.Equal(-28, r[fits + 1].GetProperty("ret").GetInt64());
        var consume = r[fits + 2];
        Assert.Equal(fits, consume.GetProperty("records").GetArrayLength());
        Assert.Equal(2, consume.GetProperty("lost_total").GetInt64());
    }

    [Fact]
    public async Task After_a_loss_the_next_write_emits_the_lost_record_first()
    {
        // 255 records of 16 bytes fit; write until full, drain, then write once more.
        var steps = new StringBuilder();
        for (int i = 0; i < 256; i++)
            steps.Append("""{ "cpu": 0, "call": "perf_event_output", "map": "events", "flags": 0, "size": 4 },""");
        steps.Append("""{ "call": "consume", "event": "out0" },""");
        steps.Append("""{ "cpu": 0, "call": "perf_event_output", "map": "events", "flags": 0, "data_hex": "aabbccdd" },""");
        steps.Append("""{ "call": "consume", "event": "out0" }""");
        var r = await silo.Results(Doc("""{ "events": ["out0"] }""", steps.ToString()));
        Assert.Equal(-28, r[255].GetProperty("ret").GetInt64());
        Assert.Equal(0, r[257].GetProperty("ret").GetInt64());
        var recs = r[258].GetProperty("records").EnumerateArray().ToArray();
        Assert.Equal(2, recs.Length);
        Assert.Equal("lost", recs[0].GetProperty("type").GetString());
        Assert.Equal(1, recs[0].GetProperty("lost").GetInt64());
        // PERF_RECORD_LOST: type 2, misc 0, size 24, id 1 (out0 is the document's first event), lost 1
        Assert.Equal("0200000000001800" + "0100000000000000" + "0100000000000000", recs[0].GetProperty("record_hex").GetString());
        Assert.Equal("0900000001001000" + "04000000" + "aabbccdd", recs[1].GetProperty("record_hex").GetString());
    }

    [Fact]
    public async Task Reads_follow_perf_event_read_local_order()
    {
        var r = await silo.Results(Doc("""{ "events": ["clk0", "clk1", "tclk", "tclkp"] }""", """
            { "advance_ns": 5000 },
            { "cpu": 1, "call": "perf_event_read", "map": "events", "flags": 0 },
            { "cpu": 0, "call": "perf_event_read", "map": "events", "flags": 1 },
            { "cpu": 0, "pid": 100, "call": "perf_event_read_value", "map": "events", "flags": 2, "size": 24 },
            { "cpu": 0, "pid": 100, "call": "perf_event_read_value", "map": "events", "flags": 3, "size": 24 },
            { "cpu": 0, "call": "perf_event_read", "map": "events", "flags": 0 }
            """));
        Assert.Equal(-22, r[1].GetProperty("ret").GetInt64());
        Assert.Equal(-22, r[2].GetProperty("ret").GetInt64()); // pinned per-CPU counter of another CPU: CPU check first
        Assert.Equal(0, r[3].GetProperty("ret").GetInt64());    // not pinned, restricted to CPU 1: stale
        var v = r[3].GetProperty("value");
        Assert.Equal(0, v.GetProperty("counter").GetInt64());
        Assert.Equal(5000, v.GetProperty("enabled").GetInt64());
        Assert.Equal(0, v.GetProperty("running").GetInt64());
        Assert.Equal(-16, r[4].GetProperty("ret").GetInt64());  // pinned: EBUSY
        Assert.Equal(new string('0', 48), r[4].GetProperty("buf_hex").GetString());
        Assert.Equal(5000, r[5].GetProperty("ret").GetInt64());
    }

    [Theory]
    [InlineData(23, "0000000000000000000000000000000000000000000000")]
    [InlineData(25, "00000000000000000000000000000000000000000000000000")]
    public async Task Read_value_with_a_wrong_size_zeroes_exactly_size_bytes(int size, string hex)
    {
        var r = await silo.Results(Doc("""{ "events": ["clk0"] }""",
            $$"""{ "cpu": 0, "call": "perf_event_read_value", "map": "events", "flags": "0xff00000000", "size": {{size}}, "buf_size": 32 }"""));
        Assert.Equal(-22, r[0].GetProperty("ret").GetInt64());
        Assert.Equal(hex + new string('f', 64 - hex.Length), r[0].GetProperty("buf_hex").GetString());
    }

    [Fact]
    public async Task Inherit_events_never_reach_the_map_and_updates_report_errno()
    {
        var r = await Rets("""{ "events": ["inh"] }""", """
            { "cpu": 0, "call": "perf_event_read", "map": "events", "flags": 0 },
            { "call": "update_slot", "map": "events", "index": 0, "event": "inh" },
            { "call": "update_slot", "map": "events", "index": 4, "event": "out0" },
            { "call": "delete_slot", "map": "events", "index": 1 },
            { "call": "update_slot", "map": "events", "index": 1, "event": "dummy" },
            { "cpu": 0, "call": "perf_event_read_value", "map": "events", "flags": 1, "size": 24 }
            """);
        Assert.Equal([-2, -95, -7, -2, 0, 0], r);
    }

    [Fact]
    public async Task Size_zero_read_value_is_a_verifier_error()
    {
        var r = await silo.Results(Doc("""{ "events": ["clk0"] }""", """{ "cpu": 0, "call": "perf_event_read_value", "map": "events", "flags": 0, "size": 0 }"""));
        Assert.Equal("R4 invalid zero-sized read", r[0].GetProperty("verifier_error").GetString());
        Assert.False(r[0].TryGetProperty("ret", out _));
    }
}

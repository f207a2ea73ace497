using System.Text.Json;

namespace BpfTraceSim.Client.Tests;

/// <summary>The ring buffer through `bpfsim exec` (docs/exec.md, issue 18's acceptance).</summary>
[Collection(SiloCollection.Name)]
public sealed class ExecRingbufTests(EmbeddedSiloFixture silo)
{
    private static string World(string steps, int maxEntries = 4096, int cpus = 2) =>
        $$"""{ "id": "rb", "cpus": {{cpus}}, "maps": { "rb": { "type": "ringbuf", "max_entries": {{maxEntries}} } }, "steps": [ {{steps}} ] }""";

    private static string Repeat(int n, Func<int, string> step) => string.Join(", ", Enumerable.Range(0, n).Select(step));

    [Fact]
    public async Task Issue_acceptance_300_outputs_255_then_EAGAIN_avail_4080_consume_255_then_255_fit_again()
    {
        string outputs = Repeat(300, i => $$"""{ "cpu": {{i % 2}}, "call": "ringbuf_output", "map": "rb", "data_hex": "0001020304050607" }""");
        string again = Repeat(256, i => $$"""{ "cpu": {{i % 2}}, "call": "ringbuf_output", "map": "rb", "size": 8 }""");
        var r = await silo.Results(World($$"""
            {{outputs}},
            { "call": "ringbuf_query", "map": "rb", "flags": "BPF_RB_AVAIL_DATA" },
            { "call": "consume_ringbuf", "map": "rb" },
            {{again}}
            """));
        for (int i = 0; i < 255; i++) Assert.Equal(0, r[i].GetProperty("ret").GetInt64());
        for (int i = 255; i < 300; i++) Assert.Equal(-11, r[i].GetProperty("ret").GetInt64());
        Assert.Equal(4080, r[300].GetProperty("ret").GetInt64());
        var consumed = r[301];
        var records = consumed.GetProperty("records").EnumerateArray().ToArray();
        Assert.Equal(255, records.Length);
        Assert.All(records, x =>
        {
            Assert.Equal(8, x.GetProperty("size").GetInt32());
            Assert.Equal("0001020304050607", x.GetProperty("data_hex").GetString());
            Assert.False(x.GetProperty("discarded").GetBoolean());
        });
        Assert.Equal(4080, consumed.GetProperty("consumer_pos").GetInt64());
        Assert.Equal(4080, consumed.GetProperty("producer_pos").GetInt64());
        Assert.Equal(1, consumed.GetProperty("wakeups").GetInt64()); // only the first record found the consumer caught up
        for (int i = 302; i < 302 + 255; i++) Assert.Equal(0, r[i].GetProperty("ret").GetInt64());
        Assert.Equal(-11, r[302 + 255].GetProperty("ret").GetInt64());
    }

    [Fact]
    public async Task Issue_acceptance_max_entries_5000_is_refused_with_EINVAL_naming_the_field()
    {
        var (exit, lines, err) = await silo.Exec(World("""{ "call": "consume_ringbuf", "map": "rb" }""", maxEntries: 5000));
        Assert.Equal(2, exit);
        var e = Assert.Single(lines).GetProperty("error");
        Assert.Equal("maps.rb.max_entries", e.GetProperty("field").GetString());
        Assert.Equal("BPF_MAP_CREATE refuses a ringbuf of 5000 bytes with -EINVAL (-22): max_entries must be a power of 2 and a multiple of the page size (4096)",
            e.GetProperty("message").GetString());
        Assert.Contains("maps.rb.max_entries", err);
        Assert.DoesNotContain("   at ", err);
    }

    [Fact]
    public async Task Reserve_submit_discard_header_rules_and_records_in_reservation_order()
    {
        var r = await silo.Results(World("""
            { "cpu": 1, "call": "ringbuf_reserve", "map": "rb", "size": 5 },
            { "cpu": 0, "call": "ringbuf_output", "map": "rb", "size": 3 },
            { "call": "consume_ringbuf", "map": "rb" },
            { "cpu": 1, "call": "ringbuf_submit", "sample": "steps[0]" },
            { "cpu": 0, "call": "ringbuf_reserve", "map": "rb", "size": 8 },
            { "cpu": 0, "call": "ringbuf_discard", "sample": "steps[4]" },
            { "cpu": 0, "call": "ringbuf_submit", "sample": "steps[4]" },
            { "call": "consume_ringbuf", "map": "rb" },
            { "cpu": 0, "call": "ringbuf_reserve", "map": "rb", "size": 8, "flags": 1 },
            { "cpu": 0, "call": "ringbuf_reserve", "map": "rb", "size": 4089 },
            { "cpu": 0, "call": "ringbuf_submit", "sample": "steps[9]" }
            """));
        // The first sample of the first ring: vmalloc base + 3 meta pages + the 8-byte header.
        Assert.Equal("18446683600570036232", r[0].GetProperty("ret_u64").GetString()); // 0xffffc90000003008
        Assert.Equal(0, r[1].GetProperty("ret").GetInt64());
        // The consumer stops at the record still being written (BUSY), though a later one is done.
        Assert.Empty(r[2].GetProperty("records").EnumerateArray());
        Assert.Equal(0, r[2].GetProperty("consumer_pos").GetInt64());
        Assert.Equal(32, r[2].GetProperty("producer_pos").GetInt64()); // 8+5 -> 16, 8+3 -> 16
        Assert.Equal(0, r[3].GetProperty("ret").GetInt64());
        Assert.Equal(0, r[5].GetProperty("ret").GetInt64());
        Assert.StartsWith("R1 0xffffc90000003028 is not a ringbuf reservation", r[6].GetProperty("verifier_error").GetString());
        Assert.False(r[6].TryGetProperty("ret", out _));
        var recs = r[7].GetProperty("records").EnumerateArray().ToArray();
        Assert.Equal(3, recs.Length);
        Assert.Equal(5, recs[0].GetProperty("size").GetInt32());
        Assert.Equal("000102", recs[1].GetProperty("data_hex").GetString());
        Assert.True(recs[2].GetProperty("discarded").GetBoolean());
        Assert.Equal(48, r[7].GetProperty("consumer_pos").GetInt64());
        // bpf_ringbuf_reserve: any flags, or a record larger than the ring: NULL.
        Assert.Equal(0, r[8].GetProperty("ret").GetInt64());
        Assert.Equal(0, r[9].GetProperty("ret").GetInt64());
        Assert.StartsWith("R1 type=ringbuf_mem_or_null expected=ringbuf_mem", r[10].GetProperty("verifier_error").GetString());
    }

    [Fact]
    public async Task Output_flags_and_query_selectors_follow_the_kernel()
    {
        var r = await silo.Results(World("""
            { "call": "ringbuf_output", "map": "rb", "size": 8, "flags": 4 },
            { "call": "ringbuf_output", "map": "rb", "size": 100, "flags": "BPF_RB_NO_WAKEUP|BPF_RB_FORCE_WAKEUP" },
            { "call": "ringbuf_query", "map": "rb", "flags": "BPF_RB_AVAIL_DATA" },
            { "call": "ringbuf_query", "map": "rb", "flags": "BPF_RB_RING_SIZE" },
            { "call": "ringbuf_query", "map": "rb", "flags": "BPF_RB_CONS_POS" },
            { "call": "ringbuf_query", "map": "rb", "flags": "BPF_RB_PROD_POS" },
            { "call": "ringbuf_query", "map": "rb", "flags": 4 }
            """, maxEntries: 8192));
        Assert.Equal(-22, r[0].GetProperty("ret").GetInt64());
        Assert.Equal(0, r[1].GetProperty("ret").GetInt64());
        Assert.Equal(112, r[2].GetProperty("ret").GetInt64());
        Assert.Equal(8192, r[3].GetProperty("ret").GetInt64());
        Assert.Equal(0, r[4].GetProperty("ret").GetInt64());
        Assert.Equal(112, r[5].GetProperty("ret").GetInt64());
        Assert.Equal(0, r[6].GetProperty("ret").GetInt64());
    }

    [Fact]
    public async Task Adaptive_wakeup_counts_only_commits_the_caught_up_consumer_waits_for()
    {
        var r = await silo.Results(World("""
            { "call": "ringbuf_output", "map": "rb", "size": 8 },
            { "call": "ringbuf_output", "map": "rb", "size": 8 },
            { "call": "consume_ringbuf", "map": "rb" },
            { "call": "ringbuf_output", "map": "rb", "size": 8, "flags": "BPF_RB_NO_WAKEUP" },
            { "call": "ringbuf_output", "map": "rb", "size": 8, "flags": "BPF_RB_FORCE_WAKEUP" },
            { "call": "consume_ringbuf", "map": "rb" },
            { "call": "ringbuf_output", "map": "rb", "size": 8 },
            { "call": "consume_ringbuf", "map": "rb" }
            """));
        Assert.Equal(1, r[2].GetProperty("wakeups").GetInt64());
        Assert.Equal(2, r[5].GetProperty("wakeups").GetInt64());
        Assert.Equal(3, r[7].GetProperty("wakeups").GetInt64());
    }

    [Fact]
    public async Task Bad_ringbuf_references_name_the_field()
    {
        var (exit, lines, _) = await silo.Exec(World("""{ "call": "ringbuf_output", "map": "rbb", "size": 8 }"""));
        Assert.Equal(2, exit);
        var e = lines[0].GetProperty("error");
        Assert.Equal("steps[0].map", e.GetProperty("field").GetString());
        Assert.Equal("no ringbuf named \"rbb\" in \"maps\" or in the programs' objects (did you mean \"rb\"?)", e.GetProperty("message").GetString());

        (exit, lines, _) = await silo.Exec(World("""{ "call": "ringbuf_submit", "sample": "steps[3]" }"""));
        Assert.Equal(2, exit);
        Assert.Equal("steps[0].sample", lines[0].GetProperty("error").GetProperty("field").GetString());

        (exit, lines, _) = await silo.Exec(World("""{ "call": "perf_event_output", "map": "rb", "size": 8 }"""));
        Assert.Equal(2, exit);
        Assert.Equal("no perf event array named \"rb\" in \"maps\" or in the programs' objects", lines[0].GetProperty("error").GetProperty("message").GetString());
    }

    [Fact]
    public async Task Issue_acceptance_clang_object_uses_the_ring_through_exec()
    {
        var (exit, lines, err) = await silo.Exec(File.ReadAllText(Path.Combine(Repo.Root, "scenarios/exec/ringbuf.json")),
            Path.Combine(Repo.Root, "scenarios/exec"));
        Assert.True(exit == 0, err);
        var r = lines[1].GetProperty("results");
        // output on CPU 0 and 1, then reserve+discard (seq 1 of its own object: odd) and reserve+submit.
        Assert.Equal(130, r[0].GetProperty("helpers")[2].GetProperty("id").GetInt32());
        Assert.Equal(0, r[0].GetProperty("ret").GetInt64());
        var res = r[2].GetProperty("helpers").EnumerateArray().Select(h => h.GetProperty("name").GetString()!).ToArray();
        Assert.Equal(new[] { "bpf_ringbuf_reserve", "bpf_get_current_pid_tgid", "bpf_get_smp_processor_id", "bpf_ringbuf_discard" }, res);
        Assert.Equal("bpf_ringbuf_submit", r[3].GetProperty("helpers")[3].GetProperty("name").GetString());
        Assert.Equal(96, r[4].GetProperty("ret").GetInt64()); // bpf_ringbuf_query(BPF_RB_AVAIL_DATA): 4 x (8 + 16)
        var recs = r[5].GetProperty("records").EnumerateArray().ToArray();
        Assert.Equal(4, recs.Length);
        // struct event { pid, cpu, seq }: the program wrote the reserved sample in place.
        Assert.Equal("64000000000000000100000000000000", recs[0].GetProperty("data_hex").GetString());
        Assert.Equal("c8000000010000000200000000000000", recs[1].GetProperty("data_hex").GetString());
        Assert.True(recs[2].GetProperty("discarded").GetBoolean());
        Assert.Equal("c8000000010000000200000000000000", recs[3].GetProperty("data_hex").GetString());
        Assert.False(recs[3].GetProperty("discarded").GetBoolean());
        Assert.Equal(2, r[5].GetProperty("wakeups").GetInt64()); // the first output, and the submit's BPF_RB_FORCE_WAKEUP
    }
}

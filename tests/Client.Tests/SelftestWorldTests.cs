using System.Text.Json;

namespace BpfTraceSim.Client.Tests;

/// <summary>
/// The kernel's selftests for the tracing helpers, as worlds: each scenarios/exec/selftests/*.json
/// runs a clang-built program of the same shape (tests/bpf/st_*.bpf.c, written for the simulator)
/// and does what the selftest's user-space half does; the assertions are what that half asserts,
/// made exact (docs/selftests.md).
/// </summary>
[Collection(SiloCollection.Name)]
public sealed class SelftestWorldTests(EmbeddedSiloFixture silo)
{
    private static string Dir => Path.Combine(Repo.Root, "scenarios", "exec", "selftests");

    private async Task<JsonElement> Results(string world)
    {
        var (exit, lines, err) = await silo.Exec(File.ReadAllText(Path.Combine(Dir, world + ".json")), Dir);
        Assert.True(exit == 0, err);
        return Assert.Single(lines).GetProperty("results");
    }

    private static string Hex(JsonElement step) => step.GetProperty("value_hex").GetString()!;

    [Fact]
    public async Task Perf_buffer_every_cpus_sample_arrives_in_its_own_ring_with_its_cpu_id()
    {
        var r = await Results("perf_buffer");
        for (int cpu = 0; cpu < 4; cpu++)
        {
            var run = r[cpu * 2];
            Assert.Equal(cpu, run.GetProperty("helpers")[0].GetProperty("ret").GetInt32()); // bpf_get_smp_processor_id
            Assert.Equal(0, run.GetProperty("helpers")[1].GetProperty("ret").GetInt32());   // bpf_perf_event_output
            var rec = Assert.Single(r[7 + cpu].GetProperty("records").EnumerateArray());
            Assert.Equal("sample", rec.GetProperty("type").GetString());
            Assert.Equal($"0{cpu}000000", rec.GetProperty("raw_hex").GetString());
        }
        // drained, triggered again on one CPU: the sample is in that CPU's ring only
        Assert.Equal("02000000", Assert.Single(r[13].GetProperty("records").EnumerateArray()).GetProperty("raw_hex").GetString());
        Assert.Empty(r[14].GetProperty("records").EnumerateArray());
    }

    [Fact]
    public async Task Trace_printk_writes_one_line_per_run_and_returns_its_length()
    {
        var r = await Results("trace_printk");
        Assert.Equal("02000000", Hex(r[3]));            // printk_runs
        Assert.Equal("12000000", Hex(r[4]));            // printk_ret: "Testing,testing 2\n" is 18 bytes
        var lines = r[5].GetProperty("lines").EnumerateArray().Select(l => l.GetString()!).ToArray();
        Assert.Equal<string[]>(
            ["      test_progs-400     [001] ...2.     0.000000: bpf_trace_printk: Testing,testing 1", "",
             "      test_progs-400     [001] ...2.     0.000001: bpf_trace_printk: Testing,testing 2", ""],
            lines);
    }

    [Fact]
    public async Task Trace_vprintk_prints_eleven_arguments_and_refuses_a_format_without_its_data()
    {
        var r = await Results("trace_vprintk");
        var helpers = r[0].GetProperty("helpers");
        Assert.Equal(6, helpers[0].GetProperty("id").GetInt32());     // bpf_printk("\t"): 3 args or fewer
        Assert.Equal(177, helpers[1].GetProperty("id").GetInt32());   // more: bpf_trace_vprintk
        Assert.Equal("01000000", Hex(r[1]));                          // vprintk_runs
        Assert.Equal("17000000", Hex(r[2]));                          // 23 = "1,2,3,4,5,6,7,8,9,10 1\n"
        Assert.Equal("eaffffff", Hex(r[3]));                          // -EINVAL: %pS with NULL data
        var lines = r[4].GetProperty("lines").EnumerateArray().Select(l => l.GetString()!).ToArray();
        Assert.Equal<string[]>(
            ["      test_progs-401     [000] ...2.     0.000000: bpf_trace_printk: \t",
             "      test_progs-401     [000] ...2.     0.000000: bpf_trace_printk: 1,2,3,4,5,6,7,8,9,10 1", ""],
            lines);
    }

    private static string Text(JsonElement step)
    {
        var b = Convert.FromHexString(Hex(step));
        int nul = Array.IndexOf(b, (byte)0);
        return System.Text.Encoding.Latin1.GetString(b, 0, nul < 0 ? b.Length : nul);
    }

    private static long Long(JsonElement step) => BitConverter.ToInt64(Convert.FromHexString(Hex(step)));

    [Fact]
    public async Task Snprintf_formats_every_kind_the_selftest_checks_with_its_lengths()
    {
        var r = await Results("snprintf");
        Assert.Equal("-8 9 96 -424242 1337 DABBAD00", Text(r[2]));
        Assert.Equal(30, Long(r[3]));
        Assert.Equal("127.000.000.001 0000:0000:0000:0000:0000:0000:0000:0001", Text(r[4]));
        Assert.Equal(56, Long(r[5]));
        // %ps %pS %pB of a typeless __ksym resolved from the host's kallsyms; %pB looks up addr - 1
        Assert.Equal("schedule schedule+0x0/0xa0 __pfx_schedule+0x10/0x10", Text(r[6]));
        Assert.Equal(52, Long(r[7]));
        Assert.StartsWith("0000000000000000 ffff00000add4e55 ", Text(r[8])); // then the hashed %p
        Assert.Equal(51, Long(r[9]));
        Assert.Equal("str1         a  b c      d e longstr", Text(r[10]));
        Assert.Equal(37, Long(r[11]));
        Assert.Equal("%over", Text(r[12]));
        Assert.Equal(10, Long(r[13]));
        Assert.Equal("    4 000", Text(r[14]));
        Assert.Equal(900007, Long(r[15]));
        Assert.Equal("simple case", Text(r[16]));
        Assert.Equal(12, Long(r[17]));
        Assert.Equal(29, Long(r[18]));
    }

    [Fact]
    public async Task Snprintf_single_formats_set_before_load_are_checked_by_the_verifier()
    {
        var r = await Results("snprintf_single");
        Assert.Equal(9, r[0].GetProperty("helpers")[0].GetProperty("ret").GetInt32()); // "valid 42" + NUL
        Assert.Equal("valid 42", Text(r[12]));
        Assert.EndsWith("st_snprintf_single.bpf.c:18)", r[1].GetProperty("verifier_error").GetString());
        Assert.StartsWith("string is not zero-terminated (", r[1].GetProperty("verifier_error").GetString());
        foreach (int i in new[] { 2, 3, 4, 5, 6, 7, 8, 9, 11 })
            Assert.StartsWith("Invalid format string (section 'raw_tp/sys_enter', insn 10,", r[i].GetProperty("verifier_error").GetString());
        // "\x80": the selftest expects a refusal (mainline's !isascii); Linux 6.18 loads it, measured
        Assert.False(r[10].TryGetProperty("verifier_error", out _));
        Assert.Equal(2, r[10].GetProperty("helpers")[0].GetProperty("ret").GetInt32());
    }

    [Fact]
    public async Task Snprintf_btf_shows_the_skb_and_every_kernel_type_with_its_core_type_id()
    {
        var r = await Results("snprintf_btf");
        // the user half: ret > 0 and every subtest ran (6 skb flag sets + 27 type strings compared in the program)
        Assert.Equal(17, Long(r[2]));                     // the last string, "{7,0x1,0xa,-3,6,}"
        Assert.Equal("21000000", Hex(r[3]));              // num_subtests 33
        Assert.Equal("21000000", Hex(r[4]));              // ran_subtests 33
        Assert.Equal("00000000", Hex(r[5]));              // failed_subtest: none
        Assert.Equal("", Text(r[6]));                     // got: no mismatch copied
        // the skb (len 84) under 0, COMPACT, ZERO, PTR_RAW, NONAME and all four
        var skb = Convert.FromHexString(Hex(r[7]));
        Assert.Equal(new long[] { 46, 42, 170, 46, 9, 45 }, Enumerable.Range(0, 6).Select(i => BitConverter.ToInt64(skb, i * 8)).ToArray());
        Assert.Equal(-34, Long(r[8]));                    // a NULL object: -ERANGE
        var helpers = r[1].GetProperty("helpers").EnumerateArray().ToArray();
        Assert.Equal(27, helpers.Count(h => h.GetProperty("id").GetInt32() == 182 && h.GetProperty("ret").GetInt32() == 0)); // bpf_strncmp equal
    }

    [Fact]
    public async Task Snprintf_btf_without_the_worlds_sk_buff_gets_type_id_0_and_runs_nothing()
    {
        // no sk_buff in the kernel: bpf_core_type_id_kernel(struct sk_buff) is 0 (a type relocation is not poisoned), the skb is -EINVAL
        var doc = File.ReadAllText(Path.Combine(Dir, "snprintf_btf.json"));
        int at = doc.IndexOf("\"btf_types\"", StringComparison.Ordinal), end = doc.IndexOf("\"programs\"", StringComparison.Ordinal);
        var (exit, lines, err) = await silo.Exec(doc[..at] + doc[end..], Dir);
        Assert.True(exit == 0, err);
        var r = Assert.Single(lines).GetProperty("results");
        Assert.Equal(-22, Long(r[2]));                    // ret: bpf_snprintf_btf refuses type id 0 with -EINVAL
        Assert.Equal("1c000000", Hex(r[3]));              // num_subtests 28: the first skb print, then the 27 counted but skipped
        Assert.Equal("00000000", Hex(r[4]));              // and none ran
    }

    [Fact]
    public async Task Pe_preserve_elems_closing_the_map_fd_empties_the_plain_array_only()
    {
        var r = await Results("pe_preserve_elems");
        Assert.Equal(0, r[2].GetProperty("ret").GetInt64());   // both read while user space holds the fds
        Assert.Equal(0, r[3].GetProperty("ret").GetInt64());
        Assert.Equal(-2, r[6].GetProperty("helpers")[0].GetProperty("ret").GetInt64()); // -ENOENT: slot emptied
        Assert.Equal(0, r[7].GetProperty("helpers")[0].GetProperty("ret").GetInt64());  // BPF_F_PRESERVE_ELEMS
    }

    [Fact]
    public async Task A_closed_map_cannot_be_updated_by_user_space()
    {
        var doc = File.ReadAllText(Path.Combine(Dir, "pe_preserve_elems.json")).Replace(
            "{ \"cpu\": 0, \"pid\": 700, \"call\": \"run\", \"program\": \"kept\" }\n ]}",
            "{ \"call\": \"update_slot\", \"map\": \"plain_arr\", \"index\": 0, \"event\": \"clk_a\" }\n ]}");
        var (exit, lines, _) = await silo.Exec(doc, Dir);
        Assert.Equal(2, exit);
        var e = Assert.Single(lines).GetProperty("error");
        Assert.Equal("steps[7].map", e.GetProperty("field").GetString());
        Assert.Equal("map \"plain_arr\" was closed by steps[4] (close_map): user space has no fd for it", e.GetProperty("message").GetString());
    }
}

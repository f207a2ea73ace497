using System.Text;
using System.Text.Json;

namespace BpfTraceSim.Client.Tests;

/// <summary>printk, snprintf, trace_pipe and seq_file steps through `bpfsim exec`.</summary>
[Collection(SiloCollection.Name)]
public sealed class ExecPrintkSeqTests(EmbeddedSiloFixture silo)
{
    [Fact]
    public async Task Issue_acceptance_vprintk_on_cpu1_returns_17_and_traces_the_line()
    {
        var r = await silo.Results(File.ReadAllText(Path.Combine(Repo.Root, "scenarios/exec/vprintk.json")));
        Assert.Equal(17, r[0].GetProperty("ret").GetInt64());
        Assert.Equal("pid=100 name=app\n", r[0].GetProperty("text").GetString());
        Assert.Equal(13, r[2].GetProperty("ret").GetInt64());
        Assert.Equal(5, r[3].GetProperty("ret").GetInt64());
        Assert.Equal("42-", r[3].GetProperty("text").GetString());
        string[] lines = [.. r[4].GetProperty("lines").EnumerateArray().Select(l => l.GetString()!)];
        Assert.Equal(
        [
            "             app-100     [001] ...2.     0.000000: bpf_trace_printk: pid=100 name=app",
            "",
            "          <idle>-0       [000] d.h..     0.001000: bpf_trace_printk: irq 7 on idle",
        ], lines);
    }

    [Fact]
    public async Task Trace_pipe_merges_cpus_by_time_and_is_consumed_by_reading()
    {
        var r = await silo.Results("""
            { "cpus": 2, "tasks": [ { "pid": 7, "comm": "a-very-long-command-name", "cpu": 0 } ], "steps": [
              { "advance_ns": 2000000000 },
              { "cpu": 1, "call": "trace_printk", "fmt": "second" },
              { "cpu": 0, "pid": 7, "context": "softirq", "call": "trace_printk", "fmt": "first %d", "args": [1] },
              { "call": "read_trace_pipe" },
              { "call": "read_trace_pipe" }
            ] }
            """);
        string[] lines = [.. r[3].GetProperty("lines").EnumerateArray().Select(l => l.GetString()!)];
        Assert.Equal(
        [
            " a-very-long-com-7       [000] ..s2.     2.000000: bpf_trace_printk: first 1",
            "          <idle>-0       [001] ...2.     2.000000: bpf_trace_printk: second",
        ], lines);
        Assert.Equal(0, r[4].GetProperty("lines").GetArrayLength());
    }

    [Fact]
    public async Task Format_and_argument_errors_are_the_kernels_errno_or_the_verifiers_refusal()
    {
        var r = await silo.Results("""
            { "steps": [
              { "call": "trace_vprintk", "fmt": "%d", "data_len": 16, "args_ptr": [5, 6] },
              { "call": "trace_vprintk", "fmt": "none", "data_len": 96 },
              { "call": "trace_vprintk", "fmt": "%d", "data_len": 97 },
              { "call": "trace_printk", "fmt": "%d %d %d %d" },
              { "call": "trace_printk", "fmt": "%#x", "args": [1] },
              { "call": "trace_vprintk", "fmt": "x", "data_len": 8, "args_ptr": null },
              { "call": "trace_printk", "fmt": "x", "fmt_size": 0 },
              { "call": "snprintf", "fmt": "%d %d", "args": [1], "size": 8 },
              { "call": "trace_vprintk", "fmt_hex": "41424344", "data_len": 0 }
            ] }
            """);
        Assert.Equal(1, r[0].GetProperty("ret").GetInt64());
        Assert.Equal(4, r[1].GetProperty("ret").GetInt64());
        Assert.Equal(-22, r[2].GetProperty("ret").GetInt64());
        Assert.Equal(-22, r[3].GetProperty("ret").GetInt64());
        Assert.Equal(-22, r[4].GetProperty("ret").GetInt64());
        Assert.Equal("R3 type=scalar expected=fp", r[5].GetProperty("verifier_error").GetString());
        Assert.Equal("R2 invalid zero-sized read", r[6].GetProperty("verifier_error").GetString());
        Assert.Equal("Invalid format string", r[7].GetProperty("verifier_error").GetString());
        Assert.Equal(-22, r[8].GetProperty("ret").GetInt64()); // no NUL within fmt_size
    }

    [Fact]
    public async Task Non_utf8_output_has_a_hex_twin()
    {
        var r = await silo.Results("""{ "steps": [ { "call": "trace_printk", "fmt_hex": "41ff4200" }, { "call": "read_trace_pipe" } ] }""");
        Assert.Equal("A\uFFFDB", r[0].GetProperty("text").GetString());
        Assert.Equal("41ff42", r[0].GetProperty("text_hex").GetString());
        Assert.EndsWith("bpf_trace_printk: A\uFFFDB", r[1].GetProperty("lines")[0].GetString());
        Assert.EndsWith("3a2041ff42", r[1].GetProperty("lines_hex")[0].GetString());
    }

    [Fact]
    public async Task Issue_acceptance_400_lines_of_100_bytes_overflow_and_the_reader_sees_e2big()
    {
        var r = await silo.Results(File.ReadAllText(Path.Combine(Repo.Root, "scenarios/exec/seq-overflow.json")));
        // 327 lines of 100 bytes fit (32700 < 32768); the 328th and every later call overflow.
        for (int i = 0; i < 327; i++) Assert.Equal(0, r[i].GetProperty("ret").GetInt64());
        for (int i = 327; i < 400; i++) Assert.Equal(-75, r[i].GetProperty("ret").GetInt64());
        Assert.Equal([-7], r[401].GetProperty("reads").EnumerateArray().Select(x => x.GetInt64()));
        Assert.Equal("", r[401].GetProperty("text").GetString());
    }

    [Fact]
    public async Task Seq_reads_rerun_an_object_that_did_not_fit_and_report_first_run_returns()
    {
        var r = await silo.Results("""
            { "steps": [
              { "call": "seq_write", "seq": "s", "seq_size": 64, "data_hex": "6162636465666768696a6b6c6d6e6f707172737475767778797a30313233340a" },
              { "call": "seq_end_object", "seq": "s" },
              { "call": "seq_write", "seq": "s", "data_hex": "41424344454647484950515253545556575859305152535455565758595a0a" },
              { "call": "seq_end_object", "seq": "s" },
              { "call": "seq_printf", "seq": "s", "fmt": "n=%d\n", "args": [3] },
              { "call": "seq_end_object", "seq": "s", "prog_ret": 0 },
              { "call": "read_seq", "seq": "s", "read_size": 100 }
            ] }
            """);
        Assert.Equal(0, r[0].GetProperty("ret").GetInt64());
        Assert.Equal(0, r[2].GetProperty("ret").GetInt64());
        // Its first run came in the same read() as the others and overflowed; the re-run is not reported.
        Assert.Equal(-75, r[4].GetProperty("ret").GetInt64());
        Assert.Equal([63, 4, 0], r[6].GetProperty("reads").EnumerateArray().Select(x => x.GetInt64()));
        Assert.Equal("abcdefghijklmnopqrstuvwxyz01234\nABCDEFGHIPQRSTUVWXY0QRSTUVWXYZ\nn=3\n", r[6].GetProperty("text").GetString());
    }

    [Fact]
    public async Task Btf_values_print_as_the_kernel_prints_them()
    {
        var r = await silo.Results("""
            { "btf_types": { "struct pt": { "kind": "struct", "size": 8, "members": [
                { "name": "x", "type": "int", "offset_bits": 0 }, { "name": "y", "type": "int", "offset_bits": 32 } ] } },
              "steps": [
              { "call": "seq_printf_btf", "seq": "s", "btf": { "type": "struct btf_enum", "value_hex": "03000000ffffffff" }, "flags": "BTF_F_COMPACT" },
              { "call": "seq_printf_btf", "seq": "s", "btf": { "type": "struct pt", "value": { "x": 1, "y": 0 } }, "flags": "BTF_F_COMPACT" },
              { "call": "seq_printf_btf", "seq": "s", "btf": { "type": "enum bpf_cmd", "value": 2000 }, "flags": "BTF_F_COMPACT|BTF_F_NONAME" },
              { "call": "seq_printf_btf", "seq": "s", "btf": { "type": "int", "value": 1 }, "flags": 16 },
              { "call": "seq_printf_btf", "seq": "s", "btf": { "type_id": 0 }, "flags": 0 },
              { "call": "seq_printf_btf", "seq": "s", "btf": { "type": "int", "value": 1, "ptr_size": 8 }, "flags": 0 },
              { "call": "seq_end_object", "seq": "s" },
              { "call": "read_seq", "seq": "s" }
            ] }
            """);
        Assert.Equal([0, 0, 0, -22, -22, -22], new[] { 0, 1, 2, 3, 4, 5 }.Select(i => r[i].GetProperty("ret").GetInt64()));
        Assert.Equal("(struct btf_enum){.name_off = (__u32)3,.val = (__s32)-1,}(struct pt){.x = (int)1,}2000",
            r[7].GetProperty("text").GetString());
    }
}

internal static class Repo
{
    /// <summary>The repository root (where BpfTraceSim.slnx is), found from the test's directory.</summary>
    public static string Root { get; } = Find();

    private static string Find()
    {
        foreach (var a in typeof(Repo).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyMetadataAttribute), false))
            if (a is System.Reflection.AssemblyMetadataAttribute { Key: "RepoRoot", Value: { } v }) return v;
        throw new InvalidOperationException("RepoRoot metadata missing");
    }
}

using System.Text.Json;

namespace BpfTraceSim.Client.Tests;

/// <summary>Real clang-built BPF objects run through `bpfsim exec` (tests/bpf/*.bpf.o).</summary>
[Collection(SiloCollection.Name)]
public sealed class ExecBpfTests(EmbeddedSiloFixture silo)
{
    private static string Bpf => Path.Combine(Repo.Root, "tests", "bpf");

    [Fact]
    public async Task Issue_acceptance_clang_object_on_swapped_and_straight_slots()
    {
        var (exit, lines, err) = await silo.Exec(File.ReadAllText(Path.Combine(Repo.Root, "scenarios/exec/bpf-object.json")),
            Path.Combine(Repo.Root, "scenarios/exec"));
        Assert.True(exit == 0, err);
        var swapped = lines[0].GetProperty("results");
        var run = swapped[0];
        var helpers = run.GetProperty("helpers").EnumerateArray().ToArray();
        Assert.Equal(25, helpers[0].GetProperty("id").GetInt32());
        Assert.Equal("bpf_perf_event_output", helpers[0].GetProperty("name").GetString());
        Assert.Equal(-95, helpers[0].GetProperty("ret").GetInt64());
        Assert.Equal(6, helpers[1].GetProperty("id").GetInt32());
        // The program returns (int)ret: clang moves it with a 32-bit mov, so r0 is zero-extended.
        Assert.Equal(0xffffffa1L, run.GetProperty("ret").GetInt64());
        Assert.Equal("             app-100     [000] ...2.     0.000000: bpf_trace_printk: out ret=-95 v=1122334455667788",
            swapped[1].GetProperty("lines")[0].GetString());
        Assert.Empty(swapped[2].GetProperty("records").EnumerateArray());

        var straight = lines[1].GetProperty("results");
        Assert.Equal(0, straight[0].GetProperty("ret").GetInt64());
        Assert.Equal(0, straight[0].GetProperty("helpers")[0].GetProperty("ret").GetInt64());
        Assert.EndsWith("bpf_trace_printk: out ret=0 v=1122334455667788", straight[1].GetProperty("lines")[0].GetString());
        var rec = Assert.Single(straight[2].GetProperty("records").EnumerateArray());
        Assert.Equal("09000000010018000c000000887766554433221100000000", rec.GetProperty("record_hex").GetString());
        Assert.Empty(straight[3].GetProperty("records").EnumerateArray());
    }

    [Fact]
    public async Task An_unsupported_object_is_refused_naming_section_instruction_and_line()
    {
        var (exit, lines, err) = await silo.Exec("""
            { "id": "kfunc", "programs": { "p": { "object": "unsupported.bpf.o" } }, "steps": [ { "call": "run", "program": "p" } ] }
            """, Bpf);
        Assert.Equal(2, exit);
        var e = Assert.Single(lines).GetProperty("error");
        Assert.Equal("programs.p", e.GetProperty("field").GetString());
        string message = e.GetProperty("message").GetString()!;
        Assert.Contains("section 'raw_tp/kfunc'", message);
        Assert.Contains("insn 0", message);
        Assert.Contains("unsupported.bpf.c:", message);
        Assert.Contains(message, err);
    }

    [Fact]
    public async Task Globals_are_set_by_btf_name_and_shared_by_every_cpu()
    {
        var desc = BpfTraceSim.Bpf.Loader.BpfObject.Load(Path.Combine(Bpf, "globals.bpf.o"));
        var g = desc.Globals.First(x => !x.Section.StartsWith(".rodata", StringComparison.Ordinal));
        var p = desc.Programs[0];
        var doc = $$"""
            { "cpus": 2, "programs": { "p": { "object": "globals.bpf.o", "section": "{{p.Section}}", "program": "{{p.Name}}" } }, "steps": [
              { "cpu": 0, "call": "set_global", "program": "p", "name": "{{g.Name}}", "value": { "bytes_hex": "2a" } },
              { "cpu": 1, "call": "get_global", "program": "p", "name": "{{g.Name}}" }
            ] }
            """;
        var (exit, lines, err) = await silo.Exec(doc, Bpf);
        Assert.True(exit == 0, err);
        string hex = lines[0].GetProperty("results")[1].GetProperty("value_hex").GetString()!;
        Assert.StartsWith("2a", hex);
        Assert.Equal(g.Size * 2, hex.Length);
    }

    [Fact]
    public async Task Counter_reads_snprintf_and_vprintk_from_a_clang_object()
    {
        var (exit, lines, err) = await silo.Exec("""
            { "cpus": 2, "tasks": [ { "pid": 100, "comm": "app", "cpu": 1 } ],
              "programs": { "r": { "object": "helpers.bpf.o", "section": "raw_tp/read" }, "f": { "object": "helpers.bpf.o", "section": "raw_tp/format" } },
              "events": { "clk0": { "config": "cpu_clock", "cpu": 0 }, "clk1": { "config": "cpu_clock", "cpu": 1 } },
              "slots": { "counters": [ "clk0", "clk1" ] },
              "steps": [ { "advance_ns": 5000 },
                { "cpu": 1, "pid": 100, "call": "run", "program": "r" },
                { "call": "get_global", "program": "r", "name": "last_value" },
                { "cpu": 1, "pid": 100, "call": "run", "program": "f" },
                { "call": "read_trace_pipe" } ] }
            """, Bpf);
        Assert.True(exit == 0, err);
        var r = lines[0].GetProperty("results");
        string Helpers(int step) => string.Join(",", r[step].GetProperty("helpers").EnumerateArray()
            .Select(h => $"{h.GetProperty("id").GetInt32()}:{h.GetProperty("ret").GetInt64()}"));
        // CPU 1's cpu-clock after 5 us: bpf_perf_event_read 5000, read_value {5000, 5000, 5000}.
        Assert.Equal("22:5000,55:0", Helpers(1));
        Assert.Equal("881300000000000088130000000000008813000000000000", r[2].GetProperty("value_hex").GetString());
        // snprintf("cpu=%d pid=%d") = 13 characters + NUL; bpf_printk with 4 arguments is bpf_trace_vprintk.
        Assert.Equal("8:1,14:429496729700,165:14,177:20", Helpers(3));
        Assert.Equal("             app-100     [001] ...2.     0.000005: bpf_trace_printk: 14 cpu=1 pid=100 3 4",
            r[4].GetProperty("lines")[0].GetString());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_typeless_ksym_takes_the_worlds_kallsyms_address_and_a_missing_strong_one_fails_the_load(bool defined)
    {
        string kallsyms = defined ? "\"kallsyms\": { \"sim_only_symbol\": \"0x40\" }," : "";
        var (exit, lines, err) = await silo.Exec($$"""
            { "cpus": 1, {{kallsyms}} "programs": { "p": { "object": "ksym_extern.bpf.o" } }, "steps": [
              { "call": "run", "program": "p" },
              { "call": "get_global", "program": "p", "name": "strong_addr" },
              { "call": "get_global", "program": "p", "name": "weak_addr" } ] }
            """, Bpf);
        Assert.True(exit == 0, err);
        var r = lines[0].GetProperty("results");
        if (!defined)
        {
            Assert.Equal("libbpf: extern 'sim_only_symbol' (strong): not resolved (section 'raw_tp/sys_enter', insn 7, ksym_extern.bpf.c:14)",
                r[0].GetProperty("verifier_error").GetString());
            return;
        }
        var k = new BpfTraceSim.Kernel.Printk.Kallsyms();
        ulong expected = k.AddOrResize("sim_only_symbol", 0x40);
        Assert.Equal(expected, BitConverter.ToUInt64(Convert.FromHexString(r[1].GetProperty("value_hex").GetString()!)));
        Assert.Equal("0000000000000000", r[2].GetProperty("value_hex").GetString()); // weak, not in kallsyms: 0
    }

    [Fact]
    public async Task Core_relocations_resolve_against_the_worlds_btf_types()
    {
        // the world's kernel moves sim_amb.x to byte 8: the program stores that offset
        var (exit, lines, err) = await silo.Exec("""
            { "cpus": 1,
              "btf_types": { "struct sim_amb": { "kind": "struct", "size": 12, "members": [
                { "name": "a", "type": "long long int", "offset_bits": 0 }, { "name": "x", "type": "int", "offset_bits": 64 } ] } },
              "programs": { "p": { "object": "core_bad.bpf.o", "section": "raw_tp/sys_exit" } }, "steps": [
              { "call": "run", "program": "p" },
              { "call": "get_global", "program": "p", "name": "out" } ] }
            """, Bpf);
        Assert.True(exit == 0, err);
        var r = lines[0].GetProperty("results");
        Assert.Equal("0800000000000000", r[1].GetProperty("value_hex").GetString());
    }

    [Fact]
    public async Task Core_candidates_that_disagree_make_the_world_invalid_with_libbpfs_message()
    {
        var (exit, lines, _) = await silo.Exec("""
            { "cpus": 1,
              "btf_types": {
                "struct sim_amb": { "kind": "struct", "size": 4, "members": [ { "name": "x", "type": "int", "offset_bits": 0 } ] },
                "struct sim_amb___v2": { "kind": "struct", "size": 8, "members": [ { "name": "x", "type": "int", "offset_bits": 32 } ] } },
              "programs": { "p": { "object": "core_bad.bpf.o", "section": "raw_tp/sys_exit" } }, "steps": [] }
            """, Bpf);
        Assert.Equal(2, exit);
        var e = Assert.Single(lines).GetProperty("error");
        Assert.Equal("programs.p", e.GetProperty("field").GetString());
        Assert.Equal("core_bad.bpf.o: libbpf: prog 'amb': relo #0: field offset ambiguity: 32 != 0 (section 'raw_tp/sys_exit', insn 0, core_bad.bpf.c:28)",
            e.GetProperty("message").GetString());
    }

    [Fact]
    public async Task A_reached_poisoned_relocation_is_the_runs_verifier_error()
    {
        var (exit, lines, err) = await silo.Exec("""
            { "cpus": 1, "programs": { "p": { "object": "core_bad.bpf.o", "section": "raw_tp/sys_exit" } }, "steps": [
              { "call": "run", "program": "p" } ] }
            """, Bpf);
        Assert.True(exit == 0, err);
        Assert.StartsWith("failed to resolve CO-RE relocation <byte_off> [", lines[0].GetProperty("results")[0].GetProperty("verifier_error").GetString());
    }

    [Fact]
    public async Task Init_globals_name_an_existing_global_and_fit_it()
    {
        var (exit, lines, _) = await silo.Exec("""
            { "programs": { "p": { "object": "st_snprintf_single.bpf.o", "init_globals": { "user_fmtt": 1 } } }, "steps": [] }
            """, Bpf);
        Assert.Equal(2, exit);
        var e = Assert.Single(lines).GetProperty("error");
        Assert.Equal("programs.p.init_globals.user_fmtt", e.GetProperty("field").GetString());
        Assert.Equal("no global variable \"user_fmtt\" in st_snprintf_single.bpf.o (did you mean \"user_fmt\"?)", e.GetProperty("message").GetString());

        (exit, lines, _) = await silo.Exec("""
            { "programs": { "p": { "object": "st_snprintf_single.bpf.o", "init_globals": { "user_fmt": { "bytes_hex": "0102030405060708090a0b" } } } }, "steps": [] }
            """, Bpf);
        Assert.Equal(2, exit);
        e = Assert.Single(lines).GetProperty("error");
        Assert.Equal("programs.p.init_globals.user_fmt", e.GetProperty("field").GetString());
        Assert.Equal("11 bytes do not fit \"user_fmt\" (10 bytes)", e.GetProperty("message").GetString());
    }
}

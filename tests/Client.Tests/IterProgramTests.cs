using System.Text;
using System.Text.Json.Nodes;
using BpfTraceSim.Client.Exec;
using BpfTraceSim.Client.Iter;

namespace BpfTraceSim.Client.Tests;

/// <summary>
/// `bpfsim iter` with "program": clang-built SEC("iter/task") objects (tests/bpf/st_iter_task*.bpf.c)
/// read as `cat` reads a pinned task iterator: the exact bytes, the verifier's NULL check on ctx->task.
/// </summary>
[Collection(SiloCollection.Name)]
public sealed class IterProgramTests(EmbeddedSiloFixture silo)
{
    private static string Dir => Path.Combine(Repo.Root, "scenarios", "iter", "selftests");

    private async Task<IterProgramOutcome> Run(string file, Action<JsonObject>? edit = null)
    {
        string path = Path.Combine(Dir, file);
        byte[] text = File.ReadAllBytes(path);
        if (edit is not null)
        {
            var doc = JsonNode.Parse(text)!.AsObject();
            edit(doc);
            text = Encoding.UTF8.GetBytes(doc.ToJsonString());
        }
        byte[] exec = IterDocument.ToExec(text);
        IterDocument.CheckProgram(text, exec, Dir);
        return await IterProgramRun.RunAsync(silo.Grains, exec, Dir, CancellationToken.None);
    }

    private static string Text(IterProgramOutcome o) => Encoding.ASCII.GetString(o.Read!.Text);

    [Fact]
    public async Task Iter_task_prints_a_header_a_line_per_task_and_the_stop_calls_footer()
    {
        var o = await Run("iter_task.json");
        Assert.Null(o.LoadError);
        Assert.Null(o.Fault);
        // seq_num is 2 in the stop call: bpf_seq_read increments it only when next() yields a task.
        Assert.Equal("  TGID    PID\n     1      1\n   812    812\n  4242   4243\n-- end, last seq_num 2 --\n", Text(o));
        Assert.Equal([82, 0], o.Read!.Reads);
    }

    [Fact]
    public async Task With_no_tasks_only_the_stop_call_runs_with_seq_num_0()
    {
        var o = await Run("iter_task.json", d => d["tasks"] = new JsonArray());
        Assert.Equal("-- end, last seq_num 0 --\n", Text(o));
    }

    [Fact]
    public async Task Small_reads_and_a_small_seq_buffer_give_the_same_bytes_the_objects_rerun()
    {
        var o = await Run("iter_task.json", d => { d["iter"]!["seq_size"] = 32; d["iter"]!["read_size"] = 16; });
        Assert.Equal("  TGID    PID\n     1      1\n   812    812\n  4242   4243\n-- end, last seq_num 2 --\n", Text(o));
        // read 1 runs the first task (header + line, 28 bytes) and hands out 16; read 2 the 12 left;
        // read 3 runs tasks 1 and 2 (28 bytes), the stop call's footer overflows the 32-byte buffer
        // behind them and is dropped; read 5 finds no task and runs the stop call alone.
        Assert.Equal([16L, 12, 16, 12, 16, 10, 0], o.Read!.Reads);
    }

    [Fact]
    public async Task A_header_and_first_task_beyond_the_seq_buffer_fail_the_first_read_with_e2big()
    {
        var o = await Run("iter_task.json", d => d["iter"]!["seq_size"] = 20);
        Assert.Equal([-7], o.Read!.Reads);
        Assert.Equal("", Text(o));
    }

    [Fact]
    public async Task A_load_through_ctx_task_without_a_null_check_is_refused_as_the_kernel_refuses_it()
    {
        var o = await Run("iter_task_nocheck.json");
        Assert.Null(o.Read);
        Assert.StartsWith("R2 invalid mem access 'trusted_ptr_or_null_' (section 'iter/task', insn 1, st_iter_task_nocheck.bpf.c:19)", o.LoadError);
    }

    [Fact]
    public async Task Seq_write_records_are_the_tasks_pid_and_tgid_then_the_count()
    {
        var o = await Run("iter_task_write.json");
        Assert.Equal("0100000001000000" + "2c0300002c030000" + "9310000092100000" + "03000000", Convert.ToHexString(o.Read!.Text).ToLowerInvariant());
    }

    [Fact]
    public async Task Seq_printf_btf_prints_each_task_struct_as_btf_show_does()
    {
        var o = await Run("iter_task_btf.json");
        Assert.Equal(
            "#0 (struct task_struct){.pid = (pid_t)1,.tgid = (pid_t)1,.comm = (char[])['s','y','s','t','e','m','d',],}\n" +
            "#1 (struct task_struct){.thread_info = (struct thread_info){.cpu = (__u32)1,},.pid = (pid_t)812,.tgid = (pid_t)812,.comm = (char[])['s','s','h','d',],}\n" +
            "#2 (struct task_struct){.thread_info = (struct thread_info){.cpu = (__u32)1,},.pid = (pid_t)4243,.tgid = (pid_t)4242,.comm = (char[])['a','g','e','n','t',],}\n",
            Text(o));
    }

    [Fact]
    public async Task A_program_returning_1_ends_the_read_before_its_task_and_the_next_read_fails_with_eagain()
    {
        var o = await Run("iter_task_retry.json");
        Assert.Equal("1\n", Text(o));
        Assert.Equal([2L, -11], o.Read!.Reads);
    }

    [Theory]
    [InlineData("""{ "tasks": [], "iter": { "body": [], "program": { "object": "x.o" } } }""", "iter.body", "give body or program, not both")]
    [InlineData("""{ "tasks": [], "iter": { "program": { "section": "iter/task" } } }""", "iter.program.object", "missing required field \"object\"")]
    [InlineData("""{ "tasks": [], "iter": { "program": { "object": "x.o", "sec": "iter/task" } } }""", "iter.program.sec", "unknown field \"sec\"")]
    [InlineData("""{ "tasks": [], "iter": { "target": "bpf_map", "program": { "object": "x.o" } } }""", "iter.target", "tasks only")]
    [InlineData("""{ "tasks": [], "iter": { "read_size": 0, "program": { "object": "x.o" } } }""", "iter.read_size", "from 1 to 16777216")]
    [InlineData("""{ "tasks": [], "iter": { "seq_size": -1, "program": { "object": "x.o" } } }""", "iter.seq_size", "from 1 to 16777216")]
    [InlineData("""{ "tasks": [], "iter": { "prog_ret": 1, "program": { "object": "x.o" } } }""", "iter.prog_ret", "goes with body")]
    public void A_bad_program_section_names_the_field(string doc, string field, string message)
    {
        var ex = Assert.Throws<DocumentException>(() => IterDocument.ToExec(Encoding.UTF8.GetBytes(doc)));
        Assert.Equal(field, ex.Field);
        Assert.Contains(message, ex.Message);
    }

    [Fact]
    public void A_missing_object_is_reported_at_iter_program_with_its_line()
    {
        byte[] text = Encoding.UTF8.GetBytes("{ \"tasks\": [],\n  \"iter\": {\n    \"program\": { \"object\": \"no-such.bpf.o\" } } }");
        var ex = Assert.Throws<DocumentException>(() => IterDocument.CheckProgram(text, IterDocument.ToExec(text), Dir));
        Assert.Equal(3, ex.Line);
        Assert.Equal("iter.program.object", ex.Field);
        Assert.StartsWith("cannot read ", ex.Message);
    }
}

/// <summary>The exec step behind iter.program: read_iter reads a task iterator on a CPU grain, between a world's other steps.</summary>
[Collection(SiloCollection.Name)]
public sealed class ExecReadIterTests(EmbeddedSiloFixture silo)
{
    private static string World(string steps, string program = """{ "object": "tests/bpf/st_iter_task.bpf.o", "section": "iter/task" }""") => $$"""
        { "cpus": 2, "tasks": [ { "pid": 1, "comm": "systemd" }, { "pid": 4243, "tgid": 4242, "comm": "agent", "cpu": 1 } ],
          "programs": { "it": {{program}} },
          "steps": {{steps}} }
        """;

    [Fact]
    public async Task Read_iter_on_cpu_1_prints_the_tasks_and_reading_again_starts_a_new_session()
    {
        var (exit, lines, err) = await silo.Exec(World("""[ { "call": "read_iter", "program": "it", "cpu": 1 }, { "call": "read_iter", "program": "it", "read_size": 16 } ]"""), Repo.Root);
        Assert.True(exit == 0, err);
        var results = lines[0].GetProperty("results");
        const string Text = "  TGID    PID\n     1      1\n  4242   4243\n-- end, last seq_num 1 --\n";
        Assert.Equal(Text, results[0].GetProperty("text").GetString());
        Assert.Equal("[68,0]", results[0].GetProperty("reads").GetRawText());
        Assert.Equal(Text, results[1].GetProperty("text").GetString());
        // 16-byte reads: the first task with the header (28 bytes) in two; then the second task and
        // the stop call's footer together (40 bytes, they fit the seq buffer) in three.
        Assert.Equal("[16,12,16,16,8,0]", results[1].GetProperty("reads").GetRawText());
    }

    [Fact]
    public async Task Read_iter_of_a_program_that_is_no_task_iterator_names_the_field()
    {
        var (exit, lines, err) = await silo.Exec(World("""[ { "call": "read_iter", "program": "it" } ]""", """{ "object": "tests/bpf/task.bpf.o" }"""), Repo.Root);
        Assert.Equal(2, exit);
        Assert.Contains("steps[0].program: program \"it\" is not a SEC(\"iter/task\") program: read_iter reads a task iterator", err);
        Assert.Equal("steps[0].program", lines[0].GetProperty("error").GetProperty("field").GetString());
    }

    [Fact]
    public async Task Read_iter_of_a_program_the_verifier_refuses_gives_its_message()
    {
        var (exit, lines, err) = await silo.Exec(World("""[ { "call": "read_iter", "program": "it" } ]""", """{ "object": "tests/bpf/st_iter_task_nocheck.bpf.o" }"""), Repo.Root);
        Assert.True(exit == 0, err);
        var r = lines[0].GetProperty("results")[0];
        Assert.StartsWith("R2 invalid mem access 'trusted_ptr_or_null_'", r.GetProperty("verifier_error").GetString());
        Assert.False(r.TryGetProperty("text", out _));
    }
}

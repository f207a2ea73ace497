using System.Diagnostics;

namespace BpfTraceSim.Client.Tests;

/// <summary>The real `bpfsim` program as a user runs it: exit codes, standard output and error.</summary>
public sealed class CliProcessTests
{
    private static async Task<(int Exit, string Stdout, string Stderr)> Bpfsim(string stdin, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Repo.Root,
        };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "bpfsim.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        await p.StandardInput.WriteAsync(stdin);
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await p.WaitForExitAsync(timeout.Token);
        return (p.ExitCode, await stdout, await stderr);
    }

    [Fact]
    public async Task Exec_of_an_invalid_world_exits_2_with_the_line_and_field_on_stderr()
    {
        var (exit, stdout, stderr) = await Bpfsim("{\"id\":\"w\",\n \"cpus\": 2, \"stpes\": []}\n", "exec", "-");
        Assert.Equal(2, exit);
        Assert.Equal("{\"id\":\"w\",\"error\":{\"line\":2,\"field\":\"stpes\",\"message\":\"unknown field \\\"stpes\\\" (did you mean \\\"steps\\\"?)\"}}\n", stdout);
        Assert.Equal("bpfsim exec: world w, line 2: stpes: unknown field \"stpes\" (did you mean \"steps\"?)\n", stderr);
    }

    [Fact]
    public async Task Exec_of_the_readme_example_exits_0()
    {
        var (exit, stdout, _) = await Bpfsim("", "exec", "scenarios/exec/swapped-slots.json");
        Assert.Equal(0, exit);
        Assert.StartsWith("{\"id\":\"swapped-slots\",\"results\":[{\"step\":0,\"ret\":-95},{\"step\":1,\"ret\":0},", stdout);
    }

    [Fact]
    public async Task Trace_pipe_follows_a_scenario_run_line_by_line()
    {
        var (exit, stdout, _) = await Bpfsim("", "trace-pipe", "scenarios/quick.yaml");
        Assert.Equal(0, exit);
        var lines = stdout.Split('\n');
        Assert.Matches(@"^ +<idle>-0 +\[00\d\] \.\.\.2\. +0\.\d{6}: bpf_trace_printk: hello 0$", lines[0]);
    }

    [Fact]
    public async Task Help_lists_every_command()
    {
        var (exit, stdout, _) = await Bpfsim("", "--help");
        Assert.Equal(0, exit);
        foreach (var cmd in new[] { "exec", "run", "report", "iter", "inspect", "load", "trace-pipe" })
            Assert.Contains("  " + cmd, stdout);
    }

    /// <summary>A run long enough to be interrupted (one host, two CPUs, 100,000 s of 1,000 firings/s).</summary>
    private const string LongRun = """
        name: long
        seed: 1
        duration: 100000s
        window: 1s
        fleet:
          - group: g
            cpus: 2
        events:
          out: { per: cpu, ring_pages: 8 }
        maps:
          events: { max_entries: cpus }
        slots:
          events: per_cpu
        programs:
          p:
            fire: { process: poisson, rate: 1000/s }
            body:
              - perf_event_output: { map: events, size: 8 }
        consumers:
          agent:
            events: out
            service: { fixed: 1us }
        """;

    [Fact]
    public async Task Sigterm_stops_a_run_with_exit_130_and_leaves_the_previous_reports_untouched()
    {
        string dir = Path.Combine(Path.GetTempPath(), "bpfsim-sigterm-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            string scenario = Path.Combine(dir, "long.yaml");
            await File.WriteAllTextAsync(scenario, LongRun);
            string outDir = Path.Combine(dir, "out");
            Directory.CreateDirectory(outDir);
            await File.WriteAllTextAsync(Path.Combine(outDir, "report.json"), "{\"previous\":true}");
            var psi = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true, WorkingDirectory = Repo.Root };
            psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "bpfsim.dll"));
            foreach (var a in new[] { "run", scenario, "--out", outDir }) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            var err = new System.Text.StringBuilder();
            var running = new TaskCompletionSource();
            p.ErrorDataReceived += (_, e) =>
            {
                if (e.Data is null) return;
                lock (err) err.AppendLine(e.Data);
                if (e.Data.Contains("virtual", StringComparison.Ordinal)) running.TrySetResult();
            };
            p.BeginErrorReadLine();
            await running.Task.WaitAsync(TimeSpan.FromMinutes(2)); // progress: the scenario is running
            using (var kill = Process.Start("kill", ["-TERM", p.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!)
                await kill.WaitForExitAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await p.WaitForExitAsync(timeout.Token);
            await stdout;
            string stderr;
            lock (err) stderr = err.ToString();
            Assert.Equal(130, p.ExitCode);
            Assert.Contains("bpfsim run: interrupted; nothing written", stderr);
            Assert.DoesNotContain("   at ", stderr);
            Assert.Equal(["report.json"], Directory.GetFiles(outDir).Select(Path.GetFileName));
            Assert.Equal("{\"previous\":true}", await File.ReadAllTextAsync(Path.Combine(outDir, "report.json")));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
    [Fact]
    public async Task Inspect_helpers_says_for_every_helper_id_whether_it_is_supported()
    {
        var (exit, stdout, err) = await Bpfsim("", "inspect", "--helpers", "--json");
        Assert.True(exit == 0, err);
        using var doc = System.Text.Json.JsonDocument.Parse(stdout);
        var hs = doc.RootElement.GetProperty("helpers").EnumerateArray().ToArray();
        Assert.Equal(BpfTraceSim.Kernel.BpfHelperNames.Count, hs.Length);
        for (int id = 0; id < hs.Length; id++)
        {
            Assert.Equal(id, hs[id].GetProperty("id").GetInt32());
            Assert.Equal(BpfTraceSim.Kernel.HelperProtos.Of(id) is not null, hs[id].GetProperty("supported").GetBoolean());
        }
        Assert.Equal("bpf_loop", hs[181].GetProperty("name").GetString());
        Assert.True(hs[181].GetProperty("supported").GetBoolean());
        Assert.False(hs[0].GetProperty("supported").GetBoolean()); // bpf_unspec
        Assert.True(hs[127].GetProperty("iter_only").GetBoolean()); // bpf_seq_write

        var (exit2, table, err2) = await Bpfsim("", "inspect", "--helpers");
        Assert.True(exit2 == 0, err2);
        Assert.Contains($"helpers ({BpfTraceSim.Kernel.HelperProtos.All.Count()} of {hs.Length} supported)", table);

        var (exit3, _, err3) = await Bpfsim("", "inspect");
        Assert.Equal(2, exit3);
        Assert.Equal("bpfsim inspect: FILE is required (or --helpers for the helper list)", err3.Trim());
    }

    [Fact]
    public async Task Inspect_marks_each_called_helper_supported_or_not()
    {
        var (exit, stdout, err) = await Bpfsim("", "inspect", "--json", "tests/bpf/loop_cb.bpf.o");
        Assert.True(exit == 0, err);
        using var doc = System.Text.Json.JsonDocument.Parse(stdout);
        var p = doc.RootElement.GetProperty("programs")[0];
        var loop = p.GetProperty("helpers").EnumerateArray().Single(h => h.GetProperty("id").GetInt32() == 181);
        Assert.True(loop.GetProperty("supported").GetBoolean());
    }
}

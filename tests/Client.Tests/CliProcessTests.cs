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
}

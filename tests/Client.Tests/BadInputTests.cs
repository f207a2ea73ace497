using System.Diagnostics;

namespace BpfTraceSim.Client.Tests;

/// <summary>
/// Every case of tests/bad-inputs/cases.tsv (written by tests/bad-inputs/generate.py) through the
/// real bpfsim: the expected exit code (2 refused input, 1 a failed run), the expected text in the
/// message, no stack trace, no hang, and nothing written where --out pointed.
/// </summary>
public sealed class BadInputTests
{
    public static TheoryData<string, int, string, string> Cases()
    {
        var data = new TheoryData<string, int, string, string>();
        foreach (var line in File.ReadAllLines(Path.Combine(Repo.Root, "tests", "bad-inputs", "cases.tsv")))
        {
            var f = line.Split('\t');
            data.Add(f[0], int.Parse(f[1], System.Globalization.CultureInfo.InvariantCulture), f[2], f[3]);
        }
        return data;
    }

    [Fact]
    public void The_corpus_holds_at_least_100_bad_inputs_across_every_front_door()
    {
        var cases = Cases();
        Assert.True(cases.Count >= 100, $"{cases.Count} cases");
        foreach (var door in new[] { "run", "sweep", "exec", "iter", "inspect", "load", "report", "trace-pipe" })
            Assert.Contains(cases, c => ((string)c[2]).StartsWith(door + " ", StringComparison.Ordinal));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Bad_input_is_refused_in_one_line(string id, int exit, string args, string expect)
    {
        string outDir = Path.Combine(Path.GetTempPath(), $"bpfsim-bad-{id}-{Guid.NewGuid():N}");
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Repo.Root,
        };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "bpfsim.dll"));
        foreach (var a in args.Split(' ', StringSplitOptions.RemoveEmptyEntries)) psi.ArgumentList.Add(a.Replace("{out}", outDir, StringComparison.Ordinal));
        using var p = Process.Start(psi)!;
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try { await p.WaitForExitAsync(timeout.Token); }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"{id}: still running after 30 s");
        }
        string err = await stderr, output = await stdout;
        Assert.True(exit == p.ExitCode, $"{id}: exit {p.ExitCode}, expected {exit}; stderr: {err}");
        Assert.DoesNotContain("   at ", err);
        Assert.DoesNotContain("   at ", output);
        Assert.DoesNotContain("Unhandled exception", err);
        Assert.Contains(expect, err);
        Assert.False(Directory.Exists(outDir), $"{id}: {outDir} was written");
    }
}

using System.CommandLine;
using System.Text.Json;
using BpfTraceSim.Client.Commands;
using BpfTraceSim.Client.Reports;
using BpfTraceSim.Client.Sweeps;
using BpfTraceSim.Client.Tests.Scenarios;

namespace BpfTraceSim.Client.Tests.Sweeps;

/// <summary>`bpfsim sweep` end to end on the embedded silo: refusals, resume, byte-identical output, answers, report.</summary>
[Collection(ScenarioSiloCollection.Name)]
public sealed class SweepRunTests(ScenarioSiloFixture silo)
{
    private ConnectCluster Connect => (_, _) => Task.FromResult((silo.Grains, (IAsyncDisposable?)null));

    private async Task<(int Exit, string Stdout, string Stderr)> Bpfsim(params string[] args)
    {
        var root = new RootCommand("bpfsim (tests)");
        root.Options.Add(Program.ClusterOption);
        root.Subcommands.Add(SweepCommand.Create(Connect));
        root.Subcommands.Add(ReportCommand.Create());
        var stdout = new StringWriter { NewLine = "\n" };
        var stderr = new StringWriter { NewLine = "\n" };
        int exit = await root.Parse(args).InvokeAsync(new InvocationConfiguration { Output = stdout, Error = stderr });
        return (exit, stdout.ToString(), stderr.ToString());
    }

    private async Task<(int Exit, SweepRunner Runner, string Stdout, string Stderr)> Sweep(SweepRequest req)
    {
        var stdout = new StringWriter { NewLine = "\n" };
        var stderr = new StringWriter { NewLine = "\n" };
        var runner = new SweepRunner(Connect, stdout, stderr, stderrIsTerminal: false);
        int exit = await runner.RunAsync(req, CancellationToken.None);
        return (exit, runner, stdout.ToString(), stderr.ToString());
    }

    private static string Write(ScenarioSiloFixture.TempDir tmp, string name, string text)
    {
        Directory.CreateDirectory(tmp.Path);
        File.WriteAllText(tmp[name], text);
        return tmp[name];
    }

    private static string Quick(ScenarioSiloFixture.TempDir tmp) =>
        Write(tmp, "q.yaml", SweepScenarios.Mm1k(ringPages: 1, size: 1020, rate: "9000/s", service: "100us", duration: "200ms"));

    [Theory]
    [InlineData("events.out.ring_pagez=1,2", "events.out.ring_pagez: after setting events.out.ring_pagez = 1: unknown field 'ring_pagez' (did you mean 'ring_pages'?)")]
    [InlineData("events.nope.ring_pages=1,2", "events.nope.ring_pages: 'events' has no field 'nope' (fields there: out)")]
    [InlineData("fleet[3].cpus=1,2", "fleet[3].cpus: 'fleet' has 1 entry: [3] does not exist")]
    [InlineData("events.out.ring_pages=1,3", "events.out.ring_pages: after setting events.out.ring_pages = 3:")]
    [InlineData("programs.p.fire.rate=100/s,fast", "programs.p.fire.rate: after setting programs.p.fire.rate = fast:")]
    public async Task A_bad_path_or_value_is_refused_before_anything_runs(string vary, string expected)
    {
        using var tmp = ScenarioSiloFixture.Temp();
        string file = Quick(tmp);
        var r = await Bpfsim("sweep", file, "--vary", vary, "--out", tmp["out"]);
        Assert.Equal(2, r.Exit);
        Assert.StartsWith(file + ":", r.Stderr);
        Assert.Contains(": " + expected, r.Stderr);
        Assert.Equal("", r.Stdout);
        Assert.False(Directory.Exists(tmp["out"]), "nothing may be written");
    }

    [Theory]
    [InlineData(new[] { "--vary", "events.out.ring_pages=1..8" }, "bpfsim sweep: --vary events.out.ring_pages: '1..8' is not a range (no *F or +S step)")]
    [InlineData(new[] { "--vary", "events.out.ring_pages=1,2", "--minimize", "events.out.ring_pages" }, "bpfsim sweep: --minimize events.out.ring_pages needs a --target to meet")]
    [InlineData(new[] { "--vary", "events.out.ring_pages=1,2", "--target", "lost<=0", "--minimize", "fleet[0].cpus" }, "bpfsim sweep: --minimize fleet[0].cpus: not a swept parameter (swept: events.out.ring_pages)")]
    [InlineData(new[] { "--vary", "events.out.ring_pages=1,2", "--vary", "events.out.ring_pages=4" }, "bpfsim sweep: --vary events.out.ring_pages is given twice")]
    [InlineData(new[] { "--vary", "events.out.ring_pages=1,2", "--target", "loss<1" }, "bpfsim sweep: --target 'loss<1': unknown total 'loss'")]
    [InlineData(new[] { "--vary", "events.out.ring_pages=1", "--seeds", "0" }, "bpfsim sweep: --seeds 0: must be between 1 and 10000")]
    public async Task Unusable_options_exit_2(string[] options, string expected)
    {
        using var tmp = ScenarioSiloFixture.Temp();
        string file = Quick(tmp);
        var r = await Bpfsim(["sweep", file, "--out", tmp["out"], .. options]);
        Assert.Equal(2, r.Exit);
        Assert.StartsWith(expected, r.Stderr);
        Assert.False(Directory.Exists(tmp["out"]));
    }

    [Fact]
    public async Task A_rerun_takes_finished_points_from_the_directory_and_writes_the_same_bytes()
    {
        using var tmp = ScenarioSiloFixture.Temp();
        string file = Quick(tmp);
        var req = new SweepRequest
        {
            ScenarioPath = file, Vary = ["events.out.ring_pages=1,2"], Seeds = 2, OutDir = tmp["a"], Quiet = true,
        };
        var first = await Sweep(req);
        Assert.True(first.Exit == 0, first.Stderr);
        Assert.Equal((4, 0), (first.Runner.RunsSimulated, first.Runner.RunsCached));
        byte[] json = File.ReadAllBytes(tmp["a/sweep.json"]);
        Assert.Equal(4, Directory.GetFiles(tmp["a/points"], "*.json").Length);

        var second = await Sweep(req);
        Assert.True(second.Exit == 0, second.Stderr);
        Assert.Equal((0, 4), (second.Runner.RunsSimulated, second.Runner.RunsCached));
        Assert.Equal(json, File.ReadAllBytes(tmp["a/sweep.json"]));

        // A longer sweep runs only what is new: one more value and one more seed.
        var third = await Sweep(req with { Vary = ["events.out.ring_pages=1,2,4"], Seeds = 3 });
        Assert.True(third.Exit == 0, third.Stderr);
        Assert.Equal((5, 4), (third.Runner.RunsSimulated, third.Runner.RunsCached));

        // An entry that does not parse is run again, not trusted.
        string victim = Directory.GetFiles(tmp["a/points"], "*.json").Order(StringComparer.Ordinal).First();
        File.WriteAllText(victim, "{ truncated");
        var fourth = await Sweep(req with { Vary = ["events.out.ring_pages=1,2,4"], Seeds = 3 });
        Assert.Equal((1, 8), (fourth.Runner.RunsSimulated, fourth.Runner.RunsCached));
        Assert.Empty(Directory.GetFiles(tmp["a"], "*.tmp", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task Sweep_json_is_byte_identical_whatever_the_parallelism_and_has_fixed_rows()
    {
        using var tmp = ScenarioSiloFixture.Temp();
        string file = Quick(tmp);
        var req = new SweepRequest
        {
            ScenarioPath = file, Vary = ["events.out.ring_pages=1,2", "programs.p.fire.rate=9000/s,12000/s"], Seeds = 3,
            Targets = ["lost_ratio<=0.05"], Minimize = "events.out.ring_pages", Quiet = true,
        };
        var one = await Sweep(req with { OutDir = tmp["one"], Parallel = 1 });
        var many = await Sweep(req with { OutDir = tmp["many"], Parallel = 5 });
        Assert.True(one.Exit is 0 or 1, one.Stderr);
        Assert.Equal(one.Exit, many.Exit);
        byte[] a = File.ReadAllBytes(tmp["one/sweep.json"]);
        Assert.Equal(a, File.ReadAllBytes(tmp["many/sweep.json"]));
        Assert.Equal(one.Stdout, many.Stdout);

        using var doc = JsonDocument.Parse(a);
        var root = doc.RootElement;
        Assert.Equal(["format", "scenario", "file", "seed", "seeds", "parameters", "target", "objective", "result", "points", "rows"],
            root.EnumerateObject().Select(p => p.Name));
        var rows = root.GetProperty("rows").EnumerateArray().ToList();
        Assert.Equal(12, rows.Count);
        Assert.Equal(["point", "seed_index", "seed", "params", .. SweepMetrics.Names, "digest"], rows[0].EnumerateObject().Select(p => p.Name));
        // Point order, then seed order; seed i = 42 + i at every point.
        Assert.Equal(Enumerable.Range(0, 4).SelectMany(p => Enumerable.Range(0, 3).Select(s => (p, s, 42UL + (ulong)s))),
            rows.Select(r => (r.GetProperty("point").GetInt32(), r.GetProperty("seed_index").GetInt32(), r.GetProperty("seed").GetUInt64())));
        foreach (var r in rows)
        {
            long lost = r.GetProperty("lost").GetInt64(), written = r.GetProperty("records_written").GetInt64();
            Assert.Equal(lost, r.GetProperty("enospc").GetInt64());
            Assert.Equal((double)lost / (lost + written), r.GetProperty("lost_ratio").GetDouble());
            Assert.Equal(written, r.GetProperty("records_consumed").GetInt64() + r.GetProperty("records_in_ring_at_end").GetInt64());
            Assert.True(r.GetProperty("wakeups").GetInt64() > 0);
        }
        // Common random numbers: the same seed fires the same Poisson process whatever the ring size.
        Assert.Equal(rows[0].GetProperty("firings").GetInt64(), rows[6].GetProperty("firings").GetInt64());
        Assert.True(File.Exists(tmp["one/sweep.html"]));
        string html = File.ReadAllText(tmp["one/sweep.html"]);
        Assert.Contains("data-title=\"" + SweepHtml.Titles.Heat + "\"", html);
        Assert.Contains("<svg", html);
    }

    [Fact]
    public async Task No_point_meeting_the_target_is_said_plainly_with_exit_1_and_report_prints_the_table()
    {
        using var tmp = ScenarioSiloFixture.Temp();
        string file = Quick(tmp);
        // 9000/s against 100us service: rho 0.9 with K of 3..7 records loses far more than 1e-6.
        var r = await Bpfsim("sweep", file, "--vary", "events.out.ring_pages=1,2", "--seeds", "2", "--target", "lost_ratio<=0.000001",
            "--minimize", "events.out.ring_pages", "--out", tmp["out"], "--quiet");
        Assert.Equal(1, r.Exit);
        Assert.StartsWith("no value of events.out.ring_pages meets lost_ratio<=0.000001 at every seed: even events.out.ring_pages=2 gives lost_ratio ", r.Stdout);
        Assert.Equal("", r.Stderr);

        var rep = await Bpfsim("report", tmp["out/sweep.json"]);
        Assert.True(rep.Exit == 0, rep.Stderr);
        var lines = rep.Stdout.Split('\n');
        Assert.Equal("sweep of mm1k (q.yaml): events.out.ring_pages (2 values), 2 seeds, search bisection, target lost_ratio<=0.000001", lines[0]);
        Assert.Matches(@"^events\.out\.ring_pages  seeds  lost_ratio mean  lost_ratio max  -ENOSPC mean  ring high water max  lag p99 max \(ns\)  wakeups mean  meets$", lines[1]);
        Assert.Matches(@"^1 +2 +0\.\d+ +0\.\d+ +\d+(\.\d+)? +\d+ +\d+ +\d+(\.\d+)? +no$", lines[2]);
        Assert.Matches(@"^2 +2 +0\.\d+ +0\.\d+ .* +no$", lines[3]);
        Assert.Contains(r.Stdout.TrimEnd('\n'), rep.Stdout);
    }

    [Fact]
    public async Task The_cheapest_safe_ring_is_found_by_bisection_with_its_neighbours()
    {
        using var tmp = ScenarioSiloFixture.Temp();
        // rho 0.5 with 1032-byte records: K = 3, 7, 15, 31, 63 for 1..16 pages, P_K = 0.5^(K+1) / (1 - 0.5^(K+1)):
        // 0.067, 0.0039, 1.5e-5, ... so lost_ratio <= 0.001 first holds at 4 pages.
        string file = Write(tmp, "half.yaml", SweepScenarios.Mm1k(ringPages: 1, size: 1020, rate: "5000/s", service: "100us", duration: "1s"));
        var r = await Bpfsim("sweep", file, "--vary", "events.out.ring_pages=1..64*2", "--seeds", "2", "--target", "lost_ratio<=0.001",
            "--minimize", "events.out.ring_pages", "--out", tmp["out"], "--quiet");
        Assert.True(r.Exit == 0, r.Stderr + r.Stdout);
        var lines = r.Stdout.Split('\n');
        Assert.StartsWith("cheapest setting meeting lost_ratio<=0.001 at every seed (2 seeds, smallest events.out.ring_pages): events.out.ring_pages=4: lost_ratio ", lines[0]);
        Assert.Matches("^  cheaper neighbour events.out.ring_pages=2: lost_ratio [0-9.e-]+ at its worst seed .*: fails$", lines[1]);
        Assert.Matches("^  dearer neighbour events.out.ring_pages=8: lost_ratio [0-9.e-]+ at its worst seed .*: meets$", lines[2]);
        using var doc = JsonDocument.Parse(File.ReadAllBytes(tmp["out/sweep.json"]));
        var res = doc.RootElement.GetProperty("result");
        Assert.Equal(("bisection", 2, 1, 3), (res.GetProperty("search").GetString(), res.GetProperty("chosen").GetInt32(),
            res.GetProperty("cheaper").GetInt32(), res.GetProperty("dearer").GetInt32()));
        // Not every value ran: 1, 64, then the bisection and the dearer neighbour.
        Assert.True(doc.RootElement.GetProperty("points").GetArrayLength() < 7);
    }
}

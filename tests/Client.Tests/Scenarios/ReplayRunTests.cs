using System.Text.Json;

namespace BpfTraceSim.Client.Tests.Scenarios;

/// <summary>`bpfsim run` of the replay examples (scenarios/replay/): byte-identical reports, exact counts, refusals.</summary>
[Collection(ScenarioSiloCollection.Name)]
public sealed class ReplayRunTests(ScenarioSiloFixture silo)
{
    public static TheoryData<string> Examples => new() { "replay-csv.yaml", "replay-jsonl.yaml", "replay-perf.yaml", "replay-rates.yaml", "replay-fit.yaml" };

    [Theory]
    [MemberData(nameof(Examples))]
    public async Task Each_replay_example_run_twice_gives_byte_identical_report_json(string example)
    {
        using var tmp = ScenarioSiloFixture.Temp();
        string file = ScenarioSiloFixture.Example(Path.Combine("replay", example));
        var first = await silo.Bpfsim("run", file, "--out", tmp["a"], "--quiet");
        Assert.True(first.Exit == 0, first.Stderr);
        var second = await silo.Bpfsim("run", file, "--out", tmp["b"], "--quiet", "--parallelism", "1");
        Assert.True(second.Exit == 0, second.Stderr);
        byte[] a = File.ReadAllBytes(Path.Combine(tmp["a"], "report.json"));
        Assert.True(a.AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(tmp["b"], "report.json"))), $"{example}: the two report.json differ");
        using var doc = JsonDocument.Parse(a);
        Assert.True(doc.RootElement.GetProperty("conservation").GetProperty("ok").GetBoolean());
        ReportChecks.SumsAgree(doc.RootElement);
    }

    /// <summary>(host, cpu, firings, records_written, lost, bytes_written) of every CPU of a run's report.json.</summary>
    private async Task<List<(string, int, long, long, long, long)>> PerCpu(string example)
    {
        using var tmp = ScenarioSiloFixture.Temp();
        var r = await silo.Bpfsim("run", ScenarioSiloFixture.Example(Path.Combine("replay", example)), "--out", tmp["o"], "--quiet");
        Assert.True(r.Exit == 0, r.Stderr);
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(tmp["o"], "report.json")));
        return [.. doc.RootElement.GetProperty("per_cpu").EnumerateArray().Select(c => (c.GetProperty("host").GetString()!, c.GetProperty("cpu").GetInt32(),
            c.GetProperty("firings").GetInt64(), c.GetProperty("records_written").GetInt64(), c.GetProperty("lost").GetInt64(), c.GetProperty("bytes_written").GetInt64()))];
    }

    [Fact]
    public async Task The_csv_example_loses_six_of_each_burst_of_24_on_every_host()
    {
        // 5 periods: CPU 0 writes 18 of each burst of 24 (18 x 216 = 3888 bytes fit one page), CPU 1 its 4 rows of 64 bytes (80 in the ring).
        Assert.Equal([("dev-0", 0, 120, 90, 30, 90 * 216), ("dev-0", 1, 20, 20, 0, 20 * 80), ("dev-1", 0, 120, 90, 30, 90 * 216), ("dev-1", 1, 20, 20, 0, 20 * 80)],
            await PerCpu("replay-csv.yaml"));
    }

    [Fact]
    public async Task The_jsonl_example_loses_exactly_the_ninth_large_record()
    {
        // CPU 0: one 32-byte record (48 in the ring) and nine of 480 (496): 48 + 8 x 496 = 4016 bytes, a 9th would pass the 4096; CPU 1: 32 and 64 bytes (48 + 80).
        Assert.Equal([("dev-0", 0, 10, 9, 1, 48 + 8 * 496), ("dev-0", 1, 2, 2, 0, 48 + 80)], await PerCpu("replay-jsonl.yaml"));
    }

    [Fact]
    public async Task The_perf_script_example_fires_each_sched_switch_line_once_per_loop_on_every_host()
    {
        // sched.perf: 4 sched_switch lines on CPU 0 and 2 on CPU 1 (the sched_wakeup line is filtered out), 4 loops in 20 ms; 40-byte records are 56 bytes.
        Assert.Equal([("dev-0", 0, 16, 16, 0, 16 * 56), ("dev-0", 1, 8, 8, 0, 8 * 56), ("dev-1", 0, 16, 16, 0, 16 * 56), ("dev-1", 1, 8, 8, 0, 8 * 56)],
            await PerCpu("replay-perf.yaml"));
    }

    [Fact]
    public async Task The_fit_example_prints_and_reports_its_fitted_model_and_fires_past_the_end_of_its_file()
    {
        using var tmp = ScenarioSiloFixture.Temp();
        var r = await silo.Bpfsim("run", ScenarioSiloFixture.Example(Path.Combine("replay", "replay-fit.yaml")), "--out", tmp["o"]);
        Assert.True(r.Exit == 0, r.Stderr);
        Assert.Contains("bpfsim run: program bursty fitted on/off: CPU 0: 2281 events in 26 bursts (off gap > 344880ns): on 39781/s for 2096us (mean), off 8421.3us (mean)\n", r.Stderr);
        Assert.Contains("bpfsim run: program bursty fitted on/off: CPU 1: 1719 events in 32 bursts (off gap > 682640ns): on 20523/s for 2278.9us (mean), off 5524.9us (mean)\n", r.Stderr);
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(tmp["o"], "report.json")));
        var fitted = Assert.Single(doc.RootElement.GetProperty("fitted").EnumerateArray());
        Assert.Equal(("bursty", "on_off"), (fitted.GetProperty("program").GetString(), fitted.GetProperty("model").GetString()));
        var cpus = fitted.GetProperty("cpus").EnumerateArray().ToList();
        Assert.Equal([(0, 2281L, 26L, 344880L), (1, 1719L, 32L, 682640L)],
            cpus.Select(c => (c.GetProperty("cpu").GetInt32(), c.GetProperty("events").GetInt64(), c.GetProperty("bursts").GetInt64(), c.GetProperty("threshold_ns").GetInt64())));
        // onoff.csv ends at 284 ms: every 100 ms window of the 1 s run still fires, and the two hosts (own streams) differ.
        Assert.All(doc.RootElement.GetProperty("windows").EnumerateArray(), w => Assert.True(w.GetProperty("firings").GetInt64() > 0));
        var hosts = doc.RootElement.GetProperty("per_host").EnumerateArray().Select(h => h.GetProperty("firings").GetInt64()).ToList();
        Assert.Equal(2, hosts.Count);
        Assert.NotEqual(hosts[0], hosts[1]);
    }

    [Fact]
    public async Task A_replay_without_fit_has_no_fitted_section()
    {
        using var tmp = ScenarioSiloFixture.Temp();
        var r = await silo.Bpfsim("run", ScenarioSiloFixture.Example(Path.Combine("replay", "replay-csv.yaml")), "--out", tmp["o"], "--quiet");
        Assert.True(r.Exit == 0, r.Stderr);
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(tmp["o"], "report.json")));
        Assert.False(doc.RootElement.TryGetProperty("fitted", out _));
    }

    [Fact]
    public async Task A_bad_row_exits_2_naming_the_data_file_line_and_column_and_writes_nothing()
    {
        using var tmp = ScenarioSiloFixture.Temp();
        Directory.CreateDirectory(tmp.Path);
        File.Copy(ScenarioSiloFixture.Example(Path.Combine("replay", "replay-csv.yaml")), tmp["s.yaml"]);
        File.WriteAllText(tmp["burst.csv"], "time,cpu,size\n0,0,8\n10,2,8\n");
        var r = await silo.Bpfsim("run", tmp["s.yaml"], "--out", tmp["out"]);
        Assert.Equal(2, r.Exit);
        Assert.Equal($"{tmp["burst.csv"]}:3:4: programs.replayed.fire.file: column cpu: CPU 2 does not exist on group dev (2 CPUs)\n", r.Stderr);
        Assert.False(Directory.Exists(tmp["out"]));
    }
}

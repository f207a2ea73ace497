using System.Text;
using System.Text.Json;
using BpfTraceSim.Contracts.Scenarios;

namespace BpfTraceSim.Client.Tests.Scenarios;

/// <summary>`bpfsim run` end to end on the embedded silo: determinism, refusals, files, field order.</summary>
[Collection(ScenarioSiloCollection.Name)]
public sealed class ScenarioRunTests(ScenarioSiloFixture silo)
{
    public static TheoryData<string> SmallExamples => new() { "quick.yaml", "healthy.yaml", "swapped-slots.yaml", "cpu-offline.yaml", "undersized-ring.yaml" };

    [Theory]
    [MemberData(nameof(SmallExamples))]
    public async Task Each_example_run_twice_gives_byte_identical_report_json(string example)
    {
        using var tmp = ScenarioSiloFixture.Temp();
        var first = await silo.Bpfsim("run", ScenarioSiloFixture.Example(example), "--out", tmp["a"], "--quiet");
        Assert.True(first.Exit == 0, first.Stderr);
        var second = await silo.Bpfsim("run", ScenarioSiloFixture.Example(example), "--out", tmp["b"], "--quiet", "--parallelism", "1");
        Assert.True(second.Exit == 0, second.Stderr);
        Assert.Equal("", first.Stderr);
        byte[] a = File.ReadAllBytes(Path.Combine(tmp["a"], "report.json"));
        byte[] b = File.ReadAllBytes(Path.Combine(tmp["b"], "report.json"));
        Assert.True(a.AsSpan().SequenceEqual(b), $"{example}: the two report.json differ");
        Assert.True(File.Exists(Path.Combine(tmp["a"], "report.html")));
        // Only the two reports: no temporary files left behind.
        Assert.Equal(new[] { "report.html", "report.json" }, Directory.GetFiles(tmp["a"]).Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal));

        using var doc = JsonDocument.Parse(a);
        var root = doc.RootElement;
        var scenario = ScenarioParser.ParseFile(ScenarioSiloFixture.Example(example));
        Assert.Equal(scenario.Name, root.GetProperty("scenario").GetString());
        Assert.Equal(scenario.Seed, root.GetProperty("seed").GetUInt64());
        Assert.Equal(scenario.DurationNs, root.GetProperty("duration_ns").GetInt64());
        Assert.Equal(scenario.HostCount, root.GetProperty("hosts").GetInt64());
        Assert.Equal(scenario.CpuCount, root.GetProperty("cpus").GetInt64());
        Assert.Equal(scenario.WindowCount, root.GetProperty("windows").GetArrayLength());
        Assert.Equal(scenario.CpuCount, root.GetProperty("per_cpu").GetArrayLength());
        Assert.True(root.GetProperty("conservation").GetProperty("ok").GetBoolean());
        ReportChecks.SumsAgree(root);
    }

    [Fact]
    public async Task A_configuration_warning_is_printed_before_the_run_and_listed_in_report_json()
    {
        using var tmp = ScenarioSiloFixture.Temp();
        string file = Path.Combine(Repo.Root, "scenarios", "field", "watermark-never-wakes.yaml");
        var r = await silo.Bpfsim("run", file, "--out", tmp["a"], "--quiet");
        Assert.True(r.Exit == 0, r.Stderr);
        string warning = file + ":26:46: events.out.watermark: 32768 bytes is at least the ring's 32768 bytes of data (the kernel caps it there): " +
            "the ring fills before a wake-up comes, unless consumer 'agent' reads it first at its poll timeout (1m)";
        Assert.Equal("bpfsim run: warning: " + warning + "\n", r.Stderr);
        string json = File.ReadAllText(Path.Combine(tmp["a"], "report.json"));
        // the run loses records, so lost_views comes between per_host and the warnings
        Assert.Contains(" },\n  \"warnings\": [\n    \"", json);
        Assert.EndsWith("\"\n  ]\n}\n", json);
        using var doc = JsonDocument.Parse(json);
        Assert.Equal(warning, Assert.Single(doc.RootElement.GetProperty("warnings").EnumerateArray()).GetString());
        Assert.Equal(0, doc.RootElement.GetProperty("totals").GetProperty("wakeups").GetInt64());
    }

    [Fact]
    public async Task The_ring_memory_plan_is_printed_before_the_run_and_written_to_report_json()
    {
        using var tmp = ScenarioSiloFixture.Temp();
        string file = Path.Combine(Repo.Root, "scenarios", "field", "tracee-64k-pages.yaml");
        var r = await silo.Bpfsim("run", file, "--out", tmp["a"], "--quiet");
        Assert.True(r.Exit == 0, r.Stderr);
        Assert.Equal("bpfsim run: ring memory: group 'arm64': 32 rings, 2 GiB of data, 2050 MiB with metadata pages per host (64 KiB pages, kernel 6.8), " +
            "2050 MiB for 1 hosts; fleet 2050 MiB\n", r.Stderr);
        string json = File.ReadAllText(Path.Combine(tmp["a"], "report.json"));
        Assert.Contains("\n  ],\n  \"ring_memory\": {\n    \"groups\": [\n      { \"group\": \"arm64\", \"hosts\": 1, \"page_size\": 65536, \"kernel\": \"6.8\", " +
            "\"rings_per_host\": 32, \"data_bytes_per_host\": 2147483648, \"bytes_per_host\": 2149580800, \"bytes\": 2149580800, \"memlock\": null, " +
            "\"accounting\": \"memcg\", \"map_charge_bytes\": 0, \"pinned_bytes\": 2144862208 }\n    ],\n    \"fleet_bytes\": 2149580800\n  }\n}\n", json);
        Assert.DoesNotContain("lost_views", json);
        using var doc = JsonDocument.Parse(json);
        Assert.Contains("<h2>Ring memory</h2>", File.ReadAllText(Path.Combine(tmp["a"], "report.html")));
    }

    [Fact]
    public async Task A_modelled_reader_gets_the_agents_view_of_losses_and_what_went_wrong()
    {
        using var tmp = ScenarioSiloFixture.Temp();
        string yaml = File.ReadAllText(Path.Combine(Repo.Root, "scenarios", "field", "opensnoop-yardstick.yaml"))
            .Replace("ring_pages: 8 }", "ring_pages: 4 }", StringComparison.Ordinal);
        string file = Path.Combine(tmp["s"], "o.yaml");
        Directory.CreateDirectory(tmp["s"]);
        File.WriteAllText(file, yaml);
        var r = await silo.Bpfsim("run", file, "--out", tmp["a"], "--quiet");
        Assert.True(r.Exit == 0, r.Stderr);
        string json = File.ReadAllText(Path.Combine(tmp["a"], "report.json"));
        using var doc = JsonDocument.Parse(json);
        var lv = doc.RootElement.GetProperty("lost_views");
        var totals = doc.RootElement.GetProperty("totals");
        Assert.Equal(totals.GetProperty("lost").GetInt64(), lv.GetProperty("lost").GetInt64());
        Assert.Equal(totals.GetProperty("lost_reported").GetInt64(), lv.GetProperty("lost_reported").GetInt64());
        Assert.True(lv.GetProperty("lost_callbacks").GetInt64() > 0);
        var first = lv.GetProperty("first_loss");
        Assert.Equal("paused (pauses)", first.GetProperty("reader").GetString());
        Assert.Equal(first.GetProperty("time_ns").GetInt64() / 500_000_000, first.GetProperty("window").GetInt64());
        Assert.Contains("<h2>What went wrong</h2>", File.ReadAllText(Path.Combine(tmp["a"], "report.html")));
    }

    [Fact]
    public async Task Another_seed_gives_different_bytes_and_says_so()
    {
        using var tmp = ScenarioSiloFixture.Temp();
        var a = await silo.Bpfsim("run", ScenarioSiloFixture.Example("quick.yaml"), "--out", tmp["a"], "--quiet");
        var b = await silo.Bpfsim("run", ScenarioSiloFixture.Example("quick.yaml"), "--out", tmp["b"], "--quiet", "--seed", "43");
        Assert.True(a.Exit == 0 && b.Exit == 0, a.Stderr + b.Stderr);
        string ja = File.ReadAllText(Path.Combine(tmp["a"], "report.json"));
        string jb = File.ReadAllText(Path.Combine(tmp["b"], "report.json"));
        Assert.NotEqual(ja, jb);
        Assert.Contains("\n  \"seed\": 42,\n", ja);
        Assert.Contains("\n  \"seed\": 43,\n", jb);
        // More than the seed changed: the simulation itself did.
        Assert.NotEqual(ja.Replace("\"seed\": 42", ""), jb.Replace("\"seed\": 43", ""));
        using var da = JsonDocument.Parse(ja);
        using var db = JsonDocument.Parse(jb);
        Assert.NotEqual(da.RootElement.GetProperty("windows").GetRawText(), db.RootElement.GetProperty("windows").GetRawText());
    }

    [Fact]
    public async Task A_refused_scenario_exits_2_with_file_line_column_and_writes_nothing()
    {
        using var tmp = ScenarioSiloFixture.Temp();
        Directory.CreateDirectory(tmp.Path);
        string bad = tmp["bad.yaml"];
        File.WriteAllText(bad, "name: bad\nduration: 1s\nfleet:\n  - group: web\n    cpus: 0\n");
        string outDir = tmp["out"];
        string trace = tmp["trace.txt"];
        var r = await silo.Bpfsim("run", bad, "--out", outDir, "--trace-pipe", trace);
        Assert.Equal(2, r.Exit);
        Assert.Equal($"{bad}:5:11: fleet[0].cpus: 0 is out of range: must be between 1 and 8192\n", r.Stderr);
        Assert.Equal("", r.Stdout);
        Assert.False(Directory.Exists(outDir));
        Assert.False(File.Exists(trace));
        Assert.Equal(new[] { "bad.yaml" }, Directory.GetFileSystemEntries(tmp.Path).Select(f => Path.GetFileName(f)));
    }

    [Fact]
    public async Task An_unknown_field_is_refused_with_the_parsers_message()
    {
        using var tmp = ScenarioSiloFixture.Temp();
        Directory.CreateDirectory(tmp.Path);
        string bad = tmp["typo.yaml"];
        File.WriteAllText(bad, File.ReadAllText(ScenarioSiloFixture.Example("quick.yaml")).Replace("ring_pages: 1", "ring_pagez: 1"));
        var r = await silo.Bpfsim("run", bad, "--out", tmp["out"]);
        Assert.Equal(2, r.Exit);
        Assert.StartsWith($"{bad}:", r.Stderr);
        Assert.Contains(": events.out.ring_pagez: unknown field 'ring_pagez' (did you mean 'ring_pages'?)", r.Stderr);
        Assert.False(Directory.Exists(tmp["out"]));
    }

    [Fact]
    public async Task A_missing_file_exits_2()
    {
        using var tmp = ScenarioSiloFixture.Temp();
        var r = await silo.Bpfsim("run", tmp["nope.yaml"], "--out", tmp["out"]);
        Assert.Equal(2, r.Exit);
        Assert.StartsWith($"{tmp["nope.yaml"]}:0:0: cannot read the file: ", r.Stderr);
        Assert.False(Directory.Exists(tmp.Path));
    }

    [Fact]
    public async Task An_out_path_that_is_a_file_is_refused_before_running()
    {
        using var tmp = ScenarioSiloFixture.Temp();
        Directory.CreateDirectory(tmp.Path);
        File.WriteAllText(tmp["taken"], "x");
        var r = await silo.Bpfsim("run", ScenarioSiloFixture.Example("quick.yaml"), "--out", tmp["taken"]);
        Assert.Equal(2, r.Exit);
        Assert.Equal($"bpfsim run: --out {tmp["taken"]} is a file, not a directory\n", r.Stderr);
        Assert.Equal("x", File.ReadAllText(tmp["taken"]));
    }

    [Fact]
    public async Task A_capture_file_that_cannot_be_created_fails_without_output()
    {
        using var tmp = ScenarioSiloFixture.Temp();
        Directory.CreateDirectory(tmp.Path);
        File.WriteAllText(tmp["file"], "x");
        var r = await silo.Bpfsim("run", ScenarioSiloFixture.Example("quick.yaml"), "--out", tmp["out"], "--trace-pipe", Path.Combine(tmp["file"], "trace.txt"));
        Assert.Equal(1, r.Exit);
        Assert.StartsWith("bpfsim run: cannot write the output: ", r.Stderr);
        Assert.EndsWith("; nothing written\n", r.Stderr);
        Assert.False(Directory.Exists(tmp["out"]));
    }

    [Fact]
    public void Large_fleet_parses_and_would_not_list_per_cpu_without_the_option()
    {
        var s = ScenarioParser.ParseFile(ScenarioSiloFixture.Example("large-fleet.yaml"));
        Assert.Equal(8192, s.HostCount);
        Assert.Equal(1_048_576, s.CpuCount);
        Assert.Equal(10, s.WindowCount);
        Assert.False(new Contracts.Grains.ScenarioRunOptions().ListsPerCpu(s.CpuCount));
        Assert.True(new Contracts.Grains.ScenarioRunOptions { PerCpu = true }.ListsPerCpu(s.CpuCount));
        Assert.True(new Contracts.Grains.ScenarioRunOptions().ListsPerCpu(4096));
    }

    [Fact]
    public async Task Report_json_fields_come_in_the_contracts_order()
    {
        using var tmp = ScenarioSiloFixture.Temp();
        var r = await silo.Bpfsim("run", ScenarioSiloFixture.Example("quick.yaml"), "--out", tmp.Path, "--quiet");
        Assert.True(r.Exit == 0, r.Stderr);
        byte[] bytes = File.ReadAllBytes(Path.Combine(tmp.Path, "report.json"));
        Assert.False(bytes.AsSpan().StartsWith(Encoding.UTF8.Preamble), "no BOM");
        Assert.DoesNotContain((byte)'\r', bytes);
        using var doc = JsonDocument.Parse(bytes);
        var root = doc.RootElement;
        string[] core = ["scenario", "seed", "duration_ns", "hosts", "cpus", "totals", "per_cpu", "windows", "conservation"];
        Assert.Equal(core, Names(root).Take(core.Length));
        string[] counters = ["firings", "helpers", "records_written", "bytes_written", "records_consumed", "records_in_ring_at_end",
                             "lost", "lost_ratio", "ring_high_water_bytes", "consumer_lag_p99_ns", "wakeups"];
        Assert.Equal(counters, Names(root.GetProperty("totals")).Take(counters.Length));
        foreach (var c in root.GetProperty("per_cpu").EnumerateArray())
        {
            Assert.Equal(["host", "cpu", .. counters], Names(c).Take(counters.Length + 2));
        }
        foreach (var w in root.GetProperty("windows").EnumerateArray())
            Assert.Equal(["start_ns", "lost", "records_written", "ring_fill_max_bytes"], Names(w).Take(4));
        Assert.Equal(["ok", "records_written", "records_consumed", "records_in_ring_at_end"], Names(root.GetProperty("conservation")).Take(4));
        // Window starts are consecutive multiples of the window.
        long start = 0;
        foreach (var w in root.GetProperty("windows").EnumerateArray())
        {
            Assert.Equal(start, w.GetProperty("start_ns").GetInt64());
            start += 100_000_000;
        }
    }

    [Fact]
    public async Task Trace_pipe_and_records_are_kept_and_agree_with_the_counts()
    {
        using var tmp = ScenarioSiloFixture.Temp();
        string trace = tmp["trace.txt"], records = tmp["records.jsonl"];
        var r = await silo.Bpfsim("run", ScenarioSiloFixture.Example("quick.yaml"), "--out", tmp["out"], "--quiet", "--trace-pipe", trace, "--records", records);
        Assert.True(r.Exit == 0, r.Stderr);
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(tmp["out"], "report.json")));
        var totals = doc.RootElement.GetProperty("totals");

        // Every successful bpf_trace_printk (a positive length) left one trace_pipe line.
        long printed = 0;
        foreach (var ret in totals.GetProperty("helpers").GetProperty("bpf_trace_printk").EnumerateObject())
            if (long.Parse(ret.Name) > 0) printed += ret.Value.GetInt64();
        string[] lines = File.ReadAllText(trace).Split('\n');
        Assert.Equal("", lines[^1]);
        // The event adds its own newline, so "hello %d\n" shows as the message line and an empty line (docs/kernel-semantics.md §5).
        Assert.True(2 * printed == lines.Length - 1, $"{printed} printk successes but {lines.Length - 1} lines, starting: {string.Join(" | ", lines.Take(4))}");
        for (int i = 0; i + 1 < lines.Length; i += 2)
        {
            Assert.Matches(@"^ +\S+-\d+ +\[00[01]\] \S{5} +\d+\.\d{6}: bpf_trace_printk: hello \d+$", lines[i]);
            Assert.Equal("", lines[i + 1]);
        }

        // Every consumed sample is a "sample" line; LOST records carry the lost counts the reader saw.
        long samples = 0, lostSeen = 0;
        foreach (var line in File.ReadLines(records))
        {
            using var rec = JsonDocument.Parse(line);
            var e = rec.RootElement;
            Assert.Equal(["host", "cpu", "event", "type", "write_ns", "consume_ns", "size", "lost", "data"], Names(e));
            Assert.Equal("dev-0", e.GetProperty("host").GetString());
            if (e.GetProperty("type").GetString() == "sample") samples++;
            else lostSeen += e.GetProperty("lost").GetInt64();
            Assert.True(e.GetProperty("consume_ns").GetInt64() >= e.GetProperty("write_ns").GetInt64());
        }
        Assert.Equal(totals.GetProperty("records_consumed").GetInt64(), samples);
        Assert.Equal(totals.GetProperty("lost_reported").GetInt64(), lostSeen);
        Assert.Equal(new[] { "out", "records.jsonl", "trace.txt" }, Directory.GetFileSystemEntries(tmp.Path).Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Report_command_summarises_a_run()
    {
        using var tmp = ScenarioSiloFixture.Temp();
        var r = await silo.Bpfsim("run", ScenarioSiloFixture.Example("swapped-slots.yaml"), "--out", tmp.Path, "--quiet");
        Assert.True(r.Exit == 0, r.Stderr);
        var s = await silo.Bpfsim("report", Path.Combine(tmp.Path, "report.json"));
        Assert.Equal(0, s.Exit);
        Assert.Equal("", s.Stderr);
        string[] lines = s.Stdout.Split('\n');
        Assert.Equal("swapped-slots (seed 7): 2 hosts, 8 CPUs, 2 s of virtual time in 20 windows", lines[0]);
        // swapped slots: every output is a cross-CPU write, -EOPNOTSUPP, and nothing reaches a ring.
        Assert.Contains(lines, l => l.StartsWith("  bpf_perf_event_output  -95 EOPNOTSUPP", StringComparison.Ordinal) && l.EndsWith("(100.00 % of its calls)", StringComparison.Ordinal));
        Assert.Contains("\nloss per host\n", s.Stdout);
        Assert.Contains(lines, l => l.StartsWith("  db-0 ", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("  db-1 ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Report_command_refuses_what_is_not_a_report()
    {
        using var tmp = ScenarioSiloFixture.Temp();
        Directory.CreateDirectory(tmp.Path);
        File.WriteAllText(tmp["x.json"], "{\"scenario\": \"x\"}");
        var r = await silo.Bpfsim("report", tmp["x.json"]);
        Assert.Equal(2, r.Exit);
        Assert.Equal($"bpfsim report: {tmp["x.json"]}: not a bpfsim report: no \"seed\"\n", r.Stderr);
        File.WriteAllText(tmp["y.json"], "not json");
        Assert.Equal(2, (await silo.Bpfsim("report", tmp["y.json"])).Exit);
        Assert.Equal(2, (await silo.Bpfsim("report", tmp["missing.json"])).Exit);
    }

    internal static List<string> Names(JsonElement e) => [.. e.EnumerateObject().Select(p => p.Name)];
}

/// <summary>Cross-checks of a report.json against itself (sums derived independently of the writer).</summary>
internal static class ReportChecks
{
    public static void SumsAgree(JsonElement root)
    {
        var totals = root.GetProperty("totals");
        string[] summed = ["firings", "records_written", "bytes_written", "records_consumed", "records_in_ring_at_end", "lost", "wakeups"];
        foreach (var name in summed)
        {
            long perCpu = root.GetProperty("per_cpu").EnumerateArray().Sum(c => c.GetProperty(name).GetInt64());
            Assert.True(totals.GetProperty(name).GetInt64() == perCpu, $"totals.{name} != sum of per_cpu");
        }
        long high = root.GetProperty("per_cpu").EnumerateArray().Max(c => c.GetProperty("ring_high_water_bytes").GetInt64());
        Assert.Equal(high, totals.GetProperty("ring_high_water_bytes").GetInt64());
        Assert.Equal(totals.GetProperty("firings").GetInt64(), root.GetProperty("windows").EnumerateArray().Sum(w => w.GetProperty("firings").GetInt64()));
        Assert.Equal(totals.GetProperty("lost").GetInt64(), root.GetProperty("windows").EnumerateArray().Sum(w => w.GetProperty("lost").GetInt64()));
        Assert.Equal(totals.GetProperty("records_written").GetInt64(), root.GetProperty("windows").EnumerateArray().Sum(w => w.GetProperty("records_written").GetInt64()));
        Assert.Equal(high, root.GetProperty("windows").EnumerateArray().Max(w => w.GetProperty("ring_fill_max_bytes").GetInt64()));
        long written = totals.GetProperty("records_written").GetInt64(), lost = totals.GetProperty("lost").GetInt64();
        double ratio = written + lost == 0 ? 0 : (double)lost / (written + lost);
        Assert.Equal(ratio, totals.GetProperty("lost_ratio").GetDouble());
        var k = root.GetProperty("conservation");
        Assert.Equal(written, k.GetProperty("records_written").GetInt64());
        Assert.Equal(totals.GetProperty("records_consumed").GetInt64(), k.GetProperty("records_consumed").GetInt64());
        Assert.Equal(totals.GetProperty("records_in_ring_at_end").GetInt64(), k.GetProperty("records_in_ring_at_end").GetInt64());
        Assert.Equal(written, k.GetProperty("records_consumed").GetInt64() + k.GetProperty("records_in_ring_at_end").GetInt64()
                              + k.GetProperty("records_overwritten").GetInt64() + k.GetProperty("records_invisible").GetInt64());
        // Per helper return counts add up over CPUs.
        var perCpuHelpers = new Dictionary<string, long>();
        foreach (var c in root.GetProperty("per_cpu").EnumerateArray())
            foreach (var h in c.GetProperty("helpers").EnumerateObject())
                foreach (var ret in h.Value.EnumerateObject())
                    perCpuHelpers[h.Name + "/" + ret.Name] = perCpuHelpers.GetValueOrDefault(h.Name + "/" + ret.Name) + ret.Value.GetInt64();
        var totalHelpers = new Dictionary<string, long>();
        foreach (var h in totals.GetProperty("helpers").EnumerateObject())
            foreach (var ret in h.Value.EnumerateObject())
                totalHelpers[h.Name + "/" + ret.Name] = ret.Value.GetInt64();
        Assert.Equal(totalHelpers.OrderBy(kv => kv.Key, StringComparer.Ordinal), perCpuHelpers.OrderBy(kv => kv.Key, StringComparer.Ordinal));
    }
}

/// <summary>Fleets past 4,096 CPUs: per_cpu only with --per-cpu, read from the hosts in pages.</summary>
[Collection(ScenarioSiloCollection.Name)]
public sealed class LargeFleetReportTests(ScenarioSiloFixture silo)
{
    // 70 hosts x 64 CPUs = 4,480 CPUs; little traffic so the test is about the report's shape.
    private const string Yaml = """
        name: wide
        seed: 9
        duration: 200ms
        window: 100ms
        fleet:
          - group: w
            hosts: 70
            cpus: 64
        events:
          out: { per: cpu, ring_pages: 1 }
        maps:
          events: { max_entries: cpus }
        slots:
          events: per_cpu
        programs:
          p:
            fire: { process: constant, rate: 20/s }
            body:
              - perf_event_output: { map: events, size: 8 }
        consumers:
          agent:
            events: out
            service: { fixed: 1us }
        """;

    [Fact]
    public async Task Per_cpu_is_listed_past_4096_cpus_only_with_the_option_and_both_runs_agree()
    {
        using var tmp = ScenarioSiloFixture.Temp();
        Directory.CreateDirectory(tmp.Path);
        File.WriteAllText(tmp["wide.yaml"], Yaml);
        var plain = await silo.Bpfsim("run", tmp["wide.yaml"], "--out", tmp["plain"], "--quiet");
        var listed = await silo.Bpfsim("run", tmp["wide.yaml"], "--out", tmp["listed"], "--quiet", "--per-cpu");
        Assert.True(plain.Exit == 0 && listed.Exit == 0, plain.Stderr + listed.Stderr);
        using var a = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(tmp["plain"], "report.json")));
        using var b = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(tmp["listed"], "report.json")));
        Assert.Equal(4480, a.RootElement.GetProperty("cpus").GetInt64());
        Assert.Equal(0, a.RootElement.GetProperty("per_cpu").GetArrayLength());
        Assert.False(a.RootElement.GetProperty("per_cpu_listed").GetBoolean());
        var perCpu = b.RootElement.GetProperty("per_cpu");
        Assert.Equal(4480, perCpu.GetArrayLength());
        Assert.True(b.RootElement.GetProperty("per_cpu_listed").GetBoolean());
        // Fleet order: host by host, CPU by CPU; past the heat map's limit no per-window losses are kept per CPU.
        int i = 0;
        foreach (var c in perCpu.EnumerateArray())
        {
            Assert.Equal($"w-{i / 64}", c.GetProperty("host").GetString());
            Assert.Equal(i % 64, c.GetProperty("cpu").GetInt32());
            Assert.Equal(0, c.GetProperty("lost_per_window").GetArrayLength());
            i++;
        }
        // Everything but per_cpu is the same with and without the option.
        foreach (var name in new[] { "totals", "windows", "conservation", "per_host" })
            Assert.Equal(a.RootElement.GetProperty(name).GetRawText(), b.RootElement.GetProperty(name).GetRawText());
        ReportChecks.SumsAgree(b.RootElement);
        Assert.Equal(70, a.RootElement.GetProperty("per_host").GetArrayLength());
        string html = File.ReadAllText(Path.Combine(tmp["plain"], "report.html"));
        Assert.Contains($"data-title=\"{Reports.ReportHtml.Titles.LossHeatHost}\"", html);
    }
}

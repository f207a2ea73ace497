using BpfTraceSim.Contracts.Scenarios;

namespace BpfTraceSim.Contracts.Tests.Scenarios;

/// <summary>Replay files (fire: trace / rates): every refusal names the data file, line, column, field and why.</summary>
public sealed class TraceFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bpfsim-trace-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string YamlPath => Path.Combine(_dir, "s.yaml");

    /// <summary>ErrorTests' base scenario (group web: 2 hosts of 4 CPUs) with line 14's fire replaced.</summary>
    private Scenario Parse(string fire, string file, string data, string extra = "")
    {
        File.WriteAllText(Path.Combine(_dir, file), data);
        var lines = ErrorTests.Base.ToList();
        lines[13] = "    fire: " + fire;
        if (extra.StartsWith(' ')) lines.Insert(14, extra); // a field of program p
        else if (extra.Length > 0) lines.Add(extra);        // a top-level field
        return ScenarioParser.Parse(string.Join('\n', lines) + "\n", YamlPath);
    }

    private ScenarioError Refused(string fire, string file, string data, string extra = "") =>
        Assert.Throws<ScenarioException>(() => Parse(fire, file, data, extra)).Error;

    private string At(string file) => Path.Combine(_dir, file);

    public static TheoryData<string, string, int, int, string> CsvCases => new()
    {
        { "time,cpu,size\n0,0,8\n5,9,8\n", "t.csv", 3, 3, "column cpu: CPU 9 does not exist on group web (4 CPUs)" },
        { "time,cpu,size\n0,0,1048577\n", "t.csv", 2, 5, "column size: 1048577 bytes is more than the 1048576 bytes a record of a scenario program may be" },
        { "time,cpu,szie\n0,0,8\n", "t.csv", 1, 10, "unknown column 'szie' in the header (did you mean 'size'?); columns: time (or timestamp), cpu, size, task (or pid)" },
        { "time,cpu\n10,0\n5,0\n", "t.csv", 3, 1, "time 5 ns is before 10 ns of the previous row of CPU 0 (line 2): each CPU's rows must be in time order" },
        { "time,cpu\n10,0,4\n", "t.csv", 2, 5, "the row has more than the header's 2 fields" },
        { "time,cpu,size\n10,0\n", "t.csv", 2, 5, "the row has 2 fields, the header 3" },
        { "time,cpu\n-5,0\n", "t.csv", 2, 1, "column time: '-5' is negative; times are at least 0" },
        { "time,cpu\n 5xs ,0\n", "t.csv", 2, 2, "column time: '5xs': unknown unit 'xs'; durations take ns, us, ms, s, m, h (a bare integer is ns)" },
        { "time,cpu\n5,one\n", "t.csv", 2, 3, "column cpu: 'one' is not a non-negative integer" },
        { "0,0\n1,1\n", "t.csv", 1, 1, "the first row must be a header naming the columns (time,timestamp,cpu,size,task,pid), found '0,0'" },
        { "time,cpu,cpu\n", "t.csv", 1, 10, "column 'cpu' is given twice in the header" },
        { "cpu,size\n0,8\n", "t.csv", 1, 1, "the header has no 'time' column (time,cpu[,size][,task]): is the first row a header?" },
        { "", "t.csv", 1, 1, "the file is empty: a CSV trace needs a header row (time,cpu[,size][,task]) and rows" },
        { "time,cpu\n# only a comment\n", "t.csv", 2, 1, "the file has no events" },
        { "{\"time\": 0, \"cpu\": 0, \"szie\": 8}\n", "t.jsonl", 1, 23, "unknown field 'szie' (did you mean 'size'?); fields: time (or timestamp), cpu, size, task (or pid)" },
        { "{\"time\": 0}\n", "t.jsonl", 1, 1, "missing field 'cpu'" },
        { "{\"time\": true, \"cpu\": 0}\n", "t.jsonl", 1, 10, "column time: expected a number of ns or a duration string (\"1.5ms\"), found true" },
        { "{\"time\": 0, \"cpu\": 0, \"size\": 8}\n{\"time\": 1, \"cpu\": 0}\n", "t.jsonl", 2, 1, "missing field 'size': the first row has one, so every row needs it" },
        { "{\"time\": 0, \"cpu\": \"0\"}\n", "t.jsonl", 1, 20, "column cpu: expected an integer, found string" },
        { "{\"time\": 0 \"cpu\": 0}\n", "t.jsonl", 1, 12, "not valid JSON: '\"' is invalid after a value. Expected either ',', '}', or ']'." },
        { "   app  100 [000] 5.5: sched:sched_switch: x\nnot a sample\n", "t.perf", 2, 1, "not a perf script sample line: expected 'COMM PID [CPU] SECONDS.USEC: EVENT: ...' (no [CPU] field)" },
        { "   app  100 [007] 5.5: sched:sched_switch: x\n", "t.perf", 1, 14, "column cpu: CPU 7 does not exist on group web (4 CPUs)" },
        { "   app  100 [000] 5.1234567890: sched:sched_switch: x\n", "t.perf", 1, 19, "column time: '5.1234567890' is not SECONDS.FRACTION (e.g. 12345.678901, at most 9 fraction digits)" },
    };

    [Theory]
    [MemberData(nameof(CsvCases))]
    public void A_bad_event_file_is_refused_naming_its_line_and_column(string data, string file, int line, int column, string message)
    {
        var e = Refused($"{{ process: trace, file: {file} }}", file, data);
        Assert.Equal((At(file), line, column, "programs.p.fire.file", message), (e.File, e.Line, e.Column, e.Field, e.Message));
    }

    /// <summary>docs/scenarios.md "Fitted workloads", Errors: the refusals at the fit (or loop) value, naming the data file.</summary>
    public static TheoryData<string, string, int, string, string> FitCases => new()
    {
        { "{ process: trace, file: t.csv, fit: on_off }", string.Concat(Enumerable.Range(0, 150).Select(i => $"{i * 1000 + (i / 50) * 10_000_000},0\n")) + "5,1\n", 47,
            "programs.p.fire.fit", "{0}: CPU 1 has 1 event; fit: on_off needs at least 100 on each CPU that has any" },
        { "{ process: trace, file: t.csv, fit: on_off }", string.Concat(Enumerable.Range(0, 150).Select(i => $"{i * 1000},1\n")), 47,
            "programs.p.fire.fit", "{0}: CPU 1: no gap is longer than 20us (20 x the median gap): one burst has no off period to fit; replay it (no fit) or use process: poisson" },
        { "{ process: trace, file: t.csv, fit: on_off }", string.Concat(Enumerable.Range(0, 150).Select(i => $"{i / 100},0\n")), 47,
            "programs.p.fire.fit", "{0}: CPU 0: half its gaps are 0 ns (timestamps too coarse to tell bursts apart)" },
        { "{ process: trace, file: t.csv, fit: on_off, loop: 1s }", "0,0\n", 61,
            "programs.p.fire.loop", "a fitted process runs for the whole duration: loop repeats a replayed file, give one or the other" },
    };

    [Theory]
    [MemberData(nameof(FitCases))]
    public void A_trace_that_cannot_be_fitted_is_refused_at_its_fit_field_naming_the_data_file(string fire, string rows, int column, string field, string message)
    {
        var e = Refused(fire, "t.csv", "time,cpu\n" + rows);
        Assert.Equal((YamlPath, 14, column, field, string.Format(message, At("t.csv"))), (e.File, e.Line, e.Column, e.Field, e.Message));
    }

    [Fact]
    public void A_fitted_trace_keeps_its_model_in_the_digest_and_a_replay_has_none()
    {
        string rows = "time,cpu\n" + string.Concat(Enumerable.Range(0, 300).Select(i => $"{i * 1000 + (i / 50) * 10_000_000},0\n"));
        var replay = Parse("{ process: trace, file: t.csv }", "t.csv", rows);
        var fitted = Parse("{ process: trace, file: t.csv, fit: on_off }", "t.csv", rows);
        Assert.DoesNotContain("\"fit\"", ScenarioDigest.CanonicalJson(replay));
        Assert.Contains("\"fit\":{\"cpus\":[{\"cpu\":0,\"events\":300,\"bursts\":6,", ScenarioDigest.CanonicalJson(fitted));
        Assert.NotEqual(ScenarioDigest.Compute(replay), ScenarioDigest.Compute(fitted));
    }

    [Fact]
    public void Rows_for_a_cpu_the_program_is_not_attached_on_are_refused()
    {
        var e = Refused("{ process: trace, file: t.csv }", "t.csv", "time,cpu\n0,0\n1,2\n", "    cpus: [0, 1]");
        Assert.Equal((3, 3, "column cpu: the program is not attached on CPU 2 (cpus: [0, 1])"), (e.Line, e.Column, e.Message));
    }

    public static TheoryData<string, int, int, string> RateCases => new()
    {
        { "t,count\n0s,50\n", 2, 1, "a count needs an interval: give at least two rows (the count of a row is over the time up to the next row)" },
        { "t,rate\n0,10\n0,20\n", 3, 1, "column t: 0s is not after 0s (line 2): rows must be in increasing time" },
        { "t,rate,count\n", 1, 1, "give 'rate' or 'count', not both" },
        { "t,cpu\n", 1, 1, "the header needs a 'rate' or a 'count' column" },
        { "t,rate\n0,-3\n", 2, 3, "column rate: '-3' is not a non-negative number of events per second (or a rate such as 500/ms)" },
        { "t,rate\n0,5/fortnight\n", 2, 3, "column rate: '5/fortnight': unknown unit 'fortnight'; rates take /ns, /us, /ms, /s, /m, /h" },
        { "t,cpu,rate\n0,4,10\n", 2, 3, "column cpu: CPU 4 does not exist on group web (4 CPUs)" },
        { "t,rate\n", 1, 1, "the file has a header but no rows" },
    };

    [Theory]
    [MemberData(nameof(RateCases))]
    public void A_bad_rates_file_is_refused_naming_its_line_and_column(string data, int line, int column, string message)
    {
        var e = Refused("{ process: rates, file: r.csv }", "r.csv", data);
        Assert.Equal((At("r.csv"), line, column, "programs.p.fire.file", message), (e.File, e.Line, e.Column, e.Field, e.Message));
    }

    [Fact]
    public void Scenario_fields_of_a_replay_are_checked_at_their_yaml_position()
    {
        const string csv = "time,cpu\n0,0\n2ms,1\n";
        var loop = Refused("{ process: trace, file: t.csv, loop: 1ms }", "t.csv", csv);
        Assert.Equal(("s.yaml", 14, 48, "programs.p.fire.loop", "the period 1ms is not after the file's last time, 2ms (after scale)"),
            (Path.GetFileName(loop.File), loop.Line, loop.Column, loop.Field, loop.Message));
        var scale = Refused("{ process: trace, file: t.csv, scale: x0 }", "t.csv", csv);
        Assert.Equal(("programs.p.fire.scale", "expected a factor more than 0 such as x2 or x0.5, found 'x0'"), (scale.Field, scale.Message));
        var ext = Refused("{ process: trace, file: t.txt }", "t.txt", csv);
        Assert.Equal(("programs.p.fire.format", "cannot tell the format of 't.txt' from its extension (.csv, .jsonl, .ndjson, .perf): give format: csv, jsonl or perf_script"), (ext.Field, ext.Message));
        var ev = Refused("{ process: trace, file: t.csv, event: x }", "t.csv", csv);
        Assert.Equal(("programs.p.fire.event", "event selects lines of a perf_script file; a CSV or JSON Lines file has no event names"), (ev.Field, ev.Message));
        var single = Refused("{ process: trace, file: t.csv, loop: true }", "t.csv", "time,cpu\n5,0\n");
        Assert.Equal(("programs.p.fire.loop", "cannot find the file's period from a single time: give it as a duration (loop: 1s)"), (single.Field, single.Message));
        var missing = Refused("{ process: trace, file: nope.csv }", "t.csv", csv);
        Assert.Equal(("programs.p.fire.file", $"no such file: {At("nope.csv")} (a relative path is relative to the scenario file)"), (missing.Field, missing.Message));
    }

    [Fact]
    public void A_trace_too_long_for_the_helper_call_limit_is_refused_with_its_rows_and_loops()
    {
        // 2 rows looped every 1 ms for 1 s: 2,000 firings per host, 2 hosts, 1 call each.
        var e = Refused("{ process: trace, file: t.csv, loop: 1ms }", "t.csv", "time,cpu\n0,0\n500us,1\n", "limits: { max_helper_calls: 1000 }");
        Assert.Equal(("programs.p.fire", "the run would make about 4,000 helper calls (program 'p': a trace of 2 events looped every 1ms, 4,000 firings over the hosts in 1s, 1 per firing), " +
            "more than the limit of 1,000; raise limits.max_helper_calls to run it on purpose"), (e.Field, e.Message));
    }

    [Fact]
    public void An_explicit_format_reads_any_extension_and_the_digest_follows_the_data()
    {
        var a = Parse("{ process: trace, file: t.txt, format: csv }", "t.txt", "time,cpu\n0,0\n");
        var again = Parse("{ process: trace, file: t.txt, format: csv }", "t.txt", "time,cpu\n0,0\n");
        var other = Parse("{ process: trace, file: t.txt, format: csv }", "t.txt", "time,cpu\n1,0\n");
        Assert.Equal(ScenarioDigest.Compute(a), ScenarioDigest.Compute(again));
        Assert.NotEqual(ScenarioDigest.Compute(a), ScenarioDigest.Compute(other));
        // The digest has the path as written, not where the checkout is.
        Assert.DoesNotContain(_dir, ScenarioDigest.CanonicalJson(a), StringComparison.Ordinal);
    }

    [Fact]
    public void Times_take_units_and_perf_script_fractions_are_exact_nanoseconds()
    {
        var s = Parse("{ process: trace, file: t.csv }", "t.csv", "time,cpu\n 7 ,0\n1.5ms,0\n2s,1\n");
        var d = TraceFiles.Data((TraceFire)s.Programs[0].Fire);
        Assert.Equal(new long[] { 7, 1_500_000 }, d.TimesOf(0).ToArray());
        Assert.Equal(new long[] { 2_000_000_000 }, d.TimesOf(1).ToArray());
        var p = Parse("{ process: trace, file: t.perf }", "t.perf", " a 1 [000] 7.000000001: e:\n a 1 [000] 7.1: e:\n a 1 [001] 7.123456789: e:\n");
        var pd = TraceFiles.Data((TraceFire)p.Programs[0].Fire);
        Assert.Equal(new long[] { 0, 99_999_999 }, pd.TimesOf(0).ToArray());
        Assert.Equal(new long[] { 123_456_788 }, pd.TimesOf(1).ToArray());
    }
}

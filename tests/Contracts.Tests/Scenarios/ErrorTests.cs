using BpfTraceSim.Contracts.Scenarios;

namespace BpfTraceSim.Contracts.Tests.Scenarios;

/// <summary>Each class of refusal: exact line, column (1-based), field path and message.</summary>
public class ErrorTests
{
    // A valid scenario, one line per entry so that a test can replace line N (1-based).
    internal static readonly string[] Base =
    [
        "duration: 1s",                                                  // 1
        "fleet:",                                                        // 2
        "  - group: web",                                                // 3
        "    hosts: 2",                                                  // 4
        "    cpus: 4",                                                   // 5
        "events:",                                                       // 6
        "  out: { ring_pages: 1 }",                                      // 7
        "maps:",                                                         // 8
        "  events: { max_entries: cpus }",                               // 9
        "slots:",                                                        // 10
        "  events: per_cpu",                                             // 11
        "programs:",                                                     // 12
        "  p:",                                                          // 13
        "    fire: { process: poisson, rate: 100/s }",                   // 14
        "    body:",                                                     // 15
        "      - perf_event_output: { map: events, size: 8 }",           // 16
        "consumers:",                                                    // 17
        "  agent: { events: out }",                                      // 18
    ];

    internal static string BaseText => string.Join('\n', Base) + "\n";

    private static string With(int line, string replacement, params string[] appended)
    {
        var lines = Base.ToList();
        lines[line - 1] = replacement;
        lines.AddRange(appended);
        return string.Join('\n', lines) + "\n";
    }

    /// <summary>Inserts lines so that the first becomes line <paramref name="line"/>.</summary>
    private static string Insert(int line, params string[] inserted)
    {
        var lines = Base.ToList();
        lines.InsertRange(line - 1, inserted);
        return string.Join('\n', lines) + "\n";
    }

    private static string Append(params string[] appended) => string.Join('\n', Base.Concat(appended)) + "\n";

    private static ScenarioError Refused(string text)
    {
        var e = Assert.Throws<ScenarioException>(() => ScenarioParser.Parse(text, "t.yaml"));
        Assert.Equal("t.yaml", e.Error.File);
        return e.Error;
    }

    private static void AssertError(string text, int line, int column, string field, string message)
    {
        var e = Refused(text);
        Assert.Equal((line, column, field, message), (e.Line, e.Column, e.Field, e.Message));
    }

    [Fact]
    public void Base_is_valid()
    {
        var s = ScenarioParser.Parse(BaseText, "t.yaml");
        Assert.Equal("t", s.Name);
        Assert.Equal(100_000_000L, s.WindowNs);
    }

    [Fact]
    public void Unknown_field_names_it_and_suggests_the_closest()
    {
        AssertError(With(7, "  out: { ring_pagez: 1 }"), 7, 10, "events.out.ring_pagez",
            "unknown field 'ring_pagez' (did you mean 'ring_pages'?); known fields: type, config, per, comm, ring_pages, wakeup_events, watermark, sample_type, pinned, disabled, overwrite, inherit");
    }

    [Fact]
    public void Unknown_top_level_field_without_a_close_name()
    {
        AssertError(Append("colour: blue"), 19, 1, "colour",
            "unknown field 'colour'; known fields: name, seed, duration, window, fleet, events, maps, slots, programs, consumers, timeline, limits");
    }

    [Fact]
    public void Error_text_is_file_line_column_field_message()
    {
        var e = Refused(With(5, "    cpus: four"));
        Assert.Equal("t.yaml:5:11: fleet[0].cpus: expected an integer, found 'four'", e.ToString());
        Assert.Equal(2, ScenarioException.ExitCode);
    }

    [Fact]
    public void Wrong_type_mapping_for_a_scalar() =>
        AssertError(With(4, "    hosts: { n: 2 }"), 4, 12, "fleet[0].hosts", "expected an integer, found a mapping");

    [Fact]
    public void Wrong_type_mapping_for_a_list() =>
        AssertError(With(7, "  out: { ring_pages: 1, sample_type: { raw: 1 } }"), 7, 38, "events.out.sample_type", "expected a list of sample fields, found a mapping");

    [Fact]
    public void Wrong_type_scalar_for_a_mapping() =>
        AssertError(With(7, "  out: 5"), 7, 8, "events.out", "expected an event (a mapping), found '5'");

    [Fact]
    public void Missing_required_field_points_at_its_mapping() =>
        AssertError(With(5, "    pmu: false"), 3, 5, "fleet[0].cpus", "missing required field 'cpus'");

    [Fact]
    public void Body_naming_an_undefined_map() =>
        AssertError(With(16, "      - perf_event_output: { map: evnts, size: 8 }"), 16, 35, "programs.p.body[0].perf_event_output.map",
            "undefined map 'evnts' (did you mean 'events'?) (maps defined: events)");

    [Fact]
    public void Consumer_naming_an_undefined_event() =>
        AssertError(With(18, "  agent: { events: in }"), 18, 20, "consumers.agent.events", "undefined event 'in' (events defined: out)");

    [Fact]
    public void Slot_naming_an_undefined_event() =>
        AssertError(With(11, "  events: [out@0, outt@1]"), 11, 19, "slots.events[1]", "undefined event 'outt' (did you mean 'out'?) (events defined: out)");

    [Fact]
    public void Slots_of_an_undefined_map() =>
        AssertError(With(11, "  evnts: per_cpu"), 11, 3, "slots.evnts", "undefined map 'evnts' (did you mean 'events'?) (maps defined: events)");

    [Fact]
    public void Timeline_naming_an_undefined_host() =>
        AssertError(Append("timeline:", "  - { at: 1ms, cpu_offline: { host: db-0, cpu: 1 } }"), 20, 37, "timeline[0].cpu_offline.host",
            "undefined host 'db-0': hosts are named GROUP-INDEX (e.g. web-0), or name a whole group: web");

    [Fact]
    public void Timeline_naming_a_host_past_the_group() =>
        AssertError(Append("timeline:", "  - { at: 1ms, cpu_offline: { host: web-2, cpu: 1 } }"), 20, 37, "timeline[0].cpu_offline.host",
            "no host 'web-2': group 'web' has hosts web-0 .. web-1");

    [Fact]
    public void Timeline_naming_an_undefined_program() =>
        AssertError(Append("timeline:", "  - { at: 1ms, rate: { program: q, rate: 5/s } }"), 20, 33, "timeline[0].rate.program",
            "undefined program 'q' (did you mean 'p'?) (programs defined: p)");

    [Fact]
    public void Timeline_naming_an_undefined_consumer() =>
        AssertError(Append("timeline:", "  - { at: 1ms, consumer_stall: { consumer: agnet, for: 1ms } }"), 20, 44, "timeline[0].consumer_stall.consumer",
            "undefined consumer 'agnet' (did you mean 'agent'?) (consumers defined: agent)");

    [Fact]
    public void Timeline_cpu_that_does_not_exist() =>
        AssertError(Append("timeline:", "  - { at: 1ms, cpu_offline: { host: web-0, cpu: 4 } }"), 20, 49, "timeline[0].cpu_offline.cpu",
            "CPU 4 does not exist on group 'web' (4 CPUs)");

    [Fact]
    public void Timeline_at_the_end_is_refused() =>
        AssertError(Append("timeline:", "  - { at: 1s, cpu_online: { cpu: 1 } }"), 20, 11, "timeline[0].at",
            "1s is not before the end of the scenario (duration 1s)");

    [Fact]
    public void Timeline_entry_with_two_actions() =>
        AssertError(Append("timeline:", "  - { at: 1ms, cpu_online: { cpu: 1 }, cpu_offline: { cpu: 1 } }"), 20, 40, "timeline[0].cpu_offline",
            "one action per entry; this one already has cpu_online");

    [Fact]
    public void Ring_pages_not_a_power_of_two() =>
        AssertError(With(7, "  out: { ring_pages: 3 }"), 7, 22, "events.out.ring_pages",
            "3 is not a power of two (data pages: 1, 2, 4, 8, ...; 0 maps only the metadata page)");

    [Fact]
    public void Cpus_below_one() =>
        AssertError(With(5, "    cpus: 0"), 5, 11, "fleet[0].cpus", "0 is out of range: must be between 1 and 8192");

    [Fact]
    public void Duration_not_a_multiple_of_window() =>
        AssertError(With(1, "duration: 1s", "window: 300ms"), 19, 9, "window", "duration 1s is not a multiple of window 300ms");

    [Fact]
    public void Duration_without_unit() =>
        AssertError(With(1, "duration: 10"), 1, 11, "duration", "'10' has no unit: durations need one of ns, us, ms, s, m, h, e.g. 10ms");

    [Fact]
    public void Rate_without_per_unit() =>
        AssertError(With(14, "    fire: { process: poisson, rate: 100 }"), 14, 37, "programs.p.fire.rate",
            "'100' is not a rate: expected a number, '/' and a unit (ns, us, ms, s, m, h), e.g. 20000/s");

    [Fact]
    public void Unknown_process_suggests() =>
        AssertError(With(14, "    fire: { process: poison, rate: 100/s }"), 14, 22, "programs.p.fire.process",
            "unknown process 'poison' (did you mean 'poisson'?); expected one of constant, poisson, bursts, piecewise, trace, rates");

    [Fact]
    public void Unknown_helper_suggests() =>
        AssertError(With(16, "      - perf_event_outptu: { map: events, size: 8 }"), 16, 9, "programs.p.body[0].perf_event_outptu",
            "unknown helper 'perf_event_outptu' (did you mean 'perf_event_output'?); expected one of perf_event_output, perf_event_read, perf_event_read_value, trace_printk, trace_vprintk, snprintf, ringbuf_output, ringbuf_reserve, ringbuf_submit, ringbuf_discard");

    [Fact]
    public void Unknown_flag_name() =>
        AssertError(With(16, "      - perf_event_output: { map: events, size: 8, flags: BPF_F_CURRENT_CPUS }"), 16, 59, "programs.p.body[0].perf_event_output.flags",
            "unknown flag 'BPF_F_CURRENT_CPUS' (did you mean 'BPF_F_CURRENT_CPU'?); expected a number or BPF_F_INDEX_MASK, BPF_F_CURRENT_CPU, BPF_F_CTXLEN_MASK, combined with |");

    [Fact]
    public void Trace_printk_takes_three_arguments() =>
        AssertError(Insert(17, "      - trace_printk: { fmt: \"%d\", args: [1, 2, 3, 4] }"), 17, 52, "programs.p.body[1].trace_printk.args[3]",
            "at most 3 arguments (bpf_trace_printk has three argument registers)");

    [Fact]
    public void Consumer_of_an_event_without_a_ring() =>
        AssertError(With(7, "  out: { per: cpu }"), 18, 20, "consumers.agent.events", "event 'out' has no ring to read: give it ring_pages");

    [Fact]
    public void Wakeup_events_and_watermark_together() =>
        AssertError(With(7, "  out: { ring_pages: 1, wakeup_events: 2, watermark: 100 }"), 7, 54, "events.out.watermark", "give wakeup_events or watermark, not both");

    [Fact]
    public void Duplicate_key_is_refused_where_it_stands() =>
        AssertError(With(1, "duration: 1s", "duration: 2s"), 19, 1, "", "duplicate key 'duration'");

    [Fact]
    public void Invalid_yaml_has_a_position()
    {
        var e = Refused("duration: 1s\nfleet: [\n");
        Assert.Equal(("", 3), (e.Field, e.Line));
        Assert.StartsWith("not valid YAML: ", e.Message);
    }

    [Fact]
    public void Empty_file_is_refused() =>
        AssertError("# nothing\n", 1, 1, "", "the file is empty: a scenario needs at least duration and fleet");

    [Fact]
    public void Explicit_slot_on_a_cpu_that_does_not_exist() =>
        AssertError(With(11, "  events: [out@0, out@4]"), 11, 19, "slots.events[1]", "CPU 4 does not exist on group 'web' (4 CPUs)");

    [Fact]
    public void Task_pids_overlap() =>
        AssertError(Insert(6, "    tasks: [{ comm: a, pid: 10, count: 3 }, { comm: b, pid: 12 }]"), 6, 61, "fleet[0].tasks[1].pid",
            "pids 12..12 overlap those of task 'a' (10..12)");

    [Fact]
    public void Nothing_is_returned_on_error()
    {
        Assert.False(ScenarioParser.TryParse(With(5, "    cpus: 0"), "t.yaml", out var s, out var e));
        Assert.Null(s);
        Assert.Equal("fleet[0].cpus", e.Field);
    }
}

using BpfTraceSim.Contracts.Scenarios;

namespace BpfTraceSim.Contracts.Tests.Scenarios;

public class PathsTests
{
    private static readonly string Text = ErrorTests.BaseText;

    private static ScenarioError Refused(string path, string value)
    {
        var e = Assert.Throws<ScenarioException>(() => ScenarioPaths.Set(Text, path, value, "t.yaml"));
        Assert.Equal("t.yaml", e.Error.File);
        return e.Error;
    }

    [Fact]
    public void Sets_a_scalar_and_the_result_parses()
    {
        string yaml = ScenarioPaths.Set(Text, "events.out.ring_pages", "16");
        Assert.Equal(16, ScenarioParser.Parse(yaml).Events[0].RingPages);
    }

    [Fact]
    public void Sets_through_list_indexes_and_units()
    {
        var s = ScenarioPaths.Apply(Text, [new("fleet[0].cpus", "8"), new("programs.p.fire.rate", "50/ms"), new("programs.p.body[0].perf_event_output.size", "{ uniform: [8, 64] }")]);
        Assert.Equal(8, s.Fleet[0].Cpus);
        Assert.Equal(50_000.0, Assert.IsType<PoissonFire>(s.Programs[0].Fire).RatePerSec);
        Assert.Equal((8, 64), (((PerfEventOutputCall)s.Programs[0].Body[0]).Size.Min, ((PerfEventOutputCall)s.Programs[0].Body[0]).Size.Max));
    }

    [Fact]
    public void Replaces_a_whole_mapping()
    {
        var s = ScenarioParser.Parse(ScenarioPaths.Set(Text, "programs.p.fire", "{ process: bursts, size: 5, every: 10ms }"));
        var b = Assert.IsType<BurstsFire>(s.Programs[0].Fire);
        Assert.Equal((5, 10_000_000L), (b.Size, b.EveryNs));
    }

    [Fact]
    public void Adds_a_known_field_the_file_left_out()
    {
        var s = ScenarioParser.Parse(ScenarioPaths.Set(Text, "events.out.watermark", "2048"));
        Assert.Equal(2048, s.Events[0].Watermark);
    }

    [Fact]
    public void Exists_reports_present_fields_only()
    {
        Assert.True(ScenarioPaths.Exists(Text, "fleet[0].hosts"));
        Assert.False(ScenarioPaths.Exists(Text, "fleet[1].hosts"));
        Assert.False(ScenarioPaths.Exists(Text, "events.out.watermark"));
    }

    [Fact]
    public void Refuses_a_missing_intermediate_field()
    {
        var e = Refused("events.nope.ring_pages", "4");
        Assert.Equal((7, 3, "events.nope.ring_pages", "'events' has no field 'nope' (fields there: out)"), (e.Line, e.Column, e.Field, e.Message));
    }

    [Fact]
    public void Refuses_an_index_past_the_list()
    {
        var e = Refused("fleet[3].cpus", "4");
        Assert.Equal((3, 3, "fleet[3].cpus", "'fleet' has 1 entry: [3] does not exist"), (e.Line, e.Column, e.Field, e.Message));
    }

    [Fact]
    public void Refuses_a_field_of_a_scalar()
    {
        var e = Refused("duration.x", "4");
        Assert.Equal(("duration.x", "'duration' is the value '1s', not a mapping: it has no field 'x'"), (e.Field, e.Message));
    }

    [Fact]
    public void Refuses_a_value_of_the_wrong_type_at_the_field_set()
    {
        var e = Refused("events.out.ring_pages", "abc");
        Assert.Equal((7, 22, "events.out.ring_pages", "after setting events.out.ring_pages = abc: expected an integer, found 'abc'"), (e.Line, e.Column, e.Field, e.Message));
    }

    [Fact]
    public void Refuses_an_out_of_range_value()
    {
        var e = Refused("events.out.ring_pages", "12");
        Assert.Equal(("events.out.ring_pages", "after setting events.out.ring_pages = 12: 12 is not a power of two (data pages: 1, 2, 4, 8, ...; 0 maps only the metadata page)"), (e.Field, e.Message));
    }

    [Fact]
    public void Refuses_an_unknown_last_field()
    {
        var e = Refused("events.out.ring_pagez", "4");
        Assert.Equal("events.out.ring_pagez", e.Field);
        Assert.StartsWith("after setting events.out.ring_pagez = 4: unknown field 'ring_pagez' (did you mean 'ring_pages'?)", e.Message);
    }

    [Fact]
    public void A_value_that_breaks_another_field_names_that_field()
    {
        var e = Refused("duration", "150ms");
        Assert.Equal(("duration", "after setting duration = 150ms: duration 150ms is not a multiple of window 100ms"), (e.Field, e.Message));
    }

    [Theory]
    [InlineData("fleet[x].cpus")]
    [InlineData("events..out")]
    [InlineData("events.out.")]
    [InlineData("")]
    public void Refuses_malformed_paths(string path)
    {
        var e = Refused(path, "1");
        Assert.Equal(path, e.Field);
        Assert.Contains("is not a field path", e.Message);
    }
}

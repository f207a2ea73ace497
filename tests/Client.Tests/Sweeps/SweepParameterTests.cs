using BpfTraceSim.Client.Sweeps;

namespace BpfTraceSim.Client.Tests.Sweeps;

/// <summary>--vary parsing: lists, ranges, refusals; --target parsing.</summary>
public sealed class SweepParameterTests
{
    [Theory]
    [InlineData("events.out.ring_pages=8..256*2", "8|16|32|64|128|256")]
    [InlineData("events.out.ring_pages=1..10+1", "1|2|3|4|5|6|7|8|9|10")]
    [InlineData("events.out.ring_pages=1..9+3", "1|4|7")]
    [InlineData("x=3..100*3", "3|9|27|81")]
    [InlineData("x=0.1..0.5+0.1", "0.1|0.2|0.3|0.4|0.5")]
    [InlineData("consumers.agent.service.exponential=10us..50us+10us", "10us|20us|30us|40us|50us")]
    [InlineData("programs.p.fire.rate=1000/s..8000/s*2", "1000/s|2000/s|4000/s|8000/s")]
    [InlineData("x=1,4..16*2,64", "1|4|8|16|64")]
    [InlineData("x= 5 , 7 ", "5|7")]
    [InlineData("programs.p.body[0].perf_event_output.size={ uniform: [8, 64] },{ uniform: [8, 128] },16", "{ uniform: [8, 64] }|{ uniform: [8, 128] }|16")]
    [InlineData("x=2..2*2", "2")]
    public void Values_and_ranges_expand_in_order(string option, string expected)
    {
        var p = SweepParameter.Parse(option);
        Assert.Equal(option[..option.IndexOf('=')], p.Path);
        Assert.Equal(expected.Split('|'), p.Values);
    }

    [Theory]
    [InlineData("events.out.ring_pages", "write PATH=VALUES")]
    [InlineData("=1,2", "write PATH=VALUES")]
    [InlineData("x=", "an empty value in ''")]
    [InlineData("x=1,,2", "an empty value")]
    [InlineData("x=256..8*2", "the end is below the start")]
    [InlineData("x=1..8*1", "a factor must be above 1")]
    [InlineData("x=0..8*2", "a factor must be above 1 and the start above 0")]
    [InlineData("x=1..8+0", "the step must be above 0")]
    [InlineData("x=1..8", "no *F or +S step")]
    [InlineData("x=1us..8ms+1us", "the ends have different units 'us' and 'ms'")]
    [InlineData("x=1us..8us+1", "the step's unit '' is not the ends' 'us'")]
    [InlineData("x=a..8+1", "'a' is not a number")]
    [InlineData("x=1,2,1", "the value '1' is listed twice")]
    [InlineData("seed=1,2", "use --seeds N")]
    [InlineData("x=1..100000+1", "more than 10,000 values")]
    public void Bad_vary_options_are_refused_naming_the_option(string option, string message)
    {
        var e = Assert.Throws<SweepUsageException>(() => SweepParameter.Parse(option));
        Assert.Contains(message, e.Message);
        Assert.StartsWith("--vary", e.Message);
    }

    [Fact]
    public void Numeric_values_order_by_number_and_others_keep_their_order()
    {
        Assert.Equal([1, 2, 0], SweepParameter.Parse("x=64,8,16").Ascending());
        // Durations compare in nanoseconds, not as text.
        Assert.Equal([1, 0, 2], SweepParameter.Parse("x=2us,900ns,1ms").Ascending());
        Assert.Equal([0, 1], SweepParameter.Parse("x={ fixed: 9us },{ fixed: 1us }").Ascending());
        Assert.Null(SweepParameter.Parse("x={ fixed: 9us },3").Keys);
    }

    [Theory]
    [InlineData("lost_ratio<=0.001", "lost_ratio", "<=", 0.001)]
    [InlineData(" consumer_lag_p99_ns < 2_000_000 ", "consumer_lag_p99_ns", "<", 2e6)]
    [InlineData("lost==0", "lost", "==", 0)]
    [InlineData("records_consumed>=1e5", "records_consumed", ">=", 1e5)]
    [InlineData("enospc>3", "enospc", ">", 3)]
    public void Targets_parse(string text, string metric, string op, double bound)
    {
        var t = SweepTarget.Parse(text);
        Assert.Equal((metric, op, bound), (t.Metric, t.Op, t.Bound));
    }

    [Fact]
    public void Targets_hold_and_pick_the_worst_seed_by_direction()
    {
        var le = SweepTarget.Parse("lost_ratio<=0.001");
        Assert.True(le.Holds(0.001));
        Assert.False(le.Holds(0.0010001));
        Assert.Equal(0.5, le.Worst([0.1, 0.5, 0.2]));
        var ge = SweepTarget.Parse("records_consumed>=10");
        Assert.Equal(0.1, ge.Worst([0.1, 0.5, 0.2]));
        Assert.False(SweepTarget.Parse("lost<0").Holds(0));
    }

    [Theory]
    [InlineData("loss<=0.1", "unknown total 'loss'; targets name one of: lost_ratio, lost, enospc,")]
    [InlineData("lost_ratio<=lots", "'lots' is not a number")]
    [InlineData("lost_ratio", "write TOTAL OP NUMBER")]
    public void Bad_targets_are_refused(string text, string message)
    {
        var e = Assert.Throws<SweepUsageException>(() => SweepTarget.Parse(text));
        Assert.Contains(message, e.Message);
    }
}

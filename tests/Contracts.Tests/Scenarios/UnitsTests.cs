using BpfTraceSim.Contracts.Scenarios;
using CsCheck;

namespace BpfTraceSim.Contracts.Tests.Scenarios;

public class UnitsTests
{
    // Independent table: nanoseconds per unit.
    private static readonly (string Unit, long Ns)[] Units =
        [("ns", 1), ("us", 1000), ("ms", 1000_000), ("s", 1000_000_000), ("m", 60_000_000_000), ("h", 3_600_000_000_000)];

    [Fact]
    public void Whole_durations_round_trip() =>
        Gen.Select(Gen.Long[0, 2_000_000], Gen.Int[0, Units.Length - 1]).Sample(t =>
        {
            var (value, u) = t;
            long expected = value * Units[u].Ns;
            Assert.Equal(expected, ScenarioUnits.ParseDuration($"{value}{Units[u].Unit}"));
            string formatted = ScenarioUnits.FormatDuration(expected);
            Assert.Equal(expected, ScenarioUnits.ParseDuration(formatted));
        });

    [Fact]
    public void Fractional_milliseconds_are_exact() =>
        Gen.Select(Gen.Long[0, 100_000], Gen.Int[0, 999]).Sample(t =>
        {
            var (whole, thousandths) = t;
            Assert.Equal(whole * 1_000_000 + thousandths * 1000, ScenarioUnits.ParseDuration($"{whole}.{thousandths:000}ms"));
        });

    [Fact]
    public void Rates_per_unit() =>
        Gen.Select(Gen.Long[0, 1_000_000_000], Gen.Int[0, Units.Length - 1]).Sample(t =>
        {
            var (value, u) = t;
            double expected = value * (1e9 / Units[u].Ns);
            double got = ScenarioUnits.ParseRate($"{value}/{Units[u].Unit}");
            Assert.True(Math.Abs(got - expected) <= 1e-9 * Math.Max(1, expected), $"{value}/{Units[u].Unit}: {got} != {expected}");
            Assert.Equal(got, ScenarioUnits.ParseRate(ScenarioUnits.FormatRate(got)));
        });

    [Theory]
    [InlineData("250us", 250_000L)]
    [InlineData("1.5s", 1_500_000_000L)]
    [InlineData("2m", 120_000_000_000L)]
    [InlineData("0", 0L)]
    [InlineData("1_000ns", 1000L)]
    [InlineData("1 ms", 1_000_000L)]
    public void Duration_examples(string text, long ns) => Assert.Equal(ns, ScenarioUnits.ParseDuration(text));

    [Theory]
    [InlineData("10", "'10' has no unit: durations need one of ns, us, ms, s, m, h, e.g. 10ms")]
    [InlineData("-1s", "'-1s' is not a duration: expected a number and a unit (ns, us, ms, s, m, h), e.g. 250us")]
    [InlineData("5 days", "'5 days': unknown unit 'days'; durations take ns, us, ms, s, m, h")]
    [InlineData("1.5ns", "'1.5ns' is not a whole number of nanoseconds")]
    [InlineData("9999999999h", "'9999999999h' is too large: durations are at most 9223372036854775807ns")]
    public void Duration_refusals(string text, string message)
    {
        Assert.False(ScenarioUnits.TryParseDuration(text, out _, out string error));
        Assert.Equal(message, error);
    }

    [Theory]
    [InlineData(1_500_000L, "1500us")]
    [InlineData(60_000_000_000L, "1m")]
    [InlineData(1L, "1ns")]
    [InlineData(0L, "0s")]
    public void Format_picks_the_largest_exact_unit(long ns, string text) => Assert.Equal(text, ScenarioUnits.FormatDuration(ns));
}

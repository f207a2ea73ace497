using System.Globalization;

namespace BpfTraceSim.Contracts.Scenarios;

/// <summary>
/// The unit grammar of scenario files. Durations: a non-negative decimal number and one of
/// <c>ns us ms s m h</c> (<c>250us</c>, <c>1.5s</c>), exact to the nanosecond. Rates: a number,
/// <c>/</c> and one of the same units (<c>20000/s</c>), kept as events per second.
/// </summary>
public static class ScenarioUnits
{
    private static readonly (string Unit, long Ns)[] DurationUnits =
    [
        ("ns", 1L), ("us", 1_000L), ("ms", 1_000_000L), ("s", 1_000_000_000L), ("m", 60_000_000_000L), ("h", 3_600_000_000_000L),
    ];

    /// <summary>The unit names accepted after a number, for messages and docs.</summary>
    public const string DurationUnitList = "ns, us, ms, s, m, h";

    /// <summary>Parses <c>250us</c> into nanoseconds. A bare <c>0</c> is accepted; any other bare number is not (which unit?).</summary>
    public static bool TryParseDuration(string text, out long ns, out string error)
    {
        ns = 0;
        string t = text.Trim();
        if (t == "0")
        {
            error = "";
            return true;
        }
        int i = 0;
        while (i < t.Length && (char.IsAsciiDigit(t[i]) || t[i] == '.' || t[i] == '_'))
            i++;
        string number = t[..i].Replace("_", "", StringComparison.Ordinal);
        string unit = t[i..].Trim();
        if (number.Length == 0 || !decimal.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out decimal value))
        {
            error = $"'{text}' is not a duration: expected a number and a unit ({DurationUnitList}), e.g. 250us";
            return false;
        }
        if (unit.Length == 0)
        {
            error = $"'{text}' has no unit: durations need one of {DurationUnitList}, e.g. {number}ms";
            return false;
        }
        long factor = UnitFactor(unit);
        if (factor == 0)
        {
            error = $"'{text}': unknown unit '{unit}'; durations take {DurationUnitList}";
            return false;
        }
        decimal total;
        try
        {
            total = value * factor;
        }
        catch (OverflowException)
        {
            error = $"'{text}' is too large: durations are at most {long.MaxValue}ns";
            return false;
        }
        if (total > long.MaxValue)
        {
            error = $"'{text}' is too large: durations are at most {long.MaxValue}ns";
            return false;
        }
        if (total != decimal.Truncate(total))
        {
            error = $"'{text}' is not a whole number of nanoseconds";
            return false;
        }
        ns = (long)total;
        error = "";
        return true;
    }

    /// <summary>Parses <c>20000/s</c> (or <c>2E+4/s</c>) into events per second.</summary>
    public static bool TryParseRate(string text, out double perSecond, out string error)
    {
        perSecond = 0;
        string t = text.Trim();
        int slash = t.IndexOf('/');
        if (slash < 0)
        {
            error = $"'{text}' is not a rate: expected a number, '/' and a unit ({DurationUnitList}), e.g. 20000/s";
            return false;
        }
        string number = t[..slash].Trim().Replace("_", "", StringComparison.Ordinal);
        string unit = t[(slash + 1)..].Trim();
        if (number.Length == 0 || !char.IsAsciiDigit(number[0]) || !double.TryParse(number, NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent, CultureInfo.InvariantCulture, out double value) || !double.IsFinite(value))
        {
            error = $"'{text}' is not a rate: '{number}' is not a non-negative number";
            return false;
        }
        long factor = UnitFactor(unit);
        if (factor == 0)
        {
            error = $"'{text}': unknown unit '{unit}'; rates take /{DurationUnitList.Replace(", ", ", /", StringComparison.Ordinal)}";
            return false;
        }
        // One correctly rounded operation, so that FormatRate's text reads back as the same double.
        perSecond = factor <= 1_000_000_000L ? value * (1_000_000_000L / factor) : value / (factor / 1_000_000_000L);
        error = "";
        return true;
    }

    /// <summary>Parses a duration or throws <see cref="FormatException"/>.</summary>
    /// <summary>
    /// A size: whole bytes, or with a KiB / MiB / GiB suffix (1024-based), "_" allowed between digits
    /// (ringbuf max_entries, the sweep's memory). False when it is not one or does not fit a long.
    /// </summary>
    public static bool TryParseBytes(string text, out long bytes)
    {
        string t = text.Replace("_", "", StringComparison.Ordinal).Trim();
        long unit = 1;
        foreach (var (suffix, mult) in ByteSuffixes)
        {
            if (!t.EndsWith(suffix, StringComparison.Ordinal)) continue;
            unit = mult;
            t = t[..^suffix.Length].Trim();
            break;
        }
        bytes = 0;
        if (!long.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out long n) || n > long.MaxValue / unit) return false;
        bytes = n * unit;
        return true;
    }

    private static readonly (string Suffix, long Mult)[] ByteSuffixes = [("KiB", 1L << 10), ("MiB", 1L << 20), ("GiB", 1L << 30)];

    public static long ParseDuration(string text) =>
        TryParseDuration(text, out long ns, out string error) ? ns : throw new FormatException(error);

    /// <summary>Parses a rate or throws <see cref="FormatException"/>.</summary>
    public static double ParseRate(string text) =>
        TryParseRate(text, out double r, out string error) ? r : throw new FormatException(error);

    /// <summary>The shortest exact text for a duration: the largest unit that divides it (<c>1500000ns</c> -> <c>1500us</c>).</summary>
    public static string FormatDuration(long ns)
    {
        if (ns == 0)
            return "0s";
        for (int i = DurationUnits.Length - 1; i >= 0; i--)
        {
            if (ns % DurationUnits[i].Ns == 0)
                return (ns / DurationUnits[i].Ns).ToString(CultureInfo.InvariantCulture) + DurationUnits[i].Unit;
        }
        return ns.ToString(CultureInfo.InvariantCulture) + "ns";
    }

    /// <summary>A rate as <c>N/s</c>, round-trippable.</summary>
    public static string FormatRate(double perSecond) => perSecond.ToString("R", CultureInfo.InvariantCulture) + "/s";

    private static long UnitFactor(string unit)
    {
        foreach (var (u, f) in DurationUnits)
        {
            if (u == unit)
                return f;
        }
        return unit == "µs" ? 1_000L : 0;
    }
}

using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using BpfTraceSim.Contracts.Scenarios;

namespace BpfTraceSim.Client.Sweeps;

/// <summary>A --vary option that cannot be used; the sweep exits 2 before anything runs.</summary>
public sealed class SweepUsageException(string message) : Exception(message)
{
    public const int ExitCode = 2;
}

/// <summary>
/// One swept field: its YAML path (ScenarioPaths syntax) and the values it takes, as YAML text in
/// the order given. <see cref="Keys"/> are the values as numbers (durations in ns, rates per second)
/// when every value is one, for ordering and plotting; else null (the order given is the order).
/// </summary>
public sealed record SweepParameter(string Path, ImmutableArray<string> Values)
{
    /// <summary>Most values one --vary may expand to.</summary>
    public const int MaxValues = 10_000;

    public ImmutableArray<double>? Keys { get; } = NumericKeys(Values);

    /// <summary>
    /// Parses <c>PATH=V1,V2,...</c>. Each comma-separated item is a YAML value (commas inside
    /// <c>{}</c>, <c>[]</c> or quotes do not split) or a range: <c>A..B*F</c> (A, A·F, A·F², ... up
    /// to B) or <c>A..B+S</c> (A, A+S, ... up to B); A, B and S may carry the same unit
    /// (<c>10us..50us+10us</c>, <c>1000/s..16000/s*2</c>).
    /// </summary>
    public static SweepParameter Parse(string option)
    {
        int eq = option.IndexOf('=');
        if (eq <= 0)
            throw new SweepUsageException($"--vary '{option}': write PATH=VALUES, e.g. --vary events.out.ring_pages=1,2,4 or --vary events.out.ring_pages=1..64*2");
        string path = option[..eq].Trim();
        string list = option[(eq + 1)..];
        if (path == "seed")
            throw new SweepUsageException("--vary seed: the seeds are not a parameter; use --seeds N (seed i is the file's seed + i at every point)");
        var values = ImmutableArray.CreateBuilder<string>();
        foreach (string raw in SplitTopLevel(list))
        {
            string item = raw.Trim();
            if (item.Length == 0)
                throw new SweepUsageException($"--vary {path}: an empty value in '{list}'");
            if (TryRange(path, item, out var expanded)) values.AddRange(expanded);
            else values.Add(item);
            if (values.Count > MaxValues)
                throw new SweepUsageException($"--vary {path}: more than {MaxValues.ToString("N0", CultureInfo.InvariantCulture)} values");
        }
        if (values.Count == 0)
            throw new SweepUsageException($"--vary {path}: no values (write {path}=V1,V2,...)");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var v in values)
            if (!seen.Add(v)) throw new SweepUsageException($"--vary {path}: the value '{v}' is listed twice");
        return new SweepParameter(path, values.ToImmutable());
    }

    /// <summary>Splits at commas outside brackets, braces and quotes.</summary>
    internal static List<string> SplitTopLevel(string s)
    {
        var parts = new List<string>();
        int depth = 0, start = 0;
        char quote = '\0';
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            if (quote != '\0')
            {
                if (c == quote) quote = '\0';
                continue;
            }
            switch (c)
            {
                case '"' or '\'': quote = c; break;
                case '{' or '[': depth++; break;
                case '}' or ']': depth--; break;
                case ',' when depth == 0:
                    parts.Add(s[start..i]);
                    start = i + 1;
                    break;
            }
        }
        parts.Add(s[start..]);
        return parts;
    }

    /// <summary>A range item: A..B*F or A..B+S. False when the item has no "..".</summary>
    internal static bool TryRange(string path, string item, out List<string> values)
    {
        values = [];
        int dots = item.IndexOf("..", StringComparison.Ordinal);
        if (dots < 0 || item.StartsWith('{') || item.StartsWith('[') || item.StartsWith('"') || item.StartsWith('\'')) return false;
        string Bad(string why) =>
            $"--vary {path}: '{item}' is not a range ({why}): write A..B*F for A, A*F, A*F^2, ... up to B (e.g. 8..256*2) " +
            "or A..B+S for A, A+S, ... up to B (e.g. 1..10+1); A, B and S may share a unit (10us..50us+10us)";
        string a = item[..dots];
        string rest = item[(dots + 2)..];
        int op = rest.LastIndexOfAny(['*', '+']);
        if (op <= 0) throw new SweepUsageException(Bad("no *F or +S step"));
        bool geometric = rest[op] == '*';
        string b = rest[..op];
        string step = rest[(op + 1)..];
        if (!TryNumber(a, out double va, out string ua)) throw new SweepUsageException(Bad($"'{a}' is not a number"));
        if (!TryNumber(b, out double vb, out string ub)) throw new SweepUsageException(Bad($"'{b}' is not a number"));
        if (!TryNumber(step, out double vs, out string us)) throw new SweepUsageException(Bad($"'{step}' is not a number"));
        if (ua != ub) throw new SweepUsageException(Bad($"the ends have different units '{ua}' and '{ub}'"));
        if (geometric && us.Length > 0) throw new SweepUsageException(Bad("a factor has no unit"));
        if (!geometric && us != ua) throw new SweepUsageException(Bad($"the step's unit '{us}' is not the ends' '{ua}'"));
        if (vb < va) throw new SweepUsageException(Bad("the end is below the start"));
        if (geometric && (vs <= 1 || va <= 0)) throw new SweepUsageException(Bad("a factor must be above 1 and the start above 0"));
        if (!geometric && vs <= 0) throw new SweepUsageException(Bad("the step must be above 0"));
        // Each value computed from the start (no accumulated rounding), rounded to 12 significant digits.
        for (int i = 0; ; i++)
        {
            double v = geometric ? va * Math.Pow(vs, i) : va + i * vs;
            v = Round12(v);
            if (v > vb * (1 + 1e-12)) break;
            if (values.Count >= MaxValues) throw new SweepUsageException($"--vary {path}: '{item}' gives more than {MaxValues.ToString("N0", CultureInfo.InvariantCulture)} values");
            values.Add(v.ToString("R", CultureInfo.InvariantCulture) + ua);
        }
        return true;
    }

    private static double Round12(double v) =>
        v == 0 ? 0 : double.Parse(v.ToString("G12", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);

    /// <summary>A decimal number followed by an optional unit (letters, µ, or /letters).</summary>
    private static bool TryNumber(string s, out double value, out string unit)
    {
        s = s.Trim();
        int i = 0;
        while (i < s.Length && (char.IsAsciiDigit(s[i]) || s[i] is '.' or '_' || (i == 0 && s[i] == '-'))) i++;
        unit = s[i..];
        value = 0;
        string num = s[..i].Replace("_", "", StringComparison.Ordinal);
        if (num.Length == 0 || !double.TryParse(num, NumberStyles.AllowDecimalPoint | NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value))
            return false;
        foreach (char c in unit)
            if (!(char.IsAsciiLetter(c) || c is 'µ' or '/')) return false;
        return true;
    }

    /// <summary>Every value as a number (plain, duration in ns, or rate per second), or null if one is not.</summary>
    private static ImmutableArray<double>? NumericKeys(ImmutableArray<string> values)
    {
        var keys = ImmutableArray.CreateBuilder<double>(values.Length);
        foreach (var v in values)
        {
            if (!TryKey(v, out double k)) return null;
            keys.Add(k);
        }
        return keys.MoveToImmutable();
    }

    internal static bool TryKey(string v, out double key)
    {
        string t = v.Trim().Replace("_", "", StringComparison.Ordinal);
        if (double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out key)) return true;
        if (t.StartsWith("0x", StringComparison.OrdinalIgnoreCase) &&
            long.TryParse(t.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out long hex))
        {
            key = hex;
            return true;
        }
        if (ScenarioUnits.TryParseDuration(t, out long ns, out _))
        {
            key = ns;
            return true;
        }
        if (ScenarioUnits.TryParseRate(t, out double rate, out _))
        {
            key = rate;
            return true;
        }
        if (SweepTransport.TryBytes(t, out long bytes)) // memory=64KiB
        {
            key = bytes;
            return true;
        }
        key = 0;
        return false;
    }

    /// <summary>Value indexes from the lowest number to the highest (the order given when not numeric).</summary>
    public int[] Ascending()
    {
        int[] order = [.. Enumerable.Range(0, Values.Length)];
        if (Keys is { } keys) Array.Sort(order, (x, y) => keys[x] != keys[y] ? keys[x].CompareTo(keys[y]) : x.CompareTo(y));
        return order;
    }

    public override string ToString()
    {
        var sb = new StringBuilder(Path).Append('=');
        sb.AppendJoin(",", Values);
        return sb.ToString();
    }
}

using System.Buffers.Text;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using BpfTraceSim.Kernel;

namespace BpfTraceSim.Contracts.Scenarios;

/// <summary>
/// A replayed event file in the engine's form: per CPU, the firing times (ns, scaled, in order)
/// and, when the file has those columns, each firing's record size and pid. Arrays of primitives,
/// never an object per row, so 10 M rows cost 8-16 bytes each.
/// </summary>
public sealed class TraceData
{
    /// <summary>Per CPU (index = CPU, up to the highest CPU in the file): firing times, the first Counts[cpu] of each array (arrays are not trimmed: a copy of 10 M rows costs more than the slack).</summary>
    public required long[][] Times { get; init; }
    /// <summary>Per CPU: its rows.</summary>
    public required int[] Counts { get; init; }
    /// <summary>Per CPU: each firing's size, indexed as Times (null when the file has no size column).</summary>
    public int[]?[]? Sizes { get; init; }
    /// <summary>Per CPU: each firing's pid (null when the file has no task column).</summary>
    public int[]?[]? Pids { get; init; }
    public long Rows { get; init; }
    /// <summary>The latest firing time.</summary>
    public long LastNs { get; init; }
    /// <summary>CPUs that have at least one row.</summary>
    public int CpusUsed { get; init; }

    public ReadOnlySpan<long> TimesOf(int cpu) => cpu < Times.Length ? Times[cpu].AsSpan(0, Counts[cpu]) : [];
}

/// <summary>A rates file in the engine's form: the steps of each CPU (or one list for every CPU).</summary>
public sealed class RatesData
{
    /// <summary>Steps for every CPU when the file has no cpu column, else null.</summary>
    public RateStep[]? All { get; init; }
    /// <summary>Per CPU (cpu column): its steps; null or empty: rate 0.</summary>
    public RateStep[]?[] PerCpu { get; init; } = [];
    public long LastNs { get; init; }
    /// <summary>The last row's time plus the interval before it: a regular file loops seamlessly with it; 0 with a single row.</summary>
    public long NaturalPeriodNs { get; init; }

    public ReadOnlySpan<RateStep> StepsOf(int cpu) =>
        All ?? (cpu < PerCpu.Length && PerCpu[cpu] is { } s ? s : []);
}

/// <summary>What the scenario allows in a file's rows (checked row by row, so errors name the line).</summary>
public sealed class TraceRules
{
    /// <summary>CPUs the program is attached to on every targeted group.</summary>
    public required bool[] CpuOk { get; init; }
    /// <summary>Why a CPU that is not allowed is refused (e.g. "CPU 9 does not exist on group web (4 CPUs)").</summary>
    public required Func<int, string> CpuError { get; init; }
    /// <summary>Null: a size column is allowed; otherwise why not (an object program chooses its own sizes).</summary>
    public string? SizeRefused { get; init; }
}

/// <summary>
/// Reads replay files (docs/scenarios.md, "Workloads from data"): CSV or JSON Lines of (time, cpu,
/// size, task) rows, `perf script` text of a tracepoint, and CSV rates per interval. Streaming:
/// the file is read in 1 MiB blocks and each line parsed from its bytes, straight into per-CPU
/// arrays. Errors name FILE:LINE:COLUMN, the scenario field and the column. The parsed form of a
/// spec is kept with it (a weak table), so the engine in the same process does not read the file
/// again; a silo in another process reads it from the same path.
/// </summary>
public static class TraceFiles
{
    private const long MaxRows = SimLimits.MaxTraceRows;
    private const int MaxLineBytes = SimLimits.MaxTraceLineBytes;

    private static readonly ConditionalWeakTable<FireSpec, object> Parsed = new();

    /// <summary>The parsed file of spec: from the parse in this process, or read again (no checks: the parser made them).</summary>
    public static TraceData Data(TraceFire spec)
    {
        if (Parsed.TryGetValue(spec, out var d)) return (TraceData)d;
        var data = ReadTrace(spec.File, spec.File, "fire", spec.Format, spec.Scale, spec.Event, null, out _);
        Parsed.AddOrUpdate(spec, data);
        return data;
    }

    public static RatesData Data(RatesFire spec)
    {
        if (Parsed.TryGetValue(spec, out var d)) return (RatesData)d;
        var data = ReadRates(spec.File, spec.File, "fire", spec.Scale, null, out _);
        Parsed.AddOrUpdate(spec, data);
        return data;
    }

    /// <summary>Keeps the parser's result with the final spec.</summary>
    public static void Attach(FireSpec spec, object data) => Parsed.AddOrUpdate(spec, data);

    // ------------------------------------------------------------------ events

    /// <summary>Reads an event file; display is the name errors use, field the scenario field.</summary>
    public static TraceData ReadTrace(string path, string display, string field, TraceFormat format, double scale, string? eventFilter,
        TraceRules? rules, out string sha256)
    {
        using var lines = LineSource.Open(path, display, field);
        var b = new TraceBuilder(lines, rules, scale);
        switch (format)
        {
            case TraceFormat.Csv: ReadCsv(lines, b); break;
            case TraceFormat.Jsonl: ReadJsonl(lines, b); break;
            default: ReadPerfScript(lines, b, eventFilter); break;
        }
        var data = b.Build(relativeToFirst: format == TraceFormat.PerfScript);
        sha256 = lines.Sha256();
        return data;
    }

    private static readonly string[] CsvColumns = ["time", "timestamp", "cpu", "size", "task", "pid"];

    private static void ReadCsv(LineSource lines, TraceBuilder b)
    {
        if (!lines.NextData(out var header))
            throw lines.Fail(1, "the file is empty: a CSV trace needs a header row (time,cpu[,size][,task]) and rows");
        int[] cols = CsvHeader(lines, header, out int ti, out int ci, out int si, out int pi);
        b.HasSize = si >= 0;
        b.HasTask = pi >= 0;
        int n = cols.Length;
        Span<int> start = stackalloc int[n];
        Span<int> len = stackalloc int[n];
        Span<int> role = stackalloc int[n];
        role.Fill(-1);
        role[ti] = 0;
        role[ci] = 1;
        if (si >= 0) role[si] = 2;
        if (pi >= 0) role[pi] = 3;
        Span<long> v = stackalloc long[4];
        while (lines.NextData(out var line))
        {
            if (FastRow(line, role, v) && b.CpuAllowed((int)v[1]))
            {
                b.Add(v[0], (int)v[1], (int)v[2], (int)v[3], 0);
                continue;
            }
            SplitCsv(lines, line, n, start, len);
            long t = ParseTime(lines, line.Slice(start[ti], len[ti]), start[ti], "time");
            int cpu = (int)ParseInt(lines, line.Slice(start[ci], len[ci]), start[ci], "cpu", SimLimits.MaxCpus - 1);
            int size = si >= 0 ? (int)ParseInt(lines, line.Slice(start[si], len[si]), start[si], "size", SimLimits.MaxDataBytes) : 0;
            int pid = pi >= 0 ? (int)ParseInt(lines, line.Slice(start[pi], len[pi]), start[pi], "task", SimLimits.PidMax) : 0;
            b.Add(t, cpu, size, pid, start[ci]);
        }
    }

    /// <summary>
    /// The common row, parsed in one pass: every field plain digits, no spaces or units, in range.
    /// False sends the line to the general path (which gives the exact error, if there is one).
    /// </summary>
    private static bool FastRow(ReadOnlySpan<byte> line, ReadOnlySpan<int> role, Span<long> v)
    {
        int pos = 0, n = role.Length;
        v[2] = 0;
        v[3] = 0;
        for (int i = 0; i < n; i++)
        {
            long x = 0;
            int s = pos;
            while (pos < line.Length)
            {
                uint d = (uint)(line[pos] - '0');
                if (d > 9) break;
                x = x * 10 + d;
                pos++;
            }
            int digits = pos - s;
            if (digits == 0 || digits > 18) return false;
            if (i < n - 1)
            {
                if (pos >= line.Length || line[pos] != (byte)',') return false;
                pos++;
            }
            else if (pos != line.Length) return false;
            if (role[i] >= 0) v[role[i]] = x;
        }
        return v[1] < SimLimits.MaxCpus && v[2] <= SimLimits.MaxDataBytes && v[3] <= SimLimits.PidMax;
    }

    private static int[] CsvHeader(LineSource lines, ReadOnlySpan<byte> header, out int ti, out int ci, out int si, out int pi)
    {
        Span<int> idx = [-1, -1, -1, -1];
        var names = Header(lines, header, idx, static name => name switch { "time" or "timestamp" => 0, "cpu" => 1, "size" => 2, "task" or "pid" => 3, _ => -1 },
            CsvColumns, "columns: time (or timestamp), cpu, size, task (or pid)");
        (ti, ci, si, pi) = (idx[0], idx[1], idx[2], idx[3]);
        if (ti < 0) throw lines.Fail(1, "the header has no 'time' column (time,cpu[,size][,task]): is the first row a header?");
        if (ci < 0) throw lines.Fail(1, "the header has no 'cpu' column (time,cpu[,size][,task])");
        return new int[names];
    }

    /// <summary>Reads a header row into idx (column index per known column); returns the number of columns.</summary>
    private static int Header(LineSource lines, ReadOnlySpan<byte> header, Span<int> idx, Func<string, int> which, string[] known, string list)
    {
        var names = Encoding.UTF8.GetString(header).Split(',');
        int col = 0;
        for (int i = 0; i < names.Length; i++)
        {
            string name = names[i].Trim().ToLowerInvariant();
            int at = col + 1;
            col += names[i].Length + 1;
            int k = which(name);
            if (k < 0 && name.Length > 0 && char.IsAsciiDigit(name[0]))
                throw lines.Fail(1, $"the first row must be a header naming the columns ({string.Join(",", known)}), found '{Text(header)}'");
            if (k < 0)
                throw lines.Fail(at, $"unknown column '{name}' in the header" + ScenarioParser.Suggest(name, known) + "; " + list);
            if (idx[k] >= 0)
                throw lines.Fail(at, $"column '{name}' is given twice in the header");
            idx[k] = i;
        }
        return names.Length;
    }

    private static void SplitCsv(LineSource lines, ReadOnlySpan<byte> line, int n, Span<int> start, Span<int> len)
    {
        int pos = 0;
        for (int i = 0; i < n; i++)
        {
            int rest = line.Length - pos;
            int comma = rest <= 0 ? -1 : line[pos..].IndexOf((byte)',');
            int end = comma < 0 ? line.Length : pos + comma;
            if (i < n - 1 && comma < 0)
                throw lines.Fail(line.Length + 1, $"the row has {i + 1} {(i == 0 ? "field" : "fields")}, the header {n}");
            int s = pos, e = end;
            while (s < e && line[s] == ' ') s++;
            while (e > s && line[e - 1] == ' ') e--;
            start[i] = s;
            len[i] = e - s;
            pos = end + 1;
        }
        if (pos <= line.Length)
            throw lines.Fail(pos, $"the row has more than the header's {n} fields");
    }

    private static readonly string[] JsonFields = ["time", "timestamp", "cpu", "size", "task", "pid"];

    private static void ReadJsonl(LineSource lines, TraceBuilder b)
    {
        bool first = true;
        while (lines.NextData(out var line))
        {
            var r = new Utf8JsonReader(line, new JsonReaderOptions { MaxDepth = 2 });
            long t = -1;
            int cpu = -1, size = -1, pid = -1, cpuCol = 1;
            try
            {
                if (!r.Read() || r.TokenType != JsonTokenType.StartObject)
                    throw lines.Fail(1, "expected a JSON object such as {\"time\": 1000, \"cpu\": 0}");
                while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
                {
                    string name = r.GetString()!;
                    int col = (int)r.TokenStartIndex + 1;
                    if (!r.Read()) break;
                    int vcol = (int)r.TokenStartIndex + 1;
                    switch (name)
                    {
                        case "time" or "timestamp":
                            if (r.TokenType is not (JsonTokenType.String or JsonTokenType.Number))
                                throw lines.Fail(vcol, $"column {name}: expected a number of ns or a duration string (\"1.5ms\"), found {r.TokenType.ToString().ToLowerInvariant()}");
                            t = ParseTime(lines, r.ValueSpan, vcol - 1, name);
                            break;
                        case "cpu":
                            cpu = (int)JsonInt(lines, ref r, vcol, name, SimLimits.MaxCpus - 1);
                            cpuCol = vcol;
                            break;
                        case "size":
                            size = (int)JsonInt(lines, ref r, vcol, name, SimLimits.MaxDataBytes);
                            break;
                        case "task" or "pid":
                            pid = (int)JsonInt(lines, ref r, vcol, name, SimLimits.PidMax);
                            break;
                        default:
                            throw lines.Fail(col, $"unknown field '{name}'" + ScenarioParser.Suggest(name, JsonFields) + "; fields: time (or timestamp), cpu, size, task (or pid)");
                    }
                }
                if (r.TokenType != JsonTokenType.EndObject || r.Read())
                    throw lines.Fail((int)r.TokenStartIndex + 1, "expected one JSON object per line");
            }
            catch (JsonException e)
            {
                throw lines.Fail((int)(e.BytePositionInLine ?? 0) + 1, "not valid JSON: " + e.Message.Split(" LineNumber:")[0]);
            }
            if (t < 0) throw lines.Fail(1, "missing field 'time'");
            if (cpu < 0) throw lines.Fail(1, "missing field 'cpu'");
            if (first)
            {
                b.HasSize = size >= 0;
                b.HasTask = pid >= 0;
                first = false;
            }
            else if (b.HasSize != size >= 0)
                throw lines.Fail(1, b.HasSize ? "missing field 'size': the first row has one, so every row needs it" : "field 'size' here but not in the first row: give it in every row or in none");
            else if (b.HasTask != pid >= 0)
                throw lines.Fail(1, b.HasTask ? "missing field 'task': the first row has one, so every row needs it" : "field 'task' here but not in the first row: give it in every row or in none");
            b.Add(t, cpu, Math.Max(size, 0), Math.Max(pid, 0), cpuCol - 1);
        }
    }

    private static long JsonInt(LineSource lines, ref Utf8JsonReader r, int col, string name, long max)
    {
        if (r.TokenType != JsonTokenType.Number)
            throw lines.Fail(col, $"column {name}: expected an integer, found {r.TokenType.ToString().ToLowerInvariant()}");
        return ParseInt(lines, r.ValueSpan, col - 1, name, max);
    }

    /// <summary>
    /// `perf script` lines of a tracepoint: COMM PID[/TID] [CPU] SECONDS.FRACTION: EVENT: ... The
    /// comm may hold spaces, so the line is read around its first "[digits]"; the number before it
    /// is the pid (the tid when perf printed only that). Blank lines, `#` header lines and
    /// tab-indented callchain lines are skipped. Times are relative to the earliest line.
    /// </summary>
    private static void ReadPerfScript(LineSource lines, TraceBuilder b, string? eventFilter)
    {
        b.HasTask = true;
        byte[]? filter = eventFilter is null ? null : Encoding.UTF8.GetBytes(eventFilter);
        while (lines.NextData(out var line, skipTabbed: true))
        {
            int open = FindCpuField(line);
            if (open < 0)
                throw lines.Fail(1, "not a perf script sample line: expected 'COMM PID [CPU] SECONDS.USEC: EVENT: ...' (no [CPU] field)");
            int close = line[open..].IndexOf((byte)']') + open;
            int cpu = (int)ParseInt(lines, line[(open + 1)..close], open + 1, "cpu", SimLimits.MaxCpus - 1);
            int pe = open;
            while (pe > 0 && line[pe - 1] == ' ') pe--;
            int ps = pe;
            while (ps > 0 && line[ps - 1] != ' ') ps--;
            var pidText = line[ps..pe];
            int slash = pidText.IndexOf((byte)'/');
            if (slash >= 0) pidText = pidText[..slash];
            if (pidText.Length == 0)
                throw lines.Fail(open + 1, "no pid before the [CPU] field");
            int pid = (int)ParseInt(lines, pidText, ps, "pid", SimLimits.PidMax);
            int ts = close + 1;
            while (ts < line.Length && line[ts] == ' ') ts++;
            int colon = line[ts..].IndexOf((byte)':');
            if (colon < 0)
                throw lines.Fail(ts + 1, "column time: expected SECONDS.FRACTION followed by ':'");
            var tsText = line.Slice(ts, colon);
            colon += ts; // from here on, the index in the line
            // perf may print flags (irqs-off, need-resched, ...) between [CPU] and the time: the time is the last word.
            int sp = tsText.LastIndexOf((byte)' ');
            if (sp >= 0)
            {
                ts += sp + 1;
                tsText = tsText[(sp + 1)..];
            }
            long t = ParseSeconds(lines, tsText, ts);
            if (filter is not null && !EventIs(line[(colon + 1)..], filter)) continue;
            b.Add(t, cpu, 0, pid, open + 1);
        }
    }

    /// <summary>Index of the '[' of the first " [digits]" (at the start too), or -1.</summary>
    private static int FindCpuField(ReadOnlySpan<byte> line)
    {
        int from = 0;
        while (true)
        {
            int i = line[from..].IndexOf((byte)'[');
            if (i < 0) return -1;
            i += from;
            int j = i + 1;
            while (j < line.Length && line[j] >= (byte)'0' && line[j] <= (byte)'9') j++;
            if (j > i + 1 && j < line.Length && line[j] == (byte)']' && (i == 0 || line[i - 1] == ' ')) return i;
            from = i + 1;
        }
    }

    /// <summary>The event name after the time: " EVENT: ..." (perf may put a sample period before it).</summary>
    private static bool EventIs(ReadOnlySpan<byte> rest, byte[] name)
    {
        for (int word = 0; word < 2; word++)
        {
            rest = rest.TrimStart((byte)' ');
            int sp = rest.IndexOf((byte)' ');
            var tok = sp < 0 ? rest : rest[..sp];
            if (tok.Length > 0 && tok[^1] == (byte)':') tok = tok[..^1];
            if (tok.SequenceEqual(name)) return true;
            if (tok.Length == 0 || !IsDigits(tok)) return false; // only a period may come first
            rest = sp < 0 ? [] : rest[sp..];
        }
        return false;
    }

    private static bool IsDigits(ReadOnlySpan<byte> s)
    {
        foreach (byte c in s) if (c < (byte)'0' || c > (byte)'9') return false;
        return true;
    }

    /// <summary>SECONDS.FRACTION (1 to 9 fraction digits) as exact ns.</summary>
    private static long ParseSeconds(LineSource lines, ReadOnlySpan<byte> text, int at)
    {
        int dot = text.IndexOf((byte)'.');
        var whole = dot < 0 ? text : text[..dot];
        var frac = dot < 0 ? [] : text[(dot + 1)..];
        if (whole.Length == 0 || whole.Length > 9 || !IsDigits(whole) || frac.Length > 9 || !IsDigits(frac) || (dot >= 0 && frac.Length == 0))
            throw lines.Fail(at + 1, $"column time: '{Text(text)}' is not SECONDS.FRACTION (e.g. 12345.678901, at most 9 fraction digits)");
        Utf8Parser.TryParse(whole, out long s, out _);
        long f = 0;
        for (int i = 0; i < 9; i++) f = f * 10 + (i < frac.Length ? frac[i] - '0' : 0);
        return s * 1_000_000_000L + f;
    }

    // ------------------------------------------------------------------ rates

    private static readonly string[] RateColumns = ["t", "time", "rate", "count", "cpu"];

    /// <summary>
    /// A CSV of t,rate (events per second per CPU; a bare number or with a unit, 500/ms) or t,count
    /// (events in the interval up to the next row: rate = count / interval; the last row keeps the
    /// interval before it), with an optional cpu column for per-CPU rates. A row's rate holds from
    /// its t to the next row's t (of the same CPU); each CPU's rows must be in increasing t.
    /// </summary>
    public static RatesData ReadRates(string path, string display, string field, double scale, TraceRules? rules, out string sha256)
    {
        using var lines = LineSource.Open(path, display, field);
        if (!lines.NextData(out var header))
            throw lines.Fail(1, "the file is empty: a rates CSV needs a header row (t,rate or t,count, optionally cpu) and rows");
        Span<int> idx = [-1, -1, -1, -1];
        int n = Header(lines, header, idx, static name => name switch { "t" or "time" => 0, "rate" => 1, "count" => 2, "cpu" => 3, _ => -1 },
            RateColumns, "columns: t (or time), rate or count, cpu");
        var (ti, ri, ki, ci) = (idx[0], idx[1], idx[2], idx[3]);
        if (ti < 0) throw lines.Fail(1, "the header has no 't' column (t,rate or t,count)");
        if (ri < 0 && ki < 0) throw lines.Fail(1, "the header needs a 'rate' or a 'count' column");
        if (ri >= 0 && ki >= 0) throw lines.Fail(1, "give 'rate' or 'count', not both");
        Span<int> start = stackalloc int[n];
        Span<int> len = stackalloc int[n];
        var series = new Dictionary<int, List<(long T, double V, int Line)>>();
        long rows = 0, last = 0;
        while (lines.NextData(out var line))
        {
            SplitCsv(lines, line, n, start, len);
            long t = ParseTime(lines, line.Slice(start[ti], len[ti]), start[ti], "t");
            int cpu = -1;
            if (ci >= 0)
            {
                cpu = (int)ParseInt(lines, line.Slice(start[ci], len[ci]), start[ci], "cpu", SimLimits.MaxCpus - 1);
                if (rules is not null && !rules.CpuOk[cpu]) throw lines.Fail(start[ci] + 1, "column cpu: " + rules.CpuError(cpu));
            }
            int vi = ri >= 0 ? ri : ki;
            double v = ri >= 0 ? ParseRateValue(lines, line.Slice(start[vi], len[vi]), start[vi]) : ParseInt(lines, line.Slice(start[vi], len[vi]), start[vi], "count", long.MaxValue);
            if (!series.TryGetValue(cpu, out var list)) series[cpu] = list = [];
            if (list.Count > 0 && t <= list[^1].T)
                throw lines.Fail(start[ti] + 1, $"column t: {ScenarioUnits.FormatDuration(t)} is not after {ScenarioUnits.FormatDuration(list[^1].T)} (line {list[^1].Line}){(ci >= 0 ? $" of CPU {cpu}" : "")}: rows must be in increasing time");
            if (++rows > MaxRows) throw lines.Fail(1, $"more than {CostLimits.Count(MaxRows)} rows");
            list.Add((t, v, lines.LineNo));
            last = Math.Max(last, t);
        }
        if (rows == 0) throw lines.Fail(1, "the file has a header but no rows");
        long natural = 0;
        RateStep[] Steps(List<(long T, double V, int Line)> list)
        {
            var steps = new RateStep[list.Count];
            for (int i = 0; i < list.Count; i++)
            {
                double rate = list[i].V;
                if (ki >= 0)
                {
                    long interval = i + 1 < list.Count ? list[i + 1].T - list[i].T : i > 0 ? list[i].T - list[i - 1].T : 0;
                    if (interval <= 0)
                        throw new ScenarioException(new ScenarioError { File = display, Line = list[i].Line, Column = 1, Field = field, Message = "a count needs an interval: give at least two rows (the count of a row is over the time up to the next row)" });
                    rate = rate * 1e9 / interval;
                }
                steps[i] = new RateStep { AtNs = list[i].T, RatePerSec = rate * scale };
            }
            if (list.Count >= 2 && list[^1].T == last) natural = Math.Max(natural, 2 * list[^1].T - list[^2].T);
            return steps;
        }
        sha256 = lines.Sha256();
        if (ci < 0) return new RatesData { All = Steps(series[-1]), LastNs = last, NaturalPeriodNs = natural };
        var per = new RateStep[]?[series.Keys.Max() + 1];
        foreach (var (cpu, list) in series) per[cpu] = Steps(list);
        return new RatesData { PerCpu = per, LastNs = last, NaturalPeriodNs = natural };
    }

    private static double ParseRateValue(LineSource lines, ReadOnlySpan<byte> text, int at)
    {
        string s = Text(text);
        if (s.Contains('/'))
        {
            if (!ScenarioUnits.TryParseRate(s, out double r, out string error)) throw lines.Fail(at + 1, "column rate: " + error);
            return r;
        }
        if (!double.TryParse(s, System.Globalization.NumberStyles.AllowDecimalPoint | System.Globalization.NumberStyles.AllowExponent, System.Globalization.CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v) || v < 0)
            throw lines.Fail(at + 1, $"column rate: '{s}' is not a non-negative number of events per second (or a rate such as 500/ms)");
        return v;
    }

    // ------------------------------------------------------------------ fields

    /// <summary>A time: whole ns (digits only), or a duration with a unit (1.5ms).</summary>
    private static long ParseTime(LineSource lines, ReadOnlySpan<byte> text, int at, string column)
    {
        if (text.Length > 0 && text.Length <= 18 && IsDigits(text))
        {
            long v = 0;
            foreach (byte c in text) v = v * 10 + (c - '0');
            return v;
        }
        string s = Text(text);
        if (s.Length == 0) throw lines.Fail(at + 1, $"column {column}: empty; expected a time in ns (e.g. 1500000) or with a unit (1.5ms)");
        if (s.StartsWith('-')) throw lines.Fail(at + 1, $"column {column}: '{s}' is negative; times are at least 0");
        if (IsDigits(text)) throw lines.Fail(at + 1, $"column {column}: '{s}' is too large: times are at most 18 digits of ns");
        if (!ScenarioUnits.TryParseDuration(s, out long ns, out string error)) throw lines.Fail(at + 1, $"column {column}: " + error + " (a bare integer is ns)");
        return ns;
    }

    private static long ParseInt(LineSource lines, ReadOnlySpan<byte> text, int at, string column, long max)
    {
        if (text.Length == 0) throw lines.Fail(at + 1, $"column {column}: empty; expected an integer");
        if (!IsDigits(text) || text.Length > 18)
            throw lines.Fail(at + 1, $"column {column}: '{Text(text)}' is not a non-negative integer");
        long v = 0;
        foreach (byte c in text) v = v * 10 + (c - '0');
        if (v > max)
            throw lines.Fail(at + 1, column == "size"
                ? $"column size: {v} bytes is more than the {max} bytes a record of a scenario program may be"
                : $"column {column}: {v} is out of range: at most {max}");
        return v;
    }

    private static string Text(ReadOnlySpan<byte> s) => Encoding.UTF8.GetString(s.Length > 40 ? s[..40] : s) + (s.Length > 40 ? "..." : "");

    // ------------------------------------------------------------------ builder

    /// <summary>Per-CPU growable arrays; checks each row against the rules and the CPU's order.</summary>
    private sealed class TraceBuilder(LineSource lines, TraceRules? rules, double scale)
    {
        private long[][] _t = [];
        private int[][] _s = [];
        private int[][] _p = [];
        private int[] _n = [];
        private int[] _line = [];
        private long _rows;
        public bool HasSize, HasTask;

        /// <summary>
        /// The next size of a CPU's arrays: twice, or at once what the rest of the file should
        /// bring (its length over the bytes per row so far, at this CPU's share), so that 10 M rows
        /// are not copied and faulted in a dozen times. Pages never written cost nothing.
        /// </summary>
        private int Capacity(int cpu, int n)
        {
            long cap = Math.Max(1024, 2L * n);
            if (_rows > 4096 && lines.Position > 0)
            {
                double rowsInFile = lines.Length / (lines.Position / (double)_rows);
                cap = Math.Max(cap, (long)(rowsInFile * ((n + 1) / (double)_rows) * 1.1) + 1024);
            }
            return (int)Math.Min(cap, Array.MaxLength);
        }

        public bool CpuAllowed(int cpu) => rules is null || rules.CpuOk[cpu];

        public void Add(long t, int cpu, int size, int pid, int cpuAt)
        {
            if (rules is not null)
            {
                if (!rules.CpuOk[cpu]) throw lines.Fail(cpuAt + 1, "column cpu: " + rules.CpuError(cpu));
                if (HasSize && rules.SizeRefused is { } why) throw lines.Fail(1, "column size: " + why);
            }
            if (cpu >= _n.Length) Grow(cpu + 1);
            int n = _n[cpu];
            if (n > 0 && t < _t[cpu][n - 1])
                throw lines.Fail(1, $"time {t} ns is before {_t[cpu][n - 1]} ns of the previous row of CPU {cpu} (line {_line[cpu]}): each CPU's rows must be in time order");
            if (++_rows > MaxRows)
                throw lines.Fail(1, $"more than {CostLimits.Count(MaxRows)} rows: split the trace or use a rates file");
            if (n == _t[cpu].Length)
            {
                int cap = Capacity(cpu, n);
                Array.Resize(ref _t[cpu], cap);
                if (HasSize) Array.Resize(ref _s[cpu], cap);
                if (HasTask) Array.Resize(ref _p[cpu], cap);
            }
            _t[cpu][n] = t;
            if (HasSize) _s[cpu][n] = size;
            if (HasTask) _p[cpu][n] = pid;
            _n[cpu] = n + 1;
            _line[cpu] = lines.LineNo;
        }

        private void Grow(int cpus)
        {
            int old = _n.Length;
            Array.Resize(ref _t, cpus);
            Array.Resize(ref _s, cpus);
            Array.Resize(ref _p, cpus);
            Array.Resize(ref _n, cpus);
            Array.Resize(ref _line, cpus);
            for (int c = old; c < cpus; c++)
            {
                _t[c] = [];
                _s[c] = [];
                _p[c] = [];
            }
        }

        public TraceData Build(bool relativeToFirst)
        {
            if (_rows == 0) throw lines.Fail(1, "the file has no events");
            long origin = long.MaxValue;
            for (int c = 0; c < _n.Length; c++) if (_n[c] > 0) origin = Math.Min(origin, _t[c][0]);
            if (!relativeToFirst) origin = 0;
            long last = 0;
            int used = 0;
            for (int c = 0; c < _n.Length; c++)
            {
                int n = _n[c];
                var t = _t[c];
                if (origin != 0 || scale != 1)
                    for (int i = 0; i < n; i++) t[i] = Scaled(t[i] - origin);
                if (n > 0) { used++; last = Math.Max(last, t[n - 1]); }
            }
            return new TraceData
            {
                Times = _t, Counts = _n, Sizes = HasSize ? _s : null, Pids = HasTask ? _p : null,
                Rows = _rows, LastNs = last, CpusUsed = used,
            };
        }

        private long Scaled(long t) => scale == 1 ? t : (long)Math.Floor(t / scale);
    }

    // ------------------------------------------------------------------ lines

    /// <summary>Lines of a file as byte spans (1 MiB blocks, no string per line), hashed as read.</summary>
    private sealed class LineSource : IDisposable
    {
        private readonly Stream _stream;
        private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        private byte[] _buf = new byte[1 << 20];
        private int _pos, _end;
        private bool _eof;
        private readonly string _display, _field;

        private LineSource(Stream s, string display, string field)
        {
            _stream = s;
            _display = display;
            _field = field;
        }

        public int LineNo { get; private set; }
        /// <summary>Bytes of the file up to the current line, and the file's length.</summary>
        public long Position => _consumed + _pos;
        public long Length => _stream.Length;
        private long _consumed;

        public static LineSource Open(string path, string display, string field)
        {
            try
            {
                if (Directory.Exists(path))
                    throw new ScenarioException(new ScenarioError { File = display, Field = field, Message = "cannot read the file: it is a directory" });
                return new LineSource(new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan), display, field);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new ScenarioException(new ScenarioError { File = display, Field = field, Message = "cannot read the file: " + e.Message }, e);
            }
        }

        public ScenarioException Fail(int column, string message) =>
            new(new ScenarioError { File = _display, Line = Math.Max(1, LineNo), Column = column, Field = _field, Message = message });

        /// <summary>The next line that is not blank or a # comment (nor tab-indented, when asked), without its end of line.</summary>
        public bool NextData(out ReadOnlySpan<byte> line, bool skipTabbed = false)
        {
            while (Next(out line))
            {
                var trimmed = line.TrimStart((byte)' ');
                if (trimmed.Length == 0 || trimmed[0] == (byte)'#' || (skipTabbed && line[0] == (byte)'\t')) continue;
                if (skipTabbed && trimmed.TrimStart((byte)'\t').Length == 0) continue;
                return true;
            }
            return false;
        }

        private bool Next(out ReadOnlySpan<byte> line)
        {
            while (true)
            {
                int nl = _buf.AsSpan(_pos, _end - _pos).IndexOf((byte)'\n');
                if (nl >= 0)
                {
                    line = Take(nl, nl + 1);
                    return true;
                }
                if (_eof)
                {
                    if (_pos == _end)
                    {
                        line = default;
                        return false;
                    }
                    line = Take(_end - _pos, _end - _pos);
                    return true;
                }
                if (_end - _pos > MaxLineBytes)
                {
                    LineNo++;
                    throw Fail(1, $"the line is longer than {MaxLineBytes} bytes");
                }
                Fill();
            }
        }

        private ReadOnlySpan<byte> Take(int len, int advance)
        {
            var line = _buf.AsSpan(_pos, len);
            if (line.Length > 0 && line[^1] == (byte)'\r') line = line[..^1];
            _pos += advance;
            LineNo++;
            if (line.Length > MaxLineBytes) throw Fail(1, $"the line is longer than {MaxLineBytes} bytes");
            return line;
        }

        private void Fill()
        {
            int keep = _end - _pos;
            if (_pos > 0)
            {
                _consumed += _pos;
                Buffer.BlockCopy(_buf, _pos, _buf, 0, keep);
                _pos = 0;
                _end = keep;
            }
            if (_end == _buf.Length) Array.Resize(ref _buf, _buf.Length * 2);
            int n;
            try
            {
                n = _stream.Read(_buf, _end, _buf.Length - _end);
            }
            catch (IOException e)
            {
                throw new ScenarioException(new ScenarioError { File = _display, Field = _field, Message = "cannot read the file: " + e.Message }, e);
            }
            if (n == 0) _eof = true;
            else
            {
                _hash.AppendData(_buf, _end, n);
                _end += n;
            }
        }

        public string Sha256() => Convert.ToHexStringLower(_hash.GetHashAndReset());

        public void Dispose()
        {
            _stream.Dispose();
            _hash.Dispose();
        }
    }
}

using System.Collections.Immutable;
using System.Globalization;

namespace BpfTraceSim.Contracts.Scenarios;

// Firing processes from data: `trace` (an event file replayed) and `rates` (a rate per interval).
// The file is read and checked here, once, so a bad row is refused before anything runs.
public static partial class ScenarioParser
{
    private sealed partial class Reader
    {
        private static readonly Dictionary<string, TraceFormat> TraceFormats = new(StringComparer.Ordinal)
        {
            ["csv"] = TraceFormat.Csv, ["jsonl"] = TraceFormat.Jsonl, ["perf_script"] = TraceFormat.PerfScript,
        };

        /// <summary>The largest scale: a factor past it is a typo, not a workload.</summary>
        private const double MaxScale = 1e6;

        private TraceFire TraceFireOf(YNode node, string path, TraceRules rules)
        {
            var f = new Fields(this, node, path, "a firing process", "process", "file", "format", "scale", "loop", "event", "fit");
            var (full, display, written) = DataFile(f, out var fileNode);
            TraceFormat format = f["format"] is { } fm ? Enum(fm, f.P("format"), TraceFormats) : FormatOf(fileNode, f.P("format"), written);
            double scale = f["scale"] is { } sc ? Scale(sc, f.P("scale")) : 1;
            string? ev = null;
            if (f["event"] is { } en)
            {
                if (format != TraceFormat.PerfScript)
                    throw Fail(en, f.P("event"), "event selects lines of a perf_script file; a CSV or JSON Lines file has no event names");
                ev = Str(en, f.P("event"));
            }
            var data = TraceFiles.ReadTrace(full, display, f.P("file"), format, scale, ev, rules, out string sha);
            OnOffFit? fit = f["fit"] is { } fn ? FitOf(fn, f.P("fit"), f["loop"], f.P("loop"), display, data) : null;
            long loop = f["loop"] is { } ln ? Loop(ln, f.P("loop"), data.LastNs, NaturalPeriod(data)) : 0;
            var spec = new TraceFire { File = full, Written = written, Format = format, Scale = scale, LoopNs = loop, Event = ev, Sha256 = sha, Fit = fit };
            TraceFiles.Attach(spec, data);
            return spec;
        }

        /// <summary>`fit: on_off`: each CPU with rows fitted (OnOffFitter); a CPU that cannot be is refused, naming the file.</summary>
        private OnOffFit FitOf(YNode node, string path, YNode? loopNode, string loopPath, string display, TraceData data)
        {
            Enum(node, path, new Dictionary<string, bool>(StringComparer.Ordinal) { ["on_off"] = true });
            if (loopNode is not null)
                throw Fail(loopNode, loopPath, "a fitted process runs for the whole duration: loop repeats a replayed file, give one or the other");
            var cpus = ImmutableArray.CreateBuilder<OnOffCpu>(data.Times.Length);
            for (int c = 0; c < data.Times.Length; c++)
            {
                var times = data.TimesOf(c);
                if (times.Length == 0)
                {
                    cpus.Add(new OnOffCpu { Cpu = c });
                    continue;
                }
                cpus.Add(OnOffFitter.Fit(c, times, out string why) ?? throw Fail(node, path, $"{display}: {why}"));
            }
            return new OnOffFit { Cpus = cpus.MoveToImmutable() };
        }

        private RatesFire RatesFireOf(YNode node, string path, TraceRules rules)
        {
            var f = new Fields(this, node, path, "a firing process", "process", "file", "scale", "loop", "within");
            var (full, display, written) = DataFile(f, out _);
            double scale = f["scale"] is { } sc ? Scale(sc, f.P("scale")) : 1;
            bool poisson = true;
            if (f["within"] is { } w)
                poisson = Enum(w, f.P("within"), new Dictionary<string, bool>(StringComparer.Ordinal) { ["poisson"] = true, ["constant"] = false });
            var data = TraceFiles.ReadRates(full, display, f.P("file"), scale, rules, out string sha);
            long loop = f["loop"] is { } ln ? Loop(ln, f.P("loop"), data.LastNs, data.NaturalPeriodNs) : 0;
            var spec = new RatesFire { File = full, Written = written, Scale = scale, LoopNs = loop, Poisson = poisson, Sha256 = sha };
            TraceFiles.Attach(spec, data);
            return spec;
        }

        /// <summary>The file's absolute path, the name errors show (relative to where bpfsim runs) and the text as written.</summary>
        private (string Full, string Display, string Written) DataFile(Fields f, out YNode node)
        {
            node = f.Req("file");
            string written = Str(node, f.P("file"));
            if (written.Length == 0)
                throw Fail(node, f.P("file"), "must name a data file");
            string display = file == NoFile || Path.IsPathRooted(written) ? written : Path.Combine(Path.GetDirectoryName(file) ?? "", written);
            string full = Path.GetFullPath(display);
            if (!File.Exists(full) && !Directory.Exists(full))
                throw Fail(node, f.P("file"), $"no such file: {display} (a relative path is relative to the scenario file)");
            return (full, display, written);
        }

        private TraceFormat FormatOf(YNode fileNode, string path, string written) =>
            Path.GetExtension(written).ToLowerInvariant() switch
            {
                ".csv" => TraceFormat.Csv,
                ".jsonl" or ".ndjson" => TraceFormat.Jsonl,
                ".perf" => TraceFormat.PerfScript,
                _ => throw Fail(fileNode, path, $"cannot tell the format of '{written}' from its extension (.csv, .jsonl, .ndjson, .perf): give format: csv, jsonl or perf_script"),
            };

        /// <summary>`x2`, `2` or `x0.5`: a positive factor on the rate.</summary>
        private double Scale(YNode node, string path)
        {
            string text = Scalar(node, path, "a factor such as x2");
            string t = text.StartsWith('x') ? text[1..] : text;
            if (!double.TryParse(t, NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent, CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v) || v <= 0)
                throw Fail(node, path, $"expected a factor more than 0 such as x2 or x0.5, found '{text}'");
            if (v > MaxScale)
                throw Fail(node, path, $"x{v.ToString("R", CultureInfo.InvariantCulture)} is more than x{MaxScale.ToString("R", CultureInfo.InvariantCulture)}");
            return v;
        }

        /// <summary>`true` (the natural period), `false`, or the period as a duration; it must be after the file's last time.</summary>
        private long Loop(YNode node, string path, long lastNs, long natural)
        {
            if (node is YScalar { Value: "true" or "false", Style: YamlDotNet.Core.ScalarStyle.Plain } b)
            {
                if (b.Value == "false") return 0;
                if (natural <= lastNs)
                    throw Fail(node, path, "cannot find the file's period from a single time: give it as a duration (loop: 1s)");
                return natural;
            }
            long period = Duration(node, path);
            if (period <= lastNs)
                throw Fail(node, path, $"the period {ScenarioUnits.FormatDuration(period)} is not after the file's last time, {ScenarioUnits.FormatDuration(lastNs)} (after scale)");
            return period;
        }

        /// <summary>Last time plus the mean gap: a file of evenly spaced rows repeats without a seam.</summary>
        private static long NaturalPeriod(TraceData d)
        {
            long first = long.MaxValue;
            for (int c = 0; c < d.Times.Length; c++) if (d.Counts[c] > 0) first = Math.Min(first, d.Times[c][0]);
            if (d.Rows < 2 || d.LastNs <= first) return 0;
            return d.LastNs + (long)Math.Ceiling((d.LastNs - first) / (double)(d.Rows - 1));
        }

        /// <summary>What rows may hold for a program on these groups and CPUs.</summary>
        private static TraceRules RulesFor(IEnumerable<HostGroup> targets, ImmutableArray<int> cpus, bool isObject)
        {
            var groups = targets.ToList();
            var ok = new bool[MaxCpus];
            int smallest = groups.Count == 0 ? 0 : groups.Min(g => g.Cpus);
            for (int c = 0; c < smallest; c++) ok[c] = cpus.IsDefaultOrEmpty || cpus.Contains(c);
            string Why(int cpu)
            {
                var g = groups.FirstOrDefault(x => cpu >= x.Cpus);
                return g is not null
                    ? $"CPU {cpu} does not exist on group {g.Group} ({g.Cpus} CPUs)"
                    : $"the program is not attached on CPU {cpu} (cpus: [{string.Join(", ", cpus)}])";
            }
            return new TraceRules
            {
                CpuOk = ok,
                CpuError = Why,
                SizeRefused = isObject ? "an object program chooses its own record sizes: a size column needs a program with a body" : null,
            };
        }
    }
}

using System.Diagnostics;
using System.Security.Cryptography;

namespace BpfTraceSim.Fuzz;

/// <summary>
/// dotnet Fuzz.dll run [--seconds N] [--seed S] [TARGET...]: mutate each target's seed corpus for
///   N seconds in all (split evenly), in process, deterministic for a seed; crashes are written to
///   tests/Fuzz/crashes/TARGET-HASH and the exit code is 1 if any was found.
/// dotnet Fuzz.dll afl TARGET: one input from AFL++ per run (SharpFuzz out-of-process protocol).
/// dotnet Fuzz.dll repro TARGET FILE...: run saved inputs once, printing the exception of a crash.
/// </summary>
internal static class Program
{
    private static int Main(string[] args)
    {
        string root = FindRoot();
        if (args.Length >= 2 && args[0] == "afl")
        {
            var t = Targets.Find(args[1]) ?? throw new ArgumentException($"unknown target {args[1]}");
            SharpFuzz.Fuzzer.OutOfProcess.Run(stream =>
            {
                using var ms = new MemoryStream();
                stream.CopyTo(ms);
                t.Run(ms.ToArray());
            });
            return 0;
        }
        if (args.Length >= 3 && args[0] == "seeds")
        {
            var t = Targets.Find(args[1]) ?? throw new ArgumentException($"unknown target {args[1]}");
            Directory.CreateDirectory(args[2]);
            int i = 0;
            foreach (var s in Seeds(t, root)) File.WriteAllBytes(Path.Combine(args[2], $"seed-{i++:D4}"), s);
            return 0;
        }
        if (args.Length >= 3 && args[0] == "repro")
        {
            var t = Targets.Find(args[1]) ?? throw new ArgumentException($"unknown target {args[1]}");
            int bad = 0;
            foreach (var f in args[2..])
            {
                try { t.Run(File.ReadAllBytes(f)); Console.WriteLine($"{f}: ok"); }
                catch (Exception e) { bad++; Console.WriteLine($"{f}: {e}"); }
            }
            return bad == 0 ? 0 : 1;
        }
        if (args.Length >= 1 && args[0] == "run")
        {
            double seconds = 60;
            ulong seed = 1;
            var names = new List<string>();
            for (int i = 1; i < args.Length; i++)
            {
                if (args[i] == "--seconds") seconds = double.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture);
                else if (args[i] == "--seed") seed = ulong.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture);
                else names.Add(args[i]);
            }
            var targets = names.Count == 0 ? Targets.All : names.Select(n => Targets.Find(n) ?? throw new ArgumentException($"unknown target {n}")).ToArray();
            int crashes = 0;
            foreach (var t in targets)
                crashes += Fuzz(t, root, seconds / targets.Length, seed);
            return crashes == 0 ? 0 : 1;
        }
        Console.Error.WriteLine("usage: Fuzz run [--seconds N] [--seed S] [TARGET...] | afl TARGET | repro TARGET FILE...   targets: " +
            string.Join(", ", Targets.All.Select(t => t.Name)));
        return 2;
    }

    private static int Fuzz(Target t, string root, double seconds, ulong seed)
    {
        var corpus = Seeds(t, root);
        var rng = new Random((int)(seed ^ (ulong)t.Name.GetHashCode(StringComparison.Ordinal)));
        var mutator = new Mutator(rng, corpus);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        long execs = 0, slow = 0;
        int crashes = 0;
        var clock = Stopwatch.StartNew();
        var one = new Stopwatch();
        // Seeds first, unmutated: a seed that crashes is the first thing to know.
        foreach (var s in corpus) crashes += Once(t, s, root, seen, ref execs);
        while (clock.Elapsed.TotalSeconds < seconds)
        {
            var input = mutator.Next();
            one.Restart();
            crashes += Once(t, input, root, seen, ref execs);
            if (one.ElapsedMilliseconds > 1000)
            {
                slow++;
                Save(t, input, root, "slow");
                Console.WriteLine($"fuzz {t.Name}: an input took {one.ElapsedMilliseconds} ms");
            }
        }
        Console.WriteLine($"fuzz {t.Name}: {execs:N0} executions in {clock.Elapsed.TotalSeconds:F1} s ({execs / clock.Elapsed.TotalSeconds:N0}/s), " +
            $"{corpus.Count} seeds, {crashes} distinct crashes, {slow} slow inputs");
        return crashes;
    }

    private static int Once(Target t, byte[] input, string root, HashSet<string> seen, ref long execs)
    {
        execs++;
        try
        {
            t.Run(input);
            return 0;
        }
        catch (Exception e)
        {
            // One report per exception type and throwing frame.
            string where = new StackTrace(e).GetFrames().FirstOrDefault(f => f.GetMethod()?.DeclaringType?.Namespace?.StartsWith("BpfTraceSim", StringComparison.Ordinal) == true)?.GetMethod()?.ToString() ?? "?";
            string key = e.GetType().Name + " @ " + where;
            if (!seen.Add(key)) return 0;
            string path = Save(t, input, root, "crash");
            Console.WriteLine($"fuzz {t.Name}: CRASH {key}: {e.Message} -> {Path.GetRelativePath(root, path)}");
            return 1;
        }
    }

    private static string Save(Target t, byte[] input, string root, string kind)
    {
        string dir = Path.Combine(root, "tests", "Fuzz", "crashes");
        Directory.CreateDirectory(dir);
        string path = Path.Combine(dir, $"{t.Name}-{kind}-{Convert.ToHexString(SHA256.HashData(input))[..12].ToLowerInvariant()}");
        File.WriteAllBytes(path, input);
        return path;
    }

    private static List<byte[]> Seeds(Target t, string root)
    {
        var seeds = new List<byte[]>();
        foreach (var glob in t.SeedGlobs)
        {
            string dir = Path.Combine(root, Path.GetDirectoryName(glob)!);
            if (!Directory.Exists(dir)) continue;
            foreach (var f in Directory.GetFiles(dir, Path.GetFileName(glob)).Order(StringComparer.Ordinal))
                if (new FileInfo(f).Length <= 256 << 10) seeds.Add(File.ReadAllBytes(f));
        }
        if (t.Name == "format") seeds.AddRange(Targets.FormatSeeds());
        if (seeds.Count == 0) seeds.Add([]);
        return seeds;
    }

    private static string FindRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "BpfTraceSim.slnx"))) return d.FullName;
        return Directory.GetCurrentDirectory();
    }
}

/// <summary>Byte mutations of corpus entries, with tokens that matter to YAML, JSON and formats.</summary>
internal sealed class Mutator(Random rng, List<byte[]> corpus)
{
    private static readonly byte[][] Tokens =
    [
        .. new[] { "[", "]", "{", "}", ":", ",", "\"", "'", "\n", "\n  ", "- ", "&a ", "*a", "<<: *a", "!!str ", "---\n", "...\n", "#", "|", ">",
                   "%", "%s", "%d", "%lld", "%pI4", "%pK", "%*d", "%.*s", "%llx", "\\u0000", "\\ud800", "-1", "0", "1e30", "1e400",
                   "18446744073709551615", "9223372036854775808", "4294967296", "65536", "1048576", "NaN", "null", "true", "1e30/s",
                   "0x", "\u00e9", "\t", "\r", "\0" }.Select(System.Text.Encoding.UTF8.GetBytes),
    ];

    public byte[] Next()
    {
        var data = new List<byte>(corpus[rng.Next(corpus.Count)]);
        int n = 1 + rng.Next(8);
        for (int i = 0; i < n; i++) Mutate(data);
        return [.. data];
    }

    private void Mutate(List<byte> d)
    {
        int at = d.Count == 0 ? 0 : rng.Next(d.Count);
        switch (rng.Next(9))
        {
            case 0 when d.Count > 0: d[at] ^= (byte)(1 << rng.Next(8)); break;
            case 1 when d.Count > 0: d[at] = (byte)rng.Next(256); break;
            case 2: d.Insert(at, (byte)rng.Next(256)); break;
            case 3 when d.Count > 0: d.RemoveRange(at, Math.Min(d.Count - at, 1 + rng.Next(16))); break;
            case 4 when d.Count > 0:
            {
                int len = Math.Min(d.Count - at, 1 + rng.Next(64));
                var chunk = d.GetRange(at, len);
                d.InsertRange(rng.Next(d.Count + 1), chunk);
                break;
            }
            case 5: case 6: d.InsertRange(at, Tokens[rng.Next(Tokens.Length)]); break;
            case 7:
            {
                // Splice: the head of this input and the tail of another.
                var other = corpus[rng.Next(corpus.Count)];
                if (other.Length == 0) break;
                int from = rng.Next(other.Length);
                d.RemoveRange(at, d.Count - at);
                d.AddRange(other.AsSpan(from).ToArray());
                break;
            }
            case 8 when d.Count >= 4:
            {
                // An interesting little-endian integer (sizes, counts, offsets in ELF/BTF headers).
                uint[] vals = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff];
                int p = rng.Next(d.Count - 3);
                uint v = vals[rng.Next(vals.Length)];
                for (int k = 0; k < 4; k++) d[p + k] = (byte)(v >> (8 * k));
                break;
            }
        }
    }
}

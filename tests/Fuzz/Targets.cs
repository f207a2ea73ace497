using System.Text;
using BpfTraceSim.Bpf.Loader;
using BpfTraceSim.Client.Exec;
using BpfTraceSim.Contracts.Scenarios;
using BpfTraceSim.Kernel;
using BpfTraceSim.Kernel.Printk;

namespace BpfTraceSim.Fuzz;

/// <summary>
/// One fuzz target: runs an input and returns normally when the code under test accepted it or
/// refused it the documented way; any other exception is a crash.
/// </summary>
internal sealed record Target(string Name, string[] SeedGlobs, Action<byte[]> Run);

internal static class Targets
{
    public static readonly Target[] All =
    [
        new("scenario", ["scenarios/*.yaml", "scenarios/objects/*.yaml", "tests/bad-inputs/inputs/*.yaml"], Scenario),
        new("exec", ["scenarios/exec/*.json", "scenarios/iter/*.json", "tests/bad-inputs/inputs/exec-*.json", "tests/bad-inputs/inputs/json-*.json"], Exec),
        new("elf", ["tests/bpf/*.bpf.o", "tests/bad-inputs/inputs/*.o"], Elf),
        new("format", [], Format),
    ];

    public static Target? Find(string name) => Array.Find(All, t => t.Name == name);

    private static void Scenario(byte[] input)
    {
        try { ScenarioParser.Parse(Encoding.UTF8.GetString(input), "fuzz.yaml"); }
        catch (ScenarioException e) when (e.Error.Line >= 1 && e.Error.Column >= 1)
        {
            // Refused with a position: the contract. A refusal without one is a crash (the filter).
        }
    }

    private static void Exec(byte[] input)
    {
        List<JsonTree.Entry> entries;
        try { entries = JsonTree.ReadAll(input); }
        catch (DocumentException e) when (e.Line >= 1) { return; } // a duplicate field: refused with its line
        foreach (var entry in entries)
        {
            if (entry.SyntaxError is not null) continue;
            try { ExecParser.Parse(entry.Value!, baseDir: Path.GetTempPath()); }
            catch (DocumentException e) when (e.Line >= 1) { }
        }
    }

    private static void Elf(byte[] input)
    {
        try { BpfObject.Load(input, "fuzz.o"); }
        catch (BpfLoadException) { }
    }

    private static readonly PrintkWorld World = new(new SimMemory(), new Kallsyms(), 1);
    private static readonly SimTask Task = new(100, 100, "fuzz");

    // bpf_snprintf: the input's first NUL ends the format; the rest (cut to 8-byte words) are the args.
    private static void Format(byte[] input)
    {
        int nul = Array.IndexOf(input, (byte)0);
        byte[] fmt = nul < 0 ? [.. input, 0] : input[..(nul + 1)];
        byte[] data = nul < 0 ? [] : input[(nul + 1)..];
        data = data[..(data.Length & ~7)];
        var ctx = new HelperContext(0, Task, ExecContext.Task, 1_000_000);
        var str = new byte[data.Length > 0 ? data[0] * 4 + 1 : 64];
        long ret = PrintkHelpers.Snprintf(ctx, World.Cpu(0), World, str, fmt, data, dataIsNull: false);
        if (ret > 0 && str.Length > 0 && str[Math.Min((int)ret, str.Length) - 1] != 0)
            throw new InvalidOperationException($"bpf_snprintf returned {ret} but str is not NUL-terminated there");
    }

    /// <summary>Format seeds: conversions the engine knows, with arguments.</summary>
    public static IEnumerable<byte[]> FormatSeeds()
    {
        string[] fmts = ["%d %u %x %lld\n", "%s", "%pI4 %pI6", "%pK %px %p", "%-10.5s|%+d|%#llx", "%c%c%%", "%pS %pB", "hello"];
        foreach (var f in fmts)
        {
            var b = new List<byte>(Encoding.ASCII.GetBytes(f)) { 0 };
            for (int i = 0; i < 4; i++) b.AddRange(BitConverter.GetBytes((ulong)(i * 0x1234567)));
            yield return [.. b];
        }
    }
}

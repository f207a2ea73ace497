using BpfTraceSim.Kernel;
using System.CommandLine;
using System.Text.Json;
using BpfTraceSim.Bpf;
using BpfTraceSim.Bpf.Loader;
using Spectre.Console;

namespace BpfTraceSim.Client.Commands;

/// <summary>`bpfsim inspect FILE.bpf.o`: what a BPF object holds, as the loader sees it.</summary>
internal static class InspectCommand
{
    public static Command Create()
    {
        var file = new Argument<string?>("FILE") { Description = "A BPF ELF object built by clang (-target bpf).", Arity = ArgumentArity.ZeroOrOne };
        var helpers = new Option<bool>("--helpers") { Description = "List every helper id of the uapi and whether the simulator supports it (no FILE needed)." };
        var json = new Option<bool>("--json") { Description = "Print the description as JSON instead of tables." };
        var verify = new Option<bool>("--verify") { Description = "Run the verifier on every program and print its log (exit 2 when one is refused)." };
        var cmd = new Command("inspect", "List the programs (section, type, instructions, helpers each calls), maps and globals of a BPF object.")
        {
            file,
            json,
            verify,
            helpers,
        };
        cmd.SetAction(parse =>
        {
            if (parse.GetValue(helpers)) return HelperTable(parse.GetValue(json));
            string? path = parse.GetValue(file);
            if (path is null)
            {
                Console.Error.WriteLine("bpfsim inspect: FILE is required (or --helpers for the helper list)");
                return 2;
            }
            BpfObject obj;
            try { obj = BpfObject.Load(path); }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine($"bpfsim inspect: cannot read {path}: {ex.Message}");
                return 2;
            }
            catch (BpfLoadException ex)
            {
                Console.Error.WriteLine($"bpfsim inspect: {ex.Message}");
                return 2;
            }
            if (parse.GetValue(verify)) return Verify(obj, parse.GetValue(json));
            if (parse.GetValue(json)) Console.Out.WriteLine(Json(obj));
            else Tables(obj);
            return 0;
        });
        return cmd;
    }

    private static void Tables(BpfObject obj)
    {
        var console = AnsiConsole.Console;
        var programs = new Table().Title($"programs of {obj.Name}").AddColumns("program", "section", "type", "insns", "helpers");
        foreach (var p in obj.Programs)
            programs.AddRow(Markup.Escape(p.Name), Markup.Escape(p.Section), p.Type.ToString(), p.Insns.Length.ToString(System.Globalization.CultureInfo.InvariantCulture),
                Markup.Escape(string.Join(", ", Helpers(p).Select(h => $"{h} {BpfHelperNames.Name(h)}{(Supported(h) ? "" : " (not supported)")}"))));
        console.Write(programs);
        var maps = new Table().Title("maps").AddColumns("map", "type", "key", "value", "max_entries", "kind");
        foreach (var m in obj.Maps)
            maps.AddRow(Markup.Escape(m.Name), m.Type.ToString(), m.KeySize.ToString(System.Globalization.CultureInfo.InvariantCulture),
                m.ValueSize.ToString(System.Globalization.CultureInfo.InvariantCulture), m.MaxEntries.ToString(System.Globalization.CultureInfo.InvariantCulture),
                m.IsGlobalData ? (m.ReadOnly ? "global data (read-only)" : "global data") : "map");
        console.Write(maps);
        if (obj.Globals.Count == 0) return;
        var globals = new Table().Title("globals").AddColumns("global", "section", "offset", "size");
        foreach (var g in obj.Globals)
            globals.AddRow(Markup.Escape(g.Name), Markup.Escape(g.Section), g.Offset.ToString(System.Globalization.CultureInfo.InvariantCulture), g.Size.ToString(System.Globalization.CultureInfo.InvariantCulture));
        console.Write(globals);
    }

    /// <summary>One verifier run per program, as bpf(BPF_PROG_LOAD) with log_level 1 would report it.</summary>
    private static int Verify(BpfObject obj, bool json)
    {
        var results = new List<(BpfProgram Prog, string Log, int Errno, string? Message)>();
        foreach (var p in obj.Programs)
        {
            try
            {
                var r = BpfTraceSim.Bpf.Verifier.BpfVerifier.Verify(p, obj.Maps);
                results.Add((p, r.Log, 0, null));
            }
            catch (BpfVerifierException e)
            {
                results.Add((p, e.Log, e.Errno, e.Message));
            }
        }
        if (json)
        {
            Console.Out.WriteLine(JsonSerializer.Serialize(new
            {
                @object = obj.Name,
                programs = results.Select(r => new
                {
                    name = r.Prog.Name,
                    section = r.Prog.Section,
                    verified = r.Errno == 0,
                    errno = r.Errno == 0 ? null : "-" + Errno.Name(r.Errno),
                    log = r.Log.TrimEnd('\n').Split('\n'),
                }),
            }, new JsonSerializerOptions { WriteIndented = true }));
        }
        else
        {
            foreach (var r in results)
            {
                Console.Out.WriteLine($"program {r.Prog.Name} section {r.Prog.Section}: {(r.Errno == 0 ? "verified" : $"refused, -{Errno.Name(r.Errno)}")}");
                foreach (var line in r.Log.TrimEnd('\n').Split('\n')) Console.Out.WriteLine("  " + line);
            }
        }
        return results.Any(r => r.Errno != 0) ? 2 : 0;
    }

    /// <summary>A helper the simulator implements: it has a prototype in HelperProtos (the one list).</summary>
    private static bool Supported(int id) => HelperProtos.Of(id) is not null;

    /// <summary>`inspect --helpers`: every id below __BPF_FUNC_MAX_ID, its name, and whether it is supported.</summary>
    private static int HelperTable(bool json)
    {
        var ids = Enumerable.Range(0, BpfHelperNames.Count).ToArray();
        if (json)
        {
            Console.Out.WriteLine(JsonSerializer.Serialize(new
            {
                helpers = ids.Select(id => new { id, name = BpfHelperNames.Name(id), supported = Supported(id), iter_only = HelperProtos.Of(id)?.IterOnly ?? false }),
            }, new JsonSerializerOptions { WriteIndented = true }));
            return 0;
        }
        var t = new Table().Title($"helpers ({ids.Count(Supported)} of {ids.Length} supported)").AddColumns("id", "helper", "supported");
        foreach (int id in ids)
            t.AddRow(id.ToString(System.Globalization.CultureInfo.InvariantCulture), Markup.Escape(BpfHelperNames.Name(id)),
                HelperProtos.Of(id) is { } p ? (p.IterOnly ? "yes (iter programs)" : "yes") : "no");
        AnsiConsole.Console.Write(t);
        return 0;
    }

    private static IEnumerable<int> Helpers(BpfProgram p) => p.HelperCalls.Select(h => h.HelperId).Distinct().Order();

    private static string Json(BpfObject obj) => JsonSerializer.Serialize(new
    {
        @object = obj.Name,
        programs = obj.Programs.Select(p => new
        {
            name = p.Name,
            section = p.Section,
            type = p.Type.ToString(),
            insns = p.Insns.Length,
            helpers = Helpers(p).Select(h => new { id = h, name = BpfHelperNames.Name(h), supported = Supported(h) }),
        }),
        maps = obj.Maps.Select(m => new { name = m.Name, type = m.Type.ToString(), key_size = m.KeySize, value_size = m.ValueSize, max_entries = m.MaxEntries, global_data = m.IsGlobalData, read_only = m.ReadOnly }),
        globals = obj.Globals.Select(g => new { name = g.Name, section = g.Section, offset = g.Offset, size = g.Size }),
    }, new JsonSerializerOptions { WriteIndented = true });
}

using System.Globalization;
using System.Text;

namespace BpfTraceSim.Contracts.Scenarios;

/// <summary>
/// Rewrites fields of a scenario by their YAML path before parsing (what a sweep does to make its
/// variants). Paths use the error paths' syntax: <c>events.out.ring_pages</c>, <c>fleet[0].cpus</c>,
/// <c>programs.exec_trace.body[0].perf_event_output.size</c>. A value is YAML text: a scalar
/// (<c>16</c>, <c>250us</c>, <c>BPF_F_CURRENT_CPU</c>) or a flow collection (<c>{ uniform: [8, 64] }</c>).
/// The last segment may add a field the file left out; everything before it must exist. The result
/// is re-validated by <see cref="ScenarioParser"/>; refusals are <see cref="ScenarioException"/>s
/// whose Field names the path (or the field the new value broke) and whose Message says why.
/// </summary>
public static class ScenarioPaths
{
    /// <summary>Sets one field; returns the rewritten YAML (comments are not kept), which parses.</summary>
    public static string Set(string yamlText, string path, string value, string file = ScenarioParser.NoFile) =>
        SetMany(yamlText, [new KeyValuePair<string, string>(path, value)], file);

    /// <summary>Sets several fields in order; returns the rewritten YAML, which parses.</summary>
    public static string SetMany(string yamlText, IEnumerable<KeyValuePair<string, string>> assignments, string file = ScenarioParser.NoFile)
    {
        Apply(yamlText, assignments, file, out string text);
        return text;
    }

    /// <summary>Sets the fields and parses the result.</summary>
    public static Scenario Apply(string yamlText, IEnumerable<KeyValuePair<string, string>> assignments, string file = ScenarioParser.NoFile) =>
        Apply(yamlText, assignments, file, out _);

    /// <summary>Whether a path names a field present in the file (without changing anything).</summary>
    public static bool Exists(string yamlText, string path, string file = ScenarioParser.NoFile)
    {
        YNode? node = YamlTree.Load(yamlText, file);
        foreach (var seg in Segments(path, file))
        {
            node = seg.Key is { } key
                ? node is YMap m && m.IndexOf(key) is var i and >= 0 ? m.Entries[i].Value : null
                : node is YSeq q && seg.Index < q.Items.Count ? q.Items[seg.Index] : null;
            if (node is null)
                return false;
        }
        return true;
    }

    private static Scenario Apply(string yamlText, IEnumerable<KeyValuePair<string, string>> assignments, string file, out string text)
    {
        YNode root = YamlTree.Load(yamlText, file) ?? throw Refuse(file, YamlDotNet.Core.Mark.Empty, "", "the file is empty");
        var last = (Path: "", Value: "", At: YamlDotNet.Core.Mark.Empty);
        foreach (var (path, value) in assignments)
        {
            var at = SetOne(root, path, value, file);
            last = (path, value, at);
        }
        text = YamlTree.Emit(root);
        try
        {
            return ScenarioParser.Parse(YamlTree.Load(text, file), file);
        }
        catch (ScenarioException e) when (last.Path.Length > 0)
        {
            // Positions in the re-emitted text mean nothing to the user: point at the field set.
            throw new ScenarioException(e.Error with
            {
                Line = (int)last.At.Line, Column = (int)last.At.Column,
                Message = $"after setting {last.Path} = {last.Value}: {e.Error.Message}",
            }, e);
        }
    }

    private static YamlDotNet.Core.Mark SetOne(YNode root, string path, string value, string file)
    {
        var segments = Segments(path, file);
        YNode? replacement;
        try
        {
            replacement = YamlTree.Load(value, "<value>");
        }
        catch (ScenarioException e)
        {
            throw Refuse(file, root.Start, path, $"the value '{value}' is not YAML: {e.Error.Message}");
        }
        replacement ??= new YScalar { Value = "", Style = YamlDotNet.Core.ScalarStyle.Plain };

        YNode node = root;
        string walked = "";
        for (int s = 0; s < segments.Count; s++)
        {
            var seg = segments[s];
            bool lastSeg = s == segments.Count - 1;
            if (seg.Key is { } key)
            {
                if (node is not YMap map)
                    throw Refuse(file, node.Start, path, $"{Where(walked)} is {ScenarioParser_Describe(node)}, not a mapping: it has no field '{key}'");
                int i = map.IndexOf(key);
                if (i < 0)
                {
                    if (!lastSeg)
                    {
                        string have = map.Entries.Count == 0 ? "none" : string.Join(", ", map.Entries.Select(e => e.Key.Value));
                        throw Refuse(file, map.Start, path, $"{Where(walked)} has no field '{key}' (fields there: {have})");
                    }
                    // A field the file left out: add it; the parser decides whether it is a known field.
                    map.Entries.Add(new(new YScalar { Value = key, Start = map.Start }, replacement));
                    return map.Start;
                }
                if (lastSeg)
                {
                    var old = map.Entries[i];
                    map.Entries[i] = new(old.Key, replacement);
                    return old.Value.Start;
                }
                node = map.Entries[i].Value;
                walked = walked.Length == 0 ? key : walked + "." + key;
            }
            else
            {
                if (node is not YSeq seq)
                    throw Refuse(file, node.Start, path, $"{Where(walked)} is {ScenarioParser_Describe(node)}, not a list: it has no [{seg.Index}]");
                if (seg.Index >= seq.Items.Count)
                    throw Refuse(file, seq.Start, path, $"{Where(walked)} has {seq.Items.Count} entr{(seq.Items.Count == 1 ? "y" : "ies")}: [{seg.Index}] does not exist");
                if (lastSeg)
                {
                    var old = seq.Items[seg.Index];
                    seq.Items[seg.Index] = replacement;
                    return old.Start;
                }
                node = seq.Items[seg.Index];
                walked += $"[{seg.Index}]";
            }
        }
        throw Refuse(file, root.Start, path, "an empty path names no field");
    }

    private static string Where(string walked) => walked.Length == 0 ? "the top level" : $"'{walked}'";

    private static string ScenarioParser_Describe(YNode node) => node switch
    {
        YScalar { IsNull: true } => "null",
        YScalar s => $"the value '{s.Value}'",
        _ => node.KindName,
    };

    private readonly record struct Segment(string? Key, int Index);

    private static List<Segment> Segments(string path, string file)
    {
        var result = new List<Segment>();
        int i = 0;
        var sb = new StringBuilder();
        while (i < path.Length)
        {
            char c = path[i];
            if (c == '.')
            {
                if (sb.Length == 0 && (result.Count == 0 || path[i - 1] == '.'))
                    throw BadPath(file, path, i);
                Flush();
                i++;
                continue;
            }
            if (c == '[')
            {
                Flush();
                int close = path.IndexOf(']', i);
                if (close < 0 || !int.TryParse(path.AsSpan(i + 1, close - i - 1), NumberStyles.None, CultureInfo.InvariantCulture, out int index))
                    throw BadPath(file, path, i);
                result.Add(new Segment(null, index));
                i = close + 1;
                continue;
            }
            if (c == ']')
                throw BadPath(file, path, i);
            sb.Append(c);
            i++;
        }
        Flush();
        if (result.Count == 0 || path.EndsWith('.'))
            throw BadPath(file, path, path.Length);
        return result;

        void Flush()
        {
            if (sb.Length > 0)
            {
                result.Add(new Segment(sb.ToString(), 0));
                sb.Clear();
            }
        }
    }

    private static ScenarioException BadPath(string file, string path, int at) =>
        Refuse(file, YamlDotNet.Core.Mark.Empty, path, $"'{path}' is not a field path (at character {at + 1}): write keys separated by '.', list indexes as [N], e.g. fleet[0].cpus");

    private static ScenarioException Refuse(string file, YamlDotNet.Core.Mark at, string path, string message) =>
        YamlTree.Fail(file, at, path, message);
}

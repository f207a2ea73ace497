using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using BpfTraceSim.Client.Exec;
using BpfTraceSim.Kernel;

namespace BpfTraceSim.Client.Iter;

/// <summary>
/// An iterator run (`bpfsim iter`): a world, what to iterate over (its tasks or its maps) and the
/// iterator program's body for each object. It becomes an exec document whose seq steps record
/// the program's calls per object, so the read() loop re-runs objects exactly as bpf_seq_read does.
/// With "program" instead of "body" it is a clang-built iter/task object, read by one read_iter step.
/// </summary>
internal static class IterDocument
{
    public const string Seq = "iter";
    private static readonly string[] IterFields = ["target", "body", "program", "seq_size", "read_size", "prog_ret"];
    private static readonly string[] ProgramFields = ["object", "section", "program"];

    /// <summary>The exec programs entry an iter.program becomes (its read_iter step reads it).</summary>
    public const string ProgramName = "iter";
    private static readonly string[] BodyCalls = ["seq_printf", "seq_write", "seq_printf_btf"];
    private static readonly string[] TaskFields = ["pid", "tgid", "comm", "cpu", "seq_num"];
    private static readonly string[] MapFields = ["id", "name", "max_entries", "type", "seq_num"];

    /// <summary>The exec document for an iter document, or a DocumentException naming the field.</summary>
    public static byte[] ToExec(byte[] text)
    {
        var entries = JsonTree.ReadAll(text);
        if (entries.Count != 1) throw new DocumentException(1, "", "an iter document is one JSON object");
        var entry = entries[0];
        if (entry.SyntaxError is not null) throw new DocumentException(entry.Line, "", entry.SyntaxError);
        var root = entry.Value!;
        if (!root.IsObject) throw new DocumentException(root.Line, "", "an iter document is one JSON object");
        var iter = root["iter"] ?? throw new DocumentException(root.Line, "iter", "missing required field \"iter\"");
        Validate(iter);

        var doc = JsonNode.Parse(Encoding.UTF8.GetString(text))!.AsObject();
        var spec = doc["iter"]!.AsObject();
        doc.Remove("iter");
        doc.Remove("steps");
        string target = (string?)spec["target"] ?? "task";
        int? seqSize = spec["seq_size"] is { } ss ? (int)ss : null;
        int readSize = spec["read_size"] is { } rs ? (int)rs : 4096;
        long progRet = spec["prog_ret"] is { } pr ? (long)pr : 0;
        if (spec["program"] is JsonObject prog)
        {
            doc["programs"] = new JsonObject { [ProgramName] = prog.DeepClone() };
            var read = new JsonObject { ["call"] = "read_iter", ["program"] = ProgramName, ["read_size"] = readSize };
            if (seqSize is int ps) read["seq_size"] = ps;
            doc["steps"] = new JsonArray(read);
            if (doc["id"] is null) doc["id"] = "iter";
            return Encoding.UTF8.GetBytes(doc.ToJsonString());
        }
        var body = spec["body"]!.AsArray();

        var objects = target == "task" ? Tasks(doc) : Maps(doc);
        var steps = new JsonArray();
        for (int i = 0; i < objects.Count; i++)
        {
            var fields = objects[i];
            fields["seq_num"] = i;
            foreach (var call in body)
            {
                var step = Substitute(call!.DeepClone(), fields)!.AsObject();
                step["seq"] = Seq;
                if (seqSize is int size && steps.Count == 0) step["seq_size"] = size;
                steps.Add(step);
            }
            steps.Add(new JsonObject { ["call"] = "seq_end_object", ["seq"] = Seq, ["prog_ret"] = progRet });
        }
        steps.Add(new JsonObject { ["call"] = "read_seq", ["seq"] = Seq, ["read_size"] = readSize });
        doc["steps"] = steps;
        if (doc["id"] is null) doc["id"] = "iter";
        return Encoding.UTF8.GetBytes(doc.ToJsonString());
    }

    private static void Validate(JNode iter)
    {
        if (!iter.IsObject) throw new DocumentException(iter.Line, "iter", $"must be an object, found {iter.KindName}");
        foreach (var (name, v) in iter.Members!)
            if (Array.IndexOf(IterFields, name) < 0) throw new DocumentException(v.Line, $"iter.{name}", $"unknown field \"{name}\" (target, body, program, seq_size, read_size, prog_ret)");
        string target = iter["target"] is { IsString: true } t ? t.Scalar! : iter["target"] is null ? "task" : throw new DocumentException(iter["target"]!.Line, "iter.target", "must be \"task\" or \"bpf_map\"");
        if (target is not ("task" or "bpf_map")) throw new DocumentException(iter["target"]!.Line, "iter.target", $"unknown target \"{target}\" (task or bpf_map)");
        var fields = target == "task" ? TaskFields : MapFields;
        if (iter["program"] is { } program)
        {
            if (iter["body"] is { } both) throw new DocumentException(both.Line, "iter.body", "give body or program, not both");
            ValidateProgram(program, target, iter);
            return;
        }
        var body = iter["body"] ?? throw new DocumentException(iter.Line, "iter.body", "missing required field \"body\" or \"program\" (the iterator program's helper calls per object, or a BPF object)");
        if (!body.IsArray) throw new DocumentException(body.Line, "iter.body", $"must be an array of seq calls, found {body.KindName}");
        for (int i = 0; i < body.Items!.Count; i++)
        {
            var call = body.Items[i];
            string path = $"iter.body[{i}]";
            if (!call.IsObject) throw new DocumentException(call.Line, path, $"must be an object, found {call.KindName}");
            string? name = call["call"]?.Scalar;
            if (name is null || Array.IndexOf(BodyCalls, name) < 0)
                throw new DocumentException(call.Line, path + ".call", "an iterator body calls seq_printf, seq_write or seq_printf_btf");
            if (call["seq"] is not null) throw new DocumentException(call["seq"]!.Line, path + ".seq", "the iterator's seq_file is implicit");
            CheckFields(call, path, fields);
        }
    }

    // iter.program: a clang-built SEC("iter/task") object; the exec parser loads it (programs.iter).
    private static void ValidateProgram(JNode program, string target, JNode iter)
    {
        if (!program.IsObject) throw new DocumentException(program.Line, "iter.program", $"must be an object {{ object, section, program }}, found {program.KindName}");
        foreach (var (name, v) in program.Members!)
            if (Array.IndexOf(ProgramFields, name) < 0) throw new DocumentException(v.Line, $"iter.program.{name}", $"unknown field \"{name}\" (object, section, program)");
        if (program["object"] is null) throw new DocumentException(program.Line, "iter.program.object", "missing required field \"object\" (a BPF object file with a SEC(\"iter/task\") program)");
        if (target != "task") throw new DocumentException(iter["target"]!.Line, "iter.target", "a program object iterates tasks only (\"task\"); bpf_map takes a body");
        // the bounds the exec parser gives read_seq's read_size and seq_size (1 to 16 MiB)
        foreach (string size in new[] { "read_size", "seq_size" })
            if (iter[size] is { } n && (!n.IsNumber || !JsonTree.TryParseInteger(n.Scalar!, out ulong v) || v < 1 || v > SimLimits.MaxSeqBytes))
                throw new DocumentException(n.Line, $"iter.{size}", $"must be an integer from 1 to {SimLimits.MaxSeqBytes}, found {n.Scalar ?? n.KindName}");
        if (iter["prog_ret"] is { } pr) throw new DocumentException(pr.Line, "iter.prog_ret", "the program object's own return value is used; prog_ret goes with body");
    }

    /// <summary>The line of iter.program in an iter document (where its load errors are reported).</summary>
    public static int ProgramLine(byte[] text) => JsonTree.ReadAll(text)[0].Value?["iter"]?["program"]?.Line ?? 1;

    /// <summary>
    /// Checks an iter.program document's world as the exec parser reads it (ToExec's output, its
    /// object loaded): a load error is reported at iter.program's line, with its field under iter.program.
    /// </summary>
    public static void CheckProgram(byte[] original, byte[] execDoc, string? baseDir)
    {
        const string Prefix = "programs." + ProgramName;
        try
        {
            ExecParser.Parse(JsonTree.ReadAll(execDoc)[0].Value!, baseDir);
        }
        catch (DocumentException ex) when (ex.Field.StartsWith(Prefix, StringComparison.Ordinal))
        {
            throw new DocumentException(ProgramLine(original), "iter.program" + ex.Field[Prefix.Length..], ex.Message);
        }
    }

    /// <summary>True when the (valid) iter document gives a program object rather than a body.</summary>
    public static bool HasProgram(byte[] text) => JsonTree.ReadAll(text)[0].Value?["iter"]?["program"] is not null;

    private static void CheckFields(JNode node, string path, string[] fields)
    {
        if (node.IsObject)
        {
            if (node["field"] is { } f)
            {
                if (!f.IsString || Array.IndexOf(fields, f.Scalar) < 0)
                    throw new DocumentException(f.Line, path + ".field", $"unknown object field \"{f.Scalar}\" ({string.Join(", ", fields)})");
                return;
            }
            foreach (var (name, v) in node.Members!) CheckFields(v, $"{path}.{name}", fields);
        }
        else if (node.IsArray)
        {
            for (int i = 0; i < node.Items!.Count; i++) CheckFields(node.Items[i], $"{path}[{i}]", fields);
        }
    }

    /// <summary>Replaces { "field": name } with the object's value: numbers as numbers, names as strings in memory.</summary>
    private static JsonNode? Substitute(JsonNode? node, Dictionary<string, JsonNode?> fields)
    {
        if (node is JsonObject o)
        {
            if (o["field"] is { } f) return fields[(string)f!]?.DeepClone();
            foreach (var key in o.Select(kv => kv.Key).ToList()) o[key] = Substitute(o[key]?.DeepClone(), fields);
            return o;
        }
        if (node is JsonArray a)
        {
            for (int i = 0; i < a.Count; i++) a[i] = Substitute(a[i]?.DeepClone(), fields);
            return a;
        }
        return node;
    }

    private static List<Dictionary<string, JsonNode?>> Tasks(JsonObject doc)
    {
        var list = new List<Dictionary<string, JsonNode?>>();
        if (doc["tasks"] is not JsonArray tasks) return list;
        foreach (var t in tasks)
        {
            int pid = (int)t!["pid"]!;
            list.Add(new Dictionary<string, JsonNode?>
            {
                ["pid"] = pid,
                ["tgid"] = t["tgid"] is { } tg ? (int)tg : pid,
                ["comm"] = new JsonObject { ["str"] = (string?)t["comm"] ?? "task" },
                ["cpu"] = t["cpu"] is { } c ? (int)c : 0,
            });
        }
        return list;
    }

    private static List<Dictionary<string, JsonNode?>> Maps(JsonObject doc)
    {
        var list = new List<Dictionary<string, JsonNode?>>();
        if (doc["maps"] is not JsonObject maps) return list;
        int cpus = doc["cpus"] is { } c ? (int)c : 1;
        int id = 1;
        foreach (var (name, m) in maps)
        {
            list.Add(new Dictionary<string, JsonNode?>
            {
                ["id"] = id++,
                ["name"] = new JsonObject { ["str"] = name },
                ["max_entries"] = m?["max_entries"] is { } me ? (int)me : cpus,
                ["type"] = new JsonObject { ["str"] = (string?)m?["type"] ?? "perf_event_array" },
            });
        }
        return list;
    }
}

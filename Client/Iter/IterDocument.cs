using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using BpfTraceSim.Client.Exec;

namespace BpfTraceSim.Client.Iter;

/// <summary>
/// An iterator run (`bpfsim iter`): a world, what to iterate over (its tasks or its maps) and the
/// iterator program's body for each object. It becomes an exec document whose seq steps record
/// the program's calls per object, so the read() loop re-runs objects exactly as bpf_seq_read does.
/// </summary>
internal static class IterDocument
{
    public const string Seq = "iter";
    private static readonly string[] IterFields = ["target", "body", "seq_size", "read_size", "prog_ret"];
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
            if (Array.IndexOf(IterFields, name) < 0) throw new DocumentException(v.Line, $"iter.{name}", $"unknown field \"{name}\" (target, body, seq_size, read_size, prog_ret)");
        string target = iter["target"] is { IsString: true } t ? t.Scalar! : iter["target"] is null ? "task" : throw new DocumentException(iter["target"]!.Line, "iter.target", "must be \"task\" or \"bpf_map\"");
        if (target is not ("task" or "bpf_map")) throw new DocumentException(iter["target"]!.Line, "iter.target", $"unknown target \"{target}\" (task or bpf_map)");
        var fields = target == "task" ? TaskFields : MapFields;
        var body = iter["body"] ?? throw new DocumentException(iter.Line, "iter.body", "missing required field \"body\" (the iterator program's helper calls per object)");
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

using System.Globalization;
using System.Text;
using System.Text.Json;
using BpfTraceSim.Kernel;

namespace BpfTraceSim.Client.Exec;

/// <summary>A JSON value with the line it starts on, so document errors can name their line.</summary>
internal sealed class JNode
{
    public JsonTokenType Kind { get; init; }
    public int Line { get; init; }
    /// <summary>Raw text of a number, or the decoded string.</summary>
    public string? Scalar { get; init; }
    public List<KeyValuePair<string, JNode>>? Members { get; init; }
    public List<JNode>? Items { get; init; }

    public bool IsNull => Kind == JsonTokenType.Null;
    public bool IsObject => Kind == JsonTokenType.StartObject;
    public bool IsArray => Kind == JsonTokenType.StartArray;
    public bool IsString => Kind == JsonTokenType.String;
    public bool IsNumber => Kind == JsonTokenType.Number;
    public bool IsBool => Kind is JsonTokenType.True or JsonTokenType.False;

    public JNode? this[string name]
    {
        get
        {
            if (Members is null) return null;
            foreach (var kv in Members)
                if (kv.Key == name) return kv.Value;
            return null;
        }
    }

    public string KindName => Kind switch
    {
        JsonTokenType.StartObject => "an object",
        JsonTokenType.StartArray => "an array",
        JsonTokenType.String => "a string",
        JsonTokenType.Number => "a number",
        JsonTokenType.True or JsonTokenType.False => "a boolean",
        JsonTokenType.Null => "null",
        _ => Kind.ToString(),
    };
}

/// <summary>Thrown for a document that is not valid: carries the line and field path.</summary>
internal sealed class DocumentException(int line, string field, string message) : Exception(message)
{
    public int Line { get; } = line;
    public string Field { get; } = field;
    /// <summary>"field: message", or the message alone for an error of the whole document.</summary>
    public string FieldAndMessage => Field.Length > 0 ? $"{Field}: {Message}" : Message;
}

/// <summary>Reads a text holding one JSON value or many (JSON Lines) into line-annotated trees.</summary>
internal static class JsonTree
{
    /// <summary>One top-level value, or the syntax error found where it should have been.</summary>
    public sealed record Entry(JNode? Value, int Line, string? SyntaxError);

    public static List<Entry> ReadAll(byte[] utf8)
    {
        var lineStarts = LineStarts(utf8);
        var entries = new List<Entry>();
        int pos = 0;
        while (true)
        {
            pos = SkipWhitespace(utf8, pos);
            if (pos >= utf8.Length) break;
            int startLine = LineOf(lineStarts, pos);
            var reader = new Utf8JsonReader(utf8.AsSpan(pos), new JsonReaderOptions { AllowMultipleValues = true, CommentHandling = JsonCommentHandling.Disallow, MaxDepth = SimLimits.MaxNestingDepth });
            try
            {
                if (!reader.Read()) break;
                var node = ReadValue(ref reader, utf8, pos, lineStarts);
                entries.Add(new Entry(node, startLine, null));
                pos += (int)reader.BytesConsumed;
            }
            catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException)
            {
                // System.Text.Json reports most errors as JsonException with a line; a string that
                // is not valid UTF-8 surfaces from GetString() as InvalidOperationException.
                int errLine = ex is JsonException je ? startLine + (int)(je.LineNumber ?? 0) : LineOf(lineStarts, pos + (int)reader.TokenStartIndex);
                entries.Add(new Entry(null, errLine, $"invalid JSON: {Clean(ex.Message)}"));
                // Resynchronise at the next line that starts an object: JSON Lines keep going.
                int next = NextObjectLine(utf8, lineStarts, errLine);
                if (next < 0) break;
                pos = next;
            }
        }
        return entries;
    }

    private static string Clean(string message)
    {
        int i = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
        return i > 0 ? message[..i].TrimEnd('.', ' ') : message;
    }

    private static JNode ReadValue(ref Utf8JsonReader r, byte[] text, int basePos, List<int> lineStarts)
    {
        int line = LineOf(lineStarts, basePos + (int)r.TokenStartIndex);
        switch (r.TokenType)
        {
            case JsonTokenType.StartObject:
            {
                var members = new List<KeyValuePair<string, JNode>>();
                while (true)
                {
                    r.Read();
                    if (r.TokenType == JsonTokenType.EndObject) break;
                    string name = r.GetString()!;
                    int nameLine = LineOf(lineStarts, basePos + (int)r.TokenStartIndex);
                    foreach (var kv in members)
                        if (kv.Key == name)
                            throw new DocumentException(nameLine, name, $"duplicate field \"{name}\"");
                    r.Read();
                    members.Add(new(name, ReadValue(ref r, text, basePos, lineStarts)));
                }
                return new JNode { Kind = JsonTokenType.StartObject, Line = line, Members = members };
            }
            case JsonTokenType.StartArray:
            {
                var items = new List<JNode>();
                while (true)
                {
                    r.Read();
                    if (r.TokenType == JsonTokenType.EndArray) break;
                    items.Add(ReadValue(ref r, text, basePos, lineStarts));
                }
                return new JNode { Kind = JsonTokenType.StartArray, Line = line, Items = items };
            }
            case JsonTokenType.String:
                return new JNode { Kind = JsonTokenType.String, Line = line, Scalar = r.GetString() };
            case JsonTokenType.Number:
                return new JNode { Kind = JsonTokenType.Number, Line = line, Scalar = Encoding.UTF8.GetString(r.ValueSpan) };
            default:
                return new JNode { Kind = r.TokenType, Line = line };
        }
    }

    private static int SkipWhitespace(byte[] t, int pos)
    {
        if (pos == 0 && t.Length >= 3 && t[0] == 0xef && t[1] == 0xbb && t[2] == 0xbf) pos = 3; // UTF-8 BOM
        while (pos < t.Length && t[pos] is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n') pos++;
        return pos;
    }

    private static List<int> LineStarts(byte[] t)
    {
        var starts = new List<int> { 0 };
        for (int i = 0; i < t.Length; i++)
            if (t[i] == (byte)'\n') starts.Add(i + 1);
        return starts;
    }

    /// <summary>1-based line of a byte offset.</summary>
    private static int LineOf(List<int> starts, int pos)
    {
        int i = starts.BinarySearch(pos);
        return (i >= 0 ? i : ~i - 1) + 1;
    }

    private static int NextObjectLine(byte[] t, List<int> starts, int afterLine)
    {
        for (int l = afterLine; l < starts.Count; l++)
        {
            int p = starts[l];
            if (p < t.Length && t[p] == (byte)'{') return p;
        }
        return -1;
    }

    public static bool TryParseInteger(string s, out ulong bits)
    {
        s = s.Trim();
        bits = 0;
        if (s.Length == 0) return false;
        bool neg = s[0] == '-';
        string body = neg ? s[1..] : s;
        ulong mag;
        if (body.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
        {
            if (!ulong.TryParse(body.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out mag)) return false;
        }
        else if (!ulong.TryParse(body, NumberStyles.None, CultureInfo.InvariantCulture, out mag)) return false;
        if (neg)
        {
            if (mag > 1UL << 63) return false;
            bits = unchecked(0UL - mag);
        }
        else bits = mag;
        return true;
    }
}

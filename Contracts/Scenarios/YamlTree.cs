using BpfTraceSim.Kernel;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace BpfTraceSim.Contracts.Scenarios;

// A small YAML node tree built from YamlDotNet's parser events, so that every node keeps its start
// mark (for file:line:column errors), duplicate keys are caught where they stand, and the path
// setter can edit and re-emit it.

internal abstract class YNode
{
    public Mark Start { get; init; } = Mark.Empty;
    public abstract string KindName { get; }
}

internal sealed class YScalar : YNode
{
    public string Value { get; init; } = "";
    public ScalarStyle Style { get; init; } = ScalarStyle.Plain;
    public override string KindName => "a value";

    /// <summary>A plain <c>null</c>, <c>~</c> or empty scalar.</summary>
    public bool IsNull => Style == ScalarStyle.Plain && (Value.Length == 0 || Value == "~" || Value == "null" || Value == "Null" || Value == "NULL");
}

internal sealed class YSeq : YNode
{
    public List<YNode> Items { get; } = [];
    public SequenceStyle Style { get; init; } = SequenceStyle.Block;
    public override string KindName => "a list";
}

internal sealed class YMap : YNode
{
    public List<KeyValuePair<YScalar, YNode>> Entries { get; } = [];
    public MappingStyle Style { get; init; } = MappingStyle.Block;
    public override string KindName => "a mapping";

    public int IndexOf(string key)
    {
        for (int i = 0; i < Entries.Count; i++)
        {
            if (Entries[i].Key.Value == key)
                return i;
        }
        return -1;
    }
}

internal static class YamlTree
{
    /// <summary>Parses one YAML document; null when the text holds none.</summary>
    public static YNode? Load(string text, string file)
    {
        var scanner = new Scanner(new StringReader(text));
        var parser = new Parser(scanner);
        var state = new LoadState(file);
        try
        {
            parser.Consume<StreamStart>();
            if (parser.TryConsume<StreamEnd>(out _))
                return null;
            parser.Consume<DocumentStart>();
            YNode root = LoadNode(parser, state, 1);
            parser.Consume<DocumentEnd>();
            if (parser.Accept<DocumentStart>(out var second))
                throw Fail(file, second.Start, "", "a scenario file holds one YAML document; found a second one");
            parser.Consume<StreamEnd>();
            return root;
        }
        catch (YamlException e)
        {
            string message = e.InnerException is YamlException inner ? inner.Message : e.Message;
            throw Fail(file, e.Start, "", "not valid YAML: " + StripMark(message));
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or IndexOutOfRangeException or FormatException or OverflowException)
        {
            // YamlDotNet's scanner throws these without a position on some malformed input (an
            // unclosed flow sequence at the end of the text): report where the scanner stopped.
            throw Fail(file, scanner.CurrentPosition, "", "not valid YAML: the document ends inside an unclosed [ ], { } or quote, or has a character the scanner cannot read here");
        }
    }

    private sealed class LoadState(string file)
    {
        public string File { get; } = file;
        public Dictionary<string, (YNode Node, long Size)> Anchors { get; } = new(StringComparer.Ordinal);
        /// <summary>Nodes so far with every alias counted as the nodes it stands for.</summary>
        public long Expanded;
    }

    private static string StripMark(string message)
    {
        // YamlDotNet prefixes "(Line: 3, Col: 5, Idx: 20) - (Line: ...): "; the position is reported separately.
        int i = message.IndexOf("): ", StringComparison.Ordinal);
        return message.StartsWith("(Line", StringComparison.Ordinal) && i >= 0 ? message[(i + 3)..] : message;
    }

    private static YNode LoadNode(IParser parser, LoadState state, int depth) => LoadNode(parser, state, depth, out _);

    // size: the nodes this one stands for once aliases are expanded, so that a few lines of
    // aliases-of-aliases cannot make the reader walk billions of nodes.
    private static YNode LoadNode(IParser parser, LoadState state, int depth, out long size)
    {
        string file = state.File;
        YNode node;
        string anchor;
        if (parser.TryConsume<AnchorAlias>(out var alias))
        {
            if (!state.Anchors.TryGetValue(alias.Value.Value, out var target))
                throw Fail(file, alias.Start, "", $"alias *{alias.Value} names no anchor");
            size = target.Size;
            state.Expanded += size;
            if (state.Expanded > SimLimits.MaxYamlNodes)
                throw Fail(file, alias.Start, "", $"aliases expand the document past {SimLimits.MaxYamlNodes:N0} nodes (alias *{alias.Value} stands for {target.Size:N0}); write the values out or use fewer levels of aliases");
            return target.Node;
        }
        var start = parser.Current?.Start ?? Mark.Empty;
        if (depth > SimLimits.MaxNestingDepth)
            throw Fail(file, start, "", $"nested more than {SimLimits.MaxNestingDepth} levels deep (mappings and lists inside each other)");
        size = 1;
        state.Expanded++;
        if (parser.TryConsume<Scalar>(out var scalar))
        {
            node = new YScalar { Value = scalar.Value, Style = scalar.Style, Start = scalar.Start };
            anchor = scalar.Anchor.IsEmpty ? "" : scalar.Anchor.Value;
        }
        else if (parser.TryConsume<SequenceStart>(out var seqStart))
        {
            var seq = new YSeq { Start = seqStart.Start, Style = seqStart.Style };
            while (!parser.TryConsume<SequenceEnd>(out _))
            {
                seq.Items.Add(LoadNode(parser, state, depth + 1, out long s));
                size += s;
            }
            node = seq;
            anchor = seqStart.Anchor.IsEmpty ? "" : seqStart.Anchor.Value;
        }
        else
        {
            var mapStart = parser.Consume<MappingStart>();
            var map = new YMap { Start = mapStart.Start, Style = mapStart.Style };
            while (!parser.TryConsume<MappingEnd>(out _))
            {
                YNode key = LoadNode(parser, state, depth + 1, out long ks);
                if (key is not YScalar k)
                    throw Fail(file, key.Start, "", "a key must be a plain name, not " + key.KindName);
                if (map.IndexOf(k.Value) >= 0)
                    throw Fail(file, k.Start, "", $"duplicate key '{k.Value}'");
                YNode value = LoadNode(parser, state, depth + 1, out long vs);
                map.Entries.Add(new(k, value));
                size += ks + vs;
            }
            node = map;
            anchor = mapStart.Anchor.IsEmpty ? "" : mapStart.Anchor.Value;
        }
        if (anchor.Length > 0)
            state.Anchors[anchor] = (node, size);
        return node;
    }

    /// <summary>Writes the tree back as YAML (block style unless a collection was written in flow style).</summary>
    public static string Emit(YNode root)
    {
        var sw = new StringWriter();
        var emitter = new Emitter(sw);
        emitter.Emit(new StreamStart());
        emitter.Emit(new DocumentStart());
        EmitNode(emitter, root);
        emitter.Emit(new DocumentEnd(true));
        emitter.Emit(new StreamEnd());
        return sw.ToString();
    }

    private static void EmitNode(IEmitter emitter, YNode node)
    {
        switch (node)
        {
            case YScalar s:
                emitter.Emit(new Scalar(AnchorName.Empty, TagName.Empty, s.Value, s.Style, true, s.Style == ScalarStyle.Plain ? false : true));
                break;
            case YSeq q:
                emitter.Emit(new SequenceStart(AnchorName.Empty, TagName.Empty, true, q.Style));
                foreach (var item in q.Items)
                    EmitNode(emitter, item);
                emitter.Emit(new SequenceEnd());
                break;
            case YMap m:
                emitter.Emit(new MappingStart(AnchorName.Empty, TagName.Empty, true, m.Style));
                foreach (var (k, v) in m.Entries)
                {
                    EmitNode(emitter, k);
                    EmitNode(emitter, v);
                }
                emitter.Emit(new MappingEnd());
                break;
        }
    }

    public static ScenarioException Fail(string file, Mark at, string field, string message) =>
        new(new ScenarioError { File = file, Line = (int)at.Line, Column = (int)at.Column, Field = field, Message = message });
}

using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using BpfTraceSim.Contracts.Exec;

namespace BpfTraceSim.Client.Exec;

/// <summary>Writes exec output lines (docs/exec.md "Output") with a fixed field order.</summary>
internal static class ExecOutput
{
    private static readonly JsonWriterOptions Options = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, Indented = false };
    private static readonly UTF8Encoding StrictUtf8 = new(false, true);

    public static string World(string? id, IReadOnlyList<StepResult> results)
    {
        var buf = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buf, Options))
        {
            w.WriteStartObject();
            WriteId(w, id);
            w.WriteStartArray("results");
            for (int i = 0; i < results.Count; i++) Step(w, i, results[i]);
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buf.WrittenSpan);
    }

    public static string Error(string? id, int line, string field, string message)
    {
        var buf = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buf, Options))
        {
            w.WriteStartObject();
            WriteId(w, id);
            w.WriteStartObject("error");
            w.WriteNumber("line", line);
            w.WriteString("field", field);
            w.WriteString("message", message);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buf.WrittenSpan);
    }

    private static void WriteId(Utf8JsonWriter w, string? id)
    {
        if (id is null) w.WriteNull("id");
        else w.WriteString("id", id);
    }

    private static void Step(Utf8JsonWriter w, int index, StepResult r)
    {
        w.WriteStartObject();
        w.WriteNumber("step", index);
        if (r.VerifierError is { } ve) w.WriteString("verifier_error", ve);
        if (r.Fault is { } f)
        {
            w.WriteStartObject("fault");
            w.WriteNumber("insn", f.Insn);
            if (f.Line is null) w.WriteNull("line"); else w.WriteString("line", f.Line);
            w.WriteString("message", f.Message);
            w.WriteEndObject();
        }
        if (r.Ret is { } ret) w.WriteNumber("ret", ret);
        if (r.RetU64 is { } u) w.WriteString("ret_u64", u.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (r.Key is { } key) w.WriteNumber("key", key);
        if (r.Value is { } v)
        {
            w.WriteStartObject("value");
            w.WriteNumber("counter", v.Counter);
            w.WriteNumber("enabled", v.Enabled);
            w.WriteNumber("running", v.Running);
            w.WriteEndObject();
        }
        if (r.Buf is { } b) w.WriteString("buf_hex", Hex(b));
        if (r.Helpers is { } hs)
        {
            w.WriteStartArray("helpers");
            foreach (var h in hs)
            {
                w.WriteStartObject();
                w.WriteNumber("id", h.Id);
                w.WriteString("name", h.Name);
                w.WriteNumber("ret", h.Ret);
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        if (r.Signals is { } sigs)
        {
            w.WriteStartArray("signals");
            foreach (var s in sigs)
            {
                w.WriteStartObject();
                w.WriteNumber("tgid", s.Tgid);
                w.WriteNumber("pid", s.Pid);
                w.WriteNumber("sig", s.Sig);
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        if (r.Reads is { } reads)
        {
            w.WriteStartArray("reads");
            foreach (var n in reads) w.WriteNumberValue(n);
            w.WriteEndArray();
        }
        if (r.Text is { } text) WriteText(w, "text", "text_hex", text);
        if (r.ValueBytes is { } vb) w.WriteString("value_hex", Hex(vb));
        if (r.Stack is { } frames)
        {
            w.WriteStartArray("stack");
            foreach (var fr in frames) w.WriteStringValue(fr);
            w.WriteEndArray();
        }
        if (r.Records is { } recs)
        {
            w.WriteStartArray("records");
            foreach (var rec in recs)
            {
                w.WriteStartObject();
                w.WriteString("type", rec.Type);
                w.WriteNumber("size", rec.Size);
                if (rec.Lost is { } lost) w.WriteNumber("lost", lost);
                if (rec.Raw is { } raw) w.WriteString("raw_hex", Hex(raw));
                w.WriteString("record_hex", Hex(rec.Record));
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        if (r.RingbufRecords is { } rbs)
        {
            // consume_ringbuf's records take the place of consume's (a step has one or the other).
            w.WriteStartArray("records");
            foreach (var rec in rbs)
            {
                w.WriteStartObject();
                w.WriteNumber("size", rec.Size);
                w.WriteString("data_hex", Hex(rec.Data));
                w.WriteBoolean("discarded", rec.Discarded);
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        if (r.DataHead is { } dh) w.WriteNumber("data_head", dh);
        if (r.LostTotal is { } lt) w.WriteNumber("lost_total", lt);
        if (r.ConsumerPos is { } cp) w.WriteNumber("consumer_pos", cp);
        if (r.ProducerPos is { } pp) w.WriteNumber("producer_pos", pp);
        if (r.Wakeups is { } wk) w.WriteNumber("wakeups", wk);
        if (r.Lines is { } lines)
        {
            bool allValid = true;
            w.WriteStartArray("lines");
            foreach (var line in lines)
            {
                allValid &= IsUtf8(line);
                w.WriteStringValue(Decode(line));
            }
            w.WriteEndArray();
            if (!allValid)
            {
                w.WriteStartArray("lines_hex");
                foreach (var line in lines) w.WriteStringValue(Hex(line));
                w.WriteEndArray();
            }
        }
        w.WriteEndObject();
    }

    private static void WriteText(Utf8JsonWriter w, string name, string hexName, byte[] bytes)
    {
        w.WriteString(name, Decode(bytes));
        if (!IsUtf8(bytes)) w.WriteString(hexName, Hex(bytes));
    }

    private static bool IsUtf8(byte[] b)
    {
        try { StrictUtf8.GetCharCount(b); return true; }
        catch (DecoderFallbackException) { return false; }
    }

    /// <summary>UTF-8 with each bad byte shown as U+FFFD.</summary>
    private static string Decode(byte[] b) => Encoding.UTF8.GetString(b);

    public static string Hex(ReadOnlySpan<byte> b) => Convert.ToHexStringLower(b);
}

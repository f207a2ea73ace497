using static BpfTraceSim.Kernel.HelperProtos;

namespace BpfTraceSim.Contracts.Exec;

/// <summary>Who serves an exec step.</summary>
public enum StepServer
{
    /// <summary>The host grain: time, tasks, map slots, events, trace_pipe (host-wide state).</summary>
    Host,
    /// <summary>The CPU grain of the step's CPU (through its program grain): helper calls and programs.</summary>
    Cpu,
    /// <summary>The seq-file grain of the step's seq: the iterator helpers and reads.</summary>
    Seq,
}

/// <summary>
/// One exec step kind, as docs/exec.md lists it: its JSON call name, the fields it takes besides the
/// common ones, who serves it, and the kernel helper it calls (its id in enum bpf_func_id; the
/// helper's name and metric tag come from that id's prototype), if any.
/// </summary>
public sealed record StepKind(StepCall Call, string Name, StepServer Server, string[] Fields, int HelperId = 0)
{
    /// <summary>The step calls a kernel helper (its returns are counted under that helper).</summary>
    public bool IsHelper => HelperId != 0;
}

/// <summary>The exec step table: every step kind once, looked up by call or by JSON name.</summary>
public static class StepKinds
{
    /// <summary>Fields common to every call step.</summary>
    public static readonly string[] Common = ["call", "cpu", "pid", "context"];
    private static readonly string[] Fmt = ["fmt", "fmt_hex", "fmt_size"];
    private static readonly string[] Args = ["args", "data_len", "args_ptr"];

    private static readonly StepKind[] ByCall = Build(
    [
        new(StepCall.PerfEventOutput, "perf_event_output", StepServer.Cpu, ["map", "flags", "data_hex", "size"], PerfEventOutput),
        new(StepCall.PerfEventRead, "perf_event_read", StepServer.Cpu, ["map", "flags"], PerfEventRead),
        new(StepCall.PerfEventReadValue, "perf_event_read_value", StepServer.Cpu, ["map", "flags", "size", "buf_size"], PerfEventReadValue),
        new(StepCall.TracePrintk, "trace_printk", StepServer.Cpu, [.. Fmt, "args"], TracePrintk),
        new(StepCall.TraceVprintk, "trace_vprintk", StepServer.Cpu, [.. Fmt, .. Args], TraceVprintk),
        new(StepCall.Snprintf, "snprintf", StepServer.Cpu, [.. Fmt, .. Args, "size"], Snprintf),
        new(StepCall.SeqPrintf, "seq_printf", StepServer.Seq, ["seq", "seq_size", .. Fmt, .. Args], SeqPrintf),
        new(StepCall.SeqWrite, "seq_write", StepServer.Seq, ["seq", "seq_size", "data_hex"], SeqWrite),
        new(StepCall.SeqPrintfBtf, "seq_printf_btf", StepServer.Seq, ["seq", "seq_size", "btf", "flags"], SeqPrintfBtf),
        new(StepCall.SeqEndObject, "seq_end_object", StepServer.Seq, ["seq", "prog_ret"]),
        new(StepCall.ReadSeq, "read_seq", StepServer.Seq, ["seq", "read_size"]),
        new(StepCall.AdvanceNs, "advance_ns", StepServer.Host, ["advance_ns"]),
        new(StepCall.SetTaskCpu, "set_task_cpu", StepServer.Host, ["to"]),
        new(StepCall.UpdateSlot, "update_slot", StepServer.Host, ["map", "index", "event", "program", "prog", "flags"]),
        new(StepCall.DeleteSlot, "delete_slot", StepServer.Host, ["map", "index", "program"]),
        new(StepCall.Enable, "enable", StepServer.Host, ["event"]),
        new(StepCall.Disable, "disable", StepServer.Host, ["event"]),
        new(StepCall.Consume, "consume", StepServer.Host, ["event"]),
        new(StepCall.ReadTracePipe, "read_trace_pipe", StepServer.Host, []),
        new(StepCall.Run, "run", StepServer.Cpu, ["program", "ctx_hex"]),
        new(StepCall.SetGlobal, "set_global", StepServer.Cpu, ["program", "name", "value", "offset"]),
        new(StepCall.GetGlobal, "get_global", StepServer.Cpu, ["program", "name"]),
        new(StepCall.RingbufOutput, "ringbuf_output", StepServer.Cpu, ["map", "flags", "data_hex", "size"], RingbufOutput),
        new(StepCall.RingbufReserve, "ringbuf_reserve", StepServer.Cpu, ["map", "size", "flags"], RingbufReserve),
        new(StepCall.RingbufSubmit, "ringbuf_submit", StepServer.Cpu, ["sample", "flags"], RingbufSubmit),
        new(StepCall.RingbufDiscard, "ringbuf_discard", StepServer.Cpu, ["sample", "flags"], RingbufDiscard),
        new(StepCall.RingbufQuery, "ringbuf_query", StepServer.Cpu, ["map", "flags"], RingbufQuery),
        new(StepCall.ConsumeRingbuf, "consume_ringbuf", StepServer.Host, ["map"]),
        new(StepCall.CloseMap, "close_map", StepServer.Host, ["map"]),
        // user-space reads of an object's stack_trace map (BPF_MAP_LOOKUP_ELEM / GET_NEXT_KEY): its CPU reaches the host's objects
        new(StepCall.LookupSlot, "lookup_slot", StepServer.Cpu, ["map", "index"]),
        new(StepCall.NextSlot, "next_slot", StepServer.Cpu, ["map", "index"]),
        // cat on a pinned iter/task link: bpf_seq_read runs the program on the reading CPU for each task
        new(StepCall.ReadIter, "read_iter", StepServer.Cpu, ["program", "read_size", "seq_size"]),
    ]);

    private static readonly Dictionary<string, StepKind> ByName = CreateByName();

    private static StepKind[] Build(StepKind[] kinds)
    {
        var byCall = new StepKind[Enum.GetValues<StepCall>().Length];
        foreach (var k in kinds)
        {
            if (byCall[(int)k.Call] is not null) throw new InvalidOperationException($"step {k.Call} is listed twice");
            byCall[(int)k.Call] = k;
        }
        for (int i = 0; i < byCall.Length; i++)
            if (byCall[i] is null) throw new InvalidOperationException($"step {(StepCall)i} is not in the step table");
        return byCall;
    }

    private static Dictionary<string, StepKind> CreateByName()
    {
        var d = new Dictionary<string, StepKind>(StringComparer.Ordinal);
        foreach (var k in ByCall)
            if (k.Call != StepCall.AdvanceNs) d[k.Name] = k; // advance_ns is a step of its own shape, not a call
        return d;
    }

    public static StepKind Of(StepCall call) => ByCall[(int)call];

    /// <summary>A call step by its JSON "call" name.</summary>
    public static bool TryGet(string name, out StepKind kind) => ByName.TryGetValue(name, out kind!);

    /// <summary>The JSON names of the call steps (for "did you mean").</summary>
    public static IEnumerable<string> CallNames => ByName.Keys;
}

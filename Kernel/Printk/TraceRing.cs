using System.Runtime.InteropServices;
using System.Text;

namespace BpfTraceSim.Kernel.Printk;

/// <summary>
/// One CPU's trace ring buffer (kernel/trace/ring_buffer.c) holding bpf_trace_printk events, in
/// overwrite mode: data pages of BUF_PAGE_SIZE bytes; when the writer needs a new page and all
/// nr_pages hold unread events, the oldest page is dropped whole and its unread events counted as
/// lost. Event sizes follow the ring buffer's accounting (4-byte event header, a length word for
/// events over 112 bytes, 4-byte alignment, an 8-byte time extend when the delta to the previous
/// event on the page needs more than 27 bits). Pages are pooled: steady-state writes allocate nothing.
/// </summary>
[System.Runtime.CompilerServices.SkipLocalsInit]
public sealed class TraceRing
{
    /// <summary>buffer_size_kb's default (TRACE_BUF_SIZE_DEFAULT 1441792 bytes).</summary>
    public const int DefaultBufferSizeKb = 1408;
    /// <summary>BUF_PAGE_SIZE: a 4096-byte page minus its 16-byte header.</summary>
    public const int PageDataSize = 4080;
    private const int MaxEntriesPerPage = PageDataSize / 20 + 1;
    private const int MaxSmallData = 112; // RB_MAX_SMALL_DATA
    private const ulong MaxDelta = (1UL << 27) - 1;

    // One event's bookkeeping, kept together so a write touches one place. Flags holds what the
    // 5-character flags field is made of (context kind, preempt depth), rendered at read time.
    internal struct Entry
    {
        public ulong Ts;
        public SimTask? Task;
        public int Off;
        public int Len;
        public int Flags;
    }

    internal sealed class Page
    {
        public readonly byte[] Msg = new byte[PageDataSize];
        public readonly Entry[] Entries = new Entry[MaxEntriesPerPage];
        public int Used;     // ring-buffer bytes accounted
        public int MsgUsed;  // bytes of Msg in use
        public int Count;
        public int Read;

        public void Reset()
        {
            Array.Clear(Entries, 0, Count);
            Used = MsgUsed = Count = Read = 0;
        }
    }

    private readonly Page?[] _pages; // circular queue of pages holding events
    private readonly Stack<Page> _free = new();
    private int _head, _count;
    private Page? _tail; // the page the writer fills

    public TraceRing(int cpu, int bufferSizeKb = DefaultBufferSizeKb)
    {
        if (bufferSizeKb < 1) throw new ArgumentOutOfRangeException(nameof(bufferSizeKb));
        Cpu = cpu;
        BufferSizeKb = bufferSizeKb;
        NrPages = Math.Max(2, (int)(((long)bufferSizeKb * 1024 + PageDataSize - 1) / PageDataSize));
        _pages = new Page?[NrPages];
    }

    public int Cpu { get; }
    public int BufferSizeKb { get; }
    /// <summary>nr_pages: DIV_ROUND_UP(size, BUF_PAGE_SIZE), at least 2.</summary>
    public int NrPages { get; }
    /// <summary>Events dropped by overwrite and not yet reported by a trace_pipe read.</summary>
    public long Lost { get; internal set; }
    /// <summary>All events ever dropped by overwrite (the "overrun" of per_cpu/cpuN/stats).</summary>
    public long Overrun { get; private set; }

    /// <summary>Unread events.</summary>
    public int Unread
    {
        get
        {
            int n = 0;
            for (int k = 0; k < _count; k++) { var p = _pages[(_head + k) % NrPages]!; n += p.Count - p.Read; }
            return n;
        }
    }

    /// <summary>Size in the ring of one bpf_trace_printk event carrying msgLen bytes.</summary>
    public static int EventSize(int msgLen)
    {
        int data = 8 + 4 + msgLen + 1; // struct trace_entry, __data_loc, string and NUL
        int len = 4 + (data > MaxSmallData ? 4 : 0) + data;
        return (len + 3) & ~3;
    }

    /// <summary>
    /// trace_bpf_trace_printk: records one event (msg already cut at its NUL); flags is
    /// <see cref="PackFlags"/> of the helper's context.
    /// </summary>
    internal void Write(ulong ts, SimTask task, int flags, ReadOnlySpan<byte> msg)
    {
        int size = EventSize(msg.Length);
        Page? tail = _tail;
        if (tail is not null && tail.Count > 0 && ts - tail.Entries[tail.Count - 1].Ts > MaxDelta) size += 8;
        if (tail is null || tail.Used + size > PageDataSize || tail.Count == MaxEntriesPerPage)
        {
            tail = NewTailPage();
            size = EventSize(msg.Length);
        }
        int i = tail.Count++;
        tail.Used += size;
        ref Entry e = ref tail.Entries[i];
        e.Ts = ts;
        e.Task = task;
        e.Off = tail.MsgUsed;
        e.Len = msg.Length;
        e.Flags = flags;
        IntFormat.Copy(ref tail.Msg[tail.MsgUsed], ref MemoryMarshal.GetReference(msg), msg.Length);
        tail.MsgUsed += msg.Length;
    }

    /// <summary>What <see cref="Write"/> keeps of a helper's context for the flags field.</summary>
    internal static int PackFlags(in HelperContext ctx) => (int)ctx.Context << 8 | Math.Clamp(ctx.PreemptDepth, 0, 15);

    private Page NewTailPage()
    {
        if (_count == NrPages)
        {
            var old = _pages[_head]!;
            long dropped = old.Count - old.Read;
            Lost += dropped;
            Overrun += dropped;
            _pages[_head] = null;
            _head = (_head + 1) % NrPages;
            _count--;
            old.Reset();
            _free.Push(old);
        }
        var p = _free.Count > 0 ? _free.Pop() : new Page();
        int at = _head + _count;
        _pages[at >= NrPages ? at - NrPages : at] = p;
        _count++;
        _tail = p;
        return p;
    }

    /// <summary>The message of the event written last (what a printk step reports as its text).</summary>
    public ReadOnlySpan<byte> LastMessage => _tail is { Count: > 0 } t ? t.Msg.AsSpan(t.Entries[t.Count - 1].Off, t.Entries[t.Count - 1].Len) : default;

    /// <summary>The oldest unread event's timestamp, or false when empty.</summary>
    public bool TryPeek(out ulong ts)
    {
        while (_count > 0)
        {
            var p = _pages[_head]!;
            if (p.Read < p.Count)
            {
                ts = p.Entries[p.Read].Ts;
                return true;
            }
            if (_count == 1) break; // keep the tail page: the writer is still filling it
            _pages[_head] = null;
            _head = (_head + 1) % NrPages;
            _count--;
            p.Reset();
            _free.Push(p);
        }
        ts = 0;
        return false;
    }

    /// <summary>Consumes the oldest unread event, appending its trace_pipe text to sb.</summary>
    public void ConsumeInto(List<byte> sb)
    {
        var p = _pages[_head]!;
        int i = p.Read++;
        if (Lost > 0)
        {
            Append(sb, $"CPU:{Cpu} [LOST {Lost} EVENTS]\n");
            Lost = 0;
        }
        ref Entry e = ref p.Entries[i];
        Span<byte> flags = stackalloc byte[5];
        PrintkHelpers.TraceFlags(new HelperContext(Cpu, e.Task!, (ExecContext)(e.Flags >> 8), e.Ts) { PreemptDepth = e.Flags & 0xff }, flags);
        FormatHeader(sb, e.Task!, Cpu, flags, e.Ts);
        sb.AddRange(p.Msg.AsSpan(e.Off, e.Len));
        sb.Add((byte)'\n');
    }

    /// <summary>trace_print_context for the bpf_trace_printk event: "%16s-%-7d [%03d] FLAGS %5lu.%06lu: bpf_trace_printk: ".</summary>
    internal static void FormatHeader(List<byte> sb, SimTask task, int cpu, ReadOnlySpan<byte> flags, ulong ts)
    {
        byte[] comm = Encoding.UTF8.GetBytes(task.Comm);
        int commLen = Math.Min(comm.Length, 15); // TASK_COMM_LEN - 1
        for (int k = commLen; k < 16; k++) sb.Add((byte)' ');
        sb.AddRange(comm.AsSpan(0, commLen));
        Append(sb, "-" + task.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture).PadRight(7) + " ");
        Append(sb, "[" + cpu.ToString("D3", System.Globalization.CultureInfo.InvariantCulture) + "] ");
        sb.AddRange(flags);
        ulong us = (ts + 500) / 1000; // ns2usecs rounds
        ulong secs = us / 1_000_000, rem = us % 1_000_000;
        Append(sb, " " + secs.ToString(System.Globalization.CultureInfo.InvariantCulture).PadLeft(5) + "." +
                   rem.ToString("D6", System.Globalization.CultureInfo.InvariantCulture) + ": bpf_trace_printk: ");
    }

    private static void Append(List<byte> sb, string ascii)
    {
        foreach (char ch in ascii) sb.Add((byte)ch);
    }
}

/// <summary>
/// /sys/kernel/tracing/trace_pipe: a consuming reader over every CPU's ring, oldest event first
/// (ties go to the lower CPU, as trace_find_next_entry scans CPUs in order).
/// </summary>
public sealed class TracePipe
{
    private readonly PrintkCpu[] _cpus;

    internal TracePipe(PrintkCpu[] cpus) => _cpus = cpus;

    /// <summary>Everything written since the last read, as trace_pipe's bytes; consumes it.</summary>
    public byte[] Read()
    {
        var sb = new List<byte>();
        while (true)
        {
            int best = -1;
            ulong bestTs = 0;
            for (int c = 0; c < _cpus.Length; c++)
            {
                if (_cpus[c].Trace.TryPeek(out ulong ts) && (best < 0 || ts < bestTs))
                {
                    best = c;
                    bestTs = ts;
                }
            }
            if (best < 0) break;
            _cpus[best].Trace.ConsumeInto(sb);
        }
        return sb.ToArray();
    }

    /// <summary>The lines of <see cref="Read"/>, without their '\n' (bytes as written; not necessarily UTF-8).</summary>
    public List<byte[]> ReadLines() => SplitLines(Read());

    public static List<byte[]> SplitLines(ReadOnlySpan<byte> text)
    {
        var lines = new List<byte[]>();
        while (!text.IsEmpty)
        {
            int nl = text.IndexOf((byte)'\n');
            if (nl < 0) { lines.Add(text.ToArray()); break; }
            lines.Add(text[..nl].ToArray());
            text = text[(nl + 1)..];
        }
        return lines;
    }
}

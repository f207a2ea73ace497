using System.Text;
using BpfTraceSim.Kernel;
using BpfTraceSim.Kernel.Printk;

namespace BpfTraceSim.Kernel.Tests.Printk;

/// <summary>A small simulated machine for the printf helpers: memory, kallsyms, CPUs, a task "app" (pid 100).</summary>
internal sealed class PrintkFixture
{
    public readonly SimMemory Mem = new();
    public readonly Kallsyms Ksyms = new();
    public readonly PrintkWorld World;
    public SimTask Task = new(100, 100, "app");

    public PrintkFixture(int cpus = 1, int bufferSizeKb = TraceRing.DefaultBufferSizeKb, ulong seed = 42)
    {
        World = new PrintkWorld(Mem, Ksyms, seed, cpus, bufferSizeKb);
    }

    public HelperContext Ctx(int cpu = 0, ExecContext ec = ExecContext.Task, ulong nowNs = 0) => new(cpu, Task, ec, nowNs);

    public static byte[] Fmt(string s) => Encoding.UTF8.GetBytes(s + "\0");

    public ulong KStr(string s) => Mem.Map(AddressSpace.Kernel, Encoding.UTF8.GetBytes(s + "\0"));
    public ulong UStr(string s) => Mem.Map(AddressSpace.User, Encoding.UTF8.GetBytes(s + "\0"));
    public ulong KBytes(params byte[] b) => Mem.Map(AddressSpace.Kernel, b);
    public ulong UBytes(params byte[] b) => Mem.Map(AddressSpace.User, b);

    public static byte[] Data(params ulong[] args)
    {
        var d = new byte[args.Length * 8];
        for (int i = 0; i < args.Length; i++) BitConverter.TryWriteBytes(d.AsSpan(i * 8), args[i]);
        return d;
    }

    public long Printk(string fmt, ulong a1 = 0, ulong a2 = 0, ulong a3 = 0, int cpu = 0) =>
        PrintkHelpers.TracePrintk(Ctx(cpu), World.Cpu(cpu), World, Fmt(fmt), a1, a2, a3);

    public long PrintkRaw(byte[] fmt, ulong a1 = 0, ulong a2 = 0, ulong a3 = 0) =>
        PrintkHelpers.TracePrintk(Ctx(), World.Cpu(0), World, fmt, a1, a2, a3);

    public long Vprintk(string fmt, params ulong[] args) =>
        PrintkHelpers.TraceVprintk(Ctx(), World.Cpu(0), World, Fmt(fmt), Data(args), false);

    public long VprintkAt(in HelperContext ctx, string fmt, params ulong[] args) =>
        PrintkHelpers.TraceVprintk(ctx, World.Cpu(ctx.Cpu), World, Fmt(fmt), Data(args), false);

    public (long Ret, byte[] Buf) Snprintf(string fmt, int size, params ulong[] args)
    {
        var buf = new byte[size];
        buf.AsSpan().Fill(0xee);
        long r = PrintkHelpers.Snprintf(Ctx(), World.Cpu(0), World, buf, Fmt(fmt), Data(args), false);
        return (r, buf);
    }

    /// <summary>snprintf into a large buffer: the text before the NUL.</summary>
    public string S(string fmt, params ulong[] args)
    {
        var (r, buf) = Snprintf(fmt, 4096, args);
        Assert.True(r > 0, $"snprintf returned {r}");
        int n = Array.IndexOf(buf, (byte)0);
        return Encoding.Latin1.GetString(buf, 0, n);
    }

    /// <summary>The messages of every event now in the trace buffer (consumed), as bytes.</summary>
    public List<byte[]> TracedMessages()
    {
        var text = World.TracePipe.Read();
        var msgs = new List<byte[]>();
        var marker = ": bpf_trace_printk: "u8.ToArray();
        int i = 0;
        while (i < text.Length)
        {
            int at = text.AsSpan(i).IndexOf(marker);
            if (at < 0) break;
            int start = i + at + marker.Length;
            // Events end with '\n'; find the next header or the end.
            int next = text.AsSpan(start).IndexOf(marker);
            int end = next < 0 ? text.Length : start + next;
            if (next >= 0) end = text.AsSpan(start, next).LastIndexOf((byte)'\n') + start + 1;
            msgs.Add(text.AsSpan(start, end - start - 1).ToArray());
            i = end;
        }
        return msgs;
    }

    public string LastTraced()
    {
        var m = TracedMessages();
        Assert.NotEmpty(m);
        return Encoding.Latin1.GetString(m[^1]);
    }

    public List<string> PipeLines() => World.TracePipe.ReadLines().Select(l => Encoding.Latin1.GetString(l)).ToList();
}

using System.Text;
using BpfTraceSim.Kernel;
using BpfTraceSim.Kernel.Printk;

namespace BpfTraceSim.Kernel.Tests.Printk;

/// <summary>docs/kernel-semantics.md §5: the helpers' argument checks, return values, and the traced text.</summary>
public class PrintkHelperTests
{
    private const long EINVAL = -Errno.EINVAL;

    [Fact]
    public void VprintkFewerConversionsThanArgsIsFine()
    {
        var f = new PrintkFixture();
        Assert.Equal(1, f.Vprintk("%d", 7, 9));
        Assert.Equal("7", f.LastTraced());
        Assert.Equal(4, f.Vprintk("none", new ulong[12]));
        Assert.Equal("none", f.LastTraced());
    }

    [Theory]
    [InlineData(97)]
    [InlineData(12)]
    [InlineData(4)]
    [InlineData(104)]
    public void VprintkBadDataLenIsEinval(int dataLen)
    {
        var f = new PrintkFixture();
        var data = new byte[dataLen];
        Assert.Equal(EINVAL, PrintkHelpers.TraceVprintk(f.Ctx(), f.World.Cpu(0), f.World, PrintkFixture.Fmt("none"), data, false));
        Assert.Equal(EINVAL, PrintkHelpers.Snprintf(f.Ctx(), f.World.Cpu(0), f.World, new byte[8], PrintkFixture.Fmt("none"), data, false));
        Assert.Empty(f.TracedMessages());
    }

    [Fact]
    public void NullArgsWithDataLenIsEinvalWithoutIsFine()
    {
        var f = new PrintkFixture();
        Assert.Equal(EINVAL, PrintkHelpers.TraceVprintk(f.Ctx(), f.World.Cpu(0), f.World, PrintkFixture.Fmt("x"), new byte[8], true));
        Assert.Equal(EINVAL, PrintkHelpers.Snprintf(f.Ctx(), f.World.Cpu(0), f.World, new byte[8], PrintkFixture.Fmt("x"), new byte[8], true));
        Assert.Equal(1, PrintkHelpers.TraceVprintk(f.Ctx(), f.World.Cpu(0), f.World, PrintkFixture.Fmt("x"), default, true));
        Assert.Equal(2, PrintkHelpers.Snprintf(f.Ctx(), f.World.Cpu(0), f.World, new byte[8], PrintkFixture.Fmt("x"), default, true));
    }

    [Fact]
    public void PrintkMissingArgsAreZeroAndAtMostThree()
    {
        var f = new PrintkFixture();
        Assert.Equal(5, f.Printk("%d %d %d", 5));
        Assert.Equal("5 0 0", f.LastTraced());
        Assert.Equal(EINVAL, f.Printk("%d%d%d%d", 1, 2, 3));
    }

    [Fact]
    public void PidNameExampleReturns17AndTracesTwoLines()
    {
        var f = new PrintkFixture();
        var ctx = f.Ctx(nowNs: 0);
        Assert.Equal(17, f.VprintkAt(ctx, "pid=%d name=%s\n", 100, f.KStr("app")));
        Assert.Equal(new[]
        {
            "             app-100     [000] ...2.     0.000000: bpf_trace_printk: pid=100 name=app",
            "",
        }, f.PipeLines());
        Assert.Empty(f.PipeLines()); // consumed
    }

    [Fact]
    public void SnprintfReturnsLengthPlusOneAndTruncates()
    {
        var f = new PrintkFixture();
        var (r, buf) = f.Snprintf("hello %d", 16, 42);
        Assert.Equal(9, r);
        Assert.Equal("hello 42\0"u8.ToArray(), buf[..9]);
        Assert.Equal(0xee, buf[9]);
        (r, buf) = f.Snprintf("hello %d", 5, 42);
        Assert.Equal(9, r);
        Assert.Equal("hell\0"u8.ToArray(), buf);
        (r, buf) = f.Snprintf("hello %d", 1, 42);
        Assert.Equal(9, r);
        Assert.Equal(new byte[] { 0 }, buf);
    }

    [Fact]
    public void SnprintfSizeZeroWritesNothing()
    {
        var f = new PrintkFixture();
        var (r, buf) = f.Snprintf("hello %d", 0, 42);
        Assert.Equal(9, r);
        Assert.Empty(buf);
        var big = new byte[4];
        big.AsSpan().Fill(0xee);
        Assert.Equal(9, PrintkHelpers.Snprintf(f.Ctx(), f.World.Cpu(0), f.World, big.AsSpan(0, 0), PrintkFixture.Fmt("hello %d"), PrintkFixture.Data(42), false));
        Assert.All(big, b => Assert.Equal(0xee, b));
    }

    [Fact]
    public void SnprintfDoesNotTrace()
    {
        var f = new PrintkFixture();
        f.Snprintf("x", 4);
        Assert.Empty(f.TracedMessages());
    }

    [Fact]
    public void TracedMessageIsCutAt1023Bytes()
    {
        var f = new PrintkFixture();
        Assert.Equal(1100, f.Printk("%1100d", 7));
        var m = f.TracedMessages()[0];
        Assert.Equal(1023, m.Length);
        Assert.All(m, b => Assert.Equal((byte)' ', b));
        Assert.Equal(1029, f.Printk("%1024d%5d", 1, 2)); // "…1" is past the cut
        Assert.Equal(1023, f.TracedMessages()[0].Length);
    }

    [Fact]
    public void NulFromPercentCEndsTheTracedText()
    {
        var f = new PrintkFixture();
        Assert.Equal(3, f.Printk("a%cb", 0));
        Assert.Equal("a", f.LastTraced());
        var (r, buf) = f.Snprintf("a%cb", 8, 0);
        Assert.Equal(4, r);
        Assert.Equal("a\0b\0"u8.ToArray(), buf[..4]);
    }

    [Fact]
    public void TraceLineForTaskContext()
    {
        var f = new PrintkFixture { Task = new SimTask(9141, 9141, "oracle_C") };
        f.VprintkAt(f.Ctx(nowNs: 9_358_807_268_000), "<%d>", 0);
        Assert.Equal(new[] { "        oracle_C-9141    [000] ...2.  9358.807268: bpf_trace_printk: <0>" }, f.PipeLines());
    }

    [Fact]
    public void TraceLineForHardirqContext()
    {
        var f = new PrintkFixture(cpus: 2);
        // 1.0000006 s rounds to the nearest microsecond as ns2usecs does.
        f.VprintkAt(f.Ctx(cpu: 1, ec: ExecContext.Hardirq, nowNs: 1_000_000_600), "hi");
        Assert.Equal(new[] { "             app-100     [001] d.h..     1.000001: bpf_trace_printk: hi" }, f.PipeLines());
    }

    [Theory]
    [InlineData(ExecContext.Task, 2, "...2.")]
    [InlineData(ExecContext.Task, 0, ".....")]
    [InlineData(ExecContext.Task, 11, "...b.")]
    [InlineData(ExecContext.Task, 40, "...f.")]
    [InlineData(ExecContext.Softirq, 2, "..s2.")]
    [InlineData(ExecContext.Hardirq, 2, "d.h..")]
    [InlineData(ExecContext.Nmi, 2, "d.z..")]
    public void FlagsFieldPerContext(ExecContext ec, int depth, string expected)
    {
        var f = new PrintkFixture();
        var ctx = f.Ctx(ec: ec) with { PreemptDepth = depth };
        f.VprintkAt(ctx, "x");
        Assert.Equal($"             app-100     [000] {expected}     0.000000: bpf_trace_printk: x", f.PipeLines()[0]);
    }

    [Fact]
    public void IdleTaskAndLongComm()
    {
        var f = new PrintkFixture { Task = SimTask.Idle };
        f.VprintkAt(f.Ctx(), "i");
        f.Task = new SimTask(4194304, 1, "a_very_long_command_name");
        f.VprintkAt(f.Ctx(nowNs: 12_345_678_901_234_567), "j");
        Assert.Equal(new[]
        {
            "          <idle>-0       [000] ...2.     0.000000: bpf_trace_printk: i",
            " a_very_long_com-4194304 [000] ...2. 12345678.901235: bpf_trace_printk: j",
        }, f.PipeLines());
    }

    [Fact]
    public void NewlinesSplitLines()
    {
        var f = new PrintkFixture();
        f.Vprintk("a\nb");
        f.Vprintk("c\n");
        f.Vprintk("\n");
        const string h = "             app-100     [000] ...2.     0.000000: bpf_trace_printk: ";
        Assert.Equal(new[] { h + "a", "b", h + "c", "", h, "" }, f.PipeLines());
    }

    [Fact]
    public void NonUtf8BytesSurviveInLines()
    {
        var f = new PrintkFixture();
        f.PrintkRaw(new byte[] { 0xff, 0xfe, (byte)'%', (byte)'s', 0 }, f.KBytes(0xc3, 0x28, 0));
        var line = f.World.TracePipe.ReadLines().Single();
        Assert.Equal(new byte[] { 0xff, 0xfe, 0xc3, 0x28 }, line[^4..]);
    }

    [Fact]
    public void TracePipeMergesCpusByTimestampTiesByCpu()
    {
        var f = new PrintkFixture(cpus: 3);
        f.VprintkAt(f.Ctx(cpu: 2, nowNs: 1000), "c2@1000");
        f.VprintkAt(f.Ctx(cpu: 1, nowNs: 1000), "c1@1000");
        f.VprintkAt(f.Ctx(cpu: 0, nowNs: 2000), "c0@2000");
        f.VprintkAt(f.Ctx(cpu: 2, nowNs: 500), "c2@500");
        var msgs = f.TracedMessages().Select(m => Encoding.ASCII.GetString(m)).ToArray();
        Assert.Equal(new[] { "c1@1000", "c2@1000", "c0@2000", "c2@500" }.OrderBy(s => s).ToArray(), msgs.OrderBy(s => s).ToArray());
        // Per CPU order is write order; across CPUs oldest head first.
        Assert.Equal(new[] { "c1@1000", "c2@1000", "c2@500", "c0@2000" }, msgs);
    }

    [Fact]
    public void TracePipeInterleavesByTime()
    {
        var f = new PrintkFixture(cpus: 2);
        f.VprintkAt(f.Ctx(cpu: 1, nowNs: 3000), "b3");
        f.VprintkAt(f.Ctx(cpu: 0, nowNs: 1000), "a1");
        f.VprintkAt(f.Ctx(cpu: 0, nowNs: 4000), "a4");
        f.VprintkAt(f.Ctx(cpu: 1, nowNs: 5000), "b5");
        var msgs = f.TracedMessages().Select(m => Encoding.ASCII.GetString(m)).ToArray();
        Assert.Equal(new[] { "a1", "b3", "a4", "b5" }, msgs);
    }

    [Fact]
    public void EventSizesFollowTheRingBufferAccounting()
    {
        Assert.Equal(20, TraceRing.EventSize(0));
        Assert.Equal(116, TraceRing.EventSize(99));  // 112 data bytes: still a small event
        Assert.Equal(124, TraceRing.EventSize(100)); // needs the length word
        Assert.Equal(354, new TraceRing(0).NrPages);
        Assert.Equal(2, new TraceRing(0, 1).NrPages);
    }

    [Fact]
    public void FullBufferOverwritesOldestPageAndReportsLost()
    {
        var f = new PrintkFixture(bufferSizeKb: 1); // 2 pages of 4080 bytes, 32 events of 124 bytes each
        for (int i = 1; i <= 100; i++)
            f.VprintkAt(f.Ctx(nowNs: (ulong)i * 1000), "%-100d", (ulong)i);
        Assert.Equal(64, f.World.Cpu(0).Trace.Overrun);
        var lines = f.PipeLines();
        Assert.Equal("CPU:0 [LOST 64 EVENTS]", lines[0]);
        Assert.Equal(37, lines.Count);
        Assert.EndsWith("bpf_trace_printk: 65" + new string(' ', 98), lines[1]);
        Assert.EndsWith("bpf_trace_printk: 100" + new string(' ', 97), lines[^1]);
        Assert.Equal(0, f.World.Cpu(0).Trace.Lost);
        f.VprintkAt(f.Ctx(nowNs: 200_000), "after");
        Assert.Equal(new[] { "             app-100     [000] ...2.     0.000200: bpf_trace_printk: after" }, f.PipeLines());
    }
}

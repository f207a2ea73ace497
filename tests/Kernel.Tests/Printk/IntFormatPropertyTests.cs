using System.Text;
using CsCheck;
using BpfTraceSim.Kernel.Printk;

namespace BpfTraceSim.Kernel.Tests.Printk;

/// <summary>
/// The one-pass integer fast path (IntFormat, taken by the public helpers) against the general
/// bpf_bprintf_prepare + bstr_printf path on random formats: plain and refused bytes, %%, integer
/// specs with random flags, widths and l/ll/lll, conversions the fast path hands over (%s %p %c) or
/// refuses, missing NULs, random argument counts, str sizes around the 1024-byte scratch buffer,
/// and every nest level. Return values, str bytes and trace_pipe text must be identical.
/// </summary>
public class IntFormatPropertyTests
{
    private static readonly string[] Widths = { "", "", "", "1", "7", "20", "40", "1023", "1500", "8388607", "99999999999" };
    private static readonly string[] Lengths = { "", "", "", "l", "ll", "lll", "h" };
    private static readonly string[] Convs = { "d", "i", "u", "x", "X", "d", "u", "x", "s", "p", "pK", "c", "ks", "n", "%", "", "#" };

    private static byte[] BuildFormat(int[] pieces, bool terminate)
    {
        var f = new List<byte>();
        foreach (int v in pieces)
        {
            int kind = v % 8, p = v / 8;
            switch (kind)
            {
                case 0: f.AddRange("ab "u8.ToArray()); break;
                case 1: f.Add((byte)'\n'); break;
                case 2: f.Add((byte)(p % 256)); break; // any byte: control, high, NUL, '%'
                case 3: f.AddRange("%%"u8.ToArray()); break;
                default:
                {
                    var sb = new StringBuilder("%");
                    int fl = p % 64;
                    foreach (var (bit, ch) in new[] { (1, '-'), (2, '+'), (4, ' '), (8, '0'), (16, '#') })
                        if ((fl & bit) != 0) sb.Append(ch);
                    if ((fl & 32) != 0 && (fl & 8) == 0) sb.Append('0');
                    p /= 64;
                    sb.Append(Widths[p % Widths.Length]);
                    p /= Widths.Length;
                    sb.Append(Lengths[p % Lengths.Length]);
                    p /= Lengths.Length;
                    sb.Append(Convs[p % Convs.Length]);
                    f.AddRange(Encoding.Latin1.GetBytes(sb.ToString()));
                    break;
                }
            }
        }
        if (terminate) f.Add(0);
        return f.ToArray();
    }

    private static readonly Gen<(int[], ulong[], int, int, bool)> Cases = Gen.Select(
        Gen.Int[0, int.MaxValue].Array[0, 8],
        Gen.OneOf(Gen.ULong, Gen.Long[-1000, 1000].Select(l => (ulong)l), Gen.Const(0UL)).Array[0, 12],
        Gen.OneOf(Gen.Int[0, 40], Gen.Int[1020, 1030], Gen.Const(2000)),
        Gen.Int[0, 12],
        Gen.Int[0, 19].Select(t => t != 0));

    [Fact]
    public void SnprintfFastPathMatchesTheGeneralPath()
    {
        var a = new PrintkFixture();
        var b = new PrintkFixture();
        int handled = 0;
        Cases.Sample((pieces, args, strSize, nestPick, terminate) =>
        {
            byte[] fmt = BuildFormat(pieces, terminate);
            byte[] data = PrintkFixture.Data(args);
            int nest = nestPick <= 9 ? 0 : nestPick - 9;
            var strA = new byte[strSize];
            var strB = new byte[strSize];
            strA.AsSpan().Fill(0xee);
            strB.AsSpan().Fill(0xee);
            a.World.Cpu(0).NestLevel = b.World.Cpu(0).NestLevel = nest;
            long ra = PrintkHelpers.Snprintf(a.Ctx(), a.World.Cpu(0), a.World, strA, fmt, data, false);
            long rb = PrintkHelpers.SnprintfGeneral(b.World.Cpu(0), b.World, strB, fmt, args);
            Assert.Equal(rb, ra);
            Assert.Equal(strB, strA);
            Assert.Equal(nest, a.World.Cpu(0).NestLevel);
            a.World.Cpu(0).NestLevel = b.World.Cpu(0).NestLevel = 0;
            if (rb > 0 && IsIntOnly(fmt)) handled++;
        }, iter: 20000, threads: 1); // one simulated CPU: samples must not run concurrently
        Assert.True(handled > 1000, $"only {handled} samples took the fast path to a result");
    }

    [Fact]
    public void TraceHelpersFastPathMatchesTheGeneralPath()
    {
        var a = new PrintkFixture();
        var b = new PrintkFixture();
        int handled = 0;
        ulong now = 0;
        Cases.Sample((pieces, args, _, nestPick, terminate) =>
        {
            byte[] fmt = BuildFormat(pieces, terminate);
            int nest = nestPick <= 9 ? 0 : nestPick - 9;
            now += 1_000 + (ulong)nestPick * 100_000_000; // some deltas need a time extend
            var ctx = a.Ctx(nowNs: now) with { PreemptDepth = nestPick, Context = (ExecContext)(nestPick % 4) };
            a.World.Cpu(0).NestLevel = b.World.Cpu(0).NestLevel = nest;
            long ra, rb;
            if (pieces.Length % 2 == 0)
            {
                ra = PrintkHelpers.TraceVprintk(ctx, a.World.Cpu(0), a.World, fmt, PrintkFixture.Data(args), false);
                rb = PrintkHelpers.TraceVprintkGeneral(ctx, b.World.Cpu(0), b.World, fmt, args);
            }
            else
            {
                ulong A(int k) => k < args.Length ? args[k] : 0;
                ra = PrintkHelpers.TracePrintk(ctx, a.World.Cpu(0), a.World, fmt, A(0), A(1), A(2));
                rb = PrintkHelpers.TracePrintkGeneral(ctx, b.World.Cpu(0), b.World, fmt, new[] { A(0), A(1), A(2) });
            }
            Assert.Equal(rb, ra);
            Assert.Equal(nest, a.World.Cpu(0).NestLevel);
            a.World.Cpu(0).NestLevel = b.World.Cpu(0).NestLevel = 0;
            Assert.Equal(b.World.TracePipe.Read(), a.World.TracePipe.Read());
            if (rb >= 0 && IsIntOnly(fmt)) handled++;
        }, iter: 20000, threads: 1);
        Assert.True(handled > 1000, $"only {handled} samples took the fast path to a result");
    }

    [Fact]
    public void TheFastPathClassifiesFormatBytesAsTheValidatorDoes()
    {
        for (int c = 0; c < 256; c++)
        {
            byte expected = c == 0 ? IntFormat.Nul : c == '%' ? IntFormat.Percent
                : KCtype.StopsPlainText((byte)c) ? IntFormat.Refused : IntFormat.Plain;
            Assert.True(expected == IntFormat.Class[c], $"byte 0x{c:x2}");
        }
    }

    [Fact]
    public void DigitCountsAroundEveryPowerOfTen()
    {
        var f = new PrintkFixture();
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        for (ulong p = 1; ; p *= 10)
        {
            foreach (ulong v in new[] { p - 1, p, p + 1 })
            {
                string u32 = ((uint)v).ToString(inv), s32 = ((int)(uint)v).ToString(inv);
                Assert.Equal($"{s32}|{u32}|{s32}|{v.ToString(inv)}|{((long)v).ToString(inv)}|{u32,12}|",
                    f.S("%d|%u|%i|%llu|%ld|%12u|", v, v, v, v, v, v));
            }
            if (p > ulong.MaxValue / 10) break;
        }
    }

    // "%p%d" validates one argument (the byte after %p is skipped) but renders two: the %d reads
    // bin-args offset 8, left there by the previous call at this nest level.
    private static string StaleSlot(PrintkFixture f) => f.S("%p%d", 0);

    [Fact]
    public void IntegerFormatsLeaveTheBinArgsAsTheValidatorDoes()
    {
        var f = new PrintkFixture();
        Assert.Equal("0:7:8:9", f.S("%d:%d:%d:%d", 0, 7, 8, 9)); // u32 slots at 0, 4, 8, 12
        Assert.Equal("00000000000000008", StaleSlot(f));
        Assert.Equal("1099511627776:3", f.S("%lld:%d", 1UL << 40, 3)); // u64 at 0, u32 at 8
        Assert.Equal("00000000000000003", StaleSlot(f));
    }

    [Fact]
    public void ARefusedFormatKeepsTheArgumentsCopiedBeforeTheError()
    {
        var f = new PrintkFixture();
        f.S("%d%d%d", 1, 2, 3);
        var (ret, _) = f.Snprintf("%d%d%d\x01", 16, 4, 5, 6);
        Assert.Equal(-Errno.EINVAL, ret);
        byte[] fmt = PrintkFixture.Fmt("%d%d%d\x01");
        Assert.Equal(-Errno.EINVAL, PrintkHelpers.TraceVprintk(f.Ctx(), f.World.Cpu(0), f.World, fmt, PrintkFixture.Data(4, 5, 6), false));
        Assert.Equal("00000000000000006", StaleSlot(f));
    }

    [Fact]
    public void AFormatWithoutItsNulCopiesNoArgument()
    {
        var f = new PrintkFixture();
        f.S("%d%d%d", 1, 2, 3);
        byte[] noNul = "%d%d%d"u8.ToArray();
        var str = new byte[16];
        Assert.Equal(-Errno.EINVAL, PrintkHelpers.Snprintf(f.Ctx(), f.World.Cpu(0), f.World, str, noNul, PrintkFixture.Data(4, 5, 6), false));
        Assert.Equal(-Errno.EINVAL, PrintkHelpers.TraceVprintk(f.Ctx(), f.World.Cpu(0), f.World, noNul, PrintkFixture.Data(4, 5, 6), false));
        Assert.Equal(-Errno.EINVAL, PrintkHelpers.TracePrintk(f.Ctx(), f.World.Cpu(0), f.World, noNul, 4, 5, 6));
        Assert.Equal(new byte[16], str);
        Assert.Equal("00000000000000003", StaleSlot(f));
    }

    // Roughly the fast path's precondition (no s, p or c before the NUL), to count its coverage.
    private static bool IsIntOnly(byte[] fmt)
    {
        var s = Encoding.Latin1.GetString(fmt);
        int nul = s.IndexOf('\0');
        if (nul >= 0) s = s[..nul];
        return s.Replace("%%", "").IndexOfAny(new[] { 's', 'p', 'c' }) < 0;
    }
}

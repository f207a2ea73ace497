using BpfTraceSim.Kernel;
using BpfTraceSim.Kernel.Printk;

namespace BpfTraceSim.Kernel.Tests.Printk;

/// <summary>docs/kernel-semantics.md §6: the format grammar and the bin-args buffer of bpf_bprintf_prepare.</summary>
public class BprintfValidationTests
{
    private const long EINVAL = -Errno.EINVAL, ENOSPC = -Errno.ENOSPC, EBUSY = -Errno.EBUSY;

    [Fact]
    public void NoNulWithinFmtSizeIsEinval()
    {
        var f = new PrintkFixture();
        Assert.Equal(EINVAL, f.PrintkRaw("abc"u8.ToArray()));
        // NUL present but beyond fmt_size.
        Assert.Equal(EINVAL, PrintkHelpers.TracePrintk(f.Ctx(), f.World.Cpu(0), f.World, "abc\0"u8[..3], 0, 0, 0));
        Assert.Empty(f.TracedMessages());
    }

    [Fact]
    public void TextAfterTheFirstNulIsIgnored()
    {
        var f = new PrintkFixture();
        Assert.Equal(2, f.PrintkRaw("ok\0%q\x01"u8.ToArray()));
        Assert.Equal("ok", f.LastTraced());
    }

    [Theory]
    [InlineData(0x01)]
    [InlineData(0x07)]
    [InlineData(0x1b)]
    [InlineData(0x1f)]
    [InlineData(0x7f)]
    public void ControlCharactersAreEinval(byte c)
    {
        var f = new PrintkFixture();
        Assert.Equal(EINVAL, f.PrintkRaw(new byte[] { (byte)'a', c, (byte)'b', 0 }));
    }

    [Fact]
    public void WhitespaceControlsAreAccepted()
    {
        var f = new PrintkFixture();
        Assert.Equal(5, f.PrintkRaw("a\tb\vc\0"u8.ToArray()));
    }

    [Fact]
    public void HighBytesAreAcceptedAndSurvive()
    {
        var f = new PrintkFixture();
        var fmt = new byte[] { 0x80, 0x9f, 0xa0, 0xc3, 0xa9, 0xff, 0 };
        Assert.Equal(6, f.PrintkRaw(fmt));
        Assert.Equal(fmt[..6], f.TracedMessages()[0]);
    }

    [Fact]
    public void FastStopTableAgreesWithTheRefusalRule()
    {
        for (int c = 0; c < 256; c++)
            Assert.Equal(c == '%' || KCtype.IsRefusedFormatByte((byte)c), KCtype.StopsPlainText((byte)c));
        Assert.True(KCtype.IsRefusedFormatByte(0x7f));
        Assert.False(KCtype.IsRefusedFormatByte(0x80));
        Assert.False(KCtype.IsRefusedFormatByte((byte)'\r'));
    }

    [Fact]
    public void PercentPercentIsLiteral()
    {
        var f = new PrintkFixture();
        Assert.Equal(4, f.Vprintk("100%%"));
        Assert.Equal("100%", f.LastTraced());
    }

    [Theory]
    [InlineData("%-5d|", "7    |")]
    [InlineData("%+d", "+7")]
    [InlineData("% d", " 7")]
    [InlineData("%05d", "00007")]
    [InlineData("%-+ 012d|", "+7          |")]
    [InlineData("%10d", "         7")]
    public void FlagsAndWidthAreAccepted(string fmt, string expected)
    {
        var f = new PrintkFixture();
        Assert.Equal(expected.Length, f.Printk(fmt, 7));
        Assert.Equal(expected, f.LastTraced());
    }

    [Theory]
    [InlineData("%#x")]
    [InlineData("%#o")]
    [InlineData("%.3s")]
    [InlineData("%.5d")]
    [InlineData("%*d")]
    [InlineData("%1$d")]
    [InlineData("%'d")]
    public void HashPrecisionStarPositionalAreEinval(string fmt)
    {
        var f = new PrintkFixture();
        Assert.Equal(EINVAL, f.Printk(fmt, 1, 2, 3));
    }

    [Theory]
    [InlineData("%d", "-1")]
    [InlineData("%i", "-1")]
    [InlineData("%u", "4294967295")]
    [InlineData("%x", "ffffffff")]
    [InlineData("%X", "FFFFFFFF")]
    [InlineData("%ld", "-1")]
    [InlineData("%li", "-1")]
    [InlineData("%lu", "18446744073709551615")]
    [InlineData("%lx", "ffffffffffffffff")]
    [InlineData("%lld", "-1")]
    [InlineData("%llX", "FFFFFFFFFFFFFFFF")]
    public void IntegerConversionsAreAccepted(string fmt, string expected)
    {
        var f = new PrintkFixture();
        Assert.Equal(expected, f.S(fmt, ulong.MaxValue));
    }

    [Theory]
    [InlineData("%n")]
    [InlineData("%f")]
    [InlineData("%e")]
    [InlineData("%g")]
    [InlineData("%o")]
    [InlineData("%hd")]
    [InlineData("%hhd")]
    [InlineData("%zd")]
    [InlineData("%jd")]
    [InlineData("%td")]
    [InlineData("%Ld")]
    [InlineData("%qd")]
    [InlineData("%lc")]
    [InlineData("%ls")]
    [InlineData("%llld")]
    [InlineData("%lp")]
    [InlineData("%a")]
    public void OtherConversionsAreEinval(string fmt)
    {
        var f = new PrintkFixture();
        Assert.Equal(EINVAL, f.Printk(fmt, 1));
    }

    [Theory]
    [InlineData("abc%")]
    [InlineData("%5")]
    [InlineData("%-")]
    [InlineData("%0+ ")]
    public void PercentAtEndOrOnlyFlagsIsEinval(string fmt)
    {
        var f = new PrintkFixture();
        Assert.Equal(EINVAL, f.Printk(fmt, 1));
    }

    [Fact]
    public void ByteAfterStringConversionMustEndTheWord()
    {
        var f = new PrintkFixture();
        ulong k = f.KStr("k");
        Assert.Equal(EINVAL, f.Printk("%sx", k));
        Assert.Equal(EINVAL, f.Printk("%pksx", k));
        Assert.Equal(EINVAL, f.Printk("%pus1", k));
        Assert.Equal(EINVAL, f.PrintkRaw(new byte[] { (byte)'%', (byte)'s', 0xc0, 0 }, k)); // Latin-1 letter
        Assert.Equal(2, f.Printk("%s.", k));
        Assert.Equal(2, f.Printk("%s ", k));
        Assert.Equal(2, f.PrintkRaw(new byte[] { (byte)'%', (byte)'s', 0xa0, 0 }, k)); // Latin-1 no-break space
        Assert.Equal(1, f.Printk("%pks", k));
    }

    [Theory]
    [InlineData("%p")]
    [InlineData("%pK")]
    [InlineData("%px")]
    [InlineData("%ps")]
    [InlineData("%pS")]
    [InlineData("%pB")]
    [InlineData("%pks")]
    [InlineData("%pus")]
    [InlineData("%pi4")]
    [InlineData("%pI4")]
    [InlineData("%pi6")]
    [InlineData("%pI6")]
    [InlineData("%p.")]
    [InlineData("%p ")]
    public void PointerFormsAreAccepted(string fmt)
    {
        var f = new PrintkFixture();
        Assert.True(f.Printk(fmt, f.KStr("x")) >= 0, fmt);
    }

    [Theory]
    [InlineData("%pa")]
    [InlineData("%pM")]
    [InlineData("%pe")]
    [InlineData("%pd")]
    [InlineData("%pU")]
    [InlineData("%ph")]
    [InlineData("%pb")]
    [InlineData("%pV")]
    [InlineData("%pi")]
    [InlineData("%pI5")]
    [InlineData("%pk")]
    public void OtherPointerSuffixesAreEinval(string fmt)
    {
        var f = new PrintkFixture();
        Assert.Equal(EINVAL, f.Printk(fmt, 0x10000));
    }

    [Fact]
    public void ByteAfterPlainPercentPIsSkippedByTheValidator()
    {
        // Kernel index arithmetic: the character after "%p" is stepped over, so in "%p%%" the
        // second '%' starts a conversion that has no letter.
        var f = new PrintkFixture();
        Assert.Equal(EINVAL, f.Printk("%p%%", 1));
    }

    [Fact]
    public void MoreConversionsThanArgsIsEinvalFewerIsFine()
    {
        var f = new PrintkFixture();
        Assert.Equal(EINVAL, f.Printk("%d %d %d %d", 1, 2, 3));
        Assert.Equal(EINVAL, f.Vprintk("%d %d", 1));
        Assert.Equal(1, f.Vprintk("%d", 7, 8));
        Assert.Equal("7", f.LastTraced());
    }

    private static string S63(char c) => new(c, 63);

    [Fact]
    public void EightStringsOf63FillTheBinArgsExactly()
    {
        var f = new PrintkFixture();
        var a = Enumerable.Range(0, 8).Select(i => f.KStr(S63((char)('a' + i)))).ToArray();
        string fmt = string.Concat(Enumerable.Repeat("%s", 8));
        Assert.Equal(8 * 63, f.Vprintk(fmt, a));
        Assert.Equal(string.Concat(Enumerable.Range(0, 8).Select(i => S63((char)('a' + i)))), f.LastTraced());
    }

    [Fact]
    public void NinthStringOrIntAfterAFullBufferIsEnospc()
    {
        var f = new PrintkFixture();
        var a = Enumerable.Range(0, 9).Select(i => f.KStr(S63('z'))).ToList();
        Assert.Equal(ENOSPC, f.Vprintk(string.Concat(Enumerable.Repeat("%s", 9)), a.ToArray()));
        a[8] = 5;
        Assert.Equal(ENOSPC, f.Vprintk(string.Concat(Enumerable.Repeat("%s", 8)) + "%d", a.ToArray()));
        a[8] = 'c';
        Assert.Equal(ENOSPC, f.Vprintk(string.Concat(Enumerable.Repeat("%s", 8)) + "%c", a.ToArray()));
        Assert.Empty(f.TracedMessages());
    }

    [Fact]
    public void StringsAreCutToTheRoomLeftNotRefused()
    {
        var f = new PrintkFixture();
        var a = Enumerable.Range(0, 7).Select(i => f.KStr(S63('a'))).ToList();
        a.Add(f.KStr(new string('b', 100)));
        long r = f.Vprintk(string.Concat(Enumerable.Repeat("%s", 8)), a.ToArray());
        Assert.Equal(7 * 63 + 63, r); // 64 bytes left: 63 chars and the NUL
        Assert.EndsWith("a" + S63('b'), f.LastTraced());
    }

    [Fact]
    public void IntsAlignTo4AfterStrings()
    {
        var f = new PrintkFixture();
        string fmt = string.Concat(Enumerable.Repeat("%s", 8)) + "%d";
        // 7*64 + 60 = 508: %d fits exactly.
        var a = Enumerable.Range(0, 7).Select(i => f.KStr(S63('a'))).Append(f.KStr(new string('b', 59))).Append(42UL).ToArray();
        Assert.Equal(7 * 63 + 59 + 2, f.Vprintk(fmt, a));
        Assert.EndsWith("b42", f.LastTraced());
        // 7*64 + 61 = 509, aligned to 512: no room for 4 bytes.
        a[7] = f.KStr(new string('b', 60));
        Assert.Equal(ENOSPC, f.Vprintk(fmt, a));
        // 508 left 4: a long needs 8.
        a[7] = f.KStr(new string('b', 59));
        Assert.Equal(ENOSPC, f.Vprintk(string.Concat(Enumerable.Repeat("%s", 8)) + "%ld", a));
    }

    [Fact]
    public void CharTakesOneUnalignedByte()
    {
        var f = new PrintkFixture();
        // 7*64 + 63 = 511: one %c fits, a second does not.
        var a = Enumerable.Range(0, 7).Select(i => f.KStr(S63('a'))).Append(f.KStr(new string('b', 62))).Append('X').Append('Y').ToArray();
        string fmt8 = string.Concat(Enumerable.Repeat("%s", 8));
        Assert.Equal(7 * 63 + 62 + 1, f.Vprintk(fmt8 + "%c", a[..9]));
        Assert.EndsWith("bX", f.LastTraced());
        Assert.Equal(ENOSPC, f.Vprintk(fmt8 + "%c%c", a));
    }

    [Fact]
    public void IpNeedsItsRawBytesOfRoom()
    {
        var f = new PrintkFixture();
        ulong ip = f.KBytes(10, 0, 0, 1);
        string fmt8 = string.Concat(Enumerable.Repeat("%s", 8));
        // 7*64 + 62 = 510 used: 2 left < 4.
        var a = Enumerable.Range(0, 7).Select(i => f.KStr(S63('a'))).Append(f.KStr(new string('b', 61))).Append(ip).ToArray();
        Assert.Equal(ENOSPC, f.Vprintk(fmt8 + "%pI4", a));
        // 7*64 + 59 = 507 used: 5 left >= 4; the text "10.0.0.1" is cut to 4 chars.
        a[7] = f.KStr(new string('b', 58));
        Assert.Equal(7 * 63 + 58 + 4, f.Vprintk(fmt8 + "%pI4", a));
        Assert.EndsWith("b10.0", f.LastTraced());
    }

    [Fact]
    public void BadNullAndWrongSpacePointersCopyEmptyStrings()
    {
        var f = new PrintkFixture();
        ulong k = f.KStr("kern"), u = f.UStr("user");
        Assert.Equal("[][][]", f.S("[%s][%s][%s]", 0, SimMemory.BadAddress, 0x1000));
        Assert.Equal("[kern][user]", f.S("[%s][%s]", k, u)); // %s: kernel, then user
        Assert.Equal("[kern][]", f.S("[%pks][%pks]", k, u));
        Assert.Equal("[user][]", f.S("[%pus][%pus]", u, k));
    }

    [Fact]
    public void NestingDeeperThanThreeIsEbusy()
    {
        var f = new PrintkFixture();
        var cpu = f.World.Cpu(0);
        cpu.NestLevel = 2;
        Assert.Equal(2, f.Vprintk("ok"));
        Assert.Equal(2, cpu.NestLevel);
        cpu.NestLevel = 3;
        Assert.Equal(EBUSY, f.Vprintk("ok"));
        Assert.Equal(EBUSY, f.Printk("ok"));
        Assert.Equal(3, cpu.NestLevel);
        // The NUL check comes first.
        Assert.Equal(EINVAL, f.PrintkRaw("ok"u8.ToArray()));
        // snprintf with no arguments takes no buffers.
        Assert.Equal(3, f.Snprintf("ok", 8).Ret);
        Assert.Equal(EBUSY, f.Snprintf("%d", 8, 1).Ret);
    }

    [Fact]
    public void ErrorReleasesTheBuffers()
    {
        var f = new PrintkFixture();
        Assert.Equal(EINVAL, f.Vprintk("%q", 1));
        Assert.Equal(0, f.World.Cpu(0).NestLevel);
        Assert.Equal(2, f.Snprintf("%d", 8, 1).Ret);
    }

    [Fact]
    public void PrepareCanValidateWithoutCopying()
    {
        var data = new BprintfData();
        Assert.Equal(0, Bprintf.BprintfPrepare(PrintkFixture.Fmt("%s %pI4 %pB %d"), default, 4, ref data, null, null));
        Assert.Equal(EINVAL, Bprintf.BprintfPrepare(PrintkFixture.Fmt("%s %pI4 %pB %d"), default, 3, ref data, null, null));
        Assert.True(data.BinArgs.IsEmpty);
    }

    [Fact]
    public void PrepareThenRenderIntoCallerSpan()
    {
        // The path bpf_seq_printf takes: prepare into bin-args, render into its own buffer.
        var f = new PrintkFixture();
        var cpu = f.World.Cpu(0);
        var data = new BprintfData { GetBinArgs = true };
        var fmt = PrintkFixture.Fmt("%s=%d");
        ulong[] raw = { f.KStr("n"), 5 };
        Assert.Equal(0, Bprintf.BprintfPrepare(fmt, raw, 2, ref data, cpu, f.World));
        Assert.Equal(1, cpu.NestLevel);
        var dst = new byte[3];
        Assert.Equal(3, Vsprintf.BstrPrintf(dst, fmt, data.BinArgs, f.World));
        Assert.Equal("n=\0"u8.ToArray(), dst);
        Bprintf.BprintfCleanup(cpu, ref data);
        Assert.Equal(0, cpu.NestLevel);
    }
}

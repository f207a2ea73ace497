using BpfTraceSim.Kernel;
using BpfTraceSim.Kernel.Printk;

namespace BpfTraceSim.Kernel.Tests.Printk;

/// <summary>docs/kernel-semantics.md §7: rendering as vsnprintf/bstr_printf.</summary>
public class RenderTests
{
    private const ulong PrintkFn = 0xffff_ffff_8100_0010UL; // first default symbol, after its 16-byte __pfx_

    [Theory]
    [InlineData("%d", 0x1_0000_0005UL, "5")]
    [InlineData("%d", 0xffff_ffffUL, "-1")]
    [InlineData("%i", 0x8000_0000UL, "-2147483648")]
    [InlineData("%ld", 0xffff_ffffUL, "4294967295")]
    [InlineData("%lld", 0x8000_0000_0000_0000UL, "-9223372036854775808")]
    [InlineData("%u", 0x1_ffff_fffeUL, "4294967294")]
    [InlineData("%x", 0x1_0000_abcdUL, "abcd")]
    [InlineData("%X", 0xabcdUL, "ABCD")]
    [InlineData("%lx", 0x1_0000_abcdUL, "10000abcd")]
    [InlineData("%c", 0x141UL, "A")]
    public void IntegerAndCharWidths(string fmt, ulong v, string expected)
    {
        Assert.Equal(expected, new PrintkFixture().S(fmt, v));
    }

    [Theory]
    [InlineData("%-05d|", 7UL, "7    |")]
    [InlineData("%05d", unchecked((ulong)-5L), "-0005")]
    [InlineData("%5d", unchecked((ulong)-5L), "   -5")]
    [InlineData("%05s", 0UL, "     ")] // 0 is ignored for strings (NULL pointer: empty)
    [InlineData("%+u", 5UL, "5")]
    [InlineData("% u", 5UL, "5")]
    [InlineData("%+x", 5UL, "5")]
    [InlineData("%+d", unchecked((ulong)-5L), "-5")]
    [InlineData("% d", unchecked((ulong)-5L), "-5")]
    [InlineData("%+ d", 5UL, "+5")]
    [InlineData("% 05d", 5UL, " 0005")]
    [InlineData("%5c|", 'A', "    A|")]
    [InlineData("%-5c|", 'A', "A    |")]
    [InlineData("%05c", 'A', "    A")]
    [InlineData("%08x", 0xbeefUL, "0000beef")]
    [InlineData("%-8X|", 0xbeefUL, "BEEF    |")]
    public void Flags(string fmt, ulong v, string expected)
    {
        Assert.Equal(expected, new PrintkFixture().S(fmt, v));
    }

    [Fact]
    public void StringWidthAndLeftJustify()
    {
        var f = new PrintkFixture();
        ulong s = f.KStr("ab");
        Assert.Equal("   ab|ab   |ab|", f.S("%5s|%-5s|%1s|", s, s, s));
    }

    [Fact]
    public void WidthClampsTo8388607()
    {
        var f = new PrintkFixture();
        Assert.Equal(8388607, f.Printk("%8388608d", 1));
        var msg = f.TracedMessages()[0];
        Assert.Equal(1023, msg.Length);
        Assert.All(msg, b => Assert.Equal((byte)' ', b));
        Assert.Equal(8388607, f.Printk("%8388607d", 1));
        f.TracedMessages();
    }

    [Theory]
    [InlineData("%2147483648d", "1")]   // wraps to INT_MIN, clamped to -8388607: no padding
    [InlineData("%4294967297d", "1")]   // wraps to 1
    [InlineData("%4294967299d", "  1")] // wraps to 3
    [InlineData("%-2147483649d|", "1|")] // wraps to -2147483647: no padding
    [InlineData("%-2147483647d|", "")]   // INT_MAX, clamped: 8388607 columns (checked by length below)
    public void WidthWraps(string fmt, string expectedPrefix)
    {
        var f = new PrintkFixture();
        var (r, buf) = f.Snprintf(fmt, 16, 1);
        if (fmt.StartsWith("%-2147483647", StringComparison.Ordinal))
        {
            Assert.Equal(8388607 + 1 + 1, r);
            return;
        }
        Assert.Equal(expectedPrefix.Length + 1, r);
        Assert.Equal(expectedPrefix, System.Text.Encoding.ASCII.GetString(buf, 0, expectedPrefix.Length));
    }

    [Fact]
    public void SipHashMatchesTheReferenceVector()
    {
        // SipHash-2-4 paper, key 00..0f, message 00..07.
        ulong h = BpfTraceSim.Kernel.SipHash.Hash24(0x0706050403020100UL, 0x0f0e0d0c0b0a0908UL, 0x0706050403020100UL);
        Assert.Equal(0x93f5f5799a932462UL, h);
    }

    [Fact]
    public void PlainPointerIsHashedPerWorldSeed()
    {
        var a = new PrintkFixture(seed: 1);
        var b = new PrintkFixture(seed: 1);
        var c = new PrintkFixture(seed: 2);
        ulong p = 0xffff_8880_1234_5678UL;
        string ha = a.S("%p", p);
        Assert.Matches("^00000000[0-9a-f]{8}$", ha);
        Assert.Equal(ha, b.S("%p", p));
        Assert.NotEqual(ha, c.S("%p", p));
        Assert.Equal(ha, a.S("%pK", p));
        Assert.Equal($"00000000{a.World.HashPointer(p):x8}", ha);
        Assert.NotEqual(ha, a.S("%p", p + 1));
    }

    [Theory]
    [InlineData(0UL, "0000000000000000")]
    [InlineData(ulong.MaxValue, "ffffffffffffffff")]
    [InlineData(0xffff_ffff_ffff_f001UL, "fffffffffffff001")] // -4095
    public void NullAndErrorPointersPrintRaw(ulong p, string expected)
    {
        Assert.Equal(expected, new PrintkFixture().S("%p", p));
    }

    [Fact]
    public void MinusFourThousandNinetySixIsHashed()
    {
        Assert.StartsWith("00000000", new PrintkFixture().S("%p", 0xffff_ffff_ffff_f000UL));
    }

    [Fact]
    public void PointerWithWidthIsPlainHex()
    {
        var f = new PrintkFixture();
        ulong p = 0xffff_8880_0000_1000UL;
        string h = $"{f.World.HashPointer(p):x}";
        Assert.Equal(h.PadLeft(20) + "|", f.S("%20p|", p));
        Assert.Equal(h.PadLeft(20, '0'), f.S("%020p", p));
        Assert.Equal(h.PadRight(20) + "|", f.S("%-20p|", p));
        Assert.Equal("   0", f.S("%4p", 0));
    }

    [Fact]
    public void PxIsRaw()
    {
        var f = new PrintkFixture();
        Assert.Equal("ffff888000001000", f.S("%px", 0xffff_8880_0000_1000UL));
        Assert.Equal("0000000000000010", f.S("%px", 0x10));
        Assert.Equal("      10", f.S("%8px", 0x10));
    }

    [Fact]
    public void NonAlnumAfterPIsLiteral()
    {
        var f = new PrintkFixture();
        Assert.Equal("0000000000000000!", f.S("%p!", 0));
        Assert.Equal("0000000000000000 x", f.S("%p x", 0));
    }

    [Fact]
    public void SymbolForms()
    {
        var f = new PrintkFixture();
        Assert.Equal("bpf_trace_printk", f.S("%ps", PrintkFn));
        Assert.Equal("bpf_trace_printk+0x0/0x100", f.S("%pS", PrintkFn));
        Assert.Equal("bpf_trace_printk+0x10/0x100", f.S("%pS", PrintkFn + 0x10));
        Assert.Equal("__pfx_bpf_trace_printk+0x3/0x10", f.S("%pS", PrintkFn - 13));
        Assert.Equal("__pfx_bpf_trace_printk+0x10/0x10", f.S("%pB", PrintkFn));
        Assert.Equal("bpf_trace_printk+0x5/0x100", f.S("%pB", PrintkFn + 5));
        Assert.Equal("bpf_trace_vprintk+0x0/0x120", f.S("%pS", PrintkFn + 0x110));
        Assert.Equal(PrintkFn + 0x110, f.Ksyms.AddressOf("bpf_trace_vprintk"));
    }

    [Fact]
    public void AddressWithoutSymbolPrintsHex()
    {
        var f = new PrintkFixture();
        Assert.Equal("0xffffffff80000000", f.S("%pS", 0xffff_ffff_8000_0000UL));
        Assert.Equal("0xffffffff80000000", f.S("%ps", 0xffff_ffff_8000_0000UL));
        Assert.Equal("0xffffffff80000000", f.S("%pB", 0xffff_ffff_8000_0000UL));
        Assert.Equal("0x0", f.S("%pS", 0));
    }

    [Fact]
    public void LettersAfterAnAcceptedPointerFormAreSkipped()
    {
        var f = new PrintkFixture();
        Assert.Equal("[bpf_trace_printk+0x0/0x100]", f.S("[%pSR]", PrintkFn));
        ulong ip4 = f.KBytes(127, 0, 0, 1);
        Assert.Equal("127.0.0.1.", f.S("%pI4x.", ip4));
        var v6 = new byte[16];
        v6[15] = 1;
        Assert.Equal("0000:0000:0000:0000:0000:0000:0000:0001", f.S("%pI6c", f.KBytes(v6)));
    }

    [Fact]
    public void SymbolWidthHonouredPreRenderedIgnoreIt()
    {
        var f = new PrintkFixture();
        Assert.Equal("    bpf_trace_printk|", f.S("%20ps|", PrintkFn));
        Assert.Equal("bpf_trace_printk    |", f.S("%-20ps|", PrintkFn));
        Assert.Equal("     bpf_trace_printk+0x0/0x100|", f.S("%31pS|", PrintkFn));
        Assert.Equal("__pfx_bpf_trace_printk+0x10/0x10|", f.S("%40pB|", PrintkFn));
        Assert.Equal("abc|abc|", f.S("%10pks|%-10pus|", f.KStr("abc"), f.UStr("abc")));
        Assert.Equal("1.2.3.4|", f.S("%20pI4|", f.KBytes(1, 2, 3, 4)));
    }

    [Fact]
    public void KallsymsAddOrResize()
    {
        var f = new PrintkFixture();
        f.Ksyms.AddOrResize("bpf_trace_printk", 0x200);
        Assert.Equal("bpf_trace_printk+0x1ff/0x200", f.S("%pS", PrintkFn + 0x1ff));
        Assert.Equal(PrintkFn + 0x210, f.Ksyms.AddressOf("bpf_trace_vprintk"));
        ulong mine = f.Ksyms.AddOrResize("my_func", 0x40);
        Assert.Equal("my_func+0x8/0x40", f.S("%pS", mine + 8));
        Assert.Equal("0x" + (mine + 0x40).ToString("x"), f.S("%pS", mine + 0x40));
    }

    [Fact]
    public void IpForms()
    {
        var f = new PrintkFixture();
        ulong v4 = f.KBytes(192, 168, 1, 10);
        var b6 = new byte[16];
        b6[0] = 0x20; b6[1] = 0x01; b6[2] = 0x0d; b6[3] = 0xb8; b6[15] = 0xab;
        ulong v6 = f.KBytes(b6);
        Assert.Equal("192.168.001.010", f.S("%pi4", v4));
        Assert.Equal("192.168.1.10", f.S("%pI4", v4));
        Assert.Equal("20010db80000000000000000000000ab", f.S("%pi6", v6));
        Assert.Equal("2001:0db8:0000:0000:0000:0000:0000:00ab", f.S("%pI6", v6));
    }

    [Fact]
    public void IpFormsReadKernelMemoryOnly()
    {
        var f = new PrintkFixture();
        ulong u4 = f.UBytes(10, 0, 0, 1);
        var z6 = "0000:0000:0000:0000:0000:0000:0000:0000";
        Assert.Equal("0.0.0.0|0.0.0.0|000.000.000.000", f.S("%pI4|%pI4|%pi4", u4, SimMemory.BadAddress, 0));
        Assert.Equal(z6, f.S("%pI6", f.UBytes(new byte[16])));
        Assert.Equal(new string('0', 32), f.S("%pi6", 0));
    }

    [Fact]
    public void MixedArgumentsKeepTheirAlignment()
    {
        var f = new PrintkFixture();
        ulong s = f.KStr("xyz");
        Assert.Equal("A|xyz|-2|B|3000000000|bpf_trace_printk", f.S("%c|%s|%d|%c|%lu|%ps", 'A', s, unchecked((ulong)-2L), 'B', 3000000000UL, PrintkFn));
    }

    [Fact]
    public void PreRenderedPastTheEndIsNeitherCountedNorConsumed()
    {
        // bstr_printf copies a pre-rendered string only while output remains: here "xyz" is
        // skipped and %d then reads the string's bytes "xyz\0" as its int.
        var f = new PrintkFixture();
        var (r, buf) = f.Snprintf("ab%pks%d", 2, f.KStr("xyz"), 5);
        Assert.Equal(2 + 7 + 1, r);
        Assert.Equal("a\0"u8.ToArray(), buf);
        Assert.Equal("abxyz5", f.S("ab%pks%d", f.KStr("xyz"), 5));
    }
}

using System.Globalization;
using System.Numerics;
using System.Text;
using CsCheck;
using BpfTraceSim.Kernel.Printk;

namespace BpfTraceSim.Kernel.Tests.Printk;

/// <summary>
/// Random values, flags and widths for the integer and char conversions, checked against an oracle
/// built from .NET number formatting and the C/kernel padding rules (not from the renderer).
/// </summary>
public class PrintkPropertyTests
{
    private static readonly string[] Convs = { "d", "i", "u", "x", "X", "ld", "lld", "lu", "lx", "llX", "c" };

    private static string Oracle(string conv, string flags, int width, ulong raw)
    {
        bool left = flags.Contains('-');
        bool zero = flags.Contains('0') && !left;
        bool plus = flags.Contains('+'), space = flags.Contains(' ');
        var inv = CultureInfo.InvariantCulture;
        if (conv == "c")
        {
            string ch = ((char)(byte)raw).ToString();
            return left ? ch.PadRight(width) : ch.PadLeft(width);
        }
        bool wide = conv.StartsWith('l');
        char kind = conv[^1];
        string sign = "", body;
        if (kind is 'd' or 'i')
        {
            BigInteger v = wide ? (long)raw : (int)(uint)raw;
            sign = v.Sign < 0 ? "-" : plus ? "+" : space ? " " : "";
            body = BigInteger.Abs(v).ToString(inv);
        }
        else
        {
            ulong v = wide ? raw : (uint)raw;
            body = kind switch
            {
                'u' => v.ToString(inv),
                'x' => v.ToString("x", inv),
                _ => v.ToString("X", inv),
            };
        }
        if (left) return (sign + body).PadRight(width);
        if (zero) return sign + body.PadLeft(Math.Max(0, width - sign.Length), '0');
        return (sign + body).PadLeft(width);
    }

    [Fact]
    public void IntegerAndCharConversionsMatchTheOracle()
    {
        var f = new PrintkFixture();
        var gen = Gen.Select(Gen.ULong, Gen.Int[0, Convs.Length - 1], Gen.Int[0, 15], Gen.Int[0, 40]);
        gen.Sample((raw, ci, flagMask, width) =>
        {
            string conv = Convs[ci];
            if (conv == "c") raw = (raw % 95) + 0x20; // printable: a NUL would end the text
            var flags = new StringBuilder();
            if ((flagMask & 1) != 0) flags.Append('-');
            if ((flagMask & 2) != 0) flags.Append('+');
            if ((flagMask & 4) != 0) flags.Append(' ');
            if ((flagMask & 8) != 0) flags.Append('0');
            string fmt = "%" + flags + (width > 0 ? width.ToString(CultureInfo.InvariantCulture) : "") + conv + "|";
            string expected = Oracle(conv, flags.ToString(), width, raw) + "|";
            var (ret, buf) = f.Snprintf(fmt, 128, raw);
            Assert.Equal(expected.Length + 1, ret);
            Assert.Equal(expected, Encoding.Latin1.GetString(buf, 0, expected.Length));
            Assert.Equal(0, buf[expected.Length]);
        }, iter: 5000, threads: 1); // one simulated CPU: samples must not run concurrently
    }

    [Fact]
    public void TruncationKeepsAPrefixAndTheFullLength()
    {
        var f = new PrintkFixture();
        Gen.Select(Gen.Long, Gen.Int[0, 24]).Sample((v, size) =>
        {
            string full = v.ToString(CultureInfo.InvariantCulture) + "/" + ((ulong)v).ToString("x", CultureInfo.InvariantCulture);
            var (ret, buf) = f.Snprintf("%ld/%lx", size, (ulong)v, (ulong)v);
            Assert.Equal(full.Length + 1, ret);
            if (size == 0) return;
            int n = Math.Min(full.Length, size - 1);
            Assert.Equal(full[..n], Encoding.ASCII.GetString(buf, 0, n));
            Assert.Equal(0, buf[n]);
        }, iter: 2000, threads: 1);
    }
}

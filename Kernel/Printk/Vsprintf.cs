using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace BpfTraceSim.Kernel.Printk;

/// <summary>
/// The renderer: bstr_printf (lib/vsprintf.c) over the bin-args BprintfPrepare built, with the
/// vsnprintf rules of docs/kernel-semantics.md §7. Writes into a caller-given span, never allocates.
/// </summary>
[SkipLocalsInit]
public static class Vsprintf
{
    /// <summary>FIELD_WIDTH_MAX: widths are clamped to ±this.</summary>
    public const int FieldWidthMax = (1 << 23) - 1;

    private const int LEFT = 1, PLUS = 2, SPACE = 4, SPECIAL = 8, ZEROPAD = 16;

    private static ReadOnlySpan<byte> HexLower => "0123456789abcdef"u8;
    private static ReadOnlySpan<byte> HexUpper => "0123456789ABCDEF"u8;

    /// <summary>Output cursor with vsnprintf's "count everything, store what fits" rule.</summary>
    private ref struct Out
    {
        public Span<byte> Buf;
        public int Pos;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Put(byte b)
        {
            if ((uint)Pos < (uint)Buf.Length) Buf[Pos] = b;
            Pos++;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Pad(byte b, int count)
        {
            if (count <= 0) return;
            int room = Buf.Length - Pos;
            if (room > 0) Buf.Slice(Pos, Math.Min(room, count)).Fill(b);
            Pos += count;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Write(scoped ReadOnlySpan<byte> s)
        {
            int room = Buf.Length - Pos;
            if (room > 0) s[..Math.Min(room, s.Length)].CopyTo(Buf[Pos..]);
            Pos += s.Length;
        }
    }

    /// <summary>Reads bin-args as bstr_printf does: 4-aligned ints and pointers, unaligned chars, NUL-ended strings.</summary>
    private ref struct Args
    {
        public ReadOnlySpan<byte> Bin;
        public int At;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public ulong Get(int size)
        {
            At = (At + 3) & ~3;
            ulong v = 0;
            if (At + size <= Bin.Length)
                v = size == 8 ? BinaryPrimitives.ReadUInt64LittleEndian(Bin[At..]) : BinaryPrimitives.ReadUInt32LittleEndian(Bin[At..]);
            At += size;
            return v;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public byte GetByte()
        {
            byte v = (uint)At < (uint)Bin.Length ? Bin[At] : (byte)0;
            At++;
            return v;
        }

        public ReadOnlySpan<byte> PeekString()
        {
            if ((uint)At >= (uint)Bin.Length) return default;
            var rest = Bin[At..];
            int n = rest.IndexOf((byte)0);
            return n < 0 ? rest : rest[..n];
        }
    }

    private static byte At(ReadOnlySpan<byte> f, int i) => (uint)i < (uint)f.Length ? f[i] : (byte)0;

    /// <summary>
    /// bstr_printf(dst, dst.Length, fmt, binArgs): renders fmt (up to its NUL) into dst, storing at most
    /// dst.Length - 1 bytes and a NUL (nothing when dst is empty). Returns the untruncated length.
    /// </summary>
    public static int BstrPrintf(Span<byte> dst, ReadOnlySpan<byte> fmt, ReadOnlySpan<byte> binArgs, PrintkWorld world)
    {
        var o = new Out { Buf = dst };
        var a = new Args { Bin = binArgs };
        int i = 0;
        while (true)
        {
            byte c = At(fmt, i);
            if (c == 0) break;
            if (c != '%')
            {
                int run = fmt[i..].IndexOfAny((byte)'%', (byte)0);
                if (run < 0) run = fmt.Length - i;
                o.Write(fmt.Slice(i, run));
                i += run;
                continue;
            }
            i++;
            if (At(fmt, i) == '%') { o.Put((byte)'%'); i++; continue; }

            int flags = 0;
            while (true)
            {
                byte f = At(fmt, i);
                int bit = f switch { (byte)'-' => LEFT, (byte)'+' => PLUS, (byte)' ' => SPACE, (byte)'#' => SPECIAL, (byte)'0' => ZEROPAD, _ => 0 };
                if (bit == 0) break;
                flags |= bit;
                i++;
            }
            int width = -1;
            if (KCtype.IsDigit(At(fmt, i)))
            {
                int w = 0;
                while (KCtype.IsDigit(At(fmt, i))) w = unchecked(w * 10 + (fmt[i++] - '0'));
                width = Math.Clamp(w, -FieldWidthMax, FieldWidthMax);
            }
            int qual = 0;
            if (At(fmt, i) == 'l') { qual = 1; i++; if (At(fmt, i) == 'l') { qual = 2; i++; } }

            byte conv = At(fmt, i);
            if (conv == 0) break;
            i++;
            switch (conv)
            {
                case (byte)'c':
                {
                    if ((flags & LEFT) == 0) o.Pad((byte)' ', width - 1);
                    o.Put(a.GetByte());
                    if ((flags & LEFT) != 0) o.Pad((byte)' ', width - 1);
                    break;
                }
                case (byte)'s':
                {
                    var s = a.PeekString();
                    a.At += s.Length + 1;
                    PutString(ref o, s, width, flags);
                    break;
                }
                case (byte)'p':
                    RenderPointer(ref o, ref a, At(fmt, i), width, flags, world);
                    while (KCtype.IsAlnum(At(fmt, i))) i++;
                    break;
                case (byte)'d':
                case (byte)'i':
                {
                    ulong v = qual > 0 ? a.Get(8) : (ulong)(long)(int)(uint)a.Get(4);
                    Number(ref o, v, 10, false, true, width, flags);
                    break;
                }
                case (byte)'u':
                case (byte)'x':
                case (byte)'X':
                {
                    ulong v = qual > 0 ? a.Get(8) : (uint)a.Get(4);
                    Number(ref o, v, conv == 'u' ? 10 : 16, conv == 'x', false, width, flags);
                    break;
                }
                default:
                    // FORMAT_TYPE_INVALID: bstr_printf stops rendering here.
                    goto done;
            }
        }
    done:
        if (dst.Length > 0)
        {
            if (o.Pos < dst.Length) dst[o.Pos] = 0;
            else dst[^1] = 0;
        }
        return o.Pos;
    }

    private static void RenderPointer(ref Out o, ref Args a, byte kind, int width, int flags, PrintkWorld world)
    {
        switch (kind)
        {
            case (byte)'S':
            case (byte)'s':
            {
                Span<byte> sym = stackalloc byte[160];
                int n = SprintSymbol(sym, a.Get(8), world.Kallsyms, kind == 'S', backtrace: false);
                PutString(ref o, sym[..Math.Min(n, sym.Length - 1)], width, flags);
                return;
            }
            case (byte)'x':
                PointerString(ref o, a.Get(8), width, flags);
                return;
            case (byte)'K':
            case (byte)'e':
                DefaultPointer(ref o, a.Get(8), width, flags, world);
                return;
        }
        if (!KCtype.IsAlnum(kind))
        {
            DefaultPointer(ref o, a.Get(8), width, flags, world);
            return;
        }
        // Pre-rendered by BprintfPrepare (%pks %pus %pB, IPs). Past the end it is neither counted
        // nor consumed, as in bstr_printf.
        if (o.Pos < o.Buf.Length)
        {
            var s = a.PeekString();
            o.Write(s);
            a.At += s.Length + 1;
        }
    }

    // %p / %pK with kptr_restrict 0: NULL and error pointers raw, others hashed.
    private static void DefaultPointer(ref Out o, ulong ptr, int width, int flags, PrintkWorld world)
    {
        bool errOrNull = ptr == 0 || ptr >= unchecked((ulong)-4095L);
        PointerString(ref o, errOrNull ? ptr : world.HashPointer(ptr), width, flags);
    }

    private static void PointerString(ref Out o, ulong v, int width, int flags)
    {
        if (width == -1)
        {
            width = 16;
            flags |= ZEROPAD;
        }
        Number(ref o, v, 16, true, false, width, flags);
    }

    private static void PutString(ref Out o, scoped ReadOnlySpan<byte> s, int width, int flags)
    {
        int pad = width - s.Length;
        if ((flags & LEFT) == 0) o.Pad((byte)' ', pad);
        o.Write(s);
        if ((flags & LEFT) != 0) o.Pad((byte)' ', pad);
    }

    // number(): sign, then zero or space padding, digits; '-' turns off '0'.
    private static void Number(ref Out o, ulong num, int numBase, bool small, bool signed, int width, int flags)
    {
        if ((flags & LEFT) != 0) flags &= ~ZEROPAD;
        byte sign = 0;
        if (signed)
        {
            if ((long)num < 0) { sign = (byte)'-'; num = unchecked((ulong)-(long)num); width--; }
            else if ((flags & PLUS) != 0) { sign = (byte)'+'; width--; }
            else if ((flags & SPACE) != 0) { sign = (byte)' '; width--; }
        }
        Span<byte> tmp = stackalloc byte[24];
        int p = tmp.Length;
        if (numBase == 16)
        {
            var digits = small ? HexLower : HexUpper;
            do { tmp[--p] = digits[(int)(num & 15)]; num >>= 4; } while (num != 0);
        }
        else
        {
            while (num > uint.MaxValue) { ulong q = num / 10; tmp[--p] = (byte)('0' + (int)(num - q * 10)); num = q; }
            uint u = (uint)num;
            do { uint q = u / 10; tmp[--p] = (byte)('0' + (int)(u - q * 10)); u = q; } while (u != 0);
        }
        int n = tmp.Length - p;
        width -= n;
        if ((flags & (ZEROPAD | LEFT)) == 0) { o.Pad((byte)' ', width); width = 0; }
        if (sign != 0) o.Put(sign);
        if ((flags & LEFT) == 0) { o.Pad((flags & ZEROPAD) != 0 ? (byte)'0' : (byte)' ', width); width = 0; }
        o.Write(tmp[p..]);
        o.Pad((byte)' ', width);
    }

    /// <summary>snprintf(dst, dst.Length, "%pB", addr): sprint_backtrace. Returns the untruncated length.</summary>
    public static int SprintBacktrace(Span<byte> dst, ulong addr, Kallsyms kallsyms)
    {
        Span<byte> tmp = stackalloc byte[160];
        int n = SprintSymbol(tmp, addr, kallsyms, true, backtrace: true);
        return Snprint(dst, tmp[..Math.Min(n, tmp.Length - 1)]);
    }

    // sprint_symbol / sprint_symbol_no_offset / sprint_backtrace into a scratch span (NUL not written).
    internal static int SprintSymbol(Span<byte> dst, ulong addr, Kallsyms kallsyms, bool withOffset, bool backtrace)
    {
        var o = new Out { Buf = dst };
        ulong look = backtrace ? addr - 1 : addr;
        if (!kallsyms.TryLookup(look, out var name, out ulong off, out ulong size))
        {
            o.Write("0x"u8);
            PutHex(ref o, addr);
            return o.Pos;
        }
        if (backtrace) off++;
        o.Write(name);
        if (withOffset)
        {
            o.Write("+0x"u8);
            PutHex(ref o, off);
            o.Write("/0x"u8);
            PutHex(ref o, size);
        }
        return o.Pos;
    }

    private static void PutHex(ref Out o, ulong v)
    {
        Span<byte> tmp = stackalloc byte[16];
        int n = 0;
        do { tmp[n++] = HexLower[(int)(v & 15)]; v >>= 4; } while (v != 0);
        while (--n >= 0) o.Put(tmp[n]);
    }

    /// <summary>
    /// snprintf(dst, dst.Length, "%pI4"/"%pi4"/"%pI6"/"%pi6", ip): ip is 4 or 16 bytes; lower-case
    /// hex, IPv6 uncompressed. Returns the untruncated length.
    /// </summary>
    public static int FormatIp(Span<byte> dst, ReadOnlySpan<byte> ip, bool lowerI)
    {
        Span<byte> tmp = stackalloc byte[48];
        var o = new Out { Buf = tmp };
        if (ip.Length == 4)
        {
            for (int k = 0; k < 4; k++)
            {
                if (k > 0) o.Put((byte)'.');
                int b = ip[k];
                if (lowerI || b >= 100) o.Put((byte)('0' + b / 100));
                if (lowerI || b >= 10) o.Put((byte)('0' + b / 10 % 10));
                o.Put((byte)('0' + b % 10));
            }
        }
        else
        {
            for (int k = 0; k < 16; k++)
            {
                if (!lowerI && k > 0 && (k & 1) == 0) o.Put((byte)':');
                o.Put(HexLower[ip[k] >> 4]);
                o.Put(HexLower[ip[k] & 15]);
            }
        }
        return Snprint(dst, tmp[..o.Pos]);
    }

    private static int Snprint(Span<byte> dst, ReadOnlySpan<byte> text)
    {
        if (dst.Length > 0)
        {
            int n = Math.Min(text.Length, dst.Length - 1);
            text[..n].CopyTo(dst);
            dst[n] = 0;
        }
        return text.Length;
    }
}

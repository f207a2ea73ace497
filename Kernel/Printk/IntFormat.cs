using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace BpfTraceSim.Kernel.Printk;

/// <summary>
/// Fast path for bpf_bprintf_prepare followed by bstr_printf when every conversion of the format is
/// an integer one (%[0+- ][width][l|ll]{d,i,u,x,X} and %%): one pass validates and renders straight
/// from the raw arguments, skipping the bin-args round trip and the second scan. For these formats
/// both scans parse a spec identically (the validator's flag set minus '#', which it refuses, equals
/// the renderer's), every error is -EINVAL, and -ENOSPC cannot happen (at most 12 args of 8 bytes),
/// so the result equals the general path's. The bin-args buffer is written as the validator would
/// leave it, also on -EINVAL (the renderer of a later call can read stale slots: "%p%d" validates
/// one argument and renders two). %p, %s and %c return <see cref="NotHandled"/>: the caller then
/// runs the general path from the start, which redoes everything observable.
/// </summary>
[SkipLocalsInit]
internal static class IntFormat
{
    /// <summary>The format needs the general path (pointer, string or char conversion).</summary>
    public const int NotHandled = int.MinValue;

    private const int LEFT = 1, PLUS = 2, SPACE = 4, ZEROPAD = 16;
    internal const byte Plain = 0, Percent = 1, Nul = 2, Refused = 3;

    // Byte classes of the main loop: one load tells plain text (0), '%' (1), the NUL (2) and the
    // bytes the validator refuses (3, KCtype.StopsPlainText); a test keeps the two in step.
    internal static ReadOnlySpan<byte> Class =>
    [
        2, 3, 3, 3, 3, 3, 3, 3, 3, 0, 0, 0, 0, 0, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
        0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];

    private static ReadOnlySpan<byte> Digits2 =>
        "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899"u8;

    private static ReadOnlySpan<ulong> Pow10 =>
    [
        1UL, 10UL, 100UL, 1_000UL, 10_000UL, 100_000UL, 1_000_000UL, 10_000_000UL, 100_000_000UL,
        1_000_000_000UL, 10_000_000_000UL, 100_000_000_000UL, 1_000_000_000_000UL, 10_000_000_000_000UL,
        100_000_000_000_000UL, 1_000_000_000_000_000UL, 10_000_000_000_000_000UL, 100_000_000_000_000_000UL,
        1_000_000_000_000_000_000UL, 10_000_000_000_000_000_000UL,
    ];

    /// <summary>
    /// Validates fmt (its fmt_size bytes) against args (exactly num_args values, at most 12) and
    /// renders it into dst (at least 1 byte) as bstr_printf would: at most dst.Length - 1 bytes and a
    /// NUL. bin is this nest level's bin-args buffer (512 bytes), filled as the validator fills it.
    /// Returns the untruncated length, -EINVAL, or <see cref="NotHandled"/>.
    /// </summary>
    public static int Render(ReadOnlySpan<byte> fmt, ReadOnlySpan<ulong> args, Span<byte> dst, Span<byte> bin)
    {
        if (args.Length > BpfFlags.MAX_BPRINTF_VARARGS || bin.Length < BpfFlags.MAX_BPRINTF_BIN_ARGS || dst.IsEmpty)
            return NotHandled;
        // bpf_bprintf_prepare refuses a format without a NUL before copying anything. Knowing the NUL
        // is there also bounds the scan below: it never reads past it (no branch consumes a 0).
        if ((fmt.IsEmpty || fmt[^1] != 0) && fmt.IndexOf((byte)0) < 0) return -Errno.EINVAL;
        return FastScan(ref MemoryMarshal.GetReference(fmt), ref MemoryMarshal.GetReference(args), args.Length,
            ref MemoryMarshal.GetReference(dst), dst.Length - 1, ref MemoryMarshal.GetReference(bin));
    }

    // The loop for plain text and bare %d/%i/%u with room to spare: no calls, so everything stays in
    // registers. Anything else continues in Scan from the same '%' with the same state.
    private static int FastScan(ref byte f, ref ulong arg, int numArgs, ref byte d, int cap, ref byte bin)
    {
        ref byte cls = ref MemoryMarshal.GetReference(Class);
        int pos = 0, spec = 0, tmp = 0;
        nint i = 0;
        while (true)
        {
            byte c = Unsafe.Add(ref f, i);
            byte k = Unsafe.Add(ref cls, c);
            if (k == Plain)
            {
                if (pos < cap) Unsafe.Add(ref d, pos) = c;
                pos++;
                i++;
                continue;
            }
            if (k == Nul) break;
            if (k == Refused) return -Errno.EINVAL;

            byte b = Unsafe.Add(ref f, i + 1);
            // Sign and 10 digits fit: no per-byte room checks.
            if (b is not ((byte)'d' or (byte)'i' or (byte)'u') || spec >= numArgs || cap - pos < 11)
                return Scan(ref f, i, ref arg, spec, numArgs, ref d, pos, cap, ref bin, tmp);
            uint u = (uint)Unsafe.Add(ref arg, spec++);
            tmp = (tmp + 3) & ~3;
            Unsafe.WriteUnaligned(ref Unsafe.Add(ref bin, tmp), u);
            tmp += 4;
            if (b != 'u' && (int)u < 0)
            {
                Unsafe.Add(ref d, pos++) = (byte)'-';
                u = (uint)-(int)u;
            }
            int n = DecimalDigits32(u);
            pos += n;
            WriteDecimal32(ref Unsafe.Add(ref d, pos), u);
            i += 2;
        }
        Unsafe.Add(ref d, Math.Min(pos, cap)) = 0;
        return pos;
    }

    // The general loop, entered at byte i of fmt with the state FastScan had there.
    private static int Scan(ref byte f, nint i, ref ulong arg, int spec, int numArgs, ref byte d, int pos, int cap,
        ref byte bin, int tmp)
    {
        ref byte cls = ref MemoryMarshal.GetReference(Class);
        while (true)
        {
            byte c = Unsafe.Add(ref f, i);
            byte k = Unsafe.Add(ref cls, c);
            if (k == Plain)
            {
                if (pos < cap) Unsafe.Add(ref d, pos) = c;
                pos++;
                i++;
                continue;
            }
            if (k == Nul) break;
            if (k == Refused) return -Errno.EINVAL;

            byte b = Unsafe.Add(ref f, ++i);
            if (b == '%')
            {
                if (pos < cap) Unsafe.Add(ref d, pos) = b;
                pos++;
                i++;
                continue;
            }
            if (spec >= numArgs) return -Errno.EINVAL;
            ulong num = Unsafe.Add(ref arg, spec++);

            // Common case: a bare %d/%i/%u, no flags, width or length.
            if (b is (byte)'d' or (byte)'i' or (byte)'u')
            {
                tmp = (tmp + 3) & ~3;
                Unsafe.WriteUnaligned(ref Unsafe.Add(ref bin, tmp), (uint)num);
                tmp += 4;
                uint u = (uint)num;
                if (b != 'u' && (int)u < 0)
                {
                    if (pos < cap) Unsafe.Add(ref d, pos) = (byte)'-';
                    pos++;
                    u = (uint)-(int)u;
                }
                int n = DecimalDigits32(u);
                if (n <= cap - pos) WriteDecimal32(ref Unsafe.Add(ref d, pos + n), u);
                else if (pos < cap) WritePartial(ref Unsafe.Add(ref d, pos), cap - pos, u, n, 10);
                pos += n;
                i++;
                continue;
            }

            var cur = new Cursor { I = i, Pos = pos, Tmp = tmp };
            int st = Spec(ref f, ref d, cap, ref bin, num, ref cur);
            if (st != 0) return st;
            i = cur.I;
            pos = cur.Pos;
            tmp = cur.Tmp;
        }
        Unsafe.Add(ref d, Math.Min(pos, cap)) = 0;
        return pos;
    }

    private struct Cursor
    {
        public nint I;   // in: the byte after '%'; out: the byte after the conversion
        public int Pos;
        public int Tmp;
    }

    // A spec with flags, width or length, or a hex one: parsed, checked, copied to bin-args and
    // rendered. Kept out of the main loop so the common case keeps its values in registers.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int Spec(ref byte f, ref byte d, int cap, ref byte bin, ulong num, ref Cursor c)
    {
        nint i = c.I;
        byte b = Unsafe.Add(ref f, i);
        int flags = 0;
        while (true)
        {
            int bit = b switch { (byte)'0' => ZEROPAD, (byte)'+' => PLUS, (byte)'-' => LEFT, (byte)' ' => SPACE, _ => 0 };
            if (bit == 0) break;
            flags |= bit;
            b = Unsafe.Add(ref f, ++i);
        }
        int width = -1;
        if ((uint)(b - '1') <= 8)
        {
            int w = 0;
            do
            {
                w = unchecked(w * 10 + (b - '0'));
                b = Unsafe.Add(ref f, ++i);
            } while ((uint)(b - '0') <= 9);
            width = Math.Clamp(w, -Vsprintf.FieldWidthMax, Vsprintf.FieldWidthMax);
        }
        bool wide = false;
        if (b == 'l')
        {
            wide = true;
            b = Unsafe.Add(ref f, ++i);
            if (b == 'l') b = Unsafe.Add(ref f, ++i);
        }
        int numBase = 10;
        bool signed = false;
        if (b is (byte)'d' or (byte)'i')
        {
            if (!wide) num = (ulong)(long)(int)(uint)num;
            signed = true;
        }
        else
        {
            if (b == 'x') numBase = 16;
            else if (b == 'X') numBase = 17;
            else if (b != 'u') return !wide && b is ((byte)'p' or (byte)'s' or (byte)'c') ? NotHandled : -Errno.EINVAL;
            if (!wide) num = (uint)num;
        }
        // The validator's copy: 4-aligned, u64 for l/ll, else u32 (what num now holds in its low half).
        int tmp = (c.Tmp + 3) & ~3;
        if (wide)
        {
            Unsafe.WriteUnaligned(ref Unsafe.Add(ref bin, tmp), num);
            tmp += 8;
        }
        else
        {
            Unsafe.WriteUnaligned(ref Unsafe.Add(ref bin, tmp), (uint)num);
            tmp += 4;
        }
        c.Pos = Number(ref d, cap, c.Pos, num, numBase, signed, width, flags);
        c.Tmp = tmp;
        c.I = i + 1;
        return 0;
    }

    // Vsprintf.Number's layout (sign, padding, digits) with the digit count known up front so the
    // digits go straight to their place. numBase 16 is lower-case hex, 17 upper-case.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Number(ref byte d, int cap, int pos, ulong num, int numBase, bool signed, int width, int flags)
    {
        if ((flags & LEFT) != 0) flags &= ~ZEROPAD;
        byte sign = 0;
        if (signed)
        {
            if ((long)num < 0) { sign = (byte)'-'; num = unchecked((ulong)-(long)num); width--; }
            else if ((flags & PLUS) != 0) { sign = (byte)'+'; width--; }
            else if ((flags & SPACE) != 0) { sign = (byte)' '; width--; }
        }
        int n = numBase != 10 ? (67 - BitOperations.LeadingZeroCount(num | 1)) >> 2
            : num <= uint.MaxValue ? DecimalDigits32((uint)num) : DecimalDigits(num);
        width -= n;
        if (width > 0 || sign != 0)
        {
            if ((flags & (ZEROPAD | LEFT)) == 0) { pos = Pad(ref d, cap, pos, (byte)' ', width); width = 0; }
            if (sign != 0)
            {
                if (pos < cap) Unsafe.Add(ref d, pos) = sign;
                pos++;
            }
            if ((flags & LEFT) == 0) { pos = Pad(ref d, cap, pos, (flags & ZEROPAD) != 0 ? (byte)'0' : (byte)' ', width); width = 0; }
        }
        if (n <= cap - pos)
        {
            ref byte end = ref Unsafe.Add(ref d, pos + n);
            if (numBase == 10) WriteDecimal(ref end, num);
            else WriteHex(ref end, num, numBase == 16);
        }
        else if (pos < cap)
        {
            WritePartial(ref Unsafe.Add(ref d, pos), cap - pos, num, n, numBase);
        }
        pos += n;
        return width > 0 ? Pad(ref d, cap, pos, (byte)' ', width) : pos;
    }

    // Lemire's digit count for 32-bit values: entry k (for floor(log2 v) = k) is digits << 32 when
    // all of [2^k, 2^(k+1)) have the same count d, else ((d + 1) << 32) - 10^d, so that adding it
    // carries into the high half exactly when v reaches 10^d. A test checks every power of ten.
    private static ReadOnlySpan<ulong> Digits32 =>
    [
        4294967296, 4294967296, 4294967296, 8589934582, 8589934592, 8589934592, 12884901788, 12884901888,
        12884901888, 17179868184, 17179869184, 17179869184, 17179869184, 21474826480, 21474836480, 21474836480,
        25769703776, 25769803776, 25769803776, 30063771072, 30064771072, 30064771072, 30064771072, 34349738368,
        34359738368, 34359738368, 38554705664, 38654705664, 38654705664, 41949672960, 42949672960, 42949672960,
    ];

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int DecimalDigits32(uint v) =>
        (int)((v + Unsafe.Add(ref MemoryMarshal.GetReference(Digits32), 31 - BitOperations.LeadingZeroCount(v | 1))) >> 32);

    // Writes the decimal digits of u so that the last one lands just before end: four digits per
    // step (two independent pairs), so the chain of divisions is half as long as pair by pair.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void WriteDecimal32(ref byte end, uint u)
    {
        ref byte pairs = ref MemoryMarshal.GetReference(Digits2);
        nint p = 0;
        while (u >= 10000)
        {
            uint q = u / 10000;
            uint r = u - q * 10000;
            uint hi = r / 100, lo = r - hi * 100;
            p -= 4;
            Unsafe.WriteUnaligned(ref Unsafe.Add(ref end, p + 2), Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref pairs, (nint)lo * 2)));
            Unsafe.WriteUnaligned(ref Unsafe.Add(ref end, p), Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref pairs, (nint)hi * 2)));
            u = q;
        }
        if (u >= 100)
        {
            uint hi = u / 100, lo = u - hi * 100;
            p -= 2;
            Unsafe.WriteUnaligned(ref Unsafe.Add(ref end, p), Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref pairs, (nint)lo * 2)));
            u = hi;
        }
        if (u >= 10)
            Unsafe.WriteUnaligned(ref Unsafe.Add(ref end, p - 2), Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref pairs, (nint)u * 2)));
        else
            Unsafe.Add(ref end, p - 1) = (byte)('0' + u);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int DecimalDigits(ulong v)
    {
        int t = ((64 - BitOperations.LeadingZeroCount(v | 1)) * 1233) >> 12;
        return t + ((v | 1) >= Unsafe.Add(ref MemoryMarshal.GetReference(Pow10), t) ? 1 : 0);
    }

    // Writes the decimal digits of v so that the last one lands just before end.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void WriteDecimal(ref byte end, ulong v)
    {
        ref byte pairs = ref MemoryMarshal.GetReference(Digits2);
        int p = 0;
        while (v > uint.MaxValue)
        {
            ulong q = v / 100;
            int r = (int)(v - q * 100) * 2;
            Unsafe.Add(ref end, --p) = Unsafe.Add(ref pairs, r + 1);
            Unsafe.Add(ref end, --p) = Unsafe.Add(ref pairs, r);
            v = q;
        }
        uint u = (uint)v;
        while (u >= 100)
        {
            uint q = u / 100;
            int r = (int)(u - q * 100) * 2;
            Unsafe.Add(ref end, --p) = Unsafe.Add(ref pairs, r + 1);
            Unsafe.Add(ref end, --p) = Unsafe.Add(ref pairs, r);
            u = q;
        }
        if (u >= 10)
        {
            Unsafe.Add(ref end, --p) = Unsafe.Add(ref pairs, (int)u * 2 + 1);
            Unsafe.Add(ref end, --p) = Unsafe.Add(ref pairs, (int)u * 2);
        }
        else
        {
            Unsafe.Add(ref end, --p) = (byte)('0' + u);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void WriteHex(ref byte end, ulong v, bool lower)
    {
        ref byte digits = ref MemoryMarshal.GetReference(lower ? "0123456789abcdef"u8 : "0123456789ABCDEF"u8);
        int p = 0;
        do
        {
            Unsafe.Add(ref end, --p) = Unsafe.Add(ref digits, (int)(v & 15));
            v >>= 4;
        } while (v != 0);
    }

    // The digits straddle the end of the room: render them aside and keep the part that fits.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void WritePartial(ref byte at, int room, ulong num, int n, int numBase)
    {
        Span<byte> tmp = stackalloc byte[24];
        ref byte end = ref Unsafe.Add(ref MemoryMarshal.GetReference(tmp), n);
        if (numBase == 10) WriteDecimal(ref end, num);
        else WriteHex(ref end, num, numBase == 16);
        tmp[..room].CopyTo(MemoryMarshal.CreateSpan(ref at, room));
    }

    /// <summary>Copies n bytes; short copies (the usual message) without a call into Memmove.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Copy(ref byte dst, ref byte src, int n)
    {
        if ((uint)n <= 16)
        {
            if (n >= 8)
            {
                ulong a = Unsafe.ReadUnaligned<ulong>(ref src), b = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref src, n - 8));
                Unsafe.WriteUnaligned(ref dst, a);
                Unsafe.WriteUnaligned(ref Unsafe.Add(ref dst, n - 8), b);
            }
            else if (n >= 4)
            {
                uint a = Unsafe.ReadUnaligned<uint>(ref src), b = Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref src, n - 4));
                Unsafe.WriteUnaligned(ref dst, a);
                Unsafe.WriteUnaligned(ref Unsafe.Add(ref dst, n - 4), b);
            }
            else
            {
                for (int k = 0; k < n; k++) Unsafe.Add(ref dst, k) = Unsafe.Add(ref src, k);
            }
            return;
        }
        if (n <= 32)
        {
            var a = Unsafe.ReadUnaligned<System.Runtime.Intrinsics.Vector128<byte>>(ref src);
            var b = Unsafe.ReadUnaligned<System.Runtime.Intrinsics.Vector128<byte>>(ref Unsafe.Add(ref src, n - 16));
            Unsafe.WriteUnaligned(ref dst, a);
            Unsafe.WriteUnaligned(ref Unsafe.Add(ref dst, n - 16), b);
            return;
        }
        Unsafe.CopyBlockUnaligned(ref dst, ref src, (uint)n);
    }

    private static int Pad(ref byte d, int cap, int pos, byte b, int count)
    {
        if (count <= 0) return pos;
        int room = cap - pos;
        if (room > 0) MemoryMarshal.CreateSpan(ref Unsafe.Add(ref d, pos), Math.Min(room, count)).Fill(b);
        return pos + count;
    }
}

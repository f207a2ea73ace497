using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace BpfTraceSim.Kernel.Printk;

/// <summary>
/// struct bpf_bprintf_data: what the caller asks BprintfPrepare for (GetBinArgs, GetBuf) and what it
/// hands back (the per-CPU bin-args and text buffers, valid until BprintfCleanup).
/// </summary>
public ref struct BprintfData
{
    public bool GetBinArgs;
    public bool GetBuf;
    /// <summary>The 512-byte bin-args buffer; empty when no argument was copied (num_args 0).</summary>
    public Span<byte> BinArgs;
    /// <summary>The 1024-byte (MAX_BPRINTF_BUF) text buffer when GetBuf.</summary>
    public Span<byte> Buf;
    internal bool Holds;
}

/// <summary>bpf_bprintf_prepare / bpf_bprintf_cleanup (kernel/bpf/helpers.c).</summary>
[SkipLocalsInit]
public static class Bprintf
{
    /// <summary>
    /// bpf_bprintf_prepare: validates fmt (docs/kernel-semantics.md §6) against numArgs and, when data.GetBinArgs, copies
    /// the arguments (strings and IPs read from simulated memory) into the per-CPU bin-args buffer.
    /// fmt is the fmt_size bytes the helper was given; rawArgs holds at least numArgs values (may be
    /// empty when only validating). Returns 0 or a negative errno; on 0 with buffers taken the caller
    /// must call <see cref="BprintfCleanup"/>. cpu and world may be null when nothing is copied.
    /// </summary>
    public static int BprintfPrepare(scoped ReadOnlySpan<byte> fmt, scoped ReadOnlySpan<ulong> rawArgs, int numArgs,
        ref BprintfData data, PrintkCpu? cpu, PrintkWorld? world)
    {
        int len = fmt.IndexOf((byte)0);
        if (len < 0) return -Errno.EINVAL;
        fmt = fmt[..(len + 1)]; // keep the NUL: look-ahead reads it

        bool getBuffers = (data.GetBinArgs && numArgs > 0) || data.GetBuf;
        if (getBuffers)
        {
            if (cpu is null) throw new ArgumentNullException(nameof(cpu));
            if (cpu.NestLevel >= BpfFlags.MAX_BPRINTF_NEST_LEVEL) return -Errno.EBUSY;
            int level = cpu.NestLevel++;
            data.Holds = true;
            if (data.GetBinArgs && numArgs > 0) data.BinArgs = cpu.BinArgs[level];
            if (data.GetBuf) data.Buf = cpu.Bufs[level];
        }

        int err = Validate(fmt, len, rawArgs, numArgs, data.BinArgs, world);
        if (err != 0) BprintfCleanup(cpu, ref data);
        return err;
    }

    /// <summary>bpf_bprintf_cleanup: releases the per-CPU buffers BprintfPrepare took.</summary>
    public static void BprintfCleanup(PrintkCpu? cpu, ref BprintfData data)
    {
        if (!data.Holds || cpu is null) return;
        data.Holds = false;
        if (cpu.NestLevel > 0) cpu.NestLevel--;
    }

    private static byte At(ReadOnlySpan<byte> f, int i) => (uint)i < (uint)f.Length ? f[i] : (byte)0;

    // The walk mirrors the kernel's index arithmetic on purpose: quirks such as the byte after "%p"
    // being skipped unchecked ("%p%%" is refused) come from it.
    private static int Validate(ReadOnlySpan<byte> fmt, int len, ReadOnlySpan<ulong> rawArgs, int numArgs,
        Span<byte> bin, PrintkWorld? world)
    {
        bool copy = !bin.IsEmpty;
        Span<byte> ipBuf = stackalloc byte[16];
        int tmp = 0, end = bin.Length;
        int numSpec = 0;
        for (int i = 0; i < len; i++)
        {
            byte c = fmt[i];
            if (!KCtype.StopsPlainText(c)) continue;
            if (c != '%') return -Errno.EINVAL;
            if (At(fmt, i + 1) == '%') { i++; continue; }
            if (numSpec >= numArgs) return -Errno.EINVAL;
            i++;
            while (At(fmt, i) is (byte)'0' or (byte)'+' or (byte)'-' or (byte)' ') i++;
            if (At(fmt, i) is >= (byte)'1' and <= (byte)'9')
            {
                i++;
                while (KCtype.IsDigit(At(fmt, i))) i++;
            }

            c = At(fmt, i);
            int size;
            bool str = false;
            byte ptype = (byte)'s';
            if (c == 'p')
            {
                byte n1 = At(fmt, i + 1);
                if ((n1 == 'k' || n1 == 'u') && At(fmt, i + 2) == 's')
                {
                    ptype = n1;
                    i += 2;
                    str = true;
                }
                else if (n1 == 0 || KCtype.IsSpace(n1) || KCtype.IsPunct(n1) || n1 is (byte)'K' or (byte)'x' or (byte)'s' or (byte)'S')
                {
                    i++;
                    size = 8;
                    if (copy && !StoreScalar(bin, ref tmp, end, rawArgs[numSpec], size)) return -Errno.ENOSPC;
                    numSpec++;
                    continue;
                }
                else if (n1 == 'B')
                {
                    if (copy)
                    {
                        int n = Vsprintf.SprintBacktrace(bin[tmp..end], rawArgs[numSpec], world!.Kallsyms);
                        tmp = Math.Min(end, tmp + n + 1);
                    }
                    i++;
                    numSpec++;
                    continue;
                }
                else
                {
                    byte n2 = At(fmt, i + 2);
                    if ((n1 != 'i' && n1 != 'I') || (n2 != '4' && n2 != '6')) return -Errno.EINVAL;
                    i += 2;
                    if (copy)
                    {
                        int ipLen = n2 == '4' ? 4 : 16;
                        if (end - tmp < ipLen) return -Errno.ENOSPC;
                        var ip = ipBuf[..ipLen];
                        if (!world!.Memory.TryRead(rawArgs[numSpec], ip, AddressSpace.Kernel)) ip.Clear();
                        int n = Vsprintf.FormatIp(bin[tmp..end], ip, n1 == 'i');
                        tmp = Math.Min(end, tmp + n + 1);
                    }
                    numSpec++;
                    continue;
                }
            }
            else if (c == 's')
            {
                str = true;
            }
            else if (c == 'c')
            {
                if (copy)
                {
                    if (tmp == end) return -Errno.ENOSPC;
                    bin[tmp++] = (byte)rawArgs[numSpec];
                }
                numSpec++;
                continue;
            }

            if (str)
            {
                byte next = At(fmt, i + 1);
                if (next != 0 && !KCtype.IsSpace(next) && !KCtype.IsPunct(next)) return -Errno.EINVAL;
                if (copy)
                {
                    if (tmp == end) return -Errno.ENOSPC;
                    tmp += CopyString(bin[tmp..end], rawArgs[numSpec], ptype, world!.Memory);
                }
                numSpec++;
                continue;
            }

            size = 4;
            if (At(fmt, i) == 'l') { size = 8; i++; }
            if (At(fmt, i) == 'l') { size = 8; i++; }
            c = At(fmt, i);
            if (c is not ((byte)'i' or (byte)'d' or (byte)'u' or (byte)'x' or (byte)'X')) return -Errno.EINVAL;
            if (copy && !StoreScalar(bin, ref tmp, end, rawArgs[numSpec], size)) return -Errno.ENOSPC;
            numSpec++;
        }
        return 0;
    }

    private static bool StoreScalar(Span<byte> bin, ref int tmp, int end, ulong value, int size)
    {
        tmp = (tmp + 3) & ~3;
        if (end - tmp < size) return false;
        if (size == 8) BinaryPrimitives.WriteUInt64LittleEndian(bin[tmp..], value);
        else BinaryPrimitives.WriteUInt32LittleEndian(bin[tmp..], (uint)value);
        tmp += size;
        return true;
    }

    // bpf_trace_copy_string: NUL-terminated copy cut to the room; an unreadable pointer gives "".
    private static int CopyString(Span<byte> dst, ulong addr, byte ptype, SimMemory mem)
    {
        int n = ptype switch
        {
            (byte)'k' => mem.ReadString(addr, dst, AddressSpace.Kernel),
            (byte)'u' => mem.ReadString(addr, dst, AddressSpace.User),
            _ => ReadKernelThenUser(addr, dst, mem),
        };
        if (n > 0) return n;
        dst[0] = 0;
        return 1;
    }

    private static int ReadKernelThenUser(ulong addr, Span<byte> dst, SimMemory mem)
    {
        int n = mem.ReadString(addr, dst, AddressSpace.Kernel);
        return n > 0 ? n : mem.ReadString(addr, dst, AddressSpace.User);
    }
}

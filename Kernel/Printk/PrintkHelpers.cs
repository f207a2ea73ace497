using System.Runtime.InteropServices;

namespace BpfTraceSim.Kernel.Printk;

/// <summary>Which printf-like helper a verifier check is for (their argument registers differ).</summary>
public enum PrintfHelper
{
    TracePrintk,
    TraceVprintk,
    Snprintf,
    SeqPrintf,
}

/// <summary>bpf_trace_printk, bpf_trace_vprintk and bpf_snprintf (kernel/trace/bpf_trace.c, kernel/bpf/helpers.c).</summary>
[System.Runtime.CompilerServices.SkipLocalsInit]
public static class PrintkHelpers
{
    /// <summary>MAX_BPRINTF_VARARGS * 8: the largest data_len.</summary>
    public const int MaxDataLen = BpfFlags.MAX_BPRINTF_VARARGS * 8;

    /// <summary>bpf_trace_printk(fmt, fmt_size, a1, a2, a3): fmt is the fmt_size bytes passed.</summary>
    public static long TracePrintk(in HelperContext ctx, PrintkCpu cpu, PrintkWorld world, ReadOnlySpan<byte> fmt,
        ulong a1, ulong a2, ulong a3)
    {
        Span<ulong> args = stackalloc ulong[BpfFlags.MAX_TRACE_PRINTK_VARARGS];
        args[0] = a1;
        args[1] = a2;
        args[2] = a3;
        if (cpu.NestLevel < BpfFlags.MAX_BPRINTF_NEST_LEVEL)
        {
            int fast = TraceIntFormat(in ctx, cpu, fmt, args);
            if (fast != IntFormat.NotHandled) return fast;
        }
        return TracePrintkGeneral(in ctx, cpu, world, fmt, args);
    }

    // bpf_trace_printk through bpf_bprintf_prepare and bstr_printf, for any format.
    internal static long TracePrintkGeneral(in HelperContext ctx, PrintkCpu cpu, PrintkWorld world, ReadOnlySpan<byte> fmt,
        ReadOnlySpan<ulong> args)
    {
        var data = new BprintfData { GetBinArgs = true, GetBuf = true };
        int err = Bprintf.BprintfPrepare(fmt, args, BpfFlags.MAX_TRACE_PRINTK_VARARGS, ref data, cpu, world);
        if (err < 0) return err;
        int ret = Vsprintf.BstrPrintf(data.Buf, fmt, data.BinArgs, world);
        TraceBpfTracePrintk(in ctx, cpu, data.Buf);
        Bprintf.BprintfCleanup(cpu, ref data);
        return ret;
    }

    /// <summary>
    /// bpf_trace_vprintk(fmt, fmt_size, args, data_len): data is the data_len bytes at args;
    /// dataIsNull says args was NULL (a maybe-NULL pointer the verifier let through).
    /// </summary>
    public static long TraceVprintk(in HelperContext ctx, PrintkCpu cpu, PrintkWorld world, ReadOnlySpan<byte> fmt,
        ReadOnlySpan<byte> data, bool dataIsNull)
    {
        int dataLen = data.Length;
        if ((dataLen & 7) != 0 || dataLen > MaxDataLen || (dataLen != 0 && dataIsNull)) return -Errno.EINVAL;
        var args = MemoryMarshal.Cast<byte, ulong>(data);
        if (cpu.NestLevel < BpfFlags.MAX_BPRINTF_NEST_LEVEL)
        {
            int fast = TraceIntFormat(in ctx, cpu, fmt, args);
            if (fast != IntFormat.NotHandled) return fast;
        }
        return TraceVprintkGeneral(in ctx, cpu, world, fmt, args);
    }

    // bpf_trace_vprintk past its data_len checks, through bpf_bprintf_prepare and bstr_printf.
    internal static long TraceVprintkGeneral(in HelperContext ctx, PrintkCpu cpu, PrintkWorld world, ReadOnlySpan<byte> fmt,
        ReadOnlySpan<ulong> args)
    {
        var bp = new BprintfData { GetBinArgs = true, GetBuf = true };
        int err = Bprintf.BprintfPrepare(fmt, args, args.Length, ref bp, cpu, world);
        if (err < 0) return err;
        int ret = Vsprintf.BstrPrintf(bp.Buf, fmt, bp.BinArgs, world);
        TraceBpfTracePrintk(in ctx, cpu, bp.Buf);
        Bprintf.BprintfCleanup(cpu, ref bp);
        return ret;
    }

    /// <summary>
    /// bpf_snprintf(str, str_size, fmt, args, data_len): str is the str_size bytes; fmt the constant
    /// format (its NUL within it, as the verifier guarantees). Returns the untruncated length + 1.
    /// </summary>
    public static long Snprintf(in HelperContext ctx, PrintkCpu cpu, PrintkWorld world, Span<byte> str,
        ReadOnlySpan<byte> fmt, ReadOnlySpan<byte> data, bool dataIsNull)
    {
        int dataLen = data.Length;
        if ((dataLen & 7) != 0 || dataLen > MaxDataLen || (dataLen != 0 && dataIsNull)) return -Errno.EINVAL;
        var args = MemoryMarshal.Cast<byte, ulong>(data);
        if (cpu.NestLevel < BpfFlags.MAX_BPRINTF_NEST_LEVEL)
        {
            // Rendered into this level's free text buffer first: str must stay untouched on -EINVAL.
            var scratch = cpu.Bufs[cpu.NestLevel].AsSpan(0, Math.Clamp(str.Length, 1, BpfFlags.MAX_BPRINTF_BUF));
            int fast = IntFormat.Render(fmt, args, scratch, cpu.BinArgs[cpu.NestLevel]);
            if (fast < 0 && fast != IntFormat.NotHandled) return fast;
            if (fast >= 0 && (fast < scratch.Length || str.Length <= scratch.Length))
            {
                if (str.Length > 0)
                    IntFormat.Copy(ref MemoryMarshal.GetReference(str), ref MemoryMarshal.GetReference(scratch), Math.Min(fast, scratch.Length - 1) + 1);
                return fast + 1;
            }
        }
        return SnprintfGeneral(cpu, world, str, fmt, args);
    }

    // bpf_snprintf past its data_len checks, through bpf_bprintf_prepare and bstr_printf.
    internal static long SnprintfGeneral(PrintkCpu cpu, PrintkWorld world, Span<byte> str, ReadOnlySpan<byte> fmt,
        ReadOnlySpan<ulong> args)
    {
        var bp = new BprintfData { GetBinArgs = true };
        int err = Bprintf.BprintfPrepare(fmt, args, args.Length, ref bp, cpu, world);
        if (err < 0) return err;
        int ret = Vsprintf.BstrPrintf(str, fmt, bp.BinArgs, world);
        Bprintf.BprintfCleanup(cpu, ref bp);
        return ret + 1;
    }

    // Fast path of the trace helpers: integer-only formats rendered in one pass into this level's
    // text buffer, which then holds no NUL before the end of the text.
    private static int TraceIntFormat(in HelperContext ctx, PrintkCpu cpu, ReadOnlySpan<byte> fmt, ReadOnlySpan<ulong> args)
    {
        byte[] buf = cpu.Bufs[cpu.NestLevel];
        int ret = IntFormat.Render(fmt, args, buf, cpu.BinArgs[cpu.NestLevel]);
        if (ret < 0) return ret;
        cpu.Trace.Write(ctx.NowNs, ctx.Current, TraceRing.PackFlags(in ctx), buf.AsSpan(0, Math.Min(ret, buf.Length - 1)));
        return ret;
    }

    // trace_bpf_trace_printk(buf): the event copies the string up to its NUL.
    private static void TraceBpfTracePrintk(in HelperContext ctx, PrintkCpu cpu, ReadOnlySpan<byte> buf)
    {
        int n = buf.IndexOf((byte)0);
        if (n < 0) n = buf.Length;
        cpu.Trace.Write(ctx.NowNs, ctx.Current, TraceRing.PackFlags(in ctx), buf[..n]);
    }

    /// <summary>
    /// The 5-character flags field of a trace line (trace_print_lat_fmt): irqs-off, need-resched,
    /// hardirq/softirq, preempt depth, migrate-disable. Task and softirq show ctx.PreemptDepth;
    /// hardirq and NMI run with IRQs off and show no preempt depth ("d.h..", "d.z..").
    /// </summary>
    public static void TraceFlags(in HelperContext ctx, Span<byte> dst5)
    {
        dst5[4] = (byte)'.';
        dst5[1] = (byte)'.';
        switch (ctx.Context)
        {
            case ExecContext.Hardirq:
            case ExecContext.Nmi:
                dst5[0] = (byte)'d';
                dst5[2] = ctx.Context == ExecContext.Nmi ? (byte)'z' : (byte)'h';
                dst5[3] = (byte)'.';
                return;
            default:
                int d = ctx.PreemptDepth;
                dst5[0] = (byte)'.';
                dst5[2] = ctx.Context == ExecContext.Softirq ? (byte)'s' : (byte)'.';
                dst5[3] = d <= 0 ? (byte)'.' : "0123456789abcdef"u8[Math.Min(d, 15)];
                return;
        }
    }

    /// <summary>
    /// The verifier's load-time checks of a printf-like call (docs/kernel-semantics.md §5). fmtMemory is the whole memory
    /// object holding the format, fmtSize the constant size passed (ignored for snprintf, whose format
    /// is a constant string), argsIsNull whether args is a constant NULL, dataLen the constant data_len
    /// (ignored for trace_printk), fmtReadOnly whether the format lives in read-only data (snprintf
    /// needs it). Returns the verifier's message, or null when the program loads.
    /// </summary>
    public static string? VerifierCheck(PrintfHelper helper, ReadOnlySpan<byte> fmtMemory, uint fmtSize,
        bool argsIsNull, uint dataLen, bool fmtReadOnly = true)
    {
        if (helper == PrintfHelper.Snprintf)
        {
            if (!fmtReadOnly) return "R3 does not point to a readonly map'";
            if (fmtMemory.IndexOf((byte)0) < 0) return "string is not zero-terminated";
            if (argsIsNull && dataLen > 0) return "R4 type=scalar expected=fp";
            if (dataLen % 8 != 0) return $"data_len {dataLen} is not a multiple of 8";
            var bp = new BprintfData();
            if (Bprintf.BprintfPrepare(fmtMemory, default, (int)(dataLen / 8), ref bp, null, null) < 0)
                return "Invalid format string";
            return null;
        }

        int sizeReg = helper == PrintfHelper.SeqPrintf ? 3 : 2;
        if (fmtSize == 0) return $"R{sizeReg} invalid zero-sized read";
        if (fmtSize > (uint)fmtMemory.Length)
            return $"invalid access to memory, mem_size={fmtMemory.Length} off=0 size={fmtSize}";
        if (helper != PrintfHelper.TracePrintk && argsIsNull && dataLen > 0)
            return $"R{(helper == PrintfHelper.TraceVprintk ? 3 : 4)} type=scalar expected=fp";
        return null;
    }
}

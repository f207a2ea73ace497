using System.Runtime.InteropServices;
using BpfTraceSim.Kernel.Btf;
using BpfTraceSim.Kernel.Printk;

namespace BpfTraceSim.Kernel.Seq;

/// <summary>struct btf_ptr { void *ptr; __u32 type_id; __u32 flags; } as a program passes it.</summary>
public readonly record struct BtfPtr(ulong Ptr, uint TypeId, uint Flags = 0)
{
    /// <summary>sizeof(struct btf_ptr).</summary>
    public const uint Size = 16;
}

/// <summary>The bpf_iter seq_file helpers of kernel/trace/bpf_trace.c.</summary>
public static class SeqHelpers
{
    /// <summary>BTF_F_ALL: the flags bpf_seq_printf_btf / bpf_snprintf_btf accept.</summary>
    public const ulong BTF_F_ALL = BpfFlags.BTF_F_COMPACT | BpfFlags.BTF_F_NONAME | BpfFlags.BTF_F_PTR_RAW | BpfFlags.BTF_F_ZERO;

    /// <summary>bpf_seq_write: 0, or -EOVERFLOW when count + len &lt; size does not hold (then and for every later call of the object).</summary>
    public static long SeqWrite(SeqFile m, ReadOnlySpan<byte> data) => m.Write(data) ? 0 : -Errno.EOVERFLOW;

    /// <summary>
    /// bpf_seq_printf(m, fmt, fmt_size, data, data_len): fmt is the fmt_size bytes passed, data the
    /// data_len bytes at args (dataIsNull: args was a NULL the verifier let through). The docs/kernel-semantics.md §5/§6
    /// argument and format checks come first (-EINVAL even after an overflow); the text is then
    /// rendered by the printk engine (bstr_printf) into the seq buffer as seq_bprintf does: kept only
    /// when count + len &lt; size. Returns 0, or -EOVERFLOW whenever the seq file has overflowed.
    /// </summary>
    public static long SeqPrintf(SeqFile m, PrintkCpu cpu, PrintkWorld world, ReadOnlySpan<byte> fmt,
        ReadOnlySpan<byte> data, bool dataIsNull)
    {
        int dataLen = data.Length;
        if ((dataLen & 7) != 0 || dataLen > PrintkHelpers.MaxDataLen || (dataLen != 0 && dataIsNull)) return -Errno.EINVAL;
        int numArgs = dataLen / 8;
        var bp = new BprintfData { GetBinArgs = true };
        int err = Bprintf.BprintfPrepare(fmt, MemoryMarshal.Cast<byte, ulong>(data), numArgs, ref bp, cpu, world);
        if (err < 0) return err;
        // seq_bprintf: render into the free space; bstr_printf returns the untruncated length.
        if (m.Count < m.Size)
            m.CommitFormatted(Vsprintf.BstrPrintf(m.FreeSpace, fmt, bp.BinArgs, world));
        else
            m.SetOverflow();
        Bprintf.BprintfCleanup(cpu, ref bp);
        return m.HasOverflowed ? -Errno.EOVERFLOW : 0;
    }

    /// <summary>
    /// bpf_btf_printf_prepare: flags, btf_ptr size, type id checks in the kernel's order; 0 when the
    /// object may be printed.
    /// </summary>
    public static long BtfPrintfPrepare(Btf.Btf btf, in BtfPtr ptr, uint btfPtrSize, ulong flags)
    {
        if ((flags & ~BTF_F_ALL) != 0) return -Errno.EINVAL;
        if (btfPtrSize != BtfPtr.Size) return -Errno.EINVAL;
        if (ptr.TypeId == 0) return -Errno.EINVAL;
        // The id is used as an s32: ids with the top bit set are never found.
        if ((int)ptr.TypeId <= 0 || btf.TypeById(ptr.TypeId) is null) return -Errno.ENOENT;
        return 0;
    }

    /// <summary>
    /// bpf_seq_printf_btf: after BtfPrintfPrepare, prints the object into m (each piece under the
    /// seq overflow rule) and returns the show status: 0, or the negative errno of an unreadable
    /// object (-ERANGE for NULL/user/non-canonical, -EFAULT unmapped). An overflow does NOT change
    /// the return (the kernel returns the status only); bpf_seq_read sees it.
    /// </summary>
    public static long SeqPrintfBtf(SeqFile m, Btf.Btf btf, SimMemory mem, in BtfPtr ptr, uint btfPtrSize, ulong flags,
        Func<ulong, ulong> hashPointer)
    {
        long ret = BtfPrintfPrepare(btf, ptr, btfPtrSize, flags);
        if (ret != 0) return ret;
        return BtfShow.Show(btf, ptr.TypeId, ptr.Ptr, mem, flags, hashPointer, m);
    }

    /// <summary>bpf_seq_printf_btf with the world's memory and its per-boot %p hash.</summary>
    public static long SeqPrintfBtf(SeqFile m, Btf.Btf btf, PrintkWorld world, in BtfPtr ptr, uint btfPtrSize, ulong flags) =>
        SeqPrintfBtf(m, btf, world.Memory, in ptr, btfPtrSize, flags, p => world.HashPointer(p));
}

using BpfTraceSim.Kernel.Printk;
using BpfTraceSim.Kernel.Seq;

namespace BpfTraceSim.Kernel.Btf;

/// <summary>bpf_snprintf_btf (kernel/trace/bpf_trace.c) over btf_type_snprintf_show (kernel/bpf/btf.c).</summary>
public static class BtfHelpers
{
    /// <summary>
    /// The same checks as bpf_seq_printf_btf (bpf_btf_printf_prepare), then the object shown into
    /// str as btf_snprintf_show does it: each chunk is vsnprintf'd into what is left; the first chunk
    /// that does not fit is cut to the space left minus its NUL, and nothing is written after it.
    /// Returns the show status if it failed (-ERANGE / -EFAULT), else the length the whole object
    /// would have taken (without the NUL), like snprintf.
    /// </summary>
    public static long SnprintfBtf(Span<byte> str, Btf btf, SimMemory mem, in BtfPtr ptr, uint btfPtrSize, ulong flags,
        Func<ulong, ulong> hashPointer)
    {
        long ret = SeqHelpers.BtfPrintfPrepare(btf, ptr, btfPtrSize, flags);
        if (ret != 0) return ret;
        var sink = new SnprintfSink(str.Length);
        int status = BtfShow.Show(btf, ptr.TypeId, ptr.Ptr, mem, flags, hashPointer, sink);
        sink.CopyTo(str);
        return status != 0 ? status : sink.Length;
    }

    /// <summary>bpf_snprintf_btf with the world's memory and its per-boot %p hash.</summary>
    public static long SnprintfBtf(Span<byte> str, Btf btf, PrintkWorld world, in BtfPtr ptr, uint btfPtrSize, ulong flags) =>
        SnprintfBtf(str, btf, world.Memory, in ptr, btfPtrSize, flags, p => world.HashPointer(p));

    // struct btf_show_snprintf: the target, len_left and len, kept in a buffer of str's size and
    // copied out at the end (only the bytes vsnprintf wrote: the rest of str keeps its contents).
    private sealed class SnprintfSink(int size) : IBtfShowSink
    {
        private readonly byte[] _buf = new byte[size];
        private int _at, _left = size, _written;

        public long Length { get; private set; }

        public void Show(ReadOnlySpan<byte> chunk)
        {
            int len = chunk.Length;
            if (_left > 0)
            {
                int n = Math.Min(len, _left - 1);
                chunk[..n].CopyTo(_buf.AsSpan(_at));
                _buf[_at + n] = 0;
                _written = Math.Max(_written, _at + n + 1);
            }
            if (len >= _left) _left = 0; // no room: go on only for the length it would have written
            else
            {
                _left -= len;
                _at += len;
            }
            Length += len;
        }

        public void CopyTo(Span<byte> str) => _buf.AsSpan(0, _written).CopyTo(str);
    }
}

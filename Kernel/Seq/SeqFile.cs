namespace BpfTraceSim.Kernel.Seq;

/// <summary>
/// struct seq_file as bpf_iter uses it (fs/seq_file.c): a fixed buffer, count of bytes held, the
/// read offset of leftover bytes, and overflow recorded as count == size.
/// </summary>
public sealed class SeqFile : Btf.IBtfShowSink
{
    /// <summary>bpf_seq_read's buffer: PAGE_SIZE &lt;&lt; 3.</summary>
    public const int DefaultSize = BpfFlags.PAGE_SIZE << 3;

    private readonly byte[] _buf;

    public SeqFile(int size = DefaultSize)
    {
        if (size <= 0) throw new ArgumentOutOfRangeException(nameof(size), "seq buffer size must be positive");
        _buf = new byte[size];
    }

    public int Size => _buf.Length;
    /// <summary>Bytes held (m->count); equals Size after an overflow.</summary>
    public int Count { get; internal set; }
    /// <summary>Start of the bytes not yet handed to user space (m->from).</summary>
    public int From { get; internal set; }

    /// <summary>seq_has_overflowed.</summary>
    public bool HasOverflowed => Count == Size;

    /// <summary>The bytes held, from the start of the buffer.</summary>
    public ReadOnlySpan<byte> Buffer => _buf.AsSpan(0, Count);

    internal ReadOnlySpan<byte> Pending => _buf.AsSpan(From, Count);

    /// <summary>seq_set_overflow.</summary>
    public void SetOverflow() => Count = Size;

    /// <summary>seq_write: appends only when count + len &lt; size (strictly), else overflows. Returns false on overflow.</summary>
    public bool Write(ReadOnlySpan<byte> data)
    {
        if ((long)Count + data.Length < Size)
        {
            data.CopyTo(_buf.AsSpan(Count));
            Count += data.Length;
            return true;
        }
        SetOverflow();
        return false;
    }

    /// <summary>The free space a formatter may render into (m->buf + m->count, m->size - m->count).</summary>
    public Span<byte> FreeSpace => _buf.AsSpan(Count);

    /// <summary>
    /// seq_vprintf/seq_bprintf after the formatter wrote into FreeSpace and returned the untruncated
    /// length: keeps it only when count + len &lt; size, else overflows. False on overflow.
    /// </summary>
    public bool CommitFormatted(long len)
    {
        if (Count < Size && len >= 0 && Count + len < Size)
        {
            Count += (int)len;
            return true;
        }
        SetOverflow();
        return false;
    }

    /// <summary>seq_vprintf of already formatted text (btf_seq_show's target).</summary>
    public bool Printf(ReadOnlySpan<byte> text)
    {
        if (Count < Size)
        {
            int n = Math.Min(text.Length, Size - Count);
            text[..n].CopyTo(_buf.AsSpan(Count));
        }
        return CommitFormatted(text.Length);
    }

    void Btf.IBtfShowSink.Show(ReadOnlySpan<byte> chunk) => Printf(chunk);

    /// <summary>Empties the buffer (a read discarding an object's output keeps count = offs instead).</summary>
    internal void Truncate(int count) => Count = count;
}

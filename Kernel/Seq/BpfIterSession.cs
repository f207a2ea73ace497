namespace BpfTraceSim.Kernel.Seq;

/// <summary>
/// Runs the iterator program for object objectIndex (0-based) into m and returns the program's
/// return value. It may be called again for the same object (a re-run after an overflow or a
/// non-zero return). objectIndex is -1 for the final call with no object (seq_ops->stop with
/// p == NULL), made once when the end is reached.
/// </summary>
public delegate int BpfIterShow(long objectIndex, SeqFile m);

/// <summary>
/// An open bpf_iter file: bpf_seq_read (kernel/bpf/bpf_iter.c) over a sequence of objects.
/// </summary>
public sealed class BpfIterSession
{
    /// <summary>MAX_ITER_OBJECTS: objects one read() visits at most.</summary>
    public const int MaxIterObjects = 1_000_000;

    private readonly BpfIterShow _show;
    private readonly BpfIterShow? _stop;
    private bool _doneStop;

    /// <param name="objectCount">How many objects the iterator yields (may grow later through ObjectCount).</param>
    /// <param name="show">The program run for each object.</param>
    /// <param name="stop">The program run once with no object at the end (null: the program does nothing then).</param>
    /// <param name="seqSize">Seq buffer size (default PAGE_SIZE &lt;&lt; 3).</param>
    public BpfIterSession(long objectCount, BpfIterShow show, BpfIterShow? stop = null, int seqSize = SeqFile.DefaultSize)
    {
        ObjectCount = objectCount;
        _show = show;
        _stop = stop;
        Seq = new SeqFile(seqSize);
    }

    public SeqFile Seq { get; }
    public long ObjectCount { get; set; }
    /// <summary>The object the next read() starts with (seq->index).</summary>
    public long CurrentObject { get; private set; }

    // bpf_iter_run_prog: any non-zero program return becomes -EAGAIN for show().
    private int RunShow(long index) => _show(index, Seq) == 0 ? 0 : -Errno.EAGAIN;

    /// <summary>
    /// bpf_seq_read: fills buf and returns the byte count, 0 at the end, or a negative errno
    /// (-E2BIG: the first object alone overflows the buffer; -EAGAIN: its program returned non-zero).
    /// </summary>
    public long Read(Span<byte> buf)
    {
        var seq = Seq;
        long size = buf.Length;
        int err = 0;

        // Leftover bytes from the previous read() first; no program runs.
        if (seq.Count > 0)
        {
            int n = (int)Math.Min(seq.Count, size);
            seq.Pending[..n].CopyTo(buf);
            seq.Count -= n;
            seq.From += n;
            return n;
        }

        seq.From = 0;
        long p = CurrentObject;
        bool have = p < ObjectCount;
        if (have)
        {
            err = RunShow(p);
            if (err < 0 || seq.HasOverflowed)
            {
                if (err == 0) err = -Errno.E2BIG;
                seq.Truncate(0);
                return err;
            }

            int numObjs = 0;
            while (true)
            {
                numObjs++;
                int offs = seq.Count;
                CurrentObject = ++p;
                have = p < ObjectCount;
                if (!have) break;
                if (seq.Count >= size) break;
                if (numObjs >= MaxIterObjects)
                {
                    if (offs == 0) return -Errno.EAGAIN;
                    break;
                }
                err = RunShow(p);
                if (err < 0 || seq.HasOverflowed)
                {
                    seq.Truncate(offs);
                    if (offs == 0)
                    {
                        if (err == 0) err = -Errno.E2BIG;
                        return err;
                    }
                    err = 0;
                    break;
                }
            }
        }

        // stop(): with no object left the program runs once more with a NULL object.
        if (!have)
        {
            int offs = seq.Count;
            if (!_doneStop) _stop?.Invoke(-1, seq);
            if (!seq.HasOverflowed)
            {
                _doneStop = true;
            }
            else
            {
                seq.Truncate(offs);
                if (offs == 0) return -Errno.E2BIG;
            }
        }

        int copied = (int)Math.Min(seq.Count, size);
        seq.Buffer[..copied].CopyTo(buf);
        seq.Count -= copied;
        seq.From = copied;
        return copied;
    }

    /// <summary>Reads to the end as user space would: readSize bytes per read() until 0 or an error.</summary>
    public SeqReadResult ReadAll(int readSize)
    {
        var reads = new List<long>();
        var text = new List<byte>();
        var buf = new byte[Math.Max(readSize, 0)];
        while (true)
        {
            long r = Read(buf);
            reads.Add(r);
            if (r <= 0) break;
            for (int i = 0; i < r; i++) text.Add(buf[i]);
        }
        return new SeqReadResult(reads, text.ToArray());
    }
}

/// <summary>What read_seq reports: each read()'s return (bytes, 0 at the end, or -errno) and all bytes read.</summary>
public sealed record SeqReadResult(IReadOnlyList<long> Reads, byte[] Text);

using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;
using static BpfTraceSim.Kernel.Perf.PerfConstants;

namespace BpfTraceSim.Kernel.Perf;

/// <summary>One record currently in a ring, as a consumer finds it (oldest first).</summary>
/// <param name="Start">data_head position where the record starts.</param>
/// <param name="Size">Bytes the producer reserved for it (the u16 header.size it wrote).</param>
/// <param name="IsLost">A PERF_RECORD_LOST the producer emitted (else a sample).</param>
/// <param name="Lost">The lost count a LOST record carries (0 for samples).</param>
/// <param name="Type">header.type as read back (capture mode reads the ring bytes, which a wrapped record may have overwritten).</param>
/// <param name="Misc">header.misc as read back.</param>
/// <param name="HeaderSize">header.size as read back.</param>
public readonly record struct PerfRecord(ulong Start, int Size, bool IsLost, ulong Lost, uint Type, ushort Misc, ushort HeaderSize);

/// <summary>Everything a PerfRing holds, for moving it between grains.</summary>
public sealed record PerfRingState(
    int DataPages,
    bool Overwrite,
    bool CapturePayload,
    ulong SampleType,
    uint WakeupEvents,
    uint WatermarkAttr,
    ulong DataHead,
    ulong DataTail,
    ulong LostPending,
    ulong LostTotal,
    ulong WakeupPosition,
    uint EventsSinceWakeup,
    ulong Wakeups,
    bool WakeupPending,
    ulong HighWaterBytes,
    ulong RecordsStart,
    ulong[] Records,
    byte[]? Data);

/// <summary>
/// The mmapped perf ring buffer of one event (struct perf_buffer + its user page). Capture mode
/// keeps the data pages byte for byte; accounting mode keeps no payload, only the queue of record
/// sizes a consumer needs to drain, with the same return codes and head/tail/lost arithmetic.
/// </summary>
public sealed class PerfRing
{
    public const int PageSize = 4096;

    // A record as the state and Describe see it: bits 0-16 size, bit 17 LOST flag, bits 18-63 the lost count.
    private const int LostFlagShift = 17;
    private const int LostValueShift = 18;
    private const ulong SizeMask = (1UL << LostFlagShift) - 1;
    // The record queue keeps 4 bytes a record (a large fleet keeps one queue per CPU): a sample's
    // size, or the LOST flag with the record's number among the LOST records ever queued (mod 2^31),
    // its count in a queue of its own (LOST records are few: one per run of failures).
    private const uint LostEntry = 1u << 31;
    private const uint SeqMask = LostEntry - 1;

    private readonly byte[]? _data;
    private readonly ulong _mask;
    private readonly int _rawOffset; // where a sample's RAW size field sits, given SampleType
    private ulong _lostPending;      // rb->lost: failures since the last LOST record
    private ulong _wakeupPos;        // rb->wakeup (bytes, also bumped by 1 per wakeup_events batch)
    private uint _events;            // rb->events
    private uint[] _records = []; // allocated when first needed, ReserveRecords' size or 8
    private int _recFirst;
    // While every queued record is a sample of one size, the queue is that size (_uniform, > 0)
    // and _recCount, without the array; the first record that differs (another size, a LOST
    // record) spreads it into _records. A large fleet's rings of one record size never need it.
    private uint _uniform;
    private int _reserve = 8;
    private int _recCount;
    private ulong[]? _lostCounts;    // the queued LOST records' counts, oldest at _lostFirst
    private int _lostFirst, _lostCount;
    private uint _lostFirstSeq;      // the number of the oldest queued LOST record
    private ulong _recStart;         // position of the oldest queued record

    public PerfRing(int dataPages, bool overwrite, bool capturePayload, ulong sampleType = PERF_SAMPLE_RAW,
        uint wakeupEvents = 0, uint watermark = 0)
    {
        if (dataPages < 0 || (dataPages != 0 && !BitOperations.IsPow2(dataPages)))
            throw new ArgumentOutOfRangeException(nameof(dataPages), "data pages must be 0 or a power of two");
        DataPages = dataPages;
        Size = (ulong)dataPages * PageSize;
        _mask = Size == 0 ? 0 : Size - 1;
        Overwrite = overwrite;
        CapturePayload = capturePayload;
        SampleType = sampleType;
        WakeupEvents = wakeupEvents;
        WatermarkAttr = watermark;
        // ring_buffer_init: an explicit watermark is capped at the data size; none means half of it.
        WatermarkBytes = watermark != 0 ? Math.Min(Size, watermark) : 0;
        if (WatermarkBytes == 0) WatermarkBytes = Size / 2;
        _rawOffset = PerfEventHeaderSize + 8 * BitOperations.PopCount(sampleType & FixedSampleFields);
        if (capturePayload && Size != 0) _data = new byte[Size];
    }

    public int DataPages { get; }
    /// <summary>Bytes of the data area (pages * 4096).</summary>
    public ulong Size { get; }
    public bool Overwrite { get; }
    public bool CapturePayload { get; }
    public ulong SampleType { get; }
    public uint WakeupEvents { get; }
    public uint WatermarkAttr { get; }
    /// <summary>rb->watermark: the byte distance that triggers a wake-up.</summary>
    public ulong WatermarkBytes { get; }

    /// <summary>user_page->data_head: producer position, only grows.</summary>
    public ulong DataHead { get; private set; }
    /// <summary>user_page->data_tail: consumer position.</summary>
    public ulong DataTail { get; private set; }
    /// <summary>Failed reservations since open (PERF_FORMAT_LOST), cumulative.</summary>
    public ulong LostTotal { get; private set; }
    /// <summary>Failures not yet reported by a PERF_RECORD_LOST (rb->lost).</summary>
    public ulong LostPending => _lostPending;
    /// <summary>Wake-ups raised since open.</summary>
    public ulong Wakeups { get; private set; }
    /// <summary>A wake-up was raised and the consumer has not acknowledged it (poll readiness).</summary>
    public bool WakeupPending { get; private set; }
    /// <summary>Largest Used seen after a write.</summary>
    public ulong HighWaterBytes { get; private set; }

    /// <summary>Bytes the consumer has not read (capped at the size in overwrite mode).</summary>
    public ulong Used
    {
        get
        {
            ulong used = DataHead - DataTail;
            return Overwrite && used > Size ? Size : used;
        }
    }

    /// <summary>The data pages (capture mode only); empty in accounting mode.</summary>
    public ReadOnlySpan<byte> Data => _data;

    /// <summary>Consumer: the wake-up was seen (clears WakeupPending).</summary>
    public void AcknowledgeWakeup() => WakeupPending = false;

    // ---------------------------------------------------------------- producer

    /// <summary>
    /// perf_output_begin (forward): reserves size bytes (plus a LOST record when losses are
    /// pending). Returns 0 with pos = where the sample starts and the wake-up mark for
    /// PerfOutputEnd, or -ENOSPC.
    /// </summary>
    internal int PerfOutputBegin(uint size, ulong eventId, out ulong pos, out ulong handleWakeup)
    {
        pos = 0;
        handleWakeup = 0;
        // No data pages: nothing is reserved and nothing is counted lost.
        if (Size == 0) return -Errno.ENOSPC;

        ulong pendingLost = _lostPending;
        uint sampleSize = size;
        if (pendingLost != 0) size += LostRecordSize;
        handleWakeup = _wakeupPos;

        ulong head = DataHead;
        // CIRC_SPACE: one byte always stays free.
        if (!Overwrite && ((DataTail - (head + 1)) & _mask) < size)
        {
            _lostPending++;
            LostTotal++;
            return -Errno.ENOSPC;
        }

        ulong start = head;
        head += size;
        DataHead = head;
        if (head - _wakeupPos > WatermarkBytes) _wakeupPos += WatermarkBytes;

        if (pendingLost != 0)
        {
            _lostPending = 0;
            if (_data is not null) WriteLostRecord(start, eventId, pendingLost);
            Enqueue(EnqueueLost(pendingLost), start);
            start += LostRecordSize;
        }
        // A sample whose u16 size wrapped to 0 reserves nothing and can never be seen.
        if (sampleSize != 0) Enqueue(sampleSize, start);
        if (Overwrite) TrimOverwritten();
        pos = start;
        return 0;
    }

    /// <summary>
    /// The wake-up part of perf_output_sample (wakeup_events) and perf_output_end: raises a
    /// wake-up when the mark moved since PerfOutputBegin.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void PerfOutputEnd(ulong handleWakeup)
    {
        if (WatermarkAttr == 0 && WakeupEvents != 0 && ++_events >= WakeupEvents)
        {
            _events -= WakeupEvents;
            _wakeupPos++;
        }
        if (handleWakeup != _wakeupPos)
        {
            WakeupPending = true;
            Wakeups++;
        }
        ulong used = Used;
        if (used > HighWaterBytes) HighWaterBytes = used;
    }

    /// <summary>__output_copy: copies src at pos, wrapping around the data pages as often as needed.</summary>
    internal void Write(ulong pos, ReadOnlySpan<byte> src)
    {
        var data = _data;
        if (data is null) return;
        while (!src.IsEmpty)
        {
            int off = (int)(pos & _mask);
            int n = Math.Min(src.Length, data.Length - off);
            src[..n].CopyTo(data.AsSpan(off, n));
            src = src[n..];
            pos += (ulong)n;
        }
    }

    private void WriteLostRecord(ulong pos, ulong eventId, ulong lost)
    {
        Span<byte> rec = stackalloc byte[LostRecordSize];
        BinaryPrimitives.WriteUInt32LittleEndian(rec, PERF_RECORD_LOST);
        BinaryPrimitives.WriteUInt16LittleEndian(rec[4..], 0);
        BinaryPrimitives.WriteUInt16LittleEndian(rec[6..], LostRecordSize);
        BinaryPrimitives.WriteUInt64LittleEndian(rec[8..], eventId);
        BinaryPrimitives.WriteUInt64LittleEndian(rec[16..], lost);
        Write(pos, rec);
    }

    /// <summary>Queues a record: a sample's size, or a LOST record's entry from <see cref="EnqueueLost"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Enqueue(uint e, ulong start)
    {
        if (_recCount == 0)
        {
            _recStart = start;
            _uniform = (e & LostEntry) == 0 ? e : 0;
            if (_uniform != 0)
            {
                _recCount = 1;
                return;
            }
            _recFirst = 0;
        }
        else if (_uniform != 0)
        {
            if (e == _uniform)
            {
                _recCount++;
                return;
            }
            Spread();
        }
        var q = _records;
        if (_recCount == q.Length) q = Grow();
        q[(_recFirst + _recCount) & (q.Length - 1)] = e;
        _recCount++;
    }

    // The uniform queue written out into the array, before a record of another kind joins it.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void Spread()
    {
        int n = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(_reserve, _recCount + 1));
        if (_records.Length < n) _records = new uint[n];
        _records.AsSpan(0, _recCount).Fill(_uniform);
        _recFirst = 0;
        _uniform = 0;
    }

    /// <summary>Queue entry i (0: the oldest).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private uint Entry(int i) => _uniform != 0 ? _uniform : _records[(_recFirst + i) & (_records.Length - 1)];

    /// <summary>Keeps a LOST record's count aside; returns the record's queue entry.</summary>
    private uint EnqueueLost(ulong count)
    {
        var c = _lostCounts ??= new ulong[4];
        if (_lostCount == c.Length)
        {
            var bigger = new ulong[c.Length * 2];
            for (int i = 0; i < _lostCount; i++) bigger[i] = c[(_lostFirst + i) & (c.Length - 1)];
            _lostCounts = c = bigger;
            _lostFirst = 0;
        }
        c[(_lostFirst + _lostCount) & (c.Length - 1)] = count;
        uint seq = (_lostFirstSeq + (uint)_lostCount) & SeqMask;
        _lostCount++;
        return LostEntry | seq;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int SizeOf(uint e) => (e & LostEntry) != 0 ? LostRecordSize : (int)e;

    /// <summary>The i-th oldest record in the wide form (size, LOST flag, count).</summary>
    private ulong Wide(int i)
    {
        uint e = Entry(i);
        if ((e & LostEntry) == 0) return e;
        return LostRecordSize | (1UL << LostFlagShift) | (LostCountOf(e) << LostValueShift);
    }

    private ulong LostCountOf(uint e)
    {
        int k = (int)((e - _lostFirstSeq) & SeqMask);
        return _lostCounts![(_lostFirst + k) & (_lostCounts.Length - 1)];
    }

    /// <summary>Sizes the record index for n records up front (a memory hint: nothing the ring does changes).</summary>
    public void ReserveRecords(int n) => _reserve = Math.Max(_reserve, n); // the array takes it when it is made or grows

    private uint[] Grow()
    {
        var old = _records;
        var q = new uint[Math.Max(BitOperations.RoundUpToPowerOf2((uint)_reserve), old.Length * 2)];
        for (int i = 0; i < _recCount; i++) q[i] = old[(_recFirst + i) & (old.Length - 1)];
        _records = q;
        _recFirst = 0;
        return q;
    }

    private void TrimOverwritten()
    {
        // Overwrite mode keeps only the records wholly inside the last Size bytes.
        while (_recCount > 0 && DataHead - _recStart > Size) Dequeue();
    }

    private void Dequeue()
    {
        uint e = Entry(0);
        if (_uniform == 0) _recFirst = (_recFirst + 1) & (_records.Length - 1);
        _recCount--;
        if ((e & LostEntry) != 0)
        {
            _lostFirst = (_lostFirst + 1) & (_lostCounts!.Length - 1);
            _lostCount--;
            _lostFirstSeq = (_lostFirstSeq + 1) & SeqMask;
        }
        _recStart += (ulong)SizeOf(e);
    }

    // ---------------------------------------------------------------- consumer

    /// <summary>Records currently in the ring (from data_tail, or the last Size bytes in overwrite mode).</summary>
    public int RecordCount => _recCount;

    /// <summary>Entries the record index has room for (0 until a record that differs from the others needed it): a memory figure.</summary>
    public int RecordIndexCapacity => _records.Length;

    /// <summary>The i-th oldest record in the ring.</summary>
    public PerfRecord GetRecord(int i)
    {
        if ((uint)i >= (uint)_recCount) throw new ArgumentOutOfRangeException(nameof(i));
        ulong start = _recStart;
        for (int k = 0; k < i; k++) start += (ulong)SizeOf(Entry(k));
        return Describe(start, Wide(i));
    }

    /// <summary>The i-th oldest record's size (header.size as reserved), in O(1): no position, no bounds check.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int RecordSizeAt(int i) => SizeOf(Entry(i));

    /// <summary>The i-th oldest record's lost count if it is a PERF_RECORD_LOST, else -1, in O(1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public long RecordLostAt(int i)
    {
        uint e = Entry(i);
        return (e & LostEntry) != 0 ? (long)LostCountOf(e) : -1;
    }

    /// <summary>All records currently in the ring, oldest first.</summary>
    public PerfRecord[] GetRecords()
    {
        var result = new PerfRecord[_recCount];
        ulong start = _recStart;
        for (int k = 0; k < _recCount; k++)
        {
            ulong e = Wide(k);
            result[k] = Describe(start, e);
            start += e & SizeMask;
        }
        return result;
    }

    private PerfRecord Describe(ulong start, ulong e)
    {
        int size = (int)(e & SizeMask);
        bool isLost = ((e >> LostFlagShift) & 1) != 0;
        ulong lost = isLost ? e >> LostValueShift : 0;
        if (_data is null)
            return new PerfRecord(start, size, isLost, lost,
                isLost ? PERF_RECORD_LOST : PERF_RECORD_SAMPLE, isLost ? (ushort)0 : PERF_RECORD_MISC_KERNEL, (ushort)size);
        Span<byte> h = stackalloc byte[8];
        Read(start, h);
        return new PerfRecord(start, size, isLost, lost,
            BinaryPrimitives.ReadUInt32LittleEndian(h), BinaryPrimitives.ReadUInt16LittleEndian(h[4..]),
            BinaryPrimitives.ReadUInt16LittleEndian(h[6..]));
    }

    /// <summary>Copies ring bytes at pos (wrapping); capture mode only.</summary>
    public void Read(ulong pos, Span<byte> dst)
    {
        var data = _data ?? throw new InvalidOperationException("accounting-mode ring keeps no payload");
        while (!dst.IsEmpty)
        {
            int off = (int)(pos & _mask);
            int n = Math.Min(dst.Length, data.Length - off);
            data.AsSpan(off, n).CopyTo(dst);
            dst = dst[n..];
            pos += (ulong)n;
        }
    }

    /// <summary>The whole record as the consumer reads it (capture mode only).</summary>
    public byte[] ReadRecordBytes(in PerfRecord r)
    {
        var bytes = new byte[r.Size];
        Read(r.Start, bytes);
        return bytes;
    }

    /// <summary>
    /// The bytes a sample's RAW size field announces (data then padding), cut at the record's end;
    /// null for LOST records or without PERF_SAMPLE_RAW. Capture mode only.
    /// </summary>
    public byte[]? ReadRawBytes(in PerfRecord r)
    {
        if (r.IsLost || (SampleType & PERF_SAMPLE_RAW) == 0) return null;
        if (r.Size < _rawOffset + 4) return [];
        Span<byte> f = stackalloc byte[4];
        Read(r.Start + (ulong)_rawOffset, f);
        uint claimed = BinaryPrimitives.ReadUInt32LittleEndian(f);
        int avail = r.Size - _rawOffset - 4;
        int n = (int)Math.Min(claimed, (uint)avail);
        var bytes = new byte[n];
        Read(r.Start + (ulong)_rawOffset + 4, bytes);
        return bytes;
    }

    /// <summary>Consumer: moves data_tail past the oldest record. False when the ring is empty.</summary>
    public bool ConsumeRecord()
    {
        if (_recCount == 0) return false;
        Dequeue();
        if (_recStart > DataTail) DataTail = _recStart;
        return true;
    }

    /// <summary>Consumer: writes data_tail = pos (between the current tail and data_head); records before it are gone.</summary>
    public void AdvanceTail(ulong pos)
    {
        if (pos < DataTail || pos > DataHead) throw new ArgumentOutOfRangeException(nameof(pos));
        DataTail = pos;
        while (_recCount > 0 && _recStart < pos) Dequeue();
    }

    /// <summary>Consumer: reads everything (data_tail = data_head).</summary>
    public void ConsumeAll() => AdvanceTail(DataHead);

    // ---------------------------------------------------------------- state

    public PerfRingState ExportState()
    {
        var recs = new ulong[_recCount];
        for (int k = 0; k < _recCount; k++) recs[k] = Wide(k);
        return new PerfRingState(DataPages, Overwrite, CapturePayload, SampleType, WakeupEvents, WatermarkAttr,
            DataHead, DataTail, _lostPending, LostTotal, _wakeupPos, _events, Wakeups, WakeupPending,
            HighWaterBytes, _recStart, recs, _data is null ? null : (byte[])_data.Clone());
    }

    public static PerfRing FromState(PerfRingState s)
    {
        var r = new PerfRing(s.DataPages, s.Overwrite, s.CapturePayload, s.SampleType, s.WakeupEvents, s.WatermarkAttr)
        {
            DataHead = s.DataHead,
            DataTail = s.DataTail,
            LostTotal = s.LostTotal,
            Wakeups = s.Wakeups,
            WakeupPending = s.WakeupPending,
            HighWaterBytes = s.HighWaterBytes,
        };
        r._lostPending = s.LostPending;
        r._wakeupPos = s.WakeupPosition;
        r._events = s.EventsSinceWakeup;
        r.ReserveRecords(s.Records.Length);
        foreach (ulong e in s.Records)
            r.Enqueue(((e >> LostFlagShift) & 1) != 0 ? r.EnqueueLost(e >> LostValueShift) : (uint)(e & SizeMask), s.RecordsStart);
        r._recStart = s.RecordsStart;
        if (r._data is not null && s.Data is not null) s.Data.CopyTo(r._data, 0);
        return r;
    }
}

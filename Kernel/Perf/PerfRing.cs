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

    // Record queue entry: bits 0-16 size, bit 17 LOST flag, bits 18-63 the lost count.
    private const int LostFlagShift = 17;
    private const int LostValueShift = 18;
    private const ulong SizeMask = (1UL << LostFlagShift) - 1;

    private readonly byte[]? _data;
    private readonly ulong _mask;
    private readonly int _rawOffset; // where a sample's RAW size field sits, given SampleType
    private ulong _lostPending;      // rb->lost: failures since the last LOST record
    private ulong _wakeupPos;        // rb->wakeup (bytes, also bumped by 1 per wakeup_events batch)
    private uint _events;            // rb->events
    private ulong[] _records = new ulong[8];
    private int _recFirst;
    private int _recCount;
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
            Enqueue(LostRecordSize | (1UL << LostFlagShift) | (pendingLost << LostValueShift), start);
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

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Enqueue(ulong entry, ulong start)
    {
        var q = _records;
        if (_recCount == q.Length) q = Grow();
        if (_recCount == 0) _recStart = start;
        q[(_recFirst + _recCount) & (q.Length - 1)] = entry;
        _recCount++;
    }

    /// <summary>Sizes the record index for n records up front (a memory hint: nothing the ring does changes).</summary>
    public void ReserveRecords(int n)
    {
        if (n <= _records.Length) return;
        var q = new ulong[BitOperations.RoundUpToPowerOf2((uint)n)];
        for (int i = 0; i < _recCount; i++) q[i] = _records[(_recFirst + i) & (_records.Length - 1)];
        _records = q;
        _recFirst = 0;
    }

    private ulong[] Grow()
    {
        var old = _records;
        var q = new ulong[old.Length * 2];
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

    private ulong Dequeue()
    {
        ulong e = _records[_recFirst];
        _recFirst = (_recFirst + 1) & (_records.Length - 1);
        _recCount--;
        _recStart += e & SizeMask;
        return e;
    }

    // ---------------------------------------------------------------- consumer

    /// <summary>Records currently in the ring (from data_tail, or the last Size bytes in overwrite mode).</summary>
    public int RecordCount => _recCount;

    /// <summary>The i-th oldest record in the ring.</summary>
    public PerfRecord GetRecord(int i)
    {
        if ((uint)i >= (uint)_recCount) throw new ArgumentOutOfRangeException(nameof(i));
        ulong start = _recStart;
        for (int k = 0; k < i; k++) start += _records[(_recFirst + k) & (_records.Length - 1)] & SizeMask;
        return Describe(start, _records[(_recFirst + i) & (_records.Length - 1)]);
    }

    /// <summary>The i-th oldest record's size (header.size as reserved), in O(1): no position, no bounds check.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int RecordSizeAt(int i) => (int)(_records[(_recFirst + i) & (_records.Length - 1)] & SizeMask);

    /// <summary>The i-th oldest record's lost count if it is a PERF_RECORD_LOST, else -1, in O(1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public long RecordLostAt(int i)
    {
        ulong e = _records[(_recFirst + i) & (_records.Length - 1)];
        return ((e >> LostFlagShift) & 1) != 0 ? (long)(e >> LostValueShift) : -1;
    }

    /// <summary>All records currently in the ring, oldest first.</summary>
    public PerfRecord[] GetRecords()
    {
        var result = new PerfRecord[_recCount];
        ulong start = _recStart;
        for (int k = 0; k < _recCount; k++)
        {
            ulong e = _records[(_recFirst + k) & (_records.Length - 1)];
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
        for (int k = 0; k < _recCount; k++) recs[k] = _records[(_recFirst + k) & (_records.Length - 1)];
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
        r._recStart = s.RecordsStart;
        int cap = 8;
        while (cap < s.Records.Length) cap *= 2;
        r._records = new ulong[cap];
        s.Records.CopyTo(r._records, 0);
        r._recCount = s.Records.Length;
        if (r._data is not null && s.Data is not null) s.Data.CopyTo(r._data, 0);
        return r;
    }
}

using System.Buffers.Binary;
using static BpfTraceSim.Kernel.BpfFlags;

namespace BpfTraceSim.Kernel.Ringbuf;

/// <summary>
/// One BPF_MAP_TYPE_RINGBUF map: the kernel's struct bpf_ringbuf (kernel/bpf/ringbuf.c, Linux 6.18).
/// ONE ring per map, shared by every CPU of its host: a CPU's model reaches it through
/// <see cref="CpuModel.Ringbufs"/> and the helpers (<see cref="RingbufHelpers"/>) act on it there.
/// The data area is held twice in a row, as the kernel maps its data pages twice, so a record that
/// wraps past the end is contiguous for the program writing it and for the consumer reading it.
/// Positions only grow; a position's offset in the data area is <c>pos &amp; mask</c>.
/// </summary>
public sealed class BpfRingbuf : IProgramMemory
{
    /// <summary>The exec/scenario map type name ("type": "ringbuf").</summary>
    public const string MapTypeName = "ringbuf";
    /// <summary>RINGBUF_MAX_RECORD_SZ: a larger reservation fails at once.</summary>
    public const ulong MaxRecordSize = uint.MaxValue / 4;
    /// <summary>Pages before the data: RINGBUF_PGOFF (the non-mmapable part, one page) + the consumer and producer pages.</summary>
    public const int MetaPages = 3;
    /// <summary>RINGBUF_MAX_DATA_SZ on 64-bit: 2^24 pages less the meta pages (the header's page offset is 32-bit, 8 bits kept spare).</summary>
    public const ulong MaxDataSize = ((1UL << 24) - 2 - 1) * PAGE_SIZE;
    /// <summary>Where exec worlds place their rings: the x86_64 vmalloc area, as vmap() places the kernel's.</summary>
    public const ulong VmallocBase = 0xffff_c900_0000_0000UL;

    private readonly byte[] _data;
    private readonly HashSet<uint> _reserved = new(); // header offsets reserved and not yet submitted/discarded
    private readonly Lock _spinlock = new();

    /// <summary>
    /// ringbuf_map_alloc's checks, in its order: map_flags other than BPF_F_NUMA_NODE, a key or
    /// value size, a max_entries that is not a power of 2 or not page-aligned: -EINVAL; larger
    /// than RINGBUF_MAX_DATA_SZ: -E2BIG. 0 when the map can be created.
    /// </summary>
    public static int CheckCreate(ulong maxEntries, uint keySize = 0, uint valueSize = 0, uint mapFlags = 0)
    {
        if ((mapFlags & ~BPF_F_NUMA_NODE) != 0) return -Errno.EINVAL;
        if (keySize != 0 || valueSize != 0 || maxEntries == 0 || (maxEntries & (maxEntries - 1)) != 0 || maxEntries % PAGE_SIZE != 0)
            return -Errno.EINVAL;
        if (maxEntries > MaxDataSize) return -Errno.E2BIG;
        return 0;
    }

    /// <param name="size">max_entries: the data area's bytes (already checked by <see cref="CheckCreate"/>).</param>
    /// <param name="memory">Where programs see the data (their reserved samples); null = not mapped (no program writes it).</param>
    /// <param name="address">The struct bpf_ringbuf's address; the data starts <see cref="MetaPages"/> pages after it.</param>
    public BpfRingbuf(uint size, SimMemory? memory = null, ulong address = VmallocBase)
    {
        if (CheckCreate(size) != 0 || size > int.MaxValue / 2)
            throw new ArgumentOutOfRangeException(nameof(size), $"{size} is not a ring size this model creates (CheckCreate first)");
        Size = size;
        Mask = size - 1UL;
        Address = address;
        _data = GC.AllocateArray<byte>((int)(2 * (long)size), pinned: true); // programs write reserved samples in place
        memory?.MapAt(DataAddress, _data);
    }

    /// <summary>The data area's size (mask + 1, ringbuf_total_data_sz).</summary>
    public uint Size { get; }
    public ulong Mask { get; }
    public ulong Address { get; }
    public ulong DataAddress => Address + MetaPages * PAGE_SIZE;

    /// <summary>consumer_pos: advanced by user space past the records it has read.</summary>
    public ulong ConsumerPos { get; private set; }
    /// <summary>producer_pos: advanced by every reservation, under the ring's spinlock.</summary>
    public ulong ProducerPos { get; private set; }
    /// <summary>pending_pos: the oldest record not yet committed (or producer_pos), as reservations last saw it.</summary>
    public ulong PendingPos { get; private set; }

    /// <summary>irq_work_queue calls: each one wakes the ring's epoll waiters (wake_up_all).</summary>
    public long Wakeups { get; private set; }

    /// <summary>ringbuf_avail_data_sz: producer_pos - consumer_pos.</summary>
    public ulong AvailData => ProducerPos - ConsumerPos;

    /// <summary>Reservations not yet submitted or discarded.</summary>
    public int Outstanding => _reserved.Count;

    private static ulong RoundUp8(ulong v) => (v + 7) & ~7UL;

    /// <summary>A record's whole length in the ring: header + sample, rounded up to 8.</summary>
    public static ulong RecordLength(ulong sampleSize) => RoundUp8(sampleSize + BPF_RINGBUF_HDR_SZ);

    private uint HeaderLen(ulong pos) => BinaryPrimitives.ReadUInt32LittleEndian(_data.AsSpan((int)(pos & Mask)));

    /// <summary>
    /// __bpf_ringbuf_reserve: the header's offset in the data area, or -1 (the helper's NULL): the
    /// size is past RINGBUF_MAX_RECORD_SZ or its record is larger than the ring; in NMI context the
    /// spinlock is only tried; the record would put producer_pos a whole ring (or more) ahead of
    /// consumer_pos, or of pending_pos, the oldest record still being written.
    /// </summary>
    public long Reserve(ulong size, bool inNmi = false)
    {
        long off = ReserveRecord(size, inNmi);
        if (off >= 0) _reserved.Add((uint)off);
        return off;
    }

    /// <summary>The same reservation, not remembered as a program's pointer (bpf_ringbuf_output commits it at once).</summary>
    internal long ReserveRecord(ulong size, bool inNmi)
    {
        if (size > MaxRecordSize) return -1;
        ulong len = RecordLength(size);
        if (len > Size) return -1;
        ulong cons = ConsumerPos;
        if (inNmi)
        {
            if (!_spinlock.TryEnter()) return -1;
        }
        else _spinlock.Enter();
        try
        {
            ulong prod = ProducerPos;
            ulong newProd = prod + len;
            // Committed records at the pending position no longer hold it back.
            ulong pend = PendingPos;
            while (pend < prod)
            {
                uint hl = HeaderLen(pend);
                if ((hl & BPF_RINGBUF_BUSY_BIT) != 0) break;
                pend += RecordLength(hl & ~BPF_RINGBUF_DISCARD_BIT);
            }
            PendingPos = pend;
            if (newProd - cons > Mask || newProd - pend > Mask) return -1;
            uint off = (uint)(prod & Mask);
            var hdr = _data.AsSpan((int)off, BPF_RINGBUF_HDR_SZ);
            BinaryPrimitives.WriteUInt32LittleEndian(hdr, (uint)size | BPF_RINGBUF_BUSY_BIT);
            BinaryPrimitives.WriteUInt32LittleEndian(hdr[4..], PageOffset(off));
            ProducerPos = newProd;
            return off;
        }
        finally
        {
            _spinlock.Exit();
        }
    }

    /// <summary>bpf_ringbuf_rec_pg_off: the header's page offset from the struct bpf_ringbuf.</summary>
    public static uint PageOffset(uint dataOffset) => (uint)((MetaPages * (ulong)PAGE_SIZE + dataOffset) >> 12);

    /// <summary>The sample bytes of a reservation (contiguous even when it wraps).</summary>
    public Span<byte> Sample(long headerOffset, int size) => _data.AsSpan((int)headerOffset + BPF_RINGBUF_HDR_SZ, size);

    /// <summary>The simulated address the helper returns for a reservation.</summary>
    public ulong SampleAddress(long headerOffset) => DataAddress + (ulong)headerOffset + BPF_RINGBUF_HDR_SZ;

    /// <summary>
    /// The header offset of a sample pointer of this ring that is reserved and not yet released,
    /// or -1 (bpf_ringbuf_restore_from_rec finds the ring from the header; the verifier guarantees
    /// the pointer is a live reservation, which exec checks here instead).
    /// </summary>
    public long ReservationOf(ulong sample)
    {
        if (sample < DataAddress + BPF_RINGBUF_HDR_SZ || sample >= DataAddress + Size + BPF_RINGBUF_HDR_SZ) return -1;
        uint off = (uint)(sample - DataAddress - BPF_RINGBUF_HDR_SZ);
        return _reserved.Contains(off) ? off : -1;
    }

    /// <summary>
    /// bpf_ringbuf_commit: clears BUSY (sets DISCARD for a discard) and notifies when
    /// BPF_RB_FORCE_WAKEUP is set, or when the consumer has caught up with exactly this record and
    /// BPF_RB_NO_WAKEUP is not set (the adaptive rule). Returns whether it notified.
    /// </summary>
    public bool Commit(long headerOffset, ulong flags, bool discard)
    {
        uint off = (uint)headerOffset;
        if (_reserved.Count != 0) _reserved.Remove(off);
        uint len = HeaderLen(off) ^ BPF_RINGBUF_BUSY_BIT;
        // The part of a wrapping record past the end is written in the second copy: bring it to the
        // start of the data area, where the next lap's reader finds it, before the header says "done".
        ulong end = off + RecordLength(len & ~BPF_RINGBUF_DISCARD_BIT);
        if (end > Size) _data.AsSpan((int)Size, (int)(end - Size)).CopyTo(_data);
        if (discard) len |= BPF_RINGBUF_DISCARD_BIT;
        BinaryPrimitives.WriteUInt32LittleEndian(_data.AsSpan((int)off), len);
        bool notify = (flags & BPF_RB_FORCE_WAKEUP) != 0
            || ((ConsumerPos & Mask) == off && (flags & BPF_RB_NO_WAKEUP) == 0);
        if (notify) Wakeups++;
        return notify;
    }

    /// <summary>One record as the consumer reads it: its position, sample size, whether it was discarded.</summary>
    public readonly record struct Record(ulong Pos, uint Size, bool Discarded);

    /// <summary>The sample bytes of a committed record (contiguous even when it wraps).</summary>
    public ReadOnlySpan<byte> SampleOf(in Record r) => _data.AsSpan((int)(r.Pos & Mask) + BPF_RINGBUF_HDR_SZ, (int)r.Size);

    /// <summary>
    /// User space's consumer (libbpf's ring_buffer__consume, ringbuf_process_ring): from
    /// consumer_pos while it is behind producer_pos, stops at a record still BUSY, skips discarded
    /// records (they are given to <paramref name="each"/> with Discarded set; libbpf does not call
    /// back for them), and moves consumer_pos past each record. Returns the samples consumed (not
    /// counting discarded ones), as ring_buffer__consume does.
    /// </summary>
    public int Consume(Action<Record>? each = null, int max = int.MaxValue)
    {
        int n = 0;
        ulong cons = ConsumerPos;
        while (cons < ProducerPos && n < max)
        {
            uint hl = HeaderLen(cons);
            if ((hl & BPF_RINGBUF_BUSY_BIT) != 0) break;
            bool discarded = (hl & BPF_RINGBUF_DISCARD_BIT) != 0;
            uint size = hl & ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
            each?.Invoke(new Record(cons, size, discarded));
            cons += RecordLength(size);
            ConsumerPos = cons;
            if (!discarded) n++;
        }
        return n;
    }

    /// <summary>
    /// One step of the consumer: moves consumer_pos past the record there, a discarded one too
    /// (a reader that accounts for each record, as the scenario engine's does). False when the ring
    /// is empty or that record is still BUSY.
    /// </summary>
    public bool ConsumeOne()
    {
        ulong cons = ConsumerPos;
        if (cons >= ProducerPos) return false;
        uint hl = HeaderLen(cons);
        if ((hl & BPF_RINGBUF_BUSY_BIT) != 0) return false;
        ConsumerPos = cons + RecordLength(hl & ~BPF_RINGBUF_DISCARD_BIT);
        return true;
    }

    /// <summary>
    /// The ring's state between programs (no reservation held): its positions, wake-ups and the
    /// bytes from the older of consumer_pos and pending_pos (the next reservation walks the headers
    /// from pending_pos) to producer_pos, in ring order, for a checkpoint.
    /// </summary>
    public (ulong Cons, ulong Prod, ulong Pend, long Wakeups, byte[] Live) ExportState()
    {
        if (_reserved.Count != 0) throw new InvalidOperationException("a reservation is held: the ring is not at rest");
        ulong from = Math.Min(ConsumerPos, PendingPos);
        var live = new byte[ProducerPos - from];
        uint off = (uint)(from & Mask);
        int first = (int)Math.Min((ulong)live.Length, Size - off);
        _data.AsSpan((int)off, first).CopyTo(live);
        _data.AsSpan(0, live.Length - first).CopyTo(live.AsSpan(first));
        return (ConsumerPos, ProducerPos, PendingPos, Wakeups, live);
    }

    /// <summary>Sets the state <see cref="ExportState"/> gave (the bytes outside the live part are not state).</summary>
    public void ImportState(ulong cons, ulong prod, ulong pend, long wakeups, ReadOnlySpan<byte> live)
    {
        ulong from = Math.Min(cons, pend);
        if (prod < cons || pend > prod || prod - from > Mask || (ulong)live.Length != prod - from)
            throw new ArgumentException($"ringbuf state: positions {cons}/{prod}/{pend} with {live.Length} live bytes do not fit a ring of {Size}");
        Array.Clear(_data);
        _reserved.Clear();
        uint off = (uint)(from & Mask);
        int first = (int)Math.Min((ulong)live.Length, Size - off);
        live[..first].CopyTo(_data.AsSpan((int)off));
        live[first..].CopyTo(_data);
        _data.AsSpan(0, (int)Size).CopyTo(_data.AsSpan((int)Size)); // the second mapping of the same pages
        (ConsumerPos, ProducerPos, PendingPos, Wakeups) = (cons, prod, pend, wakeups);
    }

    /// <summary>User space writes consumer_pos (its page is mapped writable); the kernel trusts nothing else of it.</summary>
    public void SetConsumerPos(ulong pos) => ConsumerPos = pos;

    /// <summary>A program may read and write inside its reservations only (the verifier's ringbuf_mem of the reserved size).</summary>
    public bool TryProgramMemory(ulong addr, ulong len, out byte[] array, out int offset)
    {
        array = _data;
        offset = 0;
        if (addr < DataAddress || _reserved.Count == 0) return false;
        foreach (uint off in _reserved)
        {
            ulong start = DataAddress + off + BPF_RINGBUF_HDR_SZ;
            ulong size = HeaderLen(off) & ~BPF_RINGBUF_BUSY_BIT;
            if (addr - start < size && len <= size - (addr - start))
            {
                offset = (int)(off + BPF_RINGBUF_HDR_SZ + (addr - start));
                return true;
            }
        }
        return false;
    }

    /// <summary>The raw 8-byte header at a position (len with BUSY/DISCARD bits, then pg_off).</summary>
    public ReadOnlySpan<byte> HeaderAt(ulong pos) => _data.AsSpan((int)(pos & Mask), BPF_RINGBUF_HDR_SZ);
}

using System.Buffers.Binary;
using BpfTraceSim.Kernel.Ringbuf;
using static BpfTraceSim.Kernel.BpfFlags;

namespace BpfTraceSim.Kernel.Tests.Ringbuf;

/// <summary>kernel/bpf/ringbuf.c as docs/kernel-semantics.md §13 states it: one test per rule.</summary>
public class RingbufTests
{
    private static readonly HelperContext Cpu0 = new(0, SimTask.Idle, ExecContext.Task, 0);
    private static readonly HelperContext Cpu1 = new(1, SimTask.Idle, ExecContext.Task, 0);

    private static long Out(BpfRingbuf rb, int size, ulong flags = 0, byte fill = 0xab)
    {
        var data = new byte[size];
        data.AsSpan().Fill(fill);
        return RingbufHelpers.RingbufOutput(in Cpu0, rb, data, flags);
    }

    private static List<(BpfRingbuf.Record R, byte[] Bytes)> Drain(BpfRingbuf rb)
    {
        var list = new List<(BpfRingbuf.Record, byte[])>();
        rb.Consume(r => list.Add((r, rb.SampleOf(in r).ToArray())));
        return list;
    }

    [Fact]
    public void Issue_acceptance_300_outputs_of_8_bytes_into_4096_bytes_give_255_zeros_then_45_EAGAIN()
    {
        var rb = new BpfRingbuf(4096);
        var rets = Enumerable.Range(0, 300).Select(_ => Out(rb, 8)).ToArray();
        Assert.All(rets[..255], r => Assert.Equal(0, r));
        Assert.All(rets[255..], r => Assert.Equal(-Errno.EAGAIN, r));
        Assert.Equal(-11, rets[299]);
        Assert.Equal(4080UL, RingbufHelpers.RingbufQuery(rb, BPF_RB_AVAIL_DATA));
        Assert.Equal(255, rb.Consume());
        Assert.Equal(4080UL, rb.ConsumerPos);
        Assert.Equal(0UL, rb.AvailData);
        // After the consumer caught up, 255 fit again (and the 256th does not).
        Assert.All(Enumerable.Range(0, 255).Select(_ => Out(rb, 8)), r => Assert.Equal(0, r));
        Assert.Equal(-Errno.EAGAIN, Out(rb, 8));
    }

    [Theory]
    [InlineData(4096UL, 0)]
    [InlineData(8192UL, 0)]
    [InlineData(256UL * 1024, 0)]
    [InlineData(5000UL, -Errno.EINVAL)] // not a power of 2
    [InlineData(6144UL, -Errno.EINVAL)] // page-aligned, not a power of 2
    [InlineData(2048UL, -Errno.EINVAL)] // a power of 2, not page-aligned
    [InlineData(0UL, -Errno.EINVAL)]
    public void Ringbuf_map_alloc_needs_a_page_aligned_power_of_2(ulong maxEntries, int expected) =>
        Assert.Equal(expected, BpfRingbuf.CheckCreate(maxEntries));

    [Fact]
    public void Ringbuf_map_alloc_refuses_key_value_sizes_and_flags_other_than_numa_node()
    {
        Assert.Equal(-Errno.EINVAL, BpfRingbuf.CheckCreate(4096, keySize: 4));
        Assert.Equal(-Errno.EINVAL, BpfRingbuf.CheckCreate(4096, valueSize: 8));
        Assert.Equal(0, BpfRingbuf.CheckCreate(4096, mapFlags: BPF_F_NUMA_NODE));
        Assert.Equal(-Errno.EINVAL, BpfRingbuf.CheckCreate(4096, mapFlags: 1)); // BPF_F_NO_PREALLOC
        // The flags are checked before max_entries, as ringbuf_map_alloc does.
        Assert.Equal(-Errno.EINVAL, BpfRingbuf.CheckCreate(5000, mapFlags: 1));
    }

    [Fact]
    public void Output_flags_other_than_the_wakeup_flags_are_EINVAL_before_the_space_check()
    {
        var rb = new BpfRingbuf(4096);
        Assert.Equal(-Errno.EINVAL, Out(rb, 8, flags: 4));
        Assert.Equal(0UL, rb.ProducerPos);
        while (Out(rb, 8) == 0) { }
        Assert.Equal(-Errno.EINVAL, Out(rb, 8, flags: BPF_RB_FORCE_WAKEUP | 8));
        Assert.Equal(-Errno.EAGAIN, Out(rb, 8, flags: BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP));
    }

    [Fact]
    public void Record_header_is_len_with_busy_bit_then_pg_off_and_records_round_up_to_8()
    {
        var rb = new BpfRingbuf(4096 * 2);
        ulong s = RingbufHelpers.RingbufReserve(in Cpu0, rb, 5, 0);
        Assert.Equal(rb.DataAddress + 8, s);
        var h = rb.HeaderAt(0);
        Assert.Equal(5u | BPF_RINGBUF_BUSY_BIT, BinaryPrimitives.ReadUInt32LittleEndian(h));
        Assert.Equal(3u, BinaryPrimitives.ReadUInt32LittleEndian(h[4..])); // data starts 3 pages after struct bpf_ringbuf
        Assert.Equal(16UL, rb.ProducerPos); // 8 + 5 rounded up to 8
        Assert.True(rb.Commit(rb.ReservationOf(s), 0, discard: false));
        Assert.Equal(5u, BinaryPrimitives.ReadUInt32LittleEndian(rb.HeaderAt(0)));
        Assert.Equal(0, Out(rb, 9));
        Assert.Equal(16UL + 24, rb.ProducerPos);
        Assert.Equal(0, Out(rb, 0)); // a zero-size sample is an 8-byte record
        Assert.Equal(48UL, rb.ProducerPos);
        // A record in the second page carries page offset 4.
        while (rb.ProducerPos < 4096) Assert.Equal(0, Out(rb, 8));
        long off = rb.Reserve(8);
        Assert.Equal(4u, BinaryPrimitives.ReadUInt32LittleEndian(rb.HeaderAt((ulong)off)[4..]));
    }

    [Fact]
    public void Reserve_returns_NULL_for_flags_too_big_a_size_or_no_space()
    {
        var rb = new BpfRingbuf(4096);
        Assert.Equal(0UL, RingbufHelpers.RingbufReserve(in Cpu0, rb, 8, 1));
        Assert.Equal(0UL, RingbufHelpers.RingbufReserve(in Cpu0, rb, 4096 - 8 + 1, 0)); // its record is larger than the ring
        Assert.Equal(0UL, RingbufHelpers.RingbufReserve(in Cpu0, rb, BpfRingbuf.MaxRecordSize + 1, 0));
        Assert.Equal(0UL, rb.ProducerPos);
        // 4088 bytes fill the whole ring (4096) and would put the producer a whole ring ahead.
        Assert.Equal(0UL, RingbufHelpers.RingbufReserve(in Cpu0, rb, 4088, 0));
        Assert.NotEqual(0UL, RingbufHelpers.RingbufReserve(in Cpu0, rb, 4080, 0)); // 4088 bytes: one short of a ring
        Assert.Equal(0UL, RingbufHelpers.RingbufReserve(in Cpu1, rb, 0, 0));
    }

    [Fact]
    public void Consumer_stops_at_a_busy_record_and_reads_records_in_reservation_order_across_cpus()
    {
        var rb = new BpfRingbuf(4096);
        ulong a = RingbufHelpers.RingbufReserve(in Cpu0, rb, 4, 0);
        Assert.Equal(0, RingbufHelpers.RingbufOutput(in Cpu1, rb, [1, 2, 3], 0));
        Assert.Empty(Drain(rb)); // the first record is still being written
        BinaryPrimitives.WriteUInt32LittleEndian(rb.Sample(rb.ReservationOf(a), 4), 0xdeadbeef);
        RingbufHelpers.RingbufCommit(rb, rb.ReservationOf(a), 0, discard: false);
        var got = Drain(rb);
        Assert.Equal(2, got.Count);
        Assert.Equal("efbeadde", Convert.ToHexStringLower(got[0].Bytes));
        Assert.Equal("010203", Convert.ToHexStringLower(got[1].Bytes));
        Assert.Equal(rb.ProducerPos, rb.ConsumerPos);
    }

    [Fact]
    public void Discard_sets_the_discard_bit_and_the_consumer_skips_it()
    {
        var rb = new BpfRingbuf(4096);
        ulong a = RingbufHelpers.RingbufReserve(in Cpu0, rb, 16, 0);
        long off = rb.ReservationOf(a);
        RingbufHelpers.RingbufCommit(rb, off, 0, discard: true);
        Assert.Equal(16u | BPF_RINGBUF_DISCARD_BIT, BinaryPrimitives.ReadUInt32LittleEndian(rb.HeaderAt(0)));
        Assert.Equal(-1, rb.ReservationOf(a)); // released
        Assert.Equal(0, Out(rb, 8));
        var seen = new List<BpfRingbuf.Record>();
        Assert.Equal(1, rb.Consume(seen.Add)); // ring_buffer__consume counts the sample, not the discarded record
        Assert.True(seen[0].Discarded);
        Assert.False(seen[1].Discarded);
        Assert.Equal(24UL + 16, rb.ConsumerPos);
    }

    [Fact]
    public void Pending_pos_keeps_a_consumer_that_skips_a_busy_record_from_letting_it_be_overwritten()
    {
        // Linux 6.10+: user space may write consumer_pos past a record still being written; the
        // producer may then not run a whole ring ahead of that record (pending_pos) either.
        var rb = new BpfRingbuf(4096);
        long busy = rb.Reserve(8); // 16 bytes at 0, never committed
        while (Out(rb, 8) == 0) { }
        Assert.Equal(4080UL, rb.ProducerPos);
        rb.SetConsumerPos(rb.ProducerPos); // user space skips everything, the busy record too
        Assert.Equal(-Errno.EAGAIN, Out(rb, 8)); // would reach the busy record: 4096 - 0 > mask
        Assert.Equal(0UL, rb.PendingPos);
        RingbufHelpers.RingbufCommit(rb, busy, 0, discard: false);
        Assert.Equal(0, Out(rb, 8));
        Assert.Equal(4080UL, rb.PendingPos); // advanced over every committed record
    }

    [Fact]
    public void Adaptive_wakeup_notifies_only_when_the_consumer_has_caught_up_with_the_committed_record()
    {
        var rb = new BpfRingbuf(4096);
        Assert.Equal(0, Out(rb, 8)); // consumer at 0 == this record: notify
        Assert.Equal(1, rb.Wakeups);
        Assert.Equal(0, Out(rb, 8)); // consumer still at 0, record at 16: it already has a wake-up pending
        Assert.Equal(1, rb.Wakeups);
        rb.Consume();
        Assert.Equal(0, Out(rb, 8, BPF_RB_NO_WAKEUP)); // caught up, but the program asked for none
        Assert.Equal(1, rb.Wakeups);
        Assert.Equal(0, Out(rb, 8, BPF_RB_FORCE_WAKEUP)); // behind, but forced
        Assert.Equal(2, rb.Wakeups);
        rb.Consume();
        Assert.Equal(0, Out(rb, 8));
        Assert.Equal(3, rb.Wakeups);
    }

    [Fact]
    public void Reserve_then_submit_notifies_against_the_consumer_position_at_submit_time()
    {
        var rb = new BpfRingbuf(4096);
        long a = rb.Reserve(8);
        long b = rb.Reserve(8);
        Assert.False(rb.Commit(b, 0, false)); // consumer is at a, not b
        Assert.True(rb.Commit(a, 0, false));
        Assert.Equal(1, rb.Wakeups);
    }

    [Fact]
    public void Query_gives_avail_data_ring_size_and_positions_and_0_for_anything_else()
    {
        var rb = new BpfRingbuf(8192);
        Out(rb, 8);
        Out(rb, 100);
        rb.Consume(max: 1);
        Assert.Equal(112UL, CpuModel.RingbufQuery(rb, BPF_RB_AVAIL_DATA));
        Assert.Equal(8192UL, CpuModel.RingbufQuery(rb, BPF_RB_RING_SIZE));
        Assert.Equal(16UL, CpuModel.RingbufQuery(rb, BPF_RB_CONS_POS));
        Assert.Equal(128UL, CpuModel.RingbufQuery(rb, BPF_RB_PROD_POS));
        Assert.Equal(0UL, CpuModel.RingbufQuery(rb, 4));
        Assert.Equal(0UL, CpuModel.RingbufQuery(rb, BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP | 8));
    }

    [Fact]
    public void A_record_that_wraps_past_the_end_reads_back_whole_and_the_next_lap_finds_its_tail()
    {
        var rb = new BpfRingbuf(4096);
        for (int i = 0; i < 250; i++) Assert.Equal(0, Out(rb, 8)); // 4000 bytes
        rb.Consume();
        var data = Enumerable.Range(0, 200).Select(i => (byte)i).ToArray();
        Assert.Equal(0, RingbufHelpers.RingbufOutput(in Cpu0, rb, data, 0)); // 4000..4208: wraps
        Assert.Equal(0, Out(rb, 3, fill: 0x11));
        var got = Drain(rb);
        Assert.Equal(data, got[0].Bytes);
        Assert.Equal([0x11, 0x11, 0x11], got[1].Bytes);
        // The sample's bytes past the end are at the start of the data area (position 4096 = offset 0),
        // where the kernel's second mapping of the same pages puts them: sample bytes 88..95.
        Assert.Equal(data[88..96], rb.HeaderAt(4096).ToArray());
    }

    [Fact]
    public void Cpu_model_commits_through_the_sample_pointer_and_refuses_one_it_did_not_reserve()
    {
        var rb = new BpfRingbuf(4096, new SimMemory());
        var model = new CpuModel(0) { Ringbufs = [rb] };
        ulong s = model.RingbufReserve(in Cpu0, rb, 8, 0);
        Assert.False(model.RingbufCommit(s + 8, 0, false));
        Assert.True(model.RingbufCommit(s, BPF_RB_NO_WAKEUP, false));
        Assert.False(model.RingbufCommit(s, 0, false)); // already released
        Assert.Equal(0, rb.Wakeups);
        Assert.Equal(1, rb.Consume());
    }
}

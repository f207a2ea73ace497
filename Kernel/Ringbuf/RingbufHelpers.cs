using static BpfTraceSim.Kernel.BpfFlags;

namespace BpfTraceSim.Kernel.Ringbuf;

/// <summary>
/// The ring buffer helpers (kernel/bpf/ringbuf.c, Linux 6.18), in the kernel's check order. They
/// act on the map's one ring, whichever CPU calls them; <see cref="CpuModel"/> calls them.
/// </summary>
public static class RingbufHelpers
{
    private const ulong WakeupFlags = BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP;

    /// <summary>bpf_ringbuf_output: flags other than the wake-up ones -EINVAL; no space -EAGAIN; else 0.</summary>
    public static long RingbufOutput(in HelperContext ctx, BpfRingbuf rb, ReadOnlySpan<byte> data, ulong flags)
    {
        if ((flags & ~WakeupFlags) != 0) return -Errno.EINVAL;
        long off = rb.ReserveRecord((ulong)data.Length, ctx.Context == ExecContext.Nmi);
        if (off < 0) return -Errno.EAGAIN;
        data.CopyTo(rb.Sample(off, data.Length));
        rb.Commit(off, flags, discard: false);
        return 0;
    }

    /// <summary>
    /// bpf_ringbuf_output of a sample whose bytes nobody reads (a scenario that keeps no payload):
    /// the same checks, positions and wake-ups, without the copy.
    /// </summary>
    public static long RingbufOutputSized(in HelperContext ctx, BpfRingbuf rb, ulong size, ulong flags)
    {
        if ((flags & ~WakeupFlags) != 0) return -Errno.EINVAL;
        long off = rb.ReserveRecord(size, ctx.Context == ExecContext.Nmi);
        if (off < 0) return -Errno.EAGAIN;
        rb.Commit(off, flags, discard: false);
        return 0;
    }

    /// <summary>bpf_ringbuf_reserve: any flags -> NULL (0); no space or too big -> NULL; else the sample's address.</summary>
    public static ulong RingbufReserve(in HelperContext ctx, BpfRingbuf rb, ulong size, ulong flags)
    {
        if (flags != 0) return 0;
        long off = rb.Reserve(size, ctx.Context == ExecContext.Nmi);
        return off < 0 ? 0 : rb.SampleAddress(off);
    }

    /// <summary>
    /// bpf_ringbuf_submit / bpf_ringbuf_discard (RET_VOID) of a reservation's header offset. Their
    /// flags are not checked: only BPF_RB_FORCE_WAKEUP and BPF_RB_NO_WAKEUP mean anything.
    /// </summary>
    public static void RingbufCommit(BpfRingbuf rb, long headerOffset, ulong flags, bool discard) =>
        rb.Commit(headerOffset, flags, discard);

    /// <summary>bpf_ringbuf_query: AVAIL_DATA, RING_SIZE, CONS_POS, PROD_POS; any other value 0.</summary>
    public static ulong RingbufQuery(BpfRingbuf rb, ulong flags) => flags switch
    {
        BPF_RB_AVAIL_DATA => rb.AvailData,
        BPF_RB_RING_SIZE => rb.Size,
        BPF_RB_CONS_POS => rb.ConsumerPos,
        BPF_RB_PROD_POS => rb.ProducerPos,
        _ => 0,
    };
}

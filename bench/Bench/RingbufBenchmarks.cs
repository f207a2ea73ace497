using BenchmarkDotNet.Attributes;
using BpfTraceSim.Kernel;
using BpfTraceSim.Kernel.Ringbuf;

namespace BpfTraceSim.Bench;

/// <summary>
/// Hot paths of the ring buffer helpers through the CPU model (kernel-semantics.md §13). The ring
/// is drained whenever it is half full so writes never fail; the drain is amortised over many
/// calls, as a consumer would.
/// </summary>
[MemoryDiagnoser]
public class RingbufBenchmarks
{
    private readonly byte[] _data8 = new byte[8];
    private readonly byte[] _data64 = new byte[64];
    private HelperContext _ctx;
    private CpuModel _model = null!;
    private BpfRingbuf _ring = null!;
    private BpfRingbuf _full = null!;

    [GlobalSetup]
    public void Setup()
    {
        _ctx = new HelperContext(0, new SimTask(100, 100, "bench"), ExecContext.Task, 1000);
        _ring = new BpfRingbuf(256 * 1024);
        _full = new BpfRingbuf(4096);
        while (RingbufHelpers.RingbufOutput(in _ctx, _full, _data8, 0) == 0) { }
        _model = new CpuModel(0) { Ringbufs = [_ring] };
    }

    private void Drain()
    {
        if (_ring.AvailData > _ring.Size / 2) _ring.Consume();
    }

    [Benchmark]
    public long Output8()
    {
        long r = _model.RingbufOutput(in _ctx, _ring, 0, _data8);
        Drain();
        return r;
    }

    [Benchmark]
    public long Output64()
    {
        long r = _model.RingbufOutput(in _ctx, _ring, 0, _data64);
        Drain();
        return r;
    }

    [Benchmark]
    public long OutputNoSpace() => _model.RingbufOutput(in _ctx, _full, 0, _data8);

    [Benchmark]
    public ulong ReserveSubmit64()
    {
        ulong s = _model.RingbufReserve(in _ctx, _ring, 64, 0);
        _model.RingbufCommit(s, 0, discard: false);
        Drain();
        return s;
    }

    [Benchmark]
    public ulong Query() => CpuModel.RingbufQuery(_ring, BpfFlags.BPF_RB_AVAIL_DATA);
}

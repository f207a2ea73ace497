using BenchmarkDotNet.Attributes;
using BpfTraceSim.Kernel;
using BpfTraceSim.Kernel.Perf;
using static BpfTraceSim.Kernel.Perf.PerfConstants;

namespace BpfTraceSim.Bench;

/// <summary>
/// Hot paths of the perf helpers. Rings are drained whenever they are half full so writes never
/// fail; the drain is amortised over many calls, as a consumer would.
/// </summary>
[MemoryDiagnoser]
public class PerfBenchmarks
{
    private readonly byte[] _data64 = new byte[64];
    private readonly byte[] _data8 = new byte[8];
    private readonly byte[] _data1024 = new byte[1024];
    private readonly byte[] _value = new byte[24];
    private HelperContext _ctx;
    private PerfCpu _cpu = null!;
    private PerfEventArray _captureMap = null!;
    private PerfEventArray _accountingMap = null!;
    private PerfEventArray _emptyMap = null!;
    private PerfEventArray _counterMap = null!;
    private PerfEvent _capture = null!;
    private PerfEvent _accounting = null!;

    [GlobalSetup]
    public void Setup()
    {
        _ctx = new HelperContext(0, new SimTask(100, 100, "bench"), ExecContext.Task, 1000);
        _cpu = new PerfCpu(0);
        _capture = Open(PerfEventAttr.BpfOutput(), capture: true);
        _accounting = Open(PerfEventAttr.BpfOutput(), capture: false);
        _captureMap = new PerfEventArray(1);
        _captureMap.Update(0, _capture);
        _accountingMap = new PerfEventArray(1);
        _accountingMap.Update(0, _accounting);
        _emptyMap = new PerfEventArray(2);
        _emptyMap.Update(1, _capture);
        var clock = Open(PerfEventAttr.Software(PERF_COUNT_SW_CPU_CLOCK), capture: true, pages: null);
        clock.Advance(123_456, running: true);
        _counterMap = new PerfEventArray(1);
        _counterMap.Update(0, clock);
    }

    private static PerfEvent Open(PerfEventAttr attr, bool capture, int? pages = 8)
    {
        int rc = PerfEvent.PerfEventOpen(attr, -1, 0, 1, false, pages, false, capture, out var e);
        if (rc != 0) throw new InvalidOperationException($"perf_event_open: {rc}");
        return e!;
    }

    private static void Drain(PerfRing ring)
    {
        if (ring.Used > ring.Size / 2) ring.ConsumeAll();
    }

    [Benchmark]
    public long Output64Capture()
    {
        long r = PerfHelpers.PerfEventOutput(in _ctx, _cpu, _captureMap, BpfFlags.BPF_F_CURRENT_CPU, _data64);
        Drain(_capture.Ring!);
        return r;
    }

    [Benchmark]
    public long Output64Accounting()
    {
        long r = PerfHelpers.PerfEventOutput(in _ctx, _cpu, _accountingMap, BpfFlags.BPF_F_CURRENT_CPU, _data64);
        Drain(_accounting.Ring!);
        return r;
    }

    [Benchmark]
    public long OutputEmptySlot() =>
        PerfHelpers.PerfEventOutput(in _ctx, _cpu, _emptyMap, BpfFlags.BPF_F_CURRENT_CPU, _data64);

    [Benchmark]
    public ulong Read() => PerfHelpers.PerfEventRead(in _ctx, _counterMap, BpfFlags.BPF_F_CURRENT_CPU);

    [Benchmark]
    public long ReadValue() => PerfHelpers.PerfEventReadValue(in _ctx, _counterMap, BpfFlags.BPF_F_CURRENT_CPU, _value);

    [Benchmark]
    public long RingWrite8()
    {
        long r = _capture.PerfEventOutput(in _ctx, _data8);
        Drain(_capture.Ring!);
        return r;
    }

    [Benchmark]
    public long RingWrite1024()
    {
        long r = _capture.PerfEventOutput(in _ctx, _data1024);
        Drain(_capture.Ring!);
        return r;
    }
}

using BenchmarkDotNet.Attributes;
using BpfTraceSim.Kernel;
using BpfTraceSim.Kernel.Printk;

namespace BpfTraceSim.Bench;

/// <summary>
/// bpf_trace_vprintk and bpf_snprintf with three ints on the kernel model (the integer fast path,
/// IntFormat). Targets: a third of the kernel's 351 ns and 156 ns, so at most 117 ns and 52 ns.
///   dotnet run -c Release --project bench/Bench -- --filter '*PrintkBenchmarks*' --job short --launchCount 3
/// On a shared, loaded machine the mean moves a lot between runs; several launches steady it.
/// </summary>
[MemoryDiagnoser]
public class PrintkBenchmarks
{
    private PrintkWorld _world = null!;
    private PrintkCpu _cpu = null!;
    private HelperContext _ctx;
    private readonly byte[] _vfmt = "%d %d %d\n\0"u8.ToArray();
    private readonly byte[] _sfmt = "%d %d %d\0"u8.ToArray();
    private readonly byte[] _data = new byte[24];
    private readonly byte[] _str = new byte[64];

    [GlobalSetup]
    public void Setup()
    {
        _world = new PrintkWorld(new SimMemory(), new Kallsyms(), 42, cpus: 1);
        _cpu = _world.Cpu(0);
        _ctx = new HelperContext(0, new SimTask(100, 100, "app"), ExecContext.Task, 1_000_000);
        BitConverter.TryWriteBytes(_data.AsSpan(0), 100UL);
        BitConverter.TryWriteBytes(_data.AsSpan(8), unchecked((ulong)-42L));
        BitConverter.TryWriteBytes(_data.AsSpan(16), 123456789UL);
        // Fill the ring once so every page exists: later writes recycle pages instead of allocating.
        for (int i = 0; i < 200_000; i++) TraceVprintk();
    }

    [Benchmark]
    public long TraceVprintk() => PrintkHelpers.TraceVprintk(in _ctx, _cpu, _world, _vfmt, _data, false);

    [Benchmark]
    public long Snprintf() => PrintkHelpers.Snprintf(in _ctx, _cpu, _world, _str, _sfmt, _data, false);
}

using BpfTraceSim.Kernel;
using BpfTraceSim.Kernel.Perf;
using static BpfTraceSim.Kernel.Perf.PerfConstants;

namespace BpfTraceSim.Kernel.Tests.Perf;

/// <summary>Small builders so each perf test states only what it is about.</summary>
internal static class PerfFixture
{
    public static readonly SimTask App = new(101, 100, "app");
    public static readonly SimTask Other = new(200, 200, "other");

    public static HelperContext Ctx(int cpu, SimTask? current = null, ulong now = 0, ExecContext kind = ExecContext.Task) =>
        new(cpu, current ?? SimTask.Idle, kind, now);

    public static PerfEvent Output(int cpu, int? pages = 1, int pid = -1, ulong id = 1, ulong sampleType = PERF_SAMPLE_RAW,
        bool disabled = false, bool overwrite = false, bool capture = true, uint wakeupEvents = 0, uint watermark = 0)
    {
        var attr = new PerfEventAttr(PERF_TYPE_SOFTWARE, PERF_COUNT_SW_BPF_OUTPUT, sampleType,
            Disabled: disabled, WakeupEvents: wakeupEvents, Watermark: watermark);
        int rc = PerfEvent.PerfEventOpen(attr, pid, cpu, id, false, pages, overwrite, capture, out var e);
        Assert.Equal(0, rc);
        return e!;
    }

    public static PerfEvent Counter(ulong config, int cpu, int pid = -1, bool pinned = false, bool disabled = false,
        bool inherit = false, uint type = PERF_TYPE_SOFTWARE, bool pmu = false, ulong id = 7)
    {
        var attr = new PerfEventAttr(type, config, 0, pinned, inherit, disabled);
        int rc = PerfEvent.PerfEventOpen(attr, pid, cpu, id, pmu, null, false, true, out var e);
        Assert.Equal(0, rc);
        return e!;
    }

    /// <summary>A map whose slot i holds events[i]; null leaves it empty.</summary>
    public static PerfEventArray Map(uint maxEntries, params PerfEvent?[] events)
    {
        var map = new PerfEventArray(maxEntries);
        for (uint i = 0; i < events.Length; i++)
            if (events[i] is { } e) Assert.Equal(0, map.Update(i, e));
        return map;
    }

    public static long Out(in HelperContext ctx, PerfEventArray map, ulong flags, int size) =>
        PerfHelpers.PerfEventOutput(in ctx, new PerfCpu(ctx.Cpu), map, flags, PatternBytes.Of(size));

    public static long Out(in HelperContext ctx, PerfEventArray map, ulong flags, byte[] data) =>
        PerfHelpers.PerfEventOutput(in ctx, new PerfCpu(ctx.Cpu), map, flags, data);

    public static string Hex(ReadOnlySpan<byte> bytes) => Convert.ToHexString(bytes).ToLowerInvariant();

    public static byte[] Bytes(string hex) => Convert.FromHexString(hex);

    /// <summary>Record size of a RAW-only sample of `payload` bytes, derived by hand: 8 + round_up(payload + 4, 8).</summary>
    public static int RawRecordSize(int payload) => 8 + ((payload + 4 + 7) / 8) * 8;
}

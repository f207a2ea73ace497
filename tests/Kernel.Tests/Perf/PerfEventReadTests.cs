using System.Buffers.Binary;
using BpfTraceSim.Kernel;
using BpfTraceSim.Kernel.Perf;
using static BpfTraceSim.Kernel.BpfFlags;
using static BpfTraceSim.Kernel.Perf.PerfConstants;
using static BpfTraceSim.Kernel.Tests.Perf.PerfFixture;

namespace BpfTraceSim.Kernel.Tests.Perf;

/// <summary>docs/kernel-semantics.md §3: bpf_perf_event_read / _value and the counters behind them.</summary>
public class PerfEventReadTests
{
    private static (long Ret, ulong Counter, ulong Enabled, ulong Running, byte[] Buf) ReadValue(in HelperContext ctx, PerfEventArray map, ulong flags, int size = 24)
    {
        var buf = Enumerable.Repeat((byte)0xff, Math.Max(size, 32)).ToArray();
        long ret = PerfHelpers.PerfEventReadValue(in ctx, map, flags, buf.AsSpan(0, size));
        return (ret, BinaryPrimitives.ReadUInt64LittleEndian(buf), BinaryPrimitives.ReadUInt64LittleEndian(buf.AsSpan(8)),
            BinaryPrimitives.ReadUInt64LittleEndian(buf.AsSpan(16)), buf);
    }

    [Fact]
    public void Read_BadFlags_IsEinvalInTheU64()
    {
        var map = Map(1, Counter(PERF_COUNT_SW_CPU_CLOCK, 0));
        Assert.Equal(0xffffffffffffffeaUL, PerfHelpers.PerfEventRead(Ctx(0), map, 1UL << 32));
    }

    [Fact]
    public void Read_CurrentCpu_IndexPastMax_IsE2big()
    {
        var map = Map(1, Counter(PERF_COUNT_SW_CPU_CLOCK, 0));
        Assert.Equal(unchecked((ulong)-Errno.E2BIG), PerfHelpers.PerfEventRead(Ctx(1), map, BPF_F_CURRENT_CPU));
    }

    [Fact]
    public void Read_EmptySlot_IsEnoent()
    {
        var map = Map(2, Counter(PERF_COUNT_SW_CPU_CLOCK, 0));
        Assert.Equal(unchecked((ulong)-Errno.ENOENT), PerfHelpers.PerfEventRead(Ctx(1), map, 1));
    }

    [Fact]
    public void ReadLocal_InheritEvent_IsEopnotsupp()
    {
        // The map refuses inherit events, so only perf_event_read_local itself can see one.
        var e = Counter(PERF_COUNT_SW_CPU_CLOCK, 0, inherit: true);
        Assert.Equal(-Errno.EOPNOTSUPP, PerfHelpers.PerfEventReadLocal(Ctx(0), e, out _, out _, out _));
    }

    [Fact]
    public void Read_PerTaskEventOfAnotherTask_IsEinval()
    {
        var e = Counter(PERF_COUNT_SW_TASK_CLOCK, -1, pid: Other.Pid);
        Assert.Equal(0xffffffffffffffeaUL, PerfHelpers.PerfEventRead(Ctx(0, App), Map(1, e), 0));
    }

    [Fact]
    public void Read_PerCpuCounterOfAnotherCpu_IsEinval()
    {
        var map = Map(2, null, Counter(PERF_COUNT_SW_CPU_CLOCK, 1));
        Assert.Equal(0xffffffffffffffeaUL, PerfHelpers.PerfEventRead(Ctx(0), map, 1));
    }

    [Fact]
    public void Read_PinnedPerCpuCounterOfAnotherCpu_IsEinval_CpuCheckFirst()
    {
        var map = Map(2, null, Counter(PERF_COUNT_SW_CPU_CLOCK, 1, pinned: true));
        Assert.Equal(0xffffffffffffffeaUL, PerfHelpers.PerfEventRead(Ctx(0), map, 1));
    }

    [Fact]
    public void Read_PinnedPerTaskCounterRestrictedToAnotherCpu_IsEbusy()
    {
        var e = Counter(PERF_COUNT_SW_TASK_CLOCK, 1, pid: App.Pid, pinned: true);
        Assert.Equal(unchecked((ulong)-Errno.EBUSY), PerfHelpers.PerfEventRead(Ctx(0, App), Map(1, e), 0));
    }

    [Fact]
    public void Read_PinnedPerCpuCounterDisabledOnItsCpu_IsEbusy()
    {
        var e = Counter(PERF_COUNT_SW_CPU_CLOCK, 0, pinned: true, disabled: true);
        Assert.Equal(unchecked((ulong)-Errno.EBUSY), PerfHelpers.PerfEventRead(Ctx(0), Map(1, e), 0));
    }

    [Fact]
    public void Read_UnpinnedPerTaskCounterRestrictedElsewhere_IsStaleSuccess()
    {
        var e = Counter(PERF_COUNT_SW_TASK_CLOCK, 1, pid: App.Pid);
        e.Advance(1000, running: true);  // ran on CPU 1
        e.Advance(500, running: false);  // ran on CPU 0 where it cannot count
        var r = ReadValue(Ctx(0, App), Map(1, e), 0);
        Assert.Equal(0, r.Ret);
        Assert.Equal((1000UL, 1500UL, 1000UL), (r.Counter, r.Enabled, r.Running));
        Assert.True(r.Enabled > r.Running);
    }

    [Fact]
    public void Read_CpuClock_CountsNanosecondsWhileRunning()
    {
        var e = Counter(PERF_COUNT_SW_CPU_CLOCK, 0);
        e.Advance(1_000_000, running: true);
        Assert.Equal(1_000_000UL, PerfHelpers.PerfEventRead(Ctx(0), Map(1, e), BPF_F_CURRENT_CPU));
        var r = ReadValue(Ctx(0), Map(1, e), 0);
        Assert.Equal((0L, 1_000_000UL, 1_000_000UL, 1_000_000UL), (r.Ret, r.Counter, r.Enabled, r.Running));
    }

    [Fact]
    public void Read_DisabledAtOpen_IsZeroZeroZero()
    {
        var e = Counter(PERF_COUNT_SW_CPU_CLOCK, 0, disabled: true);
        e.Advance(5000, running: true);
        var r = ReadValue(Ctx(0), Map(1, e), 0);
        Assert.Equal((0L, 0UL, 0UL, 0UL), (r.Ret, r.Counter, r.Enabled, r.Running));
    }

    [Fact]
    public void Read_AfterDisable_KeepsWhatItReached()
    {
        var e = Counter(PERF_COUNT_SW_CPU_CLOCK, 0);
        e.Advance(700, running: true);
        e.Disable();
        e.Advance(300, running: true);
        var r = ReadValue(Ctx(0), Map(1, e), 0);
        Assert.Equal((0L, 700UL, 700UL, 700UL), (r.Ret, r.Counter, r.Enabled, r.Running));
        e.Enable();
        e.Advance(50, running: true);
        Assert.Equal(750UL, PerfHelpers.PerfEventRead(Ctx(0), Map(1, e), 0));
    }

    [Theory]
    [InlineData(PERF_COUNT_SW_BPF_OUTPUT)]
    [InlineData(PERF_COUNT_SW_DUMMY)]
    public void Read_BpfOutputOrDummy_ReadsZeroWithTimes(ulong config)
    {
        var e = Counter(config, 0);
        e.Advance(2000, running: true);
        var r = ReadValue(Ctx(0), Map(1, e), 0);
        Assert.Equal((0L, 0UL, 2000UL, 2000UL), (r.Ret, r.Counter, r.Enabled, r.Running));
    }

    [Fact]
    public void SoftwareCounters_CountOnlyOccurrences()
    {
        var migrations = Counter(PERF_COUNT_SW_CPU_MIGRATIONS, -1, pid: App.Pid);
        var faults = Counter(PERF_COUNT_SW_PAGE_FAULTS, -1, pid: App.Pid);
        migrations.Advance(10_000, running: true);
        faults.Advance(10_000, running: true);
        migrations.AddCount(1);
        Assert.Equal(1UL, PerfHelpers.PerfEventRead(Ctx(0, App), Map(1, migrations), 0));
        Assert.Equal(0UL, PerfHelpers.PerfEventRead(Ctx(0, App), Map(1, faults), 0));
    }

    [Fact]
    public void DisabledCounter_DoesNotCountOccurrences()
    {
        var e = Counter(PERF_COUNT_SW_CONTEXT_SWITCHES, 0, disabled: true);
        e.AddCount(3);
        Assert.Equal(0UL, e.Count);
    }

    [Fact]
    public void HardwareCycles_WithPmu_CountAt1GHz()
    {
        var e = Counter(PERF_COUNT_HW_CPU_CYCLES, 0, type: PERF_TYPE_HARDWARE, pmu: true);
        e.Advance(1234, running: true);
        Assert.Equal(1234UL, PerfHelpers.PerfEventRead(Ctx(0), Map(1, e), 0));
    }

    [Fact]
    public void Read_CounterNearTheTop_IsIndistinguishableFromAnErrno()
    {
        var e = Counter(PERF_COUNT_SW_CONTEXT_SWITCHES, 0);
        e.AddCount(0xffffffffffffffeaUL);
        Assert.Equal(0xffffffffffffffeaUL, PerfHelpers.PerfEventRead(Ctx(0), Map(1, e), 0));
    }

    [Theory]
    [InlineData(23)]
    [InlineData(25)]
    [InlineData(1)]
    public void ReadValue_WrongSize_IsEinvalFirst_AndZeroesExactlySizeBytes(int size)
    {
        // Bad flags and a bad index too: the size check comes before them.
        var r = ReadValue(Ctx(0), Map(1, Counter(PERF_COUNT_SW_CPU_CLOCK, 0)), (1UL << 40) | 9, size);
        Assert.Equal(-Errno.EINVAL, r.Ret);
        Assert.All(r.Buf[..size], b => Assert.Equal(0, b));
        Assert.All(r.Buf[size..], b => Assert.Equal(0xff, b));
    }

    [Fact]
    public void ReadValue_LaterError_Zeroes24Bytes()
    {
        var r = ReadValue(Ctx(0), Map(2, Counter(PERF_COUNT_SW_CPU_CLOCK, 0)), 1);
        Assert.Equal(-Errno.ENOENT, r.Ret);
        Assert.Equal(new string('0', 48) + new string('f', 16), Hex(r.Buf));
    }

    [Fact]
    public void ReadValue_BadFlags_IsEinval_Zeroes24()
    {
        var r = ReadValue(Ctx(0), Map(1, Counter(PERF_COUNT_SW_CPU_CLOCK, 0)), 1UL << 63);
        Assert.Equal(-Errno.EINVAL, r.Ret);
        Assert.Equal(new string('0', 48), Hex(r.Buf.AsSpan(0, 24)));
    }

    [Fact]
    public void ReadValue_Success_WritesCounterEnabledRunningLittleEndian()
    {
        var e = Counter(PERF_COUNT_SW_CPU_CLOCK, 0);
        e.Advance(0x0102, running: true);
        var r = ReadValue(Ctx(0), Map(1, e), 0);
        Assert.Equal("0201000000000000" + "0201000000000000" + "0201000000000000", Hex(r.Buf.AsSpan(0, 24)));
    }

    [Fact]
    public void Read_IsNotAffectedByNestingOrOutputState()
    {
        var e = Output(0);
        e.Advance(10, running: true);
        Assert.Equal(0UL, PerfHelpers.PerfEventRead(Ctx(0), Map(1, e), 0));
    }
}

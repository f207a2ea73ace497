using BpfTraceSim.Kernel;
using BpfTraceSim.Kernel.Perf;
using static BpfTraceSim.Kernel.Perf.PerfConstants;
using static BpfTraceSim.Kernel.Tests.Perf.PerfFixture;

namespace BpfTraceSim.Kernel.Tests.Perf;

/// <summary>docs/kernel-semantics.md §4: perf event array updates and deletes.</summary>
public class PerfEventArrayTests
{
    [Fact]
    public void Update_InheritEvent_IsEopnotsupp_SlotKeepsPreviousContent()
    {
        var first = Output(0);
        var map = Map(1, first);
        Assert.Equal(-Errno.EOPNOTSUPP, map.Update(0, Counter(PERF_COUNT_SW_CPU_CLOCK, 0, inherit: true)));
        Assert.Same(first, map.Get(0));
    }

    [Fact]
    public void Update_AnyOtherEvent_IsAccepted_TypeAndCpuUnchecked()
    {
        var map = new PerfEventArray(2);
        Assert.Equal(0, map.Update(0, Counter(PERF_COUNT_SW_CPU_CLOCK, 1)));
        Assert.Equal(0, map.Update(1, Output(cpu: -1, pid: 5)));
        Assert.Equal(-Errno.EINVAL, Out(Ctx(1), map, 0, 8)); // refused later, by the output helper
    }

    [Fact]
    public void Update_IndexPastMaxEntries_IsE2big()
    {
        var map = new PerfEventArray(2);
        Assert.Equal(-Errno.E2BIG, map.Update(2, Output(0)));
        Assert.Null(map.Get(2));
    }

    [Fact]
    public void Delete_EmptySlot_IsEnoent_PastMax_IsE2big()
    {
        var map = Map(2, Output(0));
        Assert.Equal(-Errno.ENOENT, map.Delete(1));
        Assert.Equal(-Errno.E2BIG, map.Delete(2));
        Assert.Equal(0, map.Delete(0));
        Assert.Null(map.Get(0));
        Assert.Equal(-Errno.ENOENT, map.Delete(0));
    }

    [Fact]
    public void ReleasingTheInstallingFile_ClearsItsSlots()
    {
        var fileA = new object();
        var fileB = new object();
        var map = new PerfEventArray(3);
        Assert.Equal(0, map.Update(0, Output(0), fileA));
        Assert.Equal(0, map.Update(1, Output(1), fileB));
        Assert.Equal(0, map.Update(2, Output(2), fileA));
        Assert.Equal(2, map.ReleaseFile(fileA));
        Assert.Null(map.Get(0));
        Assert.NotNull(map.Get(1));
        Assert.Null(map.Get(2));
        Assert.Equal(-Errno.ENOENT, Out(Ctx(0), map, 0, 8));
    }
}

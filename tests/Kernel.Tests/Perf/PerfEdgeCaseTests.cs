using BpfTraceSim.Kernel;
using BpfTraceSim.Kernel.Perf;
using static BpfTraceSim.Kernel.BpfFlags;
using static BpfTraceSim.Kernel.Perf.PerfConstants;
using static BpfTraceSim.Kernel.Tests.Perf.PerfFixture;

namespace BpfTraceSim.Kernel.Tests.Perf;

/// <summary>docs/kernel-semantics.md §10, one test per measured edge case.</summary>
public class PerfEdgeCaseTests
{
    [Fact]
    public void SlotIndexAndCpuAreIndependent_Slot3HoldingCpu0Event()
    {
        var map = Map(4, null, null, null, Output(0));
        Assert.Equal(0, Out(Ctx(0), map, 3, 8));
        Assert.Equal(-Errno.EOPNOTSUPP, Out(Ctx(1), map, 3, 8));
    }

    [Fact]
    public void SwappedSlots_CurrentCpuFails_ExplicitIndexWorks()
    {
        var map = Map(2, Output(1), Output(0)); // slot 0 = CPU 1's event, slot 1 = CPU 0's
        Assert.Equal(-Errno.EOPNOTSUPP, Out(Ctx(0), map, BPF_F_CURRENT_CPU, 8));
        Assert.Equal(0, Out(Ctx(0), map, 1, 8));
    }

    [Fact]
    public void MaxEntriesLargerThanCpuCount_EmptySlotsAreEnoent()
    {
        var map = Map(8, Output(0), Output(1));
        Assert.Equal(-Errno.ENOENT, Out(Ctx(0), map, 5, 8));
    }

    [Fact]
    public void MaxEntriesOne_CurrentCpuOnCpu1_IsE2big()
    {
        var map = Map(1, Output(0));
        Assert.Equal(-Errno.E2BIG, Out(Ctx(1), map, BPF_F_CURRENT_CPU, 8));
    }

    [Fact]
    public void BadFlagBitsWithBadIndex_IsEinval()
    {
        var map = Map(1, Output(0));
        Assert.Equal(-Errno.EINVAL, Out(Ctx(0), map, (1UL << 32) | 0xfffffffeUL, 8));
    }

    [Theory]
    [InlineData(0xfffffffeUL)]
    [InlineData(0x7fffffffUL)]
    public void HugeIndex_IsE2big(ulong index)
    {
        var map = Map(2, Output(0), Output(1));
        Assert.Equal(-Errno.E2BIG, Out(Ctx(0), map, index, 8));
    }

    [Fact]
    public void IpiOnCpu1_CurrentCpuMeansCpu1_TaskOnCpu0IsNotCurrent()
    {
        var taskEvent = Output(cpu: -1, pid: App.Pid);
        var counter = Counter(PERF_COUNT_SW_TASK_CLOCK, -1, pid: App.Pid);
        var perCpu1 = Output(1, id: 2);
        // hardirq on CPU 1: current is whatever runs there (idle), not the task on CPU 0.
        var irq = Ctx(1, SimTask.Idle, kind: ExecContext.Hardirq);
        Assert.Equal(0, Out(irq, Map(2, Output(0), perCpu1), BPF_F_CURRENT_CPU, 8));
        Assert.Equal(24UL, perCpu1.Ring!.DataHead);
        Assert.Equal(-Errno.EOPNOTSUPP, Out(irq, Map(1, taskEvent), 0, 8));
        Assert.Equal(0xffffffffffffffeaUL, PerfHelpers.PerfEventRead(irq, Map(1, counter), 0));
    }

    [Fact]
    public void PerTaskOutputOfCallingTask_WorksOnAnyCpuAnySlot_OtherSleepingProcessFails()
    {
        var mine = Output(cpu: -1, pid: App.Pid);
        var theirs = Output(cpu: -1, pid: Other.Pid, id: 2);
        var map = Map(5, null, null, null, null, mine);
        Assert.Equal(0, Out(Ctx(0, App), map, 4, 8));
        Assert.Equal(0, Out(Ctx(3, App), map, 4, 8));
        Assert.Equal(48UL, mine.Ring!.DataHead);
        Assert.Equal(-Errno.EOPNOTSUPP, Out(Ctx(0, App), Map(1, theirs), 0, 8));
    }

    [Theory]
    [InlineData(PERF_COUNT_SW_CPU_CLOCK)]
    [InlineData(PERF_COUNT_SW_TASK_CLOCK)]
    public void CounterInSlot_IsEinval_EvenOnItsOwnCpu(ulong config)
    {
        var map = Map(1, Counter(config, 0));
        Assert.Equal(-Errno.EINVAL, Out(Ctx(0), map, 0, 8));
    }

    [Fact]
    public void SampleTypeZero_Is8ByteRecordWithNoData()
    {
        var e = Output(0, sampleType: 0);
        Assert.Equal(0, Out(Ctx(0), Map(1, e), 0, 100));
        Assert.Equal(8UL, e.Ring!.DataHead);
        Assert.Equal("0900000001000800", Hex(e.Ring.ReadRecordBytes(e.Ring.GetRecord(0))));
    }

    [Fact]
    public void RawTidCpuWith5Bytes_Is40ByteRecord()
    {
        var e = Output(0, sampleType: PERF_SAMPLE_RAW | PERF_SAMPLE_TID | PERF_SAMPLE_CPU);
        Assert.Equal(0, Out(Ctx(0, App), Map(1, e), 0, Bytes("0102030405")));
        Assert.Equal(40UL, e.Ring!.DataHead);
        Assert.Equal("0900000001002800" + "6400000065000000" + "0000000000000000" + "0c000000" + "0102030405" + "00000000000000",
            Hex(e.Ring.ReadRecordBytes(e.Ring.GetRecord(0))));
    }

    [Fact]
    public void DisabledAtOpen_Fails_EnableWorks_DisableFailsAgain()
    {
        var e = Output(0, disabled: true);
        var map = Map(1, e);
        Assert.Equal(-Errno.EOPNOTSUPP, Out(Ctx(0), map, 0, 8));
        e.Enable();
        Assert.Equal(0, Out(Ctx(0), map, 0, 8));
        e.Disable();
        Assert.Equal(-Errno.EOPNOTSUPP, Out(Ctx(0), map, 0, 8));
    }

    [Theory]
    [InlineData(null)]
    [InlineData(0)]
    public void NeverMmappedOrMetadataOnly_IsEnospc_LostStaysZero(int? pages)
    {
        var e = Output(0, pages: pages);
        Assert.Equal(-Errno.ENOSPC, Out(Ctx(0), Map(1, e), 0, 8));
        Assert.Equal(0UL, e.Ring?.LostTotal ?? 0UL);
    }

    [Theory]
    [InlineData(8, 1, 170, 4080UL)]
    [InlineData(64, 1, 51, 4080UL)]
    [InlineData(1000, 1, 4, 4064UL)]
    [InlineData(4076, 1, 1, 4088UL)]
    [InlineData(4077, 1, 0, 0UL)]
    [InlineData(4095, 1, 0, 0UL)]
    [InlineData(64, 2, 102, 8160UL)]
    public void FillCounts_WithoutConsumer(int payload, int pages, int fits, ulong head)
    {
        var e = Output(0, pages: pages);
        var map = Map(1, e);
        int ok = 0;
        long ret;
        while ((ret = Out(Ctx(0), map, 0, payload)) == 0) ok++;
        Assert.Equal(-Errno.ENOSPC, ret);
        Assert.Equal(fits, ok);
        Assert.Equal(head, e.Ring!.DataHead);
        Assert.Equal(1UL, e.Ring.LostTotal);
        Assert.Equal(-Errno.ENOSPC, Out(Ctx(0), map, 0, payload));
        Assert.Equal(2UL, e.Ring.LostTotal);
    }

    [Fact]
    public void AfterLosses_ConsumerCatchesUp_LostRecordThenSample()
    {
        var e = Output(0, id: 5);
        var map = Map(1, e);
        for (int i = 0; i < 51; i++) Assert.Equal(0, Out(Ctx(0), map, 0, 64));
        for (int i = 0; i < 4; i++) Assert.Equal(-Errno.ENOSPC, Out(Ctx(0), map, 0, 64));
        Assert.Equal(4UL, e.Ring!.LostTotal);
        e.Ring.ConsumeAll();
        Assert.Equal(0, Out(Ctx(0), map, 0, 64));
        var recs = e.Ring.GetRecords();
        Assert.Equal(2, recs.Length);
        Assert.Equal("0200000000001800" + "0500000000000000" + "0400000000000000", Hex(e.Ring.ReadRecordBytes(recs[0])));
        Assert.Equal((PERF_RECORD_SAMPLE, (ushort)80), (recs[1].Type, recs[1].HeaderSize));
        Assert.Equal(4080UL + 24 + 80, e.Ring.DataHead);
    }

    [Fact]
    public void Records4088Bytes_LockUpAfterALoss()
    {
        var e = Output(0);
        var map = Map(1, e);
        Assert.Equal(0, Out(Ctx(0), map, 0, 4076));
        Assert.Equal(-Errno.ENOSPC, Out(Ctx(0), map, 0, 4076));
        for (int i = 0; i < 5; i++)
        {
            e.Ring!.ConsumeAll();
            Assert.Equal(0UL, e.Ring.Used);
            Assert.Equal(-Errno.ENOSPC, Out(Ctx(0), map, 0, 4076)); // 24 + 4088 > 4095
        }
        Assert.Equal(6UL, e.Ring!.LostTotal);
        Assert.Equal(4088UL, e.Ring.DataHead);
    }

    [Theory]
    [InlineData(0, 16, 4u)]
    [InlineData(4, 16, 4u)]
    [InlineData(5, 24, 12u)]
    [InlineData(12, 24, 12u)]
    [InlineData(13, 32, 20u)]
    [InlineData(63, 80, 68u)]
    [InlineData(65, 80, 68u)]
    [InlineData(4095, 4112, 4100u)]
    [InlineData(4096, 4112, 4100u)]
    [InlineData(65512, 65528, 65516u)]
    [InlineData(65516, 65528, 65516u)]
    public void RecordSizes_AndRawSizeField(int payload, int size, uint field)
    {
        var e = Output(0, pages: 32);
        Assert.Equal(0, Out(Ctx(0), Map(1, e), 0, payload));
        Assert.Equal((ulong)size, e.Ring!.DataHead);
        var rec = e.Ring.GetRecord(0);
        Assert.Equal((ushort)size, rec.HeaderSize);
        Assert.Equal(field, BitConverter.ToUInt32(e.Ring.Data.Slice(8, 4)));
        var raw = e.Ring.ReadRawBytes(rec)!;
        Assert.Equal((int)field, raw.Length);
        for (int i = 0; i < payload; i++) Assert.Equal((byte)i, raw[i]);
    }

    [Theory]
    [InlineData(65517, 0)]
    [InlineData(65527, 8)]
    [InlineData(65535, 16)]
    [InlineData(70000, 4480)]
    [InlineData(163840, 32784)]
    public void LargerPayloads_WrapTheU16Size_HeadAdvancesByTheWrappedSize(int payload, int wrapped)
    {
        var e = Output(0, pages: 64); // 256 KiB: the copy does not come round to the header
        Assert.Equal(0, Out(Ctx(0), Map(1, e), 0, payload));
        Assert.Equal((ulong)wrapped, e.Ring!.DataHead);
        Assert.Equal(wrapped == 0 ? 0 : 1, e.Ring.RecordCount);
        // The header says the wrapped size, the raw size field the true one, and the whole
        // payload sits after the reservation.
        Assert.Equal((ushort)wrapped, BitConverter.ToUInt16(e.Ring.Data.Slice(6, 2)));
        int rawField = ((payload + 4 + 7) & ~7) - 4;
        Assert.Equal((uint)rawField, BitConverter.ToUInt32(e.Ring.Data.Slice(8, 4)));
        for (int i = 0; i < payload; i += 997) Assert.Equal((byte)i, e.Ring.Data[12 + i]);
        Assert.Equal((byte)(payload - 1), e.Ring.Data[12 + payload - 1]);
    }

    [Fact]
    public void WrappedRecord_OverwritesUnreadRecordsPastItsReservation()
    {
        var e = Output(0);   // one page
        var map = Map(1, e);
        Assert.Equal(0, Out(Ctx(0), map, 0, Bytes("aabbccdd")));     // 0..16, unread
        Assert.Equal(0, Out(Ctx(0), map, 0, 65527));                 // reserves 8 bytes at 16
        Assert.Equal(24UL, e.Ring!.DataHead);
        Assert.Equal(2, e.Ring.RecordCount);
        // 65544 bytes written from offset 16 go round the 4096-byte page 16 times. The last lap
        // puts data bytes 65520..65523 (0xf0..0xf3) on the first record's data at 12..16, and
        // data bytes 65524..65526 on the sample's own header; its 5 padding bytes are skipped and
        // keep what the previous lap wrote there (data 61431..61435 = 0xf7..0xfb). The consumer
        // reads a header of type 0xf7f6f5f4, misc 0xf9f8, size 0xfbfa; data_head moved by 8.
        Assert.Equal("f0f1f2f3", Hex(e.Ring.Data.Slice(12, 4)));
        Assert.Equal("f4f5f6f7f8f9fafb", Hex(e.Ring.Data.Slice(16, 8)));
        var rec = e.Ring.GetRecord(1);
        Assert.Equal((16UL, 8, 0xf7f6f5f4u, (ushort)0xfbfa), (rec.Start, rec.Size, rec.Type, rec.HeaderSize));
    }

    [Fact]
    public void OverwriteRing_300x64_Head24000_AllZero_Lost0()
    {
        var e = Output(0, overwrite: true);
        var map = Map(1, e);
        for (int i = 0; i < 300; i++) Assert.Equal(0, Out(Ctx(0), map, 0, 64));
        Assert.Equal(24000UL, e.Ring!.DataHead);
        Assert.Equal(0UL, e.Ring.LostTotal);
    }

    [Fact]
    public void Reads_PerCpuCounterOfAnotherCpu_IsEinvalU64()
    {
        var map = Map(2, Counter(PERF_COUNT_SW_CPU_CLOCK, 0), Counter(PERF_COUNT_SW_CPU_CLOCK, 1));
        Assert.Equal(0xffffffffffffffeaUL, PerfHelpers.PerfEventRead(Ctx(0), map, 1));
    }

    [Fact]
    public void Reads_PinnedPerCpuCounterOfAnotherCpu_IsEinval()
    {
        var map = Map(2, null, Counter(PERF_COUNT_SW_CPU_CLOCK, 1, pinned: true));
        Assert.Equal(0xffffffffffffffeaUL, PerfHelpers.PerfEventRead(Ctx(0), map, 1));
    }

    [Fact]
    public void Reads_PerTaskCounterRestrictedToAnotherCpu_StaleIfNotPinned_EbusyIfPinned()
    {
        var loose = Counter(PERF_COUNT_SW_TASK_CLOCK, 1, pid: App.Pid);
        var pinned = Counter(PERF_COUNT_SW_TASK_CLOCK, 1, pid: App.Pid, pinned: true);
        loose.Advance(100, running: false);
        var buf = new byte[24];
        Assert.Equal(0, PerfHelpers.PerfEventReadValue(Ctx(0, App), Map(1, loose), 0, buf));
        Assert.Equal("0000000000000000" + "6400000000000000" + "0000000000000000", Hex(buf));
        Assert.Equal(unchecked((ulong)-Errno.EBUSY), PerfHelpers.PerfEventRead(Ctx(0, App), Map(1, pinned), 0));
    }

    [Fact]
    public void Reads_InheritCounterNeverReachesTheHelper_Enoent()
    {
        var map = new PerfEventArray(1);
        Assert.Equal(-Errno.EOPNOTSUPP, map.Update(0, Counter(PERF_COUNT_SW_CPU_CLOCK, 0, inherit: true)));
        Assert.Equal(unchecked((ulong)-Errno.ENOENT), PerfHelpers.PerfEventRead(Ctx(0), map, 0));
    }

    [Fact]
    public void Reads_DisabledAtOpen_ZeroZeroZero()
    {
        var e = Counter(PERF_COUNT_SW_CPU_CLOCK, 0, disabled: true);
        e.Advance(999, running: true);
        var buf = new byte[24];
        Assert.Equal(0, PerfHelpers.PerfEventReadValue(Ctx(0), Map(1, e), 0, buf));
        Assert.Equal(new string('0', 48), Hex(buf));
    }

    [Theory]
    [InlineData(PERF_COUNT_SW_BPF_OUTPUT)]
    [InlineData(PERF_COUNT_SW_DUMMY)]
    public void Reads_BpfOutputOrDummy_CountZero_TimesNonZero(ulong config)
    {
        var e = Counter(config, 0);
        e.Advance(1000, running: true);
        var buf = new byte[24];
        Assert.Equal(0, PerfHelpers.PerfEventReadValue(Ctx(0), Map(1, e), 0, buf));
        Assert.Equal("0000000000000000" + "e803000000000000" + "e803000000000000", Hex(buf));
    }

    [Theory]
    [InlineData(23)]
    [InlineData(25)]
    public void ReadValueSize23Or25_EinvalBeforeAnything_ZeroesExactlySize(int size)
    {
        var buf = Enumerable.Repeat((byte)0xff, 32).ToArray();
        var empty = new PerfEventArray(1);
        Assert.Equal(-Errno.EINVAL, PerfHelpers.PerfEventReadValue(Ctx(0), empty, 1UL << 35, buf.AsSpan(0, size)));
        Assert.Equal(new string('0', size * 2) + new string('f', (32 - size) * 2), Hex(buf));
    }
}

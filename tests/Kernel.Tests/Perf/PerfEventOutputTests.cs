using BpfTraceSim.Kernel;
using BpfTraceSim.Kernel.Perf;
using static BpfTraceSim.Kernel.BpfFlags;
using static BpfTraceSim.Kernel.Perf.PerfConstants;
using static BpfTraceSim.Kernel.Tests.Perf.PerfFixture;

namespace BpfTraceSim.Kernel.Tests.Perf;

/// <summary>docs/kernel-semantics.md §2: bpf_perf_event_output checks, record layout, ring rules.</summary>
public class PerfEventOutputTests
{
    [Fact]
    public void BadFlagBits_AreEinval_BeforeTheIndex()
    {
        var map = Map(2, Output(0));
        Assert.Equal(-Errno.EINVAL, Out(Ctx(0), map, 1UL << 32, 8));
        Assert.Equal(-Errno.EINVAL, Out(Ctx(0), map, (1UL << 40) | 5, 8)); // index 5 is also bad
    }

    [Fact]
    public void FlagsCheck_ComesBeforeNesting()
    {
        var map = Map(1, Output(0));
        var cpu = new PerfCpu(0);
        cpu.Enter(); cpu.Enter(); cpu.Enter();
        Assert.Equal(-Errno.EINVAL, PerfHelpers.PerfEventOutput(Ctx(0), cpu, map, 1UL << 33, new byte[8]));
        Assert.Equal(3, cpu.NestLevel);
    }

    [Fact]
    public void ThirdNestingLevel_Works_FourthIsEbusy()
    {
        var map = Map(1, Output(0));
        var cpu = new PerfCpu(0);
        cpu.Enter(); cpu.Enter();
        Assert.Equal(0, PerfHelpers.PerfEventOutput(Ctx(0), cpu, map, BPF_F_CURRENT_CPU, new byte[8]));
        cpu.Enter();
        Assert.Equal(-Errno.EBUSY, PerfHelpers.PerfEventOutput(Ctx(0), cpu, map, BPF_F_CURRENT_CPU, new byte[8]));
        Assert.Equal(3, cpu.NestLevel); // the helper restores the level it found
        Assert.Equal(24UL, map.Get(0)!.Ring!.DataHead); // only the level-3 call wrote
    }

    [Fact]
    public void CurrentCpu_SelectsTheSlotOfTheCallingCpu()
    {
        var e0 = Output(0, id: 10);
        var e1 = Output(1, id: 11);
        var map = Map(2, e0, e1);
        Assert.Equal(0, Out(Ctx(1), map, BPF_F_CURRENT_CPU, 8));
        Assert.Equal(0UL, e0.Ring!.DataHead);
        Assert.Equal(24UL, e1.Ring!.DataHead);
    }

    [Fact]
    public void IndexPastMaxEntries_IsE2big()
    {
        var map = Map(2, Output(0), Output(1));
        Assert.Equal(-Errno.E2BIG, Out(Ctx(0), map, 2, 8));
    }

    [Fact]
    public void EmptySlot_IsEnoent()
    {
        var map = Map(2, Output(0));
        Assert.Equal(-Errno.ENOENT, Out(Ctx(1), map, BPF_F_CURRENT_CPU, 8));
    }

    [Fact]
    public void DummyEventInSlot_IsEinval_OnItsOwnCpu()
    {
        var map = Map(1, Counter(PERF_COUNT_SW_DUMMY, 0));
        Assert.Equal(-Errno.EINVAL, Out(Ctx(0), map, 0, 8));
    }

    [Fact]
    public void PerCpuEventOfAnotherCpu_IsEopnotsupp()
    {
        var map = Map(2, Output(1));
        Assert.Equal(-Errno.EOPNOTSUPP, Out(Ctx(0), map, 0, 8));
    }

    [Fact]
    public void DisabledEventOnItsOwnCpu_IsEopnotsupp()
    {
        var e = Output(0);
        e.Disable();
        Assert.Equal(-Errno.EOPNOTSUPP, Out(Ctx(0), Map(1, e), 0, 8));
    }

    [Fact]
    public void PerTaskEventOfCurrentTask_WithCpuRestrictedElsewhere_IsEopnotsupp()
    {
        var e = Output(cpu: 1, pid: App.Pid);
        Assert.Equal(-Errno.EOPNOTSUPP, Out(Ctx(0, App), Map(1, e), 0, 8));
        Assert.Equal(0, Out(Ctx(1, App), Map(1, e), 0, 8));
    }

    [Fact]
    public void NoRing_IsEnospc_AndNothingIsLost()
    {
        var e = Output(0, pages: null);
        Assert.Null(e.Ring);
        Assert.Equal(-Errno.ENOSPC, Out(Ctx(0), Map(1, e), 0, 8));
    }

    [Fact]
    public void ZeroDataPages_IsEnospc_AndLostStaysZero()
    {
        var e = Output(0, pages: 0);
        var map = Map(1, e);
        Assert.Equal(-Errno.ENOSPC, Out(Ctx(0), map, 0, 8));
        Assert.Equal(-Errno.ENOSPC, Out(Ctx(0), map, 0, 8));
        Assert.Equal(0UL, e.Ring!.LostTotal);
        Assert.Equal(0UL, e.Ring.LostPending);
        Assert.Equal(0UL, e.Ring.DataHead);
    }

    [Fact]
    public void FullRing_IsEnospc_AndCountsLost()
    {
        var e = Output(0);
        var map = Map(1, e);
        Assert.Equal(0, Out(Ctx(0), map, 0, 4076)); // 4088 bytes
        Assert.Equal(-Errno.ENOSPC, Out(Ctx(0), map, 0, 0));
        Assert.Equal(1UL, e.Ring!.LostTotal);
        Assert.Equal(4088UL, e.Ring.DataHead);
    }

    [Fact]
    public void RawSample_RecordBytes()
    {
        var e = Output(0);
        Assert.Equal(0, Out(Ctx(0), Map(1, e), 0, Bytes("0102030405")));
        var rec = e.Ring!.GetRecord(0);
        Assert.Equal("0900000001001800" + "0c000000" + "0102030405" + "00000000000000", Hex(e.Ring.ReadRecordBytes(rec)));
        Assert.Equal("0102030405" + "00000000000000", Hex(e.Ring.ReadRawBytes(rec)));
    }

    [Fact]
    public void RawTidTimeCpuSample_RecordBytes_FieldsFromTheContext()
    {
        var e = Output(1, sampleType: PERF_SAMPLE_RAW | PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_CPU);
        Assert.Equal(0, Out(Ctx(1, App, now: 0x0000000100000002UL), Map(2, null, e), 1, Bytes("0102030405")));
        var rec = e.Ring!.GetRecord(0);
        Assert.Equal(48, rec.Size);
        Assert.Equal(
            "0900000001003000" +      // header: SAMPLE, MISC_KERNEL, size 48
            "6400000065000000" +      // TID: pid = tgid 100, tid = 101
            "0200000001000000" +      // TIME
            "0100000000000000" +      // CPU 1, reserved
            "0c000000" + "0102030405" + "00000000000000",
            Hex(e.Ring.ReadRecordBytes(rec)));
    }

    [Fact]
    public void AllFixedFields_InAbiOrder_IdStreamIdPeriodIpAddr()
    {
        ulong st = PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_ADDR | PERF_SAMPLE_ID |
                   PERF_SAMPLE_STREAM_ID | PERF_SAMPLE_CPU | PERF_SAMPLE_PERIOD | PERF_SAMPLE_RAW;
        var e = Output(0, id: 0x0102030405060708UL, sampleType: st);
        Assert.Equal(0, Out(Ctx(0, App, now: 5), Map(1, e), 0, Array.Empty<byte>()));
        var rec = e.Ring!.GetRecord(0);
        Assert.Equal(
            "0900000001005000" +      // size 80 = 8 + 8*8 + 8
            "0000000000000000" +      // IP
            "6400000065000000" +      // TID
            "0500000000000000" +      // TIME
            "0000000000000000" +      // ADDR
            "0807060504030201" +      // ID
            "0807060504030201" +      // STREAM_ID
            "0000000000000000" +      // CPU 0
            "0000000000000000" +      // PERIOD (bpf output samples carry period 0)
            "04000000" + "00000000",  // RAW: size 0 -> field 4, 4 padding bytes
            Hex(e.Ring.ReadRecordBytes(rec)));
    }

    [Theory]
    [InlineData(0, 4)]
    [InlineData(5, 12)]
    [InlineData(12, 12)]
    [InlineData(13, 20)]
    public void RawSizeField_IsThePaddedLength(int payload, uint field)
    {
        var e = Output(0);
        Assert.Equal(0, Out(Ctx(0), Map(1, e), 0, payload));
        var raw = e.Ring!.Data.Slice(8, 4);
        Assert.Equal(field, BitConverter.ToUInt32(raw));
    }

    [Fact]
    public void Padding_KeepsWhatTheRingHeld()
    {
        var e = Output(0);
        var map = Map(1, e);
        var ee = Enumerable.Repeat((byte)0xee, 4072).ToArray();
        Assert.Equal(0, Out(Ctx(0), map, 0, ee));            // 0..4088
        e.Ring!.ConsumeAll();
        Assert.Equal(0, Out(Ctx(0), map, 0, 0));             // 4088..4104, wraps to 8
        Assert.Equal(0, Out(Ctx(0), map, 0, Bytes("0102030405"))); // 8..32, padding 25..32 held 0xee
        e.Ring.ConsumeRecord();
        var rec = e.Ring.GetRecord(0);
        Assert.Equal(4104UL, rec.Start); // offset 8 in the page
        Assert.Equal("0900000001001800" + "0c000000" + "0102030405" + "eeeeeeeeeeeeee", Hex(e.Ring.ReadRecordBytes(rec)));
    }

    [Fact]
    public void RecordWrappingTheRingEnd_ReadsBackContiguously()
    {
        var e = Output(0);
        var map = Map(1, e);
        Assert.Equal(0, Out(Ctx(0), map, 0, 4072)); // head 4088
        e.Ring!.ConsumeAll();
        Assert.Equal(0, Out(Ctx(0), map, 0, Bytes("a1a2a3a4a5a6a7a8")));
        var rec = e.Ring.GetRecord(0);
        Assert.Equal(4088UL, rec.Start);
        // Padding at page offset 12..16 keeps the first record's data bytes 0..3.
        Assert.Equal("0900000001001800" + "0c000000" + "a1a2a3a4a5a6a7a8" + "00010203", Hex(e.Ring.ReadRecordBytes(rec)));
        Assert.Equal("0900000001001800", Hex(e.Ring.Data.Slice(4088, 8)));
        Assert.Equal("0c000000a1a2a3a4", Hex(e.Ring.Data.Slice(0, 8)));
    }

    [Fact]
    public void SampleTypeWithoutRaw_IsTheHeaderAlone_DataNotCopied()
    {
        var e = Output(0, sampleType: 0);
        Assert.Equal(0, Out(Ctx(0), Map(1, e), 0, Bytes("ffffffffffffffff")));
        Assert.Equal(8UL, e.Ring!.DataHead);
        Assert.Equal("0900000001000800", Hex(e.Ring.ReadRecordBytes(e.Ring.GetRecord(0))));
        Assert.Equal("0000000000000000", Hex(e.Ring.Data.Slice(8, 8)));
        Assert.Null(e.Ring.ReadRawBytes(e.Ring.GetRecord(0)));
    }

    [Fact]
    public void EmptyPayload_Is16ByteRecord()
    {
        var e = Output(0);
        Assert.Equal(0, Out(Ctx(0), Map(1, e), 0, 0));
        Assert.Equal(16UL, e.Ring!.DataHead);
        Assert.Equal("0900000001001000" + "04000000" + "00000000", Hex(e.Ring.ReadRecordBytes(e.Ring.GetRecord(0))));
    }

    [Fact]
    public void UsableSpace_IsSizeMinusOneMinusUsed()
    {
        var e = Output(0);
        var map = Map(1, e);
        Assert.Equal(0, Out(Ctx(0), map, 0, 4064)); // 4080 bytes: 15 usable left
        Assert.Equal(-Errno.ENOSPC, Out(Ctx(0), map, 0, 0)); // needs 16
        e.Ring!.ConsumeAll();
        e.Ring.AcknowledgeWakeup();
        // After the loss the next write needs LOST (24) + 16 = 40 of the 4095 free: fits.
        Assert.Equal(0, Out(Ctx(0), map, 0, 0));
        Assert.Equal(4080UL + 40, e.Ring.DataHead);
    }

    [Fact]
    public void LostRecord_PrecedesTheNextSample_ByteForByte()
    {
        var e = Output(0, id: 0x2a);
        var map = Map(1, e);
        for (int i = 0; i < 170; i++) Assert.Equal(0, Out(Ctx(0), map, 0, 8));
        for (int i = 0; i < 3; i++) Assert.Equal(-Errno.ENOSPC, Out(Ctx(0), map, 0, 8));
        e.Ring!.ConsumeAll();
        Assert.Equal(0, Out(Ctx(0), map, 0, Bytes("0102030405060708")));
        Assert.Equal(4080UL + 24 + 24, e.Ring.DataHead);
        var recs = e.Ring.GetRecords();
        Assert.Equal(2, recs.Length);
        Assert.True(recs[0].IsLost);
        Assert.Equal(3UL, recs[0].Lost);
        Assert.Equal("0200000000001800" + "2a00000000000000" + "0300000000000000", Hex(e.Ring.ReadRecordBytes(recs[0])));
        // The sample sits at page offset 8..32; its 4 padding bytes (28..32) keep the old header
        // bytes 4..8 of the record that was at offset 24.
        Assert.Equal("0900000001001800" + "0c000000" + "0102030405060708" + "01001800", Hex(e.Ring.ReadRecordBytes(recs[1])));
        Assert.Equal(3UL, e.Ring.LostTotal);
        Assert.Equal(0UL, e.Ring.LostPending);
    }

    [Fact]
    public void LostTotal_IsCumulative_AcrossLostRecords()
    {
        var e = Output(0);
        var map = Map(1, e);
        Assert.Equal(0, Out(Ctx(0), map, 0, 4000));
        Assert.Equal(-Errno.ENOSPC, Out(Ctx(0), map, 0, 4000));
        e.Ring!.ConsumeAll();
        Assert.Equal(0, Out(Ctx(0), map, 0, 8));        // LOST {1} + sample
        Assert.Equal(-Errno.ENOSPC, Out(Ctx(0), map, 0, 4060));
        Assert.Equal(-Errno.ENOSPC, Out(Ctx(0), map, 0, 4060));
        Assert.Equal(3UL, e.Ring.LostTotal);
        Assert.Equal(2UL, e.Ring.LostPending);
    }

    [Fact]
    public void OverwriteRing_NeverFails_NeverCountsLost()
    {
        var e = Output(0, overwrite: true);
        var map = Map(1, e);
        for (int i = 0; i < 100; i++) Assert.Equal(0, Out(Ctx(0), map, 0, 1000));
        Assert.Equal(100UL * 1016, e.Ring!.DataHead);
        Assert.Equal(0UL, e.Ring.LostTotal);
    }

    [Fact]
    public void OverwriteRing_ShowsRecordsWhollyInsideTheLastSizeBytes_OldestFirst()
    {
        var e = Output(0, overwrite: true);
        var map = Map(1, e);
        for (int i = 0; i < 300; i++)
            Assert.Equal(0, Out(Ctx(0), map, 0, new byte[64].Select(_ => (byte)i).ToArray()));
        var recs = e.Ring!.GetRecords();
        // starts are multiples of 80; the oldest one >= 24000 - 4096 = 19904 is 19920.
        Assert.Equal(51, recs.Length);
        Assert.Equal(19920UL, recs[0].Start);
        Assert.Equal(23920UL, recs[^1].Start);
        Assert.Equal((byte)(19920 / 80), e.Ring.ReadRawBytes(recs[0])![0]);
        Assert.Equal(unchecked((byte)299), e.Ring.ReadRawBytes(recs[^1])![0]);
    }

    [Fact]
    public void WakeupEvents_WakeEveryNthRecord()
    {
        var e = Output(0, wakeupEvents: 2);
        var map = Map(1, e);
        Assert.Equal(0, Out(Ctx(0), map, 0, 8));
        Assert.False(e.Ring!.WakeupPending);
        Assert.Equal(0, Out(Ctx(0), map, 0, 8));
        Assert.True(e.Ring.WakeupPending);
        Assert.Equal(1UL, e.Ring.Wakeups);
        e.Ring.AcknowledgeWakeup();
        Assert.False(e.Ring.WakeupPending);
        Assert.Equal(0, Out(Ctx(0), map, 0, 8));
        Assert.Equal(0, Out(Ctx(0), map, 0, 8));
        Assert.Equal(2UL, e.Ring.Wakeups);
    }

    [Fact]
    public void Watermark_WakesWhenMoreThanThatManyBytesAreNew()
    {
        var e = Output(0, watermark: 100);
        var map = Map(1, e);
        for (int i = 0; i < 4; i++) Assert.Equal(0, Out(Ctx(0), map, 0, 8)); // head 96
        Assert.Equal(0UL, e.Ring!.Wakeups);
        Assert.Equal(0, Out(Ctx(0), map, 0, 8)); // head 120 > 100
        Assert.Equal(1UL, e.Ring.Wakeups);
        Assert.True(e.Ring.WakeupPending);
    }

    [Fact]
    public void NoWakeupSettings_WakeAtHalfTheRing()
    {
        var e = Output(0);
        var map = Map(1, e);
        for (int i = 0; i < 85; i++) Assert.Equal(0, Out(Ctx(0), map, 0, 8)); // head 2040
        Assert.Equal(0UL, e.Ring!.Wakeups);
        Assert.Equal(0, Out(Ctx(0), map, 0, 8)); // 2064 > 2048
        Assert.Equal(1UL, e.Ring.Wakeups);
    }

    [Fact]
    public void FailedWrite_RaisesNoWakeup()
    {
        var e = Output(0, wakeupEvents: 1);
        var map = Map(1, e);
        Assert.Equal(0, Out(Ctx(0), map, 0, 4076));
        Assert.Equal(1UL, e.Ring!.Wakeups);
        Assert.Equal(-Errno.ENOSPC, Out(Ctx(0), map, 0, 8));
        Assert.Equal(1UL, e.Ring.Wakeups);
    }

    [Fact]
    public void HighWater_AndUsed_FollowHeadMinusTail()
    {
        var e = Output(0);
        var map = Map(1, e);
        Assert.Equal(0, Out(Ctx(0), map, 0, 64));
        Assert.Equal(0, Out(Ctx(0), map, 0, 64));
        Assert.Equal(160UL, e.Ring!.Used);
        Assert.True(e.Ring.ConsumeRecord());
        Assert.Equal(80UL, e.Ring.DataTail);
        Assert.Equal(80UL, e.Ring.Used);
        Assert.Equal(160UL, e.Ring.HighWaterBytes);
    }

    [Fact]
    public void SizedOutput_WritesTheIndexPattern()
    {
        var e = Output(0);
        Assert.Equal(0, Out(Ctx(0), Map(1, e), 0, 301));
        var raw = e.Ring!.ReadRawBytes(e.Ring.GetRecord(0))!;
        Assert.Equal(308, raw.Length); // round_up(301 + 4, 8) - 4
        for (int i = 0; i < 301; i++) Assert.Equal((byte)i, raw[i]);
    }
}

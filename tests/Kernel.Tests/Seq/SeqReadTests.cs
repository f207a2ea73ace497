using System.Text;
using BpfTraceSim.Kernel.Seq;

namespace BpfTraceSim.Kernel.Tests.Seq;

public class SeqFileOverflowTests
{
    [Fact]
    public void WriteOfSizeMinusOneFitsButSizeOverflows()
    {
        var m = new SeqFile(16);
        Assert.Equal(0, SeqHelpers.SeqWrite(m, new byte[15])); // 0 + 15 < 16
        Assert.Equal(15, m.Count);
        var m2 = new SeqFile(16);
        Assert.Equal(-Errno.EOVERFLOW, SeqHelpers.SeqWrite(m2, new byte[16])); // 0 + 16 < 16 fails
        Assert.Equal(16, m2.Count);
        Assert.True(m2.HasOverflowed);
    }

    [Fact]
    public void OverflowPersistsForEveryLaterCallEvenEmptyOnes()
    {
        var m = new SeqFile(16);
        Assert.Equal(0, SeqHelpers.SeqWrite(m, new byte[10]));
        Assert.Equal(-Errno.EOVERFLOW, SeqHelpers.SeqWrite(m, new byte[6])); // 10 + 6 = 16, not < 16
        Assert.Equal(-Errno.EOVERFLOW, SeqHelpers.SeqWrite(m, new byte[1]));
        Assert.Equal(-Errno.EOVERFLOW, SeqHelpers.SeqWrite(m, ReadOnlySpan<byte>.Empty));
        Assert.Equal(16, m.Count);
    }

    [Fact]
    public void EmptyWriteSucceedsBeforeOverflow()
    {
        var m = new SeqFile(16);
        Assert.Equal(0, SeqHelpers.SeqWrite(m, ReadOnlySpan<byte>.Empty));
        Assert.Equal(0, m.Count);
    }

    [Fact]
    public void DefaultBufferIs32768()
    {
        Assert.Equal(32768, SeqFile.DefaultSize);
        var m = new SeqFile();
        Assert.Equal(0, SeqHelpers.SeqWrite(m, new byte[32767]));
        Assert.Equal(0, SeqHelpers.SeqWrite(m, ReadOnlySpan<byte>.Empty)); // 32767 + 0 < 32768
        Assert.Equal(-Errno.EOVERFLOW, SeqHelpers.SeqWrite(m, "x"u8));      // 32767 + 1 is not
    }

    [Fact]
    public void PrintfCommitsUnderTheSameStrictRule()
    {
        var m = new SeqFile(8);
        Assert.True(m.Printf("1234567"u8));
        Assert.True(m.Printf(""u8));
        Assert.False(m.Printf("8"u8));
        Assert.True(m.HasOverflowed);
    }
}

public class BpfSeqReadTests
{
    private static byte[] Line(long obj, int len, char c) => Encoding.ASCII.GetBytes(new string(c, len));

    [Fact]
    public void ThreeObjectsOf30ReadSevenAtATime()
    {
        var s = new BpfIterSession(3, (i, m) => { SeqHelpers.SeqWrite(m, Line(i, 30, (char)('a' + i))); return 0; });
        var r = s.ReadAll(7);
        Assert.Equal(new long[] { 7, 7, 7, 7, 2, 7, 7, 7, 7, 2, 7, 7, 7, 7, 2, 0 }, r.Reads);
        Assert.Equal(new string('a', 30) + new string('b', 30) + new string('c', 30), Encoding.ASCII.GetString(r.Text));
    }

    [Fact]
    public void LargeReadTakesObjectsUntilItHoldsEnough()
    {
        // read(100): 30 + 30 + 30 + 30 = 120 >= 100 after four objects: hands out 100, leftover 20 next.
        var s = new BpfIterSession(5, (i, m) => { SeqHelpers.SeqWrite(m, Line(i, 30, 'x')); return 0; });
        var r = s.ReadAll(100);
        Assert.Equal(new long[] { 100, 20, 30, 0 }, r.Reads);
        Assert.Equal(150, r.Text.Length);
    }

    [Fact]
    public void LeftoverReadRunsNoProgram()
    {
        int runs = 0;
        var s = new BpfIterSession(2, (i, m) => { runs++; SeqHelpers.SeqWrite(m, Line(i, 30, 'y')); return 0; });
        var buf = new byte[10];
        Assert.Equal(10, s.Read(buf));
        Assert.Equal(1, runs);
        Assert.Equal(10, s.Read(buf));
        Assert.Equal(10, s.Read(buf));
        Assert.Equal(1, runs);
        Assert.Equal(10, s.Read(buf));
        Assert.Equal(2, runs);
    }

    [Fact]
    public void OverflowingSecondObjectIsDroppedThenRerunFirst()
    {
        var firstRuns = new List<long>();
        var calls = new int[2];
        var s = new BpfIterSession(2, (i, m) =>
        {
            long r = SeqHelpers.SeqWrite(m, new byte[20000]);
            if (calls[i]++ == 0) firstRuns.Add(r);
            return 0;
        });
        var r = s.ReadAll(65536);
        // Read 1: object 0 (20000), object 1 overflows at 40000 >= 32768: dropped. Read 2: object 1 alone.
        Assert.Equal(new long[] { 20000, 20000, 0 }, r.Reads);
        Assert.Equal(new long[] { 0, -Errno.EOVERFLOW }, firstRuns);
        Assert.Equal(new[] { 1, 2 }, calls);
    }

    [Fact]
    public void ObjectThatAloneOverflowsGivesE2BIG()
    {
        var s = new BpfIterSession(1, (i, m) => { SeqHelpers.SeqWrite(m, new byte[32768]); return 0; });
        var r = s.ReadAll(4096);
        Assert.Equal(new long[] { -Errno.E2BIG }, r.Reads);
        Assert.Empty(r.Text);
    }

    [Fact]
    public void NonZeroReturnWhenFirstGivesEAGAIN()
    {
        var s = new BpfIterSession(2, (i, m) => { SeqHelpers.SeqWrite(m, "hi"u8); return i == 0 ? 1 : 0; });
        var r = s.ReadAll(4096);
        Assert.Equal(new long[] { -Errno.EAGAIN }, r.Reads);
    }

    [Fact]
    public void NonZeroReturnLaterDropsItsBytesAndRetriesItFirst()
    {
        int runs1 = 0;
        var s = new BpfIterSession(2, (i, m) =>
        {
            SeqHelpers.SeqWrite(m, i == 0 ? "aaaa"u8 : "bbbb"u8);
            return i == 1 && runs1++ == 0 ? 1 : 0;
        });
        var r = s.ReadAll(4096);
        Assert.Equal(new long[] { 4, 4, 0 }, r.Reads);
        Assert.Equal("aaaabbbb", Encoding.ASCII.GetString(r.Text));
    }

    [Fact]
    public void EmptyObjectThenOverflowingObjectIsE2BigAsOffsIsZero()
    {
        // bpf_seq_read checks "offs == 0" (no bytes held), not "first object of this read".
        var s = new BpfIterSession(2, (i, m) => { if (i == 1) SeqHelpers.SeqWrite(m, new byte[40000]); return 0; });
        Assert.Equal(new long[] { -Errno.E2BIG }, s.ReadAll(4096).Reads);
    }

    [Fact]
    public void StopRunsOnceWithNoObjectAtTheEnd()
    {
        int stops = 0;
        var s = new BpfIterSession(1, (i, m) => { SeqHelpers.SeqWrite(m, "obj\n"u8); return 0; },
            (i, m) => { Assert.Equal(-1, i); stops++; SeqHelpers.SeqWrite(m, "end\n"u8); return 0; });
        var r = s.ReadAll(4096);
        Assert.Equal(new long[] { 8, 0 }, r.Reads);
        Assert.Equal("obj\nend\n", Encoding.ASCII.GetString(r.Text));
        Assert.Equal(1, stops);
    }

    [Fact]
    public void NoObjectsReadsZero()
    {
        var s = new BpfIterSession(0, (i, m) => 0);
        Assert.Equal(new long[] { 0 }, s.ReadAll(10).Reads);
    }

    [Fact]
    public void ReadsOfAnySizeReassembleTheSameText()
    {
        var expected = new StringBuilder();
        for (int i = 0; i < 7; i++) expected.Append(new string((char)('a' + i), 10 + 37 * i));
        foreach (int rs in new[] { 1, 3, 64, 100, 4096, 100000 })
        {
            var s = new BpfIterSession(7, (i, m) => { SeqHelpers.SeqWrite(m, Line(i, 10 + 37 * (int)i, (char)('a' + i))); return 0; });
            var r = s.ReadAll(rs);
            Assert.Equal(expected.ToString(), Encoding.ASCII.GetString(r.Text));
            Assert.Equal(0, r.Reads[^1]);
            Assert.All(r.Reads.Take(r.Reads.Count - 1), n => Assert.InRange(n, 1, rs));
        }
    }

    [Fact]
    public void AcceptanceFourHundredLinesOf100BytesOverflowAndReadIsE2Big()
    {
        // Issue acceptance case at kernel level (with seq_write standing in for 100-byte seq_printf lines).
        var rec = new RecordedBpfIter();
        var line = new byte[100];
        line.AsSpan().Fill((byte)'x');
        line[99] = (byte)'\n';
        var handles = new List<int>();
        for (int k = 0; k < 400; k++) handles.Add(rec.AddStep(m => SeqHelpers.SeqWrite(m, line)));
        rec.EndObject(0);
        var r = rec.Read(4096);
        Assert.Equal(new long[] { -7 }, r.Reads);
        // 327 lines fit (32700 < 32768); the 328th would make 32800: it and all later get -EOVERFLOW.
        for (int k = 0; k < 400; k++)
            Assert.Equal(k < 327 ? 0 : -Errno.EOVERFLOW, rec.FirstRunReturn(handles[k]));
    }

    [Fact]
    public void RecordedReportsFirstRunNotRerun()
    {
        var rec = new RecordedBpfIter();
        int h0 = rec.AddStep(m => SeqHelpers.SeqWrite(m, new byte[20000]));
        rec.EndObject();
        int h1 = rec.AddStep(m => SeqHelpers.SeqWrite(m, new byte[20000]));
        rec.EndObject();
        Assert.Null(rec.FirstRunReturn(h0));
        var r = rec.Read(65536);
        Assert.Equal(new long[] { 20000, 20000, 0 }, r.Reads);
        Assert.Equal(0, rec.FirstRunReturn(h0));
        Assert.Equal(-Errno.EOVERFLOW, rec.FirstRunReturn(h1));
    }

    [Fact]
    public void RecordedProgRetNonZeroFirstIsEAGAIN()
    {
        var rec = new RecordedBpfIter();
        rec.AddStep(m => SeqHelpers.SeqWrite(m, "x"u8));
        rec.EndObject(1);
        Assert.Equal(new long[] { -Errno.EAGAIN }, rec.Read(4096).Reads);
    }

    [Fact]
    public void ConfigurableSeqSize()
    {
        var rec = new RecordedBpfIter(seqSize: 64);
        int h = rec.AddStep(m => SeqHelpers.SeqWrite(m, new byte[63]));
        int h2 = rec.AddStep(m => SeqHelpers.SeqWrite(m, "z"u8));
        rec.EndObject();
        Assert.Equal(new long[] { -Errno.E2BIG }, rec.Read().Reads);
        Assert.Equal(0, rec.FirstRunReturn(h));
        Assert.Equal(-Errno.EOVERFLOW, rec.FirstRunReturn(h2));
    }
}

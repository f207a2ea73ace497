using System.Text;
using BpfTraceSim.Kernel.Btf;
using BpfTraceSim.Kernel.Printk;
using BpfTraceSim.Kernel.Seq;

namespace BpfTraceSim.Kernel.Tests.Seq;

public class SeqPrintfTests
{
    private static readonly PrintkWorld World = new(new SimMemory(), new Kallsyms(), 1);
    private static PrintkCpu Cpu => World.Cpu(0);
    private static byte[] Z(string s) => Encoding.ASCII.GetBytes(s + "\0");
    private static byte[] Args(params ulong[] a) => a.SelectMany(BitConverter.GetBytes).ToArray();

    [Fact]
    public void FormatsIntoTheSeqBuffer()
    {
        var m = new SeqFile();
        Assert.Equal(0, SeqHelpers.SeqPrintf(m, Cpu, World, Z("pid=%d x=%x\n"), Args(100, 255), false));
        Assert.Equal("pid=100 x=ff\n", Encoding.ASCII.GetString(m.Buffer));
        Assert.Equal(0, Cpu.NestLevel);
    }

    [Fact]
    public void StrictRuleAtSizeMinusOne()
    {
        var m = new SeqFile(8);
        Assert.Equal(0, SeqHelpers.SeqPrintf(m, Cpu, World, Z("1234567"), default, false)); // 7 < 8
        var m2 = new SeqFile(8);
        Assert.Equal(-Errno.EOVERFLOW, SeqHelpers.SeqPrintf(m2, Cpu, World, Z("12345678"), default, false));
        Assert.Equal(8, m2.Count);
    }

    [Fact]
    public void ArgumentChecksComeFirstEvenAfterOverflow()
    {
        var m = new SeqFile(4);
        Assert.Equal(-Errno.EOVERFLOW, SeqHelpers.SeqPrintf(m, Cpu, World, Z("long text"), default, false));
        Assert.Equal(-Errno.EINVAL, SeqHelpers.SeqPrintf(m, Cpu, World, Z("%d"), new byte[7], false));   // data_len % 8
        Assert.Equal(-Errno.EINVAL, SeqHelpers.SeqPrintf(m, Cpu, World, Z("%d"), new byte[104], false)); // > 96
        Assert.Equal(-Errno.EINVAL, SeqHelpers.SeqPrintf(m, Cpu, World, Z("%d %d"), Args(1), false));    // too few args
        Assert.Equal(-Errno.EINVAL, SeqHelpers.SeqPrintf(m, Cpu, World, Z("%n"), Args(1), false));       // bad conversion
        Assert.Equal(-Errno.EINVAL, SeqHelpers.SeqPrintf(m, Cpu, World, Encoding.ASCII.GetBytes("no nul"), default, false));
        Assert.Equal(-Errno.EOVERFLOW, SeqHelpers.SeqPrintf(m, Cpu, World, Z(""), default, false));      // valid: overflowed still
    }

    [Fact]
    public void OverflowFromWritePersistsIntoPrintf()
    {
        var m = new SeqFile(8);
        Assert.Equal(-Errno.EOVERFLOW, SeqHelpers.SeqWrite(m, new byte[8]));
        Assert.Equal(-Errno.EOVERFLOW, SeqHelpers.SeqPrintf(m, Cpu, World, Z("a"), default, false));
    }

    [Fact]
    public void AcceptanceFourHundredSeqPrintfLinesOf100Bytes()
    {
        var rec = new RecordedBpfIter();
        byte[] fmt = Z("%099d\n"); // 99 digits + newline = 100 bytes
        var handles = new List<int>();
        for (int k = 0; k < 400; k++)
        {
            ulong v = (ulong)k;
            handles.Add(rec.AddStep(m => SeqHelpers.SeqPrintf(m, Cpu, World, fmt, Args(v), false)));
        }
        rec.EndObject(0);
        var r = rec.Read(4096);
        Assert.Equal(new long[] { -7 }, r.Reads);
        int ok = 0;
        for (int k = 0; k < 400; k++)
        {
            long ret = rec.FirstRunReturn(handles[k])!.Value;
            if (ret == 0) ok++;
            Assert.Equal(k < 327 ? 0 : -Errno.EOVERFLOW, ret); // 327 * 100 = 32700 < 32768; 32800 is not
        }
        Assert.Equal(327, ok);
    }

    [Fact]
    public void PrintfBtfUsesTheWorldHash()
    {
        var btf = VmlinuxBtf.Create();
        Assert.True(btf.TryFind("struct list_head", out uint id));
        ulong target = 0xffff_8880_0012_3450UL;
        ulong addr = World.Memory.Map(AddressSpace.Kernel, BitConverter.GetBytes(target).Concat(new byte[8]).ToArray());
        var m = new SeqFile();
        Assert.Equal(0, SeqHelpers.SeqPrintfBtf(m, btf, World, new BtfPtr(addr, id), 16, BpfFlags.BTF_F_COMPACT));
        string expected = $"(struct list_head){{.next = (struct list_head *)0x{(ulong)World.HashPointer(target):x16},}}";
        Assert.Equal(expected, Encoding.ASCII.GetString(m.Buffer));
    }
}

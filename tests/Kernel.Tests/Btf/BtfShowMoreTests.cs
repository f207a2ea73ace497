using System.Text;
using System.Text.Json;
using BpfTraceSim.Kernel.Btf;
using BpfTraceSim.Kernel.Seq;

namespace BpfTraceSim.Kernel.Tests.Btf;

public class BtfShowLayoutTests
{
    private const ulong C = BpfFlags.BTF_F_COMPACT, N = BpfFlags.BTF_F_NONAME, Z = BpfFlags.BTF_F_ZERO;

    [Fact]
    public void NonCompactTopLevelIntEndsWithNewline() =>
        Assert.Equal("(int)1234\n", BtfTestUtil.Show("int", BtfTestUtil.I32(1234), 0));

    [Fact]
    public void NonCompactStructIndentsOneSpacePerDepth() =>
        Assert.Equal("(struct btf_enum){\n .name_off = (__u32)3,\n .val = (__s32)-1,\n}\n",
            BtfTestUtil.Show("struct btf_enum", BtfTestUtil.I32(3, -1), 0));

    [Fact]
    public void NonCompactNestedStructAndArray()
    {
        var v = new byte[192];
        BitConverter.GetBytes(7u).CopyTo(v, 0);     // len
        BitConverter.GetBytes(9u).CopyTo(v, 52);    // cb[1]
        Assert.Equal("(struct __sk_buff){\n .len = (__u32)7,\n .cb = (__u32[])[\n  9,\n ],\n}\n",
            BtfTestUtil.Show("struct __sk_buff", v, 0));
    }

    [Fact]
    public void NestedTypedefStructIsSkippedWhenZeroAndShownWithZero()
    {
        // task_struct.usage is refcount_t { atomic_t refs { int counter } }.
        var v = new byte[80]; // sizeof(struct task_struct) in the simulated vmlinux
        Assert.Equal("(struct task_struct){}", BtfTestUtil.Show("struct task_struct", v, C));
        BitConverter.GetBytes(2).CopyTo(v, 40);
        Assert.Equal("(struct task_struct){.usage = (refcount_t){.refs = (atomic_t){.counter = (int)2,},},}",
            BtfTestUtil.Show("struct task_struct", v, C));
    }

    [Fact]
    public void CharArrayNonPrintableAndLeadingNul()
    {
        var v = new byte[232];
        new byte[] { 1, 2, 3 }.CopyTo(v, 64);
        Assert.Equal("(struct bpf_prog_info){.name = (char[])[1,2,3,],}", BtfTestUtil.Show("struct bpf_prog_info", v, C));
        var w = new byte[232];
        w[65] = (byte)'x'; // name[0] is NUL: the member is hidden
        Assert.Equal("(struct bpf_prog_info){}", BtfTestUtil.Show("struct bpf_prog_info", w, C));
    }

    [Fact]
    public void U8ArrayPrintsAsCharsWhenPrintable()
    {
        var v = new byte[232];
        v[8] = (byte)'A';
        v[9] = 200; // Latin-1 printable in the kernel's ctype: shown as the raw byte
        v[10] = 0x85; // control in Latin-1: shown as a number
        Assert.Equal("(struct bpf_prog_info){.tag = (__u8[])['A','\u00c8',133,],}", BtfTestUtil.Show("struct bpf_prog_info", v, C));
    }

    [Fact]
    public void EnumMemberMatchingZeroIsShownWithoutZeroFlag()
    {
        var btf = VmlinuxBtf.Create();
        var types = JsonDocument.Parse("""{ "struct holder": { "kind": "struct", "size": 8, "members": [ { "name": "cmd", "type": "enum bpf_cmd" }, { "name": "n", "type": "int", "offset_bits": 32 } ] } }""");
        BtfJson.AddTypes(btf, types.RootElement);
        Assert.Equal("(struct holder){.cmd = (enum bpf_cmd)BPF_MAP_CREATE,}", BtfTestUtil.Show("struct holder", new byte[8], C, btf));
    }

    [Fact]
    public void UnionMembersAreCommaSeparated()
    {
        // btf_show_delim says "|" only while state.type is the union, but each member's show sets
        // state.type to the member's own type, so values get ",".
        var btf = VmlinuxBtf.Create();
        BtfJson.AddTypes(btf, JsonDocument.Parse("""{ "union u": { "kind": "union", "size": 4, "members": [ { "name": "a", "type": "int" }, { "name": "b", "type": "__u32" } ] } }""").RootElement);
        Assert.Equal("(union u){.a = (int)-1,.b = (__u32)4294967295,}", BtfTestUtil.Show("union u", BtfTestUtil.I32(-1), C, btf));
        Assert.Equal("(union u){\n .a = (int)-1,\n .b = (__u32)4294967295,\n}\n", BtfTestUtil.Show("union u", BtfTestUtil.I32(-1), 0, btf));
    }

    [Fact]
    public void PointerHashedByDefaultNullHidden()
    {
        ulong p = 0xffff_8880_dead_0000UL;
        string s = BtfTestUtil.Show("struct list_head", BtfTestUtil.U64(p, 0), C);
        Assert.Equal($"(struct list_head){{.next = (struct list_head *)0x{BtfTestUtil.Hash(p):x16},}}", s);
        Assert.Equal("(struct list_head *)0x0000000000000000", BtfTestUtil.Show("struct list_head *", BtfTestUtil.U64(0), C));
    }

    [Fact]
    public void LongNamesAreCutAt79Characters()
    {
        var btf = VmlinuxBtf.Create();
        string member = new('m', 90);
        BtfJson.AddTypes(btf, JsonDocument.Parse($$"""{ "struct big": { "kind": "struct", "size": 4, "members": [ { "name": "{{member}}", "type": "int" } ] } }""").RootElement);
        string expectedName = ("." + member + " = (int)")[..79];
        Assert.Equal("(struct big){" + expectedName + "5,}", BtfTestUtil.Show("struct big", BtfTestUtil.I32(5), C, btf));
    }

    [Fact]
    public void OutputGoesToTheSeqFileUnderTheOverflowRule()
    {
        var btf = VmlinuxBtf.Create();
        var mem = new SimMemory();
        ulong addr = mem.Map(AddressSpace.Kernel, BtfTestUtil.I32(3, -1));
        Assert.True(btf.TryFind("struct btf_enum", out uint id));
        var m = new SeqFile(20);
        // The helper returns the show status: 0 although the 56-byte text overflowed the seq file.
        Assert.Equal(0, SeqHelpers.SeqPrintfBtf(m, btf, mem, new BtfPtr(addr, id), 16, C, BtfTestUtil.Hash));
        Assert.True(m.HasOverflowed);
        Assert.Equal(-Errno.EOVERFLOW, SeqHelpers.SeqWrite(m, ReadOnlySpan<byte>.Empty));
    }
}

public class BtfPtrCheckTests
{
    private static readonly global::BpfTraceSim.Kernel.Btf.Btf B = VmlinuxBtf.Create();

    private static long Call(ulong ptr, uint typeId, uint size, ulong flags, SimMemory? mem = null) =>
        SeqHelpers.SeqPrintfBtf(new SeqFile(), B, mem ?? new SimMemory(), new BtfPtr(ptr, typeId), size, flags, BtfTestUtil.Hash);

    [Fact]
    public void ChecksInKernelOrder()
    {
        // Bad flags win over a bad size, a bad size over type id 0, id 0 over an unknown id.
        Assert.Equal(-Errno.EINVAL, Call(0, 99999, 8, 0x10));
        Assert.Equal(-Errno.EINVAL, Call(0, 0, 8, 0));
        Assert.Equal(-Errno.EINVAL, Call(0, 0, 16, 0));
        Assert.Equal(-Errno.ENOENT, Call(0, 99999, 16, 0));
        Assert.Equal(-Errno.ENOENT, Call(0, 0x8000_0001, 16, 0));
        Assert.Equal(-Errno.EINVAL, Call(0, 1, 17, 0xf));
    }

    [Fact]
    public void UnreadableObjectPointers()
    {
        uint id = BtfTestUtil.Id(B, "int");
        Assert.Equal(-BtfShow.ERANGE, Call(0, id, 16, 0));                        // NULL: a user address
        Assert.Equal(-BtfShow.ERANGE, Call(SimMemory.BadAddress, id, 16, 0));     // non-canonical
        Assert.Equal(-BtfShow.ERANGE, Call(SimMemory.UserBase, id, 16, 0));       // user memory
        Assert.Equal(-Errno.EFAULT, Call(0xffff_c900_0000_0000UL, id, 16, 0));   // unmapped kernel
        var mem = new SimMemory();
        ulong a = mem.Map(AddressSpace.Kernel, BtfTestUtil.I32(42));
        Assert.Equal(0, Call(a, id, 16, 0, mem));
    }

    [Fact]
    public void AllFourFlagBitsAccepted()
    {
        var mem = new SimMemory();
        ulong a = mem.Map(AddressSpace.Kernel, BtfTestUtil.I32(42));
        Assert.Equal(0, Call(a, BtfTestUtil.Id(B, "int"), 16, 0xf, mem));
    }
}

public class BtfJsonTests
{
    private static string Err(string json)
    {
        var btf = VmlinuxBtf.Create();
        var ex = Assert.Throws<BtfJsonException>(() => BtfJson.AddTypes(btf, JsonDocument.Parse(json).RootElement));
        return ex.Message;
    }

    [Fact]
    public void ParsesAllKindsWithForwardReferences()
    {
        var btf = VmlinuxBtf.Create();
        BtfJson.AddTypes(btf, JsonDocument.Parse("""
        {
          "struct node": { "kind": "struct", "size": 24, "members": [
              { "name": "next", "type": "pnode" },
              { "name": "kind", "type": "enum color", "offset_bits": 64 },
              { "name": "lo", "type": "my_u8", "offset_bits": 96, "bitfield_bits": 3 },
              { "name": "hi", "type": "my_u8", "offset_bits": 99, "bitfield_bits": 5 },
              { "name": "tag", "type": "tag_t", "offset_bits": 128 } ] },
          "pnode": { "kind": "ptr", "type": "struct node" },
          "enum color": { "kind": "enum", "size": 4, "values": { "RED": 0, "BLUE": "0x10" } },
          "my_u8": { "kind": "int", "size": 1 },
          "tag_t": { "kind": "array", "type": "char", "len": 8 },
          "cint": { "kind": "const", "type": "int" },
          "vint": { "kind": "volatile", "type": "cint" }
        }
        """).RootElement);
        uint id = BtfTestUtil.Id(btf, "struct node");
        var bytes = BtfJson.EncodeValue(btf, id, JsonDocument.Parse("""{ "next": "0x1", "kind": "BLUE", "lo": 5, "hi": 17, "tag": "ab" }""").RootElement);
        Assert.Equal(24, bytes.Length);
        Assert.Equal(16, BitConverter.ToInt32(bytes, 8));
        Assert.Equal((byte)(5 | (17 << 3)), bytes[12]);
        var sink = new CollectSink();
        Assert.Equal(0, BtfShow.ShowValue(btf, id, bytes, BpfFlags.BTF_F_COMPACT | BpfFlags.BTF_F_PTR_RAW, BtfTestUtil.Hash, sink));
        Assert.Equal("(struct node){.next = (struct node *)0x0000000000000001,.kind = (enum color)BLUE,.lo = (my_u8)0x5,.hi = (my_u8)0x11,.tag = (char[])['a','b',],}", sink.Text);
    }

    [Fact]
    public void ErrorsNameTheMember()
    {
        Assert.Contains("btf_types[\"struct s\"].members[1] ('b').type: unknown type 'nope'",
            Err("""{ "struct s": { "kind": "struct", "size": 8, "members": [ { "name": "a", "type": "int" }, { "name": "b", "type": "nope", "offset_bits": 32 } ] } }"""));
        Assert.Contains("members[0] ('a'): member exceeds the 2-byte struct",
            Err("""{ "struct s": { "kind": "struct", "size": 2, "members": [ { "name": "a", "type": "int" } ] } }"""));
        Assert.Contains("members[0] ('a').offset_bits: a member that is not a bitfield must be byte aligned",
            Err("""{ "struct s": { "kind": "struct", "size": 8, "members": [ { "name": "a", "type": "int", "offset_bits": 3 } ] } }"""));
        Assert.Contains("btf_types[\"x\"].kind: unknown kind 'float'", Err("""{ "x": { "kind": "float", "size": 4 } }"""));
        Assert.Contains("btf_types[\"x\"].size: an int is 1, 2, 4, 8 or 16 bytes", Err("""{ "x": { "kind": "int", "size": 3 } }"""));
        Assert.Contains("type 'int' is already defined", Err("""{ "int": { "kind": "int", "size": 4 } }"""));
        Assert.Contains("btf_types[\"e\"].values", Err("""{ "e": { "kind": "enum", "size": 4 } }"""));
        Assert.Contains("union members start at bit 0",
            Err("""{ "union u": { "kind": "union", "size": 8, "members": [ { "name": "a", "type": "int", "offset_bits": 32 } ] } }"""));
    }

    [Fact]
    public void ValueErrorsNameTheMember()
    {
        var btf = VmlinuxBtf.Create();
        uint id = BtfTestUtil.Id(btf, "struct bpf_insn");
        var ex = Assert.Throws<BtfJsonException>(() => BtfJson.EncodeValue(btf, id, JsonDocument.Parse("""{ "dst_reg": 16 }""").RootElement));
        Assert.Equal("value.dst_reg", ex.Path);
        ex = Assert.Throws<BtfJsonException>(() => BtfJson.EncodeValue(btf, id, JsonDocument.Parse("""{ "bogus": 1 }""").RootElement));
        Assert.Equal("value.bogus", ex.Path);
        uint info = BtfTestUtil.Id(btf, "struct bpf_prog_info");
        ex = Assert.Throws<BtfJsonException>(() => BtfJson.EncodeValue(btf, info, JsonDocument.Parse("""{ "name": "this name is far too long" }""").RootElement));
        Assert.Equal("value.name", ex.Path);
    }

    [Fact]
    public void EncodedValueMatchesTableRow()
    {
        var btf = VmlinuxBtf.Create();
        uint id = BtfTestUtil.Id(btf, "struct bpf_insn");
        var bytes = BtfJson.EncodeValue(btf, id, JsonDocument.Parse("""{ "code": 1, "dst_reg": 2, "src_reg": 3, "off": 4, "imm": 5 }""").RootElement);
        Assert.Equal(new byte[] { 1, 0x32, 4, 0, 5, 0, 0, 0 }, bytes);
    }
}

public class SnprintfBtfTests
{
    private const ulong C = BpfFlags.BTF_F_COMPACT;
    private const string Full = "(struct btf_enum){.name_off = (__u32)3,.val = (__s32)-1,}";

    private static (long Ret, byte[] Buf) Call(int size)
    {
        var btf = VmlinuxBtf.Create();
        var mem = new SimMemory();
        ulong addr = mem.Map(AddressSpace.Kernel, BtfTestUtil.I32(3, -1));
        Assert.True(btf.TryFind("struct btf_enum", out uint id));
        var buf = Enumerable.Repeat((byte)0xaa, size + 4).ToArray();
        long ret = BtfHelpers.SnprintfBtf(buf.AsSpan(0, size), btf, mem, new BtfPtr(addr, id), 16, C, BtfTestUtil.Hash);
        return (ret, buf);
    }

    [Fact]
    public void Returns_the_whole_length_and_writes_the_text_with_its_nul()
    {
        var (ret, buf) = Call(64);
        Assert.Equal(Full.Length, ret);
        Assert.Equal(Full + "\0", Encoding.ASCII.GetString(buf, 0, Full.Length + 1));
        Assert.All(buf[(Full.Length + 1)..], b => Assert.Equal(0xaa, b)); // nothing past the NUL
    }

    [Theory]
    [InlineData(20)]
    [InlineData(1)]
    public void A_short_buffer_holds_a_nul_terminated_prefix_and_the_return_is_still_the_whole_length(int size)
    {
        var (ret, buf) = Call(size);
        Assert.Equal(Full.Length, ret);
        int nul = Array.IndexOf(buf, (byte)0);
        Assert.Equal(size - 1, nul); // the first chunk that does not fit is cut to the space left
        Assert.StartsWith(Encoding.ASCII.GetString(buf, 0, nul), Full);
        Assert.All(buf[size..], b => Assert.Equal(0xaa, b));
    }

    [Fact]
    public void No_buffer_writes_nothing_and_checks_come_first()
    {
        var (ret, buf) = Call(0);
        Assert.Equal(Full.Length, ret);
        Assert.All(buf, b => Assert.Equal(0xaa, b));
        var btf = VmlinuxBtf.Create();
        Assert.Equal(-Errno.EINVAL, BtfHelpers.SnprintfBtf(new byte[8], btf, new SimMemory(), new BtfPtr(0, 1), 8, 0, BtfTestUtil.Hash));
        Assert.True(btf.TryFind("struct btf_enum", out uint id));
        Assert.Equal(-BtfShow.ERANGE, BtfHelpers.SnprintfBtf(new byte[8], btf, new SimMemory(), new BtfPtr(0, id), 16, C, BtfTestUtil.Hash));
    }
}

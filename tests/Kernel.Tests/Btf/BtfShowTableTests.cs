using System.Text;
using BpfTraceSim.Kernel.Btf;

namespace BpfTraceSim.Kernel.Tests.Btf;

/// <summary>Helpers shared by the BTF tests: print a value through BtfShow into a string.</summary>
internal sealed class CollectSink : IBtfShowSink
{
    public readonly List<byte> Bytes = new();
    public int Chunks;
    public void Show(ReadOnlySpan<byte> chunk)
    {
        Chunks++;
        foreach (var b in chunk) Bytes.Add(b);
    }
    public string Text => Encoding.Latin1.GetString(Bytes.ToArray());
}

internal static class BtfTestUtil
{
    // A stand-in for the printk engine's per-boot hash: visibly different from the raw value.
    public static ulong Hash(ulong p) => (p * 0x9E3779B97F4A7C15UL >> 32) & 0xffffffff;

    public static uint Id(global::BpfTraceSim.Kernel.Btf.Btf btf, string name)
    {
        Assert.True(btf.TryFind(name, out uint id), $"type {name} not found");
        return id;
    }

    public static string Show(string type, byte[] value, ulong flags, global::BpfTraceSim.Kernel.Btf.Btf? btf = null)
    {
        btf ??= VmlinuxBtf.Create();
        var sink = new CollectSink();
        int st = BtfShow.ShowValue(btf, Id(btf, type), value, flags, Hash, sink);
        Assert.Equal(0, st);
        return sink.Text;
    }

    public static byte[] I32(params int[] v) => v.SelectMany(BitConverter.GetBytes).ToArray();
    public static byte[] U64(params ulong[] v) => v.SelectMany(BitConverter.GetBytes).ToArray();
}

/// <summary>Every rendering of docs/kernel-semantics.md §9's table (the kernel's own BTF printing test), to the character.</summary>
public class BtfShowTableTests
{
    private const ulong C = BpfFlags.BTF_F_COMPACT, N = BpfFlags.BTF_F_NONAME, Z = BpfFlags.BTF_F_ZERO, R = BpfFlags.BTF_F_PTR_RAW;

    [Theory]
    [InlineData(1234, 0UL, "(int)1234")]
    [InlineData(-4567, 0UL, "(int)-4567")]
    [InlineData(0, 0UL, "(int)0")]
    [InlineData(1234, N, "1234")]
    [InlineData(0, N, "0")]
    public void Int(int v, ulong flags, string expected) =>
        Assert.Equal(expected, BtfTestUtil.Show("int", BtfTestUtil.I32(v), C | flags));

    [Theory]
    [InlineData(0UL, "(char)100")]
    [InlineData(N, "100")]
    public void Char(ulong flags, string expected) =>
        Assert.Equal(expected, BtfTestUtil.Show("char", new byte[] { 100 }, C | flags));

    [Fact]
    public void TypedefsShowTheirOwnName()
    {
        Assert.Equal("(uint64_t)100", BtfTestUtil.Show("uint64_t", BtfTestUtil.U64(100), C));
        Assert.Equal("(u64)0", BtfTestUtil.Show("u64", BtfTestUtil.U64(0), C));
    }

    [Theory]
    [InlineData(1, 0UL, "(atomic_t){.counter = (int)1,}")]
    [InlineData(1, N, "{1,}")]
    [InlineData(0, 0UL, "(atomic_t){}")]
    [InlineData(0, N, "{}")]
    [InlineData(0, Z, "(atomic_t){.counter = (int)0,}")]
    [InlineData(0, N | Z, "{0,}")]
    public void Atomic(int counter, ulong flags, string expected) =>
        Assert.Equal(expected, BtfTestUtil.Show("atomic_t", BtfTestUtil.I32(counter), C | flags));

    [Theory]
    [InlineData(0, "(enum bpf_cmd)BPF_MAP_CREATE")]
    [InlineData(2000, "(enum bpf_cmd)2000")]
    public void Enum(int v, string expected) =>
        Assert.Equal(expected, BtfTestUtil.Show("enum bpf_cmd", BtfTestUtil.I32(v), C));

    [Theory]
    [InlineData(3, -1, 0UL, "(struct btf_enum){.name_off = (__u32)3,.val = (__s32)-1,}")]
    [InlineData(3, -1, N, "{3,-1,}")]
    [InlineData(0, -1, N, "{-1,}")]
    [InlineData(0, -1, N | Z, "{0,-1,}")]
    [InlineData(0, 0, 0UL, "(struct btf_enum){}")]
    [InlineData(0, 0, Z, "(struct btf_enum){.name_off = (__u32)0,.val = (__s32)0,}")]
    public void StructBtfEnum(int nameOff, int val, ulong flags, string expected) =>
        Assert.Equal(expected, BtfTestUtil.Show("struct btf_enum", BtfTestUtil.I32(nameOff, val), C | flags));

    [Fact]
    public void ListHeadPtrRaw()
    {
        Assert.Equal("(struct list_head){.next = (struct list_head *)0x0000000000000001,}",
            BtfTestUtil.Show("struct list_head", BtfTestUtil.U64(1, 0), C | R));
        Assert.Equal("(struct list_head){}", BtfTestUtil.Show("struct list_head", BtfTestUtil.U64(0, 0), C | R));
    }

    [Fact]
    public void BpfProgInfoName()
    {
        var v = new byte[232];
        "foo"u8.CopyTo(v.AsSpan(64));
        Assert.Equal("(struct bpf_prog_info){.name = (char[])['f','o','o',],}", BtfTestUtil.Show("struct bpf_prog_info", v, C));
        Assert.Equal("{['f','o','o',],}", BtfTestUtil.Show("struct bpf_prog_info", v, C | N));
    }

    [Fact]
    public void SkBuffCb()
    {
        var v = new byte[192];
        for (int i = 0; i < 5; i++) BitConverter.GetBytes((uint)(i + 1)).CopyTo(v, 48 + 4 * i);
        Assert.Equal("(struct __sk_buff){.cb = (__u32[])[1,2,3,4,5,],}", BtfTestUtil.Show("struct __sk_buff", v, C));
    }

    [Fact]
    public void BpfInsnBitfields()
    {
        // code=1, dst_reg=2 (low nibble), src_reg=3 (high nibble), off=4, imm=5
        byte[] v = { 1, 0x32, 4, 0, 5, 0, 0, 0 };
        Assert.Equal("(struct bpf_insn){.code = (__u8)1,.dst_reg = (__u8)0x2,.src_reg = (__u8)0x3,.off = (__s16)4,.imm = (__s32)5,}",
            BtfTestUtil.Show("struct bpf_insn", v, C));
        Assert.Equal("{1,0x2,0x3,4,5,}", BtfTestUtil.Show("struct bpf_insn", v, C | N));
    }
}

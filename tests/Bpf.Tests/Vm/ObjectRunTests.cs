using BpfTraceSim.Bpf.Loader;
using BpfTraceSim.Bpf.Vm;
using static BpfTraceSim.Bpf.Tests.TestObjects;

namespace BpfTraceSim.Bpf.Tests.Vm;

/// <summary>Runs the committed clang-built objects; expectations are recomputed here from the C source.</summary>
public class ObjectRunTests
{
    internal static long LoopExpected()
    {
        ulong x = 0x9e3779b97f4a7c15UL, acc = 0;
        uint h = 2166136261u;
        for (int i = 0; i < 10000; i++)
        {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            h = (h ^ (uint)x) * 16777619u;
            acc += (x & 0xff) + (h >> 3);
            if ((acc & 1) != 0) acc -= (ulong)(long)i;
        }
        return (uint)(acc ^ h);
    }

    // 4 before the loop (ld_imm64 counts once), 24 per iteration, the back jump 9999 times, 2 after.
    internal const ulong LoopInsns = 4 + 10000 * 24 + 9999 + 2;

    [Fact]
    public void Loop_program_result_and_exact_instruction_count()
    {
        var vm = MakeVm(Load("loop.bpf.o"));
        var r = vm.Run([], Ctx);
        Assert.Null(r.Fault);
        Assert.Equal(LoopExpected(), r.Ret);
        Assert.Equal(LoopInsns, r.Instructions);
        Assert.Empty(r.Helpers);
    }

    [Fact]
    public void Loop_program_compiled_gives_same_result_and_count()
    {
        var vm = MakeVm(Load("loop.bpf.o"));
        var r = vm.RunCompiled([], Ctx);
        Assert.Null(r.Fault);
        Assert.Equal(LoopExpected(), r.Ret);
        Assert.Equal(LoopInsns, r.Instructions);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Globals_maps_and_bpf_to_bpf_calls(bool compiled)
    {
        var vm = MakeVm(Load("globals.bpf.o"), "raw_tp/globals");
        var inst = vm.Instance;
        var r = compiled ? vm.RunCompiled([], Ctx) : vm.Run([], Ctx);
        Assert.Null(r.Fault);
        // counter 100 -> 101; twice(101) = 101*3 + 101 + 1 = 405; ret = 405 + 'a'
        Assert.Equal(405 + 'a', r.Ret);
        Assert.Equal(BitConverter.GetBytes(101UL), inst.GetGlobal("counter"));
        Assert.Equal(BitConverter.GetBytes(405UL), inst.GetGlobal("last_value"));
        Assert.Equal(BitConverter.GetBytes(405UL), inst.Map("arr").ValueAt(1).ToArray());
        Assert.Equal(BitConverter.GetBytes(8UL), inst.Map("hmap").HashValue(BitConverter.GetBytes(1u)).ToArray());
        Assert.Equal(BitConverter.GetBytes(2UL), inst.Map("pcpu").ValueAt(0).ToArray());
        Assert.Equal(new[] { (1, "bpf_map_lookup_elem"), (2, "bpf_map_update_elem"), (1, "bpf_map_lookup_elem"), (1, "bpf_map_lookup_elem") },
            r.Helpers.Select(h => (h.Id, h.Name)).ToArray());
        Assert.Equal(0, r.Helpers[1].Ret);
    }

    [Fact]
    public void Set_global_by_btf_name_changes_what_the_program_computes()
    {
        var vm = MakeVm(Load("globals.bpf.o"), "raw_tp/globals");
        vm.Instance.SetGlobal("scale", BitConverter.GetBytes(5u));
        vm.Instance.SetGlobal("tag", "b"u8);
        var r = vm.Run([], Ctx);
        // twice(101) with scale 5 = 101*5 + 101 + 1 = 607; 'b' = 98
        Assert.Equal(607 + 98, r.Ret);
        Assert.Equal(new byte[] { (byte)'b', (byte)'b', (byte)'c', 0, 0, 0, 0, 0 }, vm.Instance.GetGlobal("tag"));
    }

    [Fact]
    public void Set_global_at_offset_keeps_the_rest()
    {
        var vm = MakeVm(Load("globals.bpf.o"), "raw_tp/globals");
        vm.Instance.SetGlobal("ptrs", BitConverter.GetBytes(0x1122334455667788UL), offset: 8);
        Assert.Equal(new byte[8].Concat(BitConverter.GetBytes(0x1122334455667788UL)).ToArray(), vm.Instance.GetGlobal("ptrs"));
        Assert.Throws<ArgumentOutOfRangeException>(() => { vm.Instance.SetGlobal("ptrs", new byte[8], offset: 9); });
        Assert.Throws<KeyNotFoundException>(() => { vm.Instance.GetGlobal("nope"); });
    }

    [Fact]
    public void Text_program_reads_rodata()
    {
        var vm = MakeVm(Load("globals.bpf.o"), ".text", "text_prog");
        Assert.Equal(3, vm.Run([], Ctx).Ret);
        var vm2 = MakeVm(Load("globals.bpf.o"), "raw_tp/pair", "pair_b");
        Assert.Equal(2, vm2.Run([], Ctx).Ret);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Isa_v4_program_gives_c_semantics(bool compiled)
    {
        var vm = MakeVm(Load("isa_v4.bpf.o"), decodeOnly: true); // the verifier refuses its atomics on ctx (VerifierTests)
        long a = -1000003, b = -7;
        var ctx = new byte[48];
        BitConverter.TryWriteBytes(ctx.AsSpan(0), a);
        BitConverter.TryWriteBytes(ctx.AsSpan(8), b);
        ctx[16] = 0x80;                                            // c = -128
        BitConverter.TryWriteBytes(ctx.AsSpan(18), (short)-2);     // d
        BitConverter.TryWriteBytes(ctx.AsSpan(20), -3);            // e
        BitConverter.TryWriteBytes(ctx.AsSpan(32), 10UL);          // atom
        var r = compiled ? vm.RunCompiled(ctx, Ctx) : vm.Run(ctx, Ctx);
        Assert.Null(r.Fault);
        var res = vm.Instance.GetGlobal("res");
        ulong R(int k) => BitConverter.ToUInt64(res, k * 8);
        Assert.Equal((ulong)(a / b), R(0));
        Assert.Equal((ulong)(a % b), R(1));
        Assert.Equal(unchecked((ulong)-128L), R(2));
        Assert.Equal(unchecked((ulong)-2L), R(3));
        Assert.Equal(unchecked((ulong)-3L), R(4));
        Assert.Equal((ulong)(long)(sbyte)a, R(5));
        Assert.Equal((ulong)(long)(short)b, R(6));
        Assert.Equal(System.Buffers.Binary.BinaryPrimitives.ReverseEndianness((ulong)a), R(7));
        Assert.Equal(System.Buffers.Binary.BinaryPrimitives.ReverseEndianness((uint)b), R(8));
        Assert.Equal(System.Buffers.Binary.BinaryPrimitives.ReverseEndianness((ushort)a), R(9));
        Assert.Equal(10UL, R(10));              // fetch_add returned the old value; atom = 15, then |= 0x100 -> 0x10f
        Assert.Equal(0x10fUL, R(11));           // cmpxchg(0x10f -> 9) succeeded, returns old 0x10f
        Assert.Equal(9UL, R(12));               // xchg returns 9, leaves 77
        Assert.Equal(77UL, BitConverter.ToUInt64(ctx.Length == 48 ? CtxAfter(vm) : ctx, 32));
        uint x = (uint)a, y = (uint)b;
        Assert.Equal((ulong)(long)((int)x / (int)y), R(13));
        Assert.Equal((ulong)(x >> (int)(y & 31)) + (ulong)(a >> 3) + (((int)x < (int)y) ? 1UL : 0UL), R(14));
        Assert.Equal((ulong)(uint)(x * y + (x | y) - (x & y)), R(15));
        Assert.Equal((long)(uint)(R(0) + R(1)), r.Ret);
    }

    private static byte[] CtxAfter(BpfVm vm)
    {
        Assert.True(vm.TryGetSpan(vm.ContextAddress, vm.ContextLength, false, out var s));
        return s.ToArray();
    }
}

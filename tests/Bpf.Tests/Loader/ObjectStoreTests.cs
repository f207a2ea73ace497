using BpfTraceSim.Bpf.Loader;
using static BpfTraceSim.Bpf.Tests.TestObjects;

namespace BpfTraceSim.Bpf.Tests.Loader;

/// <summary>One parse per object per process (the exec parser's and the hosts' load are the same), and
/// init_globals as a copy that never leaks into the shared parse.</summary>
public class ObjectStoreTests
{
    private static byte[] Bytes(string name) => File.ReadAllBytes(Path_(name));

    [Fact]
    public void The_same_bytes_open_to_the_same_object_and_other_bytes_do_not()
    {
        var store = new BpfObjectStore(4);
        var a = store.Open(Bytes("globals.bpf.o"), "globals.bpf.o");
        Assert.Same(a, store.Open(Bytes("globals.bpf.o"), "globals.bpf.o"));
        Assert.NotSame(a, store.Open(Bytes("loop.bpf.o"), "loop.bpf.o"));
        // the name is in every message the object gives, so it is part of the key
        Assert.Equal("other.o", store.Open(Bytes("globals.bpf.o"), "other.o").Name);
    }

    [Fact]
    public void A_parse_is_per_kernel_btf_because_co_re_relocations_resolve_against_it()
    {
        var store = new BpfObjectStore(4);
        var plain = store.Open(Bytes("core.bpf.o"), "core.bpf.o");
        var world = store.Open(Bytes("core.bpf.o"), "core.bpf.o", "{\"types\": []}", BpfTraceSim.Kernel.Btf.VmlinuxBtf.Create);
        Assert.NotSame(plain, world);
        Assert.Same(world, store.Open(Bytes("core.bpf.o"), "core.bpf.o", "{\"types\": []}", BpfTraceSim.Kernel.Btf.VmlinuxBtf.Create));
        Assert.Same(plain, store.Open(Bytes("core.bpf.o"), "core.bpf.o", null, null));
    }

    [Fact]
    public void The_oldest_parse_goes_when_the_store_is_full()
    {
        var store = new BpfObjectStore(1);
        var a = store.Open(Bytes("globals.bpf.o"), "globals.bpf.o");
        store.Open(Bytes("loop.bpf.o"), "loop.bpf.o");
        Assert.NotSame(a, store.Open(Bytes("globals.bpf.o"), "globals.bpf.o"));
    }

    [Fact]
    public void A_refused_object_is_refused_on_every_open()
    {
        var store = new BpfObjectStore(4);
        var junk = new byte[] { 0x7f, (byte)'E', (byte)'L', (byte)'F', 1, 2, 3 };
        var first = Assert.ThrowsAny<BpfLoadException>(() => store.Open(junk, "junk.o"));
        var second = Assert.ThrowsAny<BpfLoadException>(() => store.Open(junk, "junk.o"));
        Assert.Equal(first.Message, second.Message);
    }

    [Fact]
    public void Init_globals_change_a_copy_and_leave_the_shared_parse_as_the_file_has_it()
    {
        var store = new BpfObjectStore(4);
        var shared = store.Open(Bytes("globals.bpf.o"), "globals.bpf.o");
        var scale = shared.FindGlobal("scale")!;
        byte[] before = (byte[])shared.Maps[scale.MapIndex].InitialValue!.Clone();

        var copy = shared.WithGlobals([new("scale", scale.IntegerBytes(7))]);

        Assert.NotSame(shared, copy);
        Assert.Equal(7u, BitConverter.ToUInt32(copy.Maps[scale.MapIndex].InitialValue!, scale.Offset));
        Assert.Equal(before, shared.Maps[scale.MapIndex].InitialValue);
        Assert.Equal(3u, BitConverter.ToUInt32(shared.Maps[scale.MapIndex].InitialValue!, scale.Offset));
        // the programs are the copy's own (the verifier's verdict reads the new bytes), the same instructions
        Assert.NotSame(shared.Programs[0], copy.Programs[0]);
        Assert.Same(shared.Programs[0].Insns, copy.Programs[0].Insns);
        Assert.Same(shared, shared.WithGlobals([]));
    }

    [Fact]
    public void Init_globals_naming_no_global_are_refused_with_the_name()
    {
        var shared = new BpfObjectStore(4).Open(Bytes("globals.bpf.o"), "globals.bpf.o");
        var e = Assert.Throws<BpfLoadException>(() => shared.WithGlobals([new("nope", [1])]));
        Assert.Equal("globals.bpf.o: no global variable \"nope\"", e.Message);
    }
}

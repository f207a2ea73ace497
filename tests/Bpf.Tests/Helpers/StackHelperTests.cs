using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using BpfTraceSim.Bpf.Loader;
using BpfTraceSim.Bpf.Vm;
using BpfTraceSim.Kernel;
using BpfTraceSim.Kernel.Printk;
using CsCheck;
using static BpfTraceSim.Bpf.Tests.TestObjects;
using static BpfTraceSim.Kernel.BpfFlags;

namespace BpfTraceSim.Bpf.Tests.Helpers;

/// <summary>
/// BPF_MAP_TYPE_STACK_TRACE and the stack helpers (kernel/bpf/stackmap.c): the alloc checks, the
/// jhash2 bucket, -EEXIST / REUSE_STACKID / -ENOMEM, skip, user-space copy / delete / next key,
/// bpf_get_stack's errno table and zeroing, and the clang-built stack.bpf.o in both VMs.
/// </summary>
public class StackHelperTests
{
    private const long EINVAL = -Errno.EINVAL, EFAULT = -Errno.EFAULT, EEXIST = -Errno.EEXIST, ENOMEM = -Errno.ENOMEM,
        ENOENT = -Errno.ENOENT, E2BIG = -Errno.E2BIG;

    // ---- jhash (include/linux/jhash.h is lookup3: Bob Jenkins' published hashlittle values) ----

    [Theory]
    [InlineData("", 0u, 0xdeadbeefu)]
    [InlineData("", 0xdeadbeefu, 0xbd5b7ddeu)]
    [InlineData("Four score and seven years ago", 0u, 0x17770551u)]
    [InlineData("Four score and seven years ago", 1u, 0xcd628161u)]
    public void Jhash_gives_lookup3s_published_values(string key, uint init, uint expected) =>
        Assert.Equal(expected, JHash.Jhash(Encoding.ASCII.GetBytes(key), init));

    [Fact]
    public void Jhash2_over_words_is_jhash_over_their_little_endian_bytes() =>
        Gen.UInt.Array[0, 40].Select(Gen.UInt).Sample((words, init) =>
            JHash.Jhash2(words, init) == JHash.Jhash(MemoryMarshal.AsBytes(words.AsSpan()), init));

    // ---- stack_map_alloc ----

    [Theory]
    [InlineData(4, 8, 1L, 0u, 0)]
    [InlineData(4, 127 * 8, 1L, 0u, 0)]
    [InlineData(4, 128 * 8, 1L, 0u, Errno.EINVAL)]   // deeper than sysctl_perf_event_max_stack
    [InlineData(8, 8, 1L, 0u, Errno.EINVAL)]         // key_size must be 4
    [InlineData(4, 4, 1L, 0u, Errno.EINVAL)]         // value below 8
    [InlineData(4, 12, 1L, 0u, Errno.EINVAL)]        // not a multiple of 8
    [InlineData(4, 8, 0L, 0u, Errno.EINVAL)]         // max_entries 0
    [InlineData(4, 8, 1L, 1u, Errno.EINVAL)]         // BPF_F_NO_PREALLOC is not a stack map flag
    [InlineData(4, 8, 1L, BPF_F_RDONLY | BPF_F_NUMA_NODE, 0)]
    [InlineData(4, 8, 1L, BPF_F_STACK_BUILD_ID, Errno.EINVAL)]      // build ids are 32 bytes
    [InlineData(4, 32, 1L, BPF_F_STACK_BUILD_ID, 0)]
    [InlineData(4, 128 * 32, 1L, BPF_F_STACK_BUILD_ID, Errno.EINVAL)]
    [InlineData(4, 8, (1L << 31) + 1, 0u, Errno.E2BIG)]
    [InlineData(8, 8, 0L, 1u, Errno.EINVAL)]                         // flags first, all -EINVAL
    public void Alloc_checks_in_the_kernels_order(int key, int value, long entries, uint flags, int err) =>
        Assert.Equal(err, BpfStackMap.CheckCreate(key, value, entries, flags));

    [Theory]
    [InlineData(1, 1)]
    [InlineData(3, 4)]
    [InlineData(4, 4)]
    [InlineData(5, 8)]
    [InlineData(1000, 1024)]
    public void Buckets_are_max_entries_rounded_up_to_a_power_of_two(int entries, int buckets) =>
        Assert.Equal(buckets, new BpfStackMap(8, entries, 0).NBuckets);

    // ---- bpf_get_stackid ----

    private static readonly ulong[] A = [0xffffffff81001234, 0xffffffff81005678, 0xffffffff8100abcd];
    private static readonly ulong[] B = [0xffffffff81002222, 0xffffffff81003333];

    private static uint Bucket(ReadOnlySpan<ulong> ips, int nBuckets) =>
        JHash.Jhash2(MemoryMarshal.Cast<ulong, uint>(ips), 0) & (uint)(nBuckets - 1);

    /// <summary>Two different stacks that fall in the same of nBuckets buckets.</summary>
    private static (ulong[] X, ulong[] Y) Colliding(int nBuckets)
    {
        var x = new ulong[] { 0xffffffff81000000 };
        for (ulong i = 1; ; i++)
        {
            var y = new ulong[] { 0xffffffff81000000 + i };
            if (Bucket(y, nBuckets) == Bucket(x, nBuckets)) return (x, y);
        }
    }

    [Fact]
    public void Id_is_jhash2_of_the_ips_as_u32_words_masked_to_the_buckets()
    {
        var m = new BpfStackMap(8 * 8, 100, 0);
        Assert.Equal(128, m.NBuckets);
        long id = m.GetStackid(A, 0);
        Assert.Equal(Bucket(A, 128), id);
        Assert.Equal(A, m.StackAt((uint)id).ToArray());
        Assert.Equal(id, m.GetStackid(A, 0)); // the same stack, the same id
    }

    [Fact]
    public void A_different_stack_in_a_taken_bucket_is_eexist_and_reuse_replaces_it()
    {
        var m = new BpfStackMap(8, 4, 0);
        var (x, y) = Colliding(4);
        long id = m.GetStackid(x, 0);
        Assert.Equal(EEXIST, m.GetStackid(y, 0));
        Assert.Equal(x, m.StackAt((uint)id).ToArray());
        Assert.Equal(id, m.GetStackid(y, BPF_F_REUSE_STACKID));
        Assert.Equal(y, m.StackAt((uint)id).ToArray());
        Assert.Equal(EEXIST, m.GetStackid(x, BPF_F_FAST_STACK_CMP)); // hashes differ: no fast match
    }

    [Fact]
    public void Reuse_needs_a_free_bucket_first_so_a_full_map_is_enomem()
    {
        var m = new BpfStackMap(8, 1, 0); // one bucket slot, one preallocated bucket
        Assert.Equal(0, m.GetStackid(A, 0));
        Assert.Equal(EEXIST, m.GetStackid(B, 0));
        Assert.Equal(ENOMEM, m.GetStackid(B, BPF_F_REUSE_STACKID));
        Assert.Equal(0, m.Delete(0));
        Assert.Equal(0, m.GetStackid(B, 0));
    }

    [Fact]
    public void More_stacks_than_max_entries_is_enomem_though_a_bucket_slot_is_empty()
    {
        var m = new BpfStackMap(8, 3, 0); // 4 slots, 3 buckets
        var used = new HashSet<uint>();
        for (ulong ip = 0xffffffff81000000; used.Count < 3; ip++)
            if (used.Add(Bucket([ip], 4))) Assert.True(m.GetStackid([ip], 0) >= 0);
        for (ulong ip = 0xffffffff82000000; ; ip++)
        {
            if (used.Contains(Bucket([ip], 4))) continue;
            Assert.Equal(ENOMEM, m.GetStackid([ip], 0));
            break;
        }
    }

    [Fact]
    public void A_build_id_map_takes_a_bucket_before_comparing()
    {
        var m = new BpfStackMap(32, 1, BPF_F_STACK_BUILD_ID);
        Assert.Equal(0, m.GetStackid(A, 0));
        Assert.Equal(ENOMEM, m.GetStackid(A, 0));                 // the same stack, but no bucket to pop
        Assert.Equal(0, m.GetStackid(A, BPF_F_FAST_STACK_CMP));   // the fast compare comes first
    }

    [Theory]
    [InlineData(1UL << 11)]   // BPF_F_USER_BUILD_ID is bpf_get_stack's only
    [InlineData(1UL << 12)]
    [InlineData(1UL << 32)]
    public void Stackid_flags_outside_the_four_are_einval(ulong flags) =>
        Assert.Equal(EINVAL, new BpfStackMap(64, 4, 0).GetStackid(A, flags));

    [Fact]
    public void Skip_drops_the_innermost_frames_and_skipping_all_is_efault()
    {
        var m = new BpfStackMap(64, 16, 0);
        long id = m.GetStackid(A, 1);
        Assert.Equal(A[1..], m.StackAt((uint)id).ToArray());
        Assert.Equal(EFAULT, m.GetStackid(A, 3));
        Assert.Equal(EFAULT, m.GetStackid([], 0));
    }

    [Fact]
    public void The_callchain_is_cut_to_depth_plus_skip_then_skipped()
    {
        ulong[] deep = [1, 2, 3, 4, 5, 6];
        var m = new BpfStackMap(16, 16, 0); // 2 frames a value
        long id = m.GetStackid(deep, 1);
        Assert.Equal(new ulong[] { 2, 3 }, m.StackAt((uint)id).ToArray());
        var deeper = Enumerable.Range(1, 300).Select(i => (ulong)i).ToArray();
        var big = new BpfStackMap(127 * 8, 4, 0);
        id = big.GetStackid(deeper, 5); // cut at 127 frames, then 5 skipped
        Assert.Equal(deeper[5..127], big.StackAt((uint)id).ToArray());
    }

    // ---- user space: bpf_stackmap_copy, delete, get_next_key ----

    [Fact]
    public void Copy_gives_the_ips_zero_padded_and_enoent_for_an_empty_or_past_slot()
    {
        var m = new BpfStackMap(8 * 4, 4, 0);
        uint id = (uint)m.GetStackid(B, 0);
        var v = new byte[32];
        v.AsSpan().Fill(0xee);
        Assert.Equal(0, m.Copy(id, v));
        Assert.Equal(B[0], BinaryPrimitives.ReadUInt64LittleEndian(v));
        Assert.Equal(B[1], BinaryPrimitives.ReadUInt64LittleEndian(v.AsSpan(8)));
        Assert.All(v[16..], b => Assert.Equal(0, b));
        Assert.Equal(ENOENT, m.Copy((id + 1) % 4, v));
        Assert.Equal(ENOENT, m.Copy(4, v));
    }

    [Fact]
    public void Build_id_values_are_the_ip_fallback_entries()
    {
        var m = new BpfStackMap(64, 2, BPF_F_STACK_BUILD_ID);
        uint id = (uint)m.GetStackid(B, 0);
        var v = new byte[64];
        Assert.Equal(0, m.Copy(id, v));
        for (int i = 0; i < 2; i++)
        {
            Assert.Equal(BpfStackMap.BuildIdStatusIp, BinaryPrimitives.ReadInt32LittleEndian(v.AsSpan(32 * i)));
            Assert.All(v[(32 * i + 4)..(32 * i + 24)], b => Assert.Equal(0, b));
            Assert.Equal(B[i], BinaryPrimitives.ReadUInt64LittleEndian(v.AsSpan(32 * i + 24)));
        }
    }

    [Fact]
    public void Delete_is_e2big_past_the_buckets_enoent_when_empty()
    {
        var m = new BpfStackMap(32, 3, 0);
        uint id = (uint)m.GetStackid(A, 0);
        Assert.Equal(E2BIG, m.Delete(4));
        Assert.Equal(0, m.Delete(id));
        Assert.Equal(ENOENT, m.Delete(id));
    }

    [Fact]
    public void Next_key_walks_the_used_slots_and_restarts_from_an_unknown_key()
    {
        var m = new BpfStackMap(32, 64, 0);
        var ids = new SortedSet<uint> { (uint)m.GetStackid(A, 0), (uint)m.GetStackid(B, 0) };
        Assert.Equal(2, ids.Count);
        Assert.Equal(0, m.NextKey(null, out uint k));
        Assert.Equal(ids.Min, k);
        Assert.Equal(0, m.NextKey(k, out k));
        Assert.Equal(ids.Max, k);
        Assert.Equal(ENOENT, m.NextKey(k, out _));
        uint empty = Enumerable.Range(0, 64).Select(i => (uint)i).First(i => !ids.Contains(i) && i > ids.Min);
        Assert.Equal(0, m.NextKey(empty, out k)); // an empty slot starts over, as a missing key does
        Assert.Equal(ids.Min, k);
        Assert.Equal(0, m.NextKey(1000, out k));
        Assert.Equal(ids.Min, k);
    }

    [Fact]
    public void Map_state_round_trips_through_a_checkpoint()
    {
        var spec = new BpfMapSpec("st", BpfMapType.StackTrace, 4, 32, 8, 0);
        var mem = new SimMemory();
        var a = new BpfMap(spec, 0, mem, 1);
        uint id = (uint)a.Stacks!.GetStackid(A, 0);
        var b = new BpfMap(spec, 0, mem, 1);
        b.ImportState(a.ExportState());
        Assert.Equal(A, b.Stacks!.StackAt(id).ToArray());
        Assert.Equal(id, b.Stacks.GetStackid(A, 0));
    }

    // ---- bpf_get_stack ----

    private static (long Ret, byte[] Buf) GetStack(ulong[] stack, int size, ulong flags)
    {
        var buf = new byte[size];
        buf.AsSpan().Fill(0xee);
        return (BpfStackMap.GetStack(stack, buf, flags), buf);
    }

    [Theory]
    [InlineData(12, 0UL, EINVAL)]                                      // size % 8
    [InlineData(16, 1UL << 9, EINVAL)]                                 // FAST_STACK_CMP is get_stackid's
    [InlineData(32, BPF_F_USER_BUILD_ID, EINVAL)]                       // build ids only of the user stack
    [InlineData(48, BPF_F_USER_STACK | BPF_F_USER_BUILD_ID, EINVAL)]   // 48 % 32
    [InlineData(16, 4UL, EFAULT)]                                      // skip past the 3 frames
    public void Get_stack_errors_zero_the_buffer(int size, ulong flags, long err)
    {
        var (ret, buf) = GetStack(A, size, flags);
        Assert.Equal(err, ret);
        Assert.All(buf, b => Assert.Equal(0, b));
    }

    [Fact]
    public void Get_stack_copies_what_fits_zeroes_the_rest_and_returns_bytes()
    {
        var (ret, buf) = GetStack(A, 40, 1);
        Assert.Equal(16, ret);
        Assert.Equal(A[1..], MemoryMarshal.Cast<byte, ulong>(buf.AsSpan(0, 16)).ToArray());
        Assert.All(buf[16..], b => Assert.Equal(0, b));
        Assert.Equal(8, GetStack(A, 8, 0).Ret);          // one frame fits
        Assert.Equal(0, GetStack(A, 16, 3).Ret);         // skip == depth: nothing, no error
        Assert.Equal(0, GetStack(A, 0, 0).Ret);          // size 0
    }

    [Fact]
    public void Get_stack_user_build_ids_are_ip_fallback_entries()
    {
        var (ret, buf) = GetStack(B, 96, BPF_F_USER_STACK | BPF_F_USER_BUILD_ID);
        Assert.Equal(64, ret);
        Assert.Equal(BpfStackMap.BuildIdStatusIp, BinaryPrimitives.ReadInt32LittleEndian(buf.AsSpan(32)));
        Assert.Equal(B[1], BinaryPrimitives.ReadUInt64LittleEndian(buf.AsSpan(56)));
        Assert.All(buf[64..], b => Assert.Equal(0, b));
    }

    [Fact]
    public void Get_stack_copies_exactly_min_of_depth_and_size_frames() =>
        Gen.Select(Gen.ULong.Array[0, 300], Gen.Int[0, 200], Gen.Int[0, 0xff]).Sample((stack, n, skip) =>
        {
            var buf = new byte[n * 8];
            long ret = BpfStackMap.GetStack(stack, buf, (ulong)skip);
            int walked = Math.Min(stack.Length, Math.Min(n + skip, BpfStackMap.MaxStack));
            if (walked < skip) return ret == EFAULT && buf.All(b => b == 0);
            int frames = Math.Min(walked - skip, n);
            return ret == frames * 8
                && MemoryMarshal.Cast<byte, ulong>(buf.AsSpan(0, frames * 8)).SequenceEqual(stack.AsSpan(skip, frames))
                && buf.AsSpan(frames * 8).IndexOfAnyExcept((byte)0) < 0;
        });

    [Fact]
    public void The_same_stack_always_gets_the_same_id() =>
        Gen.Select(Gen.ULong.Array[1, 40], Gen.Int[1, 64]).Sample((stack, entries) =>
        {
            var m = new BpfStackMap(127 * 8, entries, 0);
            long a = m.GetStackid(stack, 0), b = m.GetStackid(stack, 0);
            return a == b && a == Bucket(stack, m.NBuckets) && m.StackAt((uint)a).SequenceEqual(stack);
        });

    // ---- the default stacks ----

    [Fact]
    public void Default_kernel_stack_is_the_read_path_in_the_hosts_kallsyms()
    {
        var k = new Kallsyms();
        Span<ulong> scratch = stackalloc ulong[SimStacks.DefaultKernelDepth];
        var s = SimStacks.Kernel(new SimTask(5, 5, "x"), k, scratch).ToArray();
        Assert.Equal([k.AddressOf("vfs_read") + 0x1d, k.AddressOf("ksys_read") + 0x73, k.AddressOf("__x64_sys_read") + 0x19], s);
        Assert.Equal(0, SimStacks.User(SimTask.Idle).Length);
        Assert.Equal(3, SimStacks.User(new SimTask(5, 5, "x")).Length);
        ulong[] own = [1, 2];
        Assert.Equal(own, SimStacks.Kernel(new SimTask(5, 5, "x") { KernelStack = own }, k, scratch).ToArray());
    }

    // ---- stack.bpf.o (clang): a kprobe / raw_tp counting kernel stack ids, copying the user stack ----

    private static readonly ulong[] Kstack = [0xffffffff81234567, 0xffffffff81200010, 0xffffffff81100020];
    private static readonly ulong[] Ustack = [0x401136, 0x401200, 0x7f0000001000];

    private static HelperContext OnTask(ulong[]? k, ulong[]? u) =>
        new(0, new SimTask(100, 100, "app") { KernelStack = k, UserStack = u }, ExecContext.Task, 5);

    [Theory]
    [InlineData("kprobe/vfs_read", false)]
    [InlineData("kprobe/vfs_read", true)]
    [InlineData("raw_tp/sys_enter", false)]
    [InlineData("raw_tp/sys_enter", true)]
    public void Stack_object_counts_stack_ids_and_copies_the_user_stack(string section, bool compiled)
    {
        var vm = MakeVm(Load("stack.bpf.o"), section);
        var inst = vm.Instance;
        inst.SetGlobal("cfg_stack_flags", BitConverter.GetBytes(BPF_F_USER_STACK));
        var hc = OnTask(Kstack, Ustack);
        for (int i = 0; i < 3; i++)
        {
            var r = compiled ? vm.RunCompiled([], hc) : vm.Run([], hc);
            Assert.Null(r.Fault);
        }
        long id = BitConverter.ToInt64(inst.GetGlobal("out_id"));
        var stacks = inst.Map("stacks").Stacks!;
        Assert.Equal(Bucket(Kstack, 4), id);
        Assert.Equal(Kstack, stacks.StackAt((uint)id).ToArray());
        Assert.Equal(3UL, BitConverter.ToUInt64(inst.Map("counts").HashValue(BitConverter.GetBytes(id))));
        Assert.Equal(24, BitConverter.ToInt64(inst.GetGlobal("out_len")));
        var ips = MemoryMarshal.Cast<byte, ulong>(inst.GetGlobal("out_ips")).ToArray();
        Assert.Equal([.. Ustack, 0, 0, 0, 0, 0], ips);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Stack_object_sees_the_helpers_errnos(bool compiled)
    {
        var vm = MakeVm(Load("stack.bpf.o"), "kprobe/vfs_read");
        var inst = vm.Instance;
        inst.SetGlobal("cfg_id_flags", BitConverter.GetBytes(BPF_F_USER_STACK | 3)); // skip the whole user stack
        inst.SetGlobal("cfg_stack_flags", BitConverter.GetBytes(BPF_F_USER_BUILD_ID)); // kernel stack with build ids
        var hc = OnTask(Kstack, Ustack);
        var r = compiled ? vm.RunCompiled([], hc) : vm.Run([], hc);
        Assert.Null(r.Fault);
        Assert.Equal(EFAULT, BitConverter.ToInt64(inst.GetGlobal("out_id")));
        Assert.Equal(EINVAL, BitConverter.ToInt64(inst.GetGlobal("out_len")));
        Assert.All(inst.GetGlobal("out_ips"), b => Assert.Equal(0, b));
        Assert.Equal(1UL, BitConverter.ToUInt64(inst.Map("counts").HashValue(BitConverter.GetBytes(EFAULT))));
    }
}

/// <summary>stack_map_alloc's refusals when an object declares a stack_trace map (its BTF value_size patched).</summary>
public class StackMapLoadTests
{
    // The BTF array behind __uint(value_size, 64): info kind ARRAY (3 << 24), nelems at +16.
    private static byte[] WithValueSize(uint size)
    {
        var bytes = File.ReadAllBytes(Path_("stack.bpf.o"));
        var found = new List<int>();
        for (int o = 0; o + 20 <= bytes.Length; o += 4)
            if (BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(o)) == 3u << 24 && BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(o + 16)) == 64)
                found.Add(o);
        int at = Assert.Single(found);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(at + 16), size);
        return bytes;
    }

    [Fact]
    public void The_object_declares_a_stack_trace_map_of_8_frames_and_4_entries()
    {
        var m = Load("stack.bpf.o").Maps.Single(x => x.Name == "stacks");
        Assert.Equal((BpfMapType.StackTrace, 4, 64, 4), (m.Type, m.KeySize, m.ValueSize, m.MaxEntries));
        Assert.Equal(64, BpfObject.Load(WithValueSize(64), "x.o").Maps.Single(x => x.Name == "stacks").ValueSize);
    }

    [Theory]
    [InlineData(12u)]
    [InlineData(128u * 8)]
    public void A_value_size_stack_map_alloc_refuses_fails_the_load_with_einval(uint size)
    {
        var e = Assert.Throws<BpfLoadException>(() => BpfObject.Load(WithValueSize(size), "x.o"));
        Assert.Contains($"map 'stacks': BPF_MAP_CREATE of a stack_trace map refuses it with -EINVAL: key_size must be 4, value_size a multiple of 8", e.Message);
        Assert.Contains($"(key_size 4, value_size {size}, max_entries 4, map_flags 0x0)", e.Message);
    }
}

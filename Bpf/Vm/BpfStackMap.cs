using System.Buffers.Binary;
using System.Runtime.InteropServices;
using BpfTraceSim.Kernel;
using static BpfTraceSim.Kernel.BpfFlags;

namespace BpfTraceSim.Bpf.Vm;

/// <summary>
/// A BPF_MAP_TYPE_STACK_TRACE map (kernel/bpf/stackmap.c): n_buckets = roundup_pow_of_two(max_entries)
/// bucket slots, each empty or holding one stack, and max_entries preallocated buckets on a free
/// list. bpf_get_stackid hashes a stack into a slot; user space reads (bpf_stackmap_copy), deletes
/// and walks the slots. A map with BPF_F_STACK_BUILD_ID stores 32-byte struct bpf_stack_build_id
/// entries; simulated memory has no file-backed VMAs, so every entry is the kernel's fallback
/// (status BPF_STACK_BUILD_ID_IP, the ip, a zero build id).
/// </summary>
public sealed class BpfStackMap
{
    /// <summary>sysctl_perf_event_max_stack's default (PERF_MAX_STACK_DEPTH): the deepest stack any helper sees.</summary>
    public const int MaxStack = 127;
    /// <summary>sizeof(struct bpf_stack_build_id): s32 status, u8 build_id[20], u64 offset-or-ip.</summary>
    public const int BuildIdEntrySize = 32;
    /// <summary>BPF_STACK_BUILD_ID_IP: the entry holds an ip, not a build id and offset.</summary>
    public const int BuildIdStatusIp = 2;

    private const uint CreateFlags = BPF_F_NUMA_NODE | BPF_F_RDONLY | BPF_F_WRONLY | BPF_F_STACK_BUILD_ID;
    private const ulong StackidFlags = BPF_F_SKIP_FIELD_MASK | BPF_F_USER_STACK | BPF_F_FAST_STACK_CMP | BPF_F_REUSE_STACKID;
    private const ulong GetStackFlags = BPF_F_SKIP_FIELD_MASK | BPF_F_USER_STACK | BPF_F_USER_BUILD_ID;

    private sealed class Bucket(int depth)
    {
        public uint Hash;
        public int Nr;
        public readonly ulong[] Ips = new ulong[depth];
    }

    private readonly Bucket?[] _slots;
    private readonly Stack<Bucket> _free = new();
    private int _made; // buckets handed out from the preallocated pool so far (made lazily, as many as max_entries)

    public BpfStackMap(int valueSize, int maxEntries, uint flags)
    {
        int err = CheckCreate(4, valueSize, maxEntries, flags);
        if (err != 0) throw new ArgumentException($"stack_map_alloc refuses key 4, value {valueSize}, max_entries {maxEntries}, flags 0x{flags:x}: -{Errno.Name(err)}");
        ValueSize = valueSize;
        MaxEntries = maxEntries;
        Flags = flags;
        _slots = new Bucket?[(int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)maxEntries)];
    }

    public int ValueSize { get; }
    public int MaxEntries { get; }
    public uint Flags { get; }
    /// <summary>roundup_pow_of_two(max_entries): the ids bpf_get_stackid can return are 0..NBuckets-1.</summary>
    public int NBuckets => _slots.Length;
    public bool BuildId => (Flags & BPF_F_STACK_BUILD_ID) != 0;
    private int EntrySize => BuildId ? BuildIdEntrySize : 8;
    /// <summary>Frames one value holds.</summary>
    public int Depth => ValueSize / EntrySize;

    /// <summary>
    /// stack_map_alloc's checks, in its order: map_flags outside NUMA_NODE|RDONLY|WRONLY|STACK_BUILD_ID,
    /// max_entries 0, key_size not 4, value_size below 8 or not a multiple of 8, then (build id) a
    /// value_size not a multiple of 32 or more than 127 entries, (ips) more than 127 u64s: -EINVAL;
    /// max_entries past 2^31: -E2BIG. The simulator then refuses more than SimLimits.MaxStackMapEntries
    /// (-E2BIG, as a failed allocation would be -ENOMEM; the loader's message names the limit).
    /// </summary>
    public static int CheckCreate(int keySize, int valueSize, long maxEntries, uint flags)
    {
        if ((flags & ~CreateFlags) != 0) return Errno.EINVAL;
        if (maxEntries == 0 || keySize != 4 || valueSize < 8 || valueSize % 8 != 0) return Errno.EINVAL;
        if ((flags & BPF_F_STACK_BUILD_ID) != 0)
        {
            if (valueSize % BuildIdEntrySize != 0 || valueSize / BuildIdEntrySize > MaxStack) return Errno.EINVAL;
        }
        else if (valueSize / 8 > MaxStack) return Errno.EINVAL;
        if (maxEntries > 1L << 31) return Errno.E2BIG;
        return 0;
    }

    /// <summary>
    /// bpf_get_stackid with the callchain of stack (innermost first): flags outside skip|USER_STACK|
    /// FAST_STACK_CMP|REUSE_STACKID -EINVAL; the callchain is cut to min(depth + skip, 127) frames;
    /// no frame left after skip -EFAULT; then the id jhash2(ips as u32 words, 0) &amp; (n_buckets-1).
    /// Its slot holding the same stack (or only the same hash, with FAST_STACK_CMP) gives the id; a
    /// slot holding another stack -EEXIST unless REUSE_STACKID replaces it; no free bucket -ENOMEM
    /// (a build-id map takes its bucket before comparing, so it runs out even for a known stack).
    /// </summary>
    public long GetStackid(ReadOnlySpan<ulong> stack, ulong flags)
    {
        if ((flags & ~StackidFlags) != 0) return -Errno.EINVAL;
        int skip = (int)(flags & BPF_F_SKIP_FIELD_MASK);
        int nr = Math.Min(stack.Length, Math.Min(Depth + skip, MaxStack));
        if (nr <= skip) return -Errno.EFAULT;
        var ips = stack[skip..nr];
        uint hash = JHash.Jhash2(MemoryMarshal.Cast<ulong, uint>(ips), 0);
        uint id = hash & (uint)(_slots.Length - 1);
        var bucket = _slots[id];
        bool hashMatches = bucket is not null && bucket.Hash == hash;
        if (hashMatches && (flags & BPF_F_FAST_STACK_CMP) != 0) return id;
        if (BuildId && _free.Count == 0 && _made == MaxEntries) return -Errno.ENOMEM; // pcpu_freelist_pop before the slow compare
        if (hashMatches && bucket!.Nr == ips.Length && ips.SequenceEqual(bucket.Ips.AsSpan(0, bucket.Nr))) return id;
        if (bucket is not null && (flags & BPF_F_REUSE_STACKID) == 0) return -Errno.EEXIST;
        var fresh = Pop();
        if (fresh is null) return -Errno.ENOMEM;
        ips.CopyTo(fresh.Ips);
        fresh.Hash = hash;
        fresh.Nr = ips.Length;
        _slots[id] = fresh;
        if (bucket is not null) _free.Push(bucket);
        return id;
    }

    /// <summary>
    /// __bpf_get_stack into buf: flags outside skip|USER_STACK|USER_BUILD_ID, USER_BUILD_ID without
    /// USER_STACK, a size not a multiple of the entry (8, or 32 for user build ids): -EINVAL; the
    /// callchain cut to min(size/entry + skip, 127) frames; fewer frames than skip -EFAULT; every
    /// error zeroes buf. Else min(frames - skip, size/entry) entries copied, the rest zeroed, and
    /// the bytes copied returned.
    /// </summary>
    public static long GetStack(ReadOnlySpan<ulong> stack, Span<byte> buf, ulong flags)
    {
        bool user = (flags & BPF_F_USER_STACK) != 0, buildId = (flags & BPF_F_USER_BUILD_ID) != 0;
        int entry = user && buildId ? BuildIdEntrySize : 8;
        long err = (flags & ~GetStackFlags) != 0 || (!user && buildId) || buf.Length % entry != 0 ? -Errno.EINVAL : 0;
        int skip = (int)(flags & BPF_F_SKIP_FIELD_MASK);
        int num = buf.Length / entry;
        int nr = Math.Min(stack.Length, (int)Math.Min((long)num + skip, MaxStack));
        if (err == 0 && nr < skip) err = -Errno.EFAULT;
        buf.Clear();
        if (err != 0) return err;
        int n = Math.Min(nr - skip, num);
        WriteEntries(stack.Slice(skip, n), buf, entry == BuildIdEntrySize);
        return (long)n * entry;
    }

    /// <summary>bpf_stackmap_copy (BPF_MAP_LOOKUP_ELEM): the stack's entries, zero padded to value_size; -ENOENT past n_buckets or for an empty slot.</summary>
    public int Copy(uint id, Span<byte> value)
    {
        if (id >= (uint)_slots.Length || _slots[id] is not { } b) return -Errno.ENOENT;
        value[..ValueSize].Clear();
        WriteEntries(b.Ips.AsSpan(0, b.Nr), value, BuildId);
        return 0;
    }

    /// <summary>stack_map_delete_elem: -E2BIG past n_buckets, -ENOENT for an empty slot, else the bucket goes back to the free list.</summary>
    public int Delete(uint id)
    {
        if (id >= (uint)_slots.Length) return -Errno.E2BIG;
        if (_slots[id] is not { } b) return -Errno.ENOENT;
        _slots[id] = null;
        _free.Push(b);
        return 0;
    }

    /// <summary>
    /// stack_map_get_next_key: the first used slot after key (from 0 without a key, or when key is
    /// past n_buckets or an empty slot); -ENOENT when there is none.
    /// </summary>
    public int NextKey(uint? key, out uint next)
    {
        uint id = key is not { } k || k >= (uint)_slots.Length || _slots[k] is null ? 0 : k + 1;
        while (id < (uint)_slots.Length && _slots[id] is null) id++;
        next = id;
        return id < (uint)_slots.Length ? 0 : -Errno.ENOENT;
    }

    /// <summary>The stack in slot id, innermost first (empty for an empty slot), for hosts and tests.</summary>
    public ReadOnlySpan<ulong> StackAt(uint id) =>
        id < (uint)_slots.Length && _slots[id] is { } b ? b.Ips.AsSpan(0, b.Nr) : default;

    private Bucket? Pop()
    {
        if (_free.TryPop(out var b)) return b;
        if (_made == MaxEntries) return null;
        _made++;
        return new Bucket(Depth);
    }

    private static void WriteEntries(ReadOnlySpan<ulong> ips, Span<byte> dst, bool buildId)
    {
        if (!buildId)
        {
            MemoryMarshal.Cast<ulong, byte>(ips).CopyTo(dst);
            return;
        }
        // stack_map_get_build_id_offset's fallback: status BPF_STACK_BUILD_ID_IP, build_id zeroed, the ip
        for (int i = 0; i < ips.Length; i++)
        {
            var e = dst.Slice(i * BuildIdEntrySize, BuildIdEntrySize);
            BinaryPrimitives.WriteInt32LittleEndian(e, BuildIdStatusIp);
            BinaryPrimitives.WriteUInt64LittleEndian(e[24..], ips[i]);
        }
    }

    /// <summary>
    /// The map's state for a checkpoint: one entry per used slot, key = slot id (u32), hash (u32),
    /// then the ips; value = its frame count. Which free bucket is which is not state.
    /// </summary>
    public KeyValuePair<byte[], int>[] Export()
    {
        var list = new List<KeyValuePair<byte[], int>>();
        for (int i = 0; i < _slots.Length; i++)
        {
            if (_slots[i] is not { } b) continue;
            var k = new byte[8 + b.Nr * 8];
            BinaryPrimitives.WriteUInt32LittleEndian(k, (uint)i);
            BinaryPrimitives.WriteUInt32LittleEndian(k.AsSpan(4), b.Hash);
            MemoryMarshal.Cast<ulong, byte>(b.Ips.AsSpan(0, b.Nr)).CopyTo(k.AsSpan(8));
            list.Add(new(k, b.Nr));
        }
        return [.. list];
    }

    /// <summary>Sets the state <see cref="Export"/> gave, from a map of the same spec.</summary>
    public void Import(KeyValuePair<byte[], int>[] entries)
    {
        if (entries.Length > MaxEntries) throw new ArgumentException($"stack map: {entries.Length} stacks for {MaxEntries} entries");
        Array.Clear(_slots);
        _free.Clear();
        _made = 0;
        foreach (var (k, nr) in entries)
        {
            uint id = k.Length >= 8 ? BinaryPrimitives.ReadUInt32LittleEndian(k) : uint.MaxValue;
            if (id >= (uint)_slots.Length || _slots[id] is not null || nr < 1 || nr > Depth || k.Length != 8 + nr * 8)
                throw new ArgumentException($"stack map: a stack of {nr} frames in slot {id} of {_slots.Length}");
            var b = Pop()!;
            b.Hash = BinaryPrimitives.ReadUInt32LittleEndian(k.AsSpan(4));
            b.Nr = nr;
            MemoryMarshal.Cast<byte, ulong>(k.AsSpan(8)).CopyTo(b.Ips);
            _slots[id] = b;
        }
    }
}

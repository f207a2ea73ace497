using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using BpfTraceSim.Bpf.Loader;
using BpfTraceSim.Kernel;

namespace BpfTraceSim.Bpf.Vm;

/// <summary>
/// A map instance: values live in one pinned buffer mapped into simulated kernel memory, so the
/// program, the helpers and the Kernel model all see the same bytes at the same address.
/// </summary>
public sealed unsafe partial class BpfMap
{
    private readonly Dictionary<HashKey, int>? _hash;
    private readonly Stack<int>? _free;
    private readonly byte[] _storage;

    internal BpfMap(BpfMapSpec spec, int index, SimMemory mem, int cpus)
    {
        Spec = spec;
        Index = index;
        Cpus = Math.Max(1, cpus);
        // a stack trace map's stacks live in its buckets (BpfStackMap), not in value storage
        int entries = spec.Type is BpfMapType.PerfEventArray or BpfMapType.StackTrace ? 0 : spec.MaxEntries;
        int copies = spec.Type is BpfMapType.PercpuArray or BpfMapType.PercpuHash ? Cpus : 1;
        long len = (long)entries * spec.ValueSize * copies;
        if (len > 1 << 28) throw new BpfLoadException($"map '{spec.Name}': {len} bytes of values is too large to simulate");
        _storage = GC.AllocateArray<byte>((int)Math.Max(len, 1), pinned: true);
        if (spec.InitialValue is { } init) init.AsSpan(0, Math.Min(init.Length, _storage.Length)).CopyTo(_storage);
        StoragePtr = (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_storage));
        Address = mem.Map(AddressSpace.Kernel, _storage, writable: !spec.ReadOnly);
        // The struct bpf_map the program's map pointer refers to: opaque, read-only.
        Handle = mem.Map(AddressSpace.Kernel, new byte[64], writable: false);
        if (spec.Type is BpfMapType.Hash or BpfMapType.PercpuHash or BpfMapType.LruHash)
        {
            _hash = new Dictionary<HashKey, int>();
            _free = new Stack<int>();
            for (int i = spec.MaxEntries - 1; i >= 0; i--) _free.Push(i);
        }
        if (spec.Type == BpfMapType.StackTrace) Stacks = new BpfStackMap(spec.ValueSize, spec.MaxEntries, spec.Flags);
    }

    public BpfMapSpec Spec { get; }
    public int Index { get; }
    public int Cpus { get; }
    public string Name => Spec.Name;
    /// <summary>Address of the first value in simulated kernel memory.</summary>
    public ulong Address { get; }
    /// <summary>The map pointer a program's ld_imm64 loads (the kernel's struct bpf_map *).</summary>
    public ulong Handle { get; }
    public int StorageLength => _storage.Length;
    internal byte* StoragePtr { get; }
    public Span<byte> Storage => _storage;
    /// <summary>The buckets of a BPF_MAP_TYPE_STACK_TRACE map (null for other types).</summary>
    public BpfStackMap? Stacks { get; }
    /// <summary>Host-side object backing the map (e.g. the Kernel's perf event array for a perf_event_array map).</summary>
    public object? External { get; set; }

    private int CopyStride => Spec.MaxEntries * Spec.ValueSize;

    /// <summary>bpf_map_lookup_elem: the value's address for this CPU, or 0.</summary>
    public ulong Lookup(ReadOnlySpan<byte> key, int cpu)
    {
        switch (Spec.Type)
        {
            case BpfMapType.Array:
            case BpfMapType.PercpuArray:
            {
                uint k = MemoryMarshal.Read<uint>(key);
                if (k >= (uint)Spec.MaxEntries) return 0;
                int copy = Spec.Type == BpfMapType.PercpuArray ? CpuIndex(cpu) : 0;
                return Address + (ulong)(copy * CopyStride + (int)k * Spec.ValueSize);
            }
            case BpfMapType.Hash:
            case BpfMapType.PercpuHash:
            case BpfMapType.LruHash:
            {
                if (!_hash!.TryGetValue(new HashKey(key), out int slot)) return 0;
                int copy = Spec.Type == BpfMapType.PercpuHash ? CpuIndex(cpu) : 0;
                return Address + (ulong)(copy * CopyStride + slot * Spec.ValueSize);
            }
            default:
                return 0;
        }
    }

    /// <summary>bpf_map_update_elem from a program: 0 or a negative errno.</summary>
    public long Update(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, ulong flags, int cpu)
    {
        const ulong BPF_NOEXIST = 1, BPF_EXIST = 2, BPF_F_LOCK = 4;
        if ((flags & ~BPF_F_LOCK) > BPF_EXIST) return -Errno.EINVAL;
        switch (Spec.Type)
        {
            case BpfMapType.Array:
            case BpfMapType.PercpuArray:
            {
                uint k = MemoryMarshal.Read<uint>(key);
                if (k >= (uint)Spec.MaxEntries) return -Errno.E2BIG;
                if ((flags & 3) == BPF_NOEXIST) return -Errno.EEXIST;
                int copy = Spec.Type == BpfMapType.PercpuArray ? CpuIndex(cpu) : 0;
                value[..Spec.ValueSize].CopyTo(_storage.AsSpan(copy * CopyStride + (int)k * Spec.ValueSize, Spec.ValueSize));
                return 0;
            }
            case BpfMapType.Hash:
            case BpfMapType.PercpuHash:
            case BpfMapType.LruHash:
            {
                var hk = new HashKey(key);
                bool exists = _hash!.TryGetValue(hk, out int slot);
                if (exists && (flags & 3) == BPF_NOEXIST) return -Errno.EEXIST;
                if (!exists && (flags & 3) == BPF_EXIST) return -Errno.ENOENT;
                if (!exists)
                {
                    if (_free!.Count == 0) return -Errno.E2BIG;
                    slot = _free.Pop();
                    _hash[hk.Own()] = slot;
                }
                int copy = Spec.Type == BpfMapType.PercpuHash ? CpuIndex(cpu) : 0;
                if (!exists && Spec.Type == BpfMapType.PercpuHash)
                    for (int c = 0; c < Cpus; c++) _storage.AsSpan(c * CopyStride + slot * Spec.ValueSize, Spec.ValueSize).Clear();
                value[..Spec.ValueSize].CopyTo(_storage.AsSpan(copy * CopyStride + slot * Spec.ValueSize, Spec.ValueSize));
                return 0;
            }
            default:
                return -Errno.EINVAL;
        }
    }

    /// <summary>bpf_map_delete_elem: 0, -ENOENT, or -EINVAL for arrays (their elements cannot be deleted).</summary>
    public long Delete(ReadOnlySpan<byte> key)
    {
        if (Stacks is not null) return Stacks.Delete(MemoryMarshal.Read<uint>(key));
        if (_hash is null) return -Errno.EINVAL;
        var hk = new HashKey(key);
        if (!_hash.Remove(hk, out int slot)) return -Errno.ENOENT;
        _free!.Push(slot);
        return 0;
    }

    /// <summary>The bytes of one value (CPU copy for per-CPU maps), for hosts and tests.</summary>
    public Span<byte> ValueAt(int index, int cpu = 0)
    {
        int copy = Spec.Type is BpfMapType.PercpuArray or BpfMapType.PercpuHash ? CpuIndex(cpu) : 0;
        return _storage.AsSpan(copy * CopyStride + index * Spec.ValueSize, Spec.ValueSize);
    }

    /// <summary>Value of a hash key (this CPU's copy), or an empty span when absent.</summary>
    public Span<byte> HashValue(ReadOnlySpan<byte> key, int cpu = 0)
    {
        ulong a = Lookup(key, cpu);
        return a == 0 ? Span<byte>.Empty : _storage.AsSpan((int)(a - Address), Spec.ValueSize);
    }

    private int CpuIndex(int cpu) => (uint)cpu < (uint)Cpus ? cpu : 0;

    /// <summary>
    /// The map's whole state: every value byte (all CPU copies) and, for hash maps, which key holds
    /// which slot (in the table's order) and the free slots (next taken first), so a map restored
    /// from it hands out the same slots as the original would.
    /// </summary>
    public BpfMapState ExportState()
    {
        if (Stacks is not null) return new BpfMapState(_storage.ToArray(), Stacks.Export(), []);
        if (_hash is null) return new BpfMapState(_storage.ToArray(), [], []);
        var entries = new KeyValuePair<byte[], int>[_hash.Count];
        int i = 0;
        foreach (var (k, slot) in _hash) entries[i++] = new(k.Bytes.ToArray(), slot);
        return new BpfMapState(_storage.ToArray(), entries, [.. _free!]);
    }

    /// <summary>Sets the state taken by <see cref="ExportState"/> from a map of the same spec and CPU count.</summary>
    public void ImportState(BpfMapState state)
    {
        if (state.Values.Length != _storage.Length)
            throw new ArgumentException($"map '{Name}': {state.Values.Length} value bytes for a map of {_storage.Length}", nameof(state));
        if (Stacks is not null)
        {
            Stacks.Import(state.Entries);
            return;
        }
        if (_hash is null && (state.Entries.Length > 0 || state.Free.Length > 0))
            throw new ArgumentException($"map '{Name}': hash entries for an array map", nameof(state));
        if (_hash is not null && state.Entries.Length + state.Free.Length != Spec.MaxEntries)
            throw new ArgumentException($"map '{Name}': {state.Entries.Length} entries and {state.Free.Length} free slots for {Spec.MaxEntries} entries", nameof(state));
        state.Values.CopyTo(_storage.AsSpan());
        if (_hash is null) return;
        _hash.Clear();
        foreach (var (key, slot) in state.Entries)
        {
            if ((uint)slot >= (uint)Spec.MaxEntries)
                throw new ArgumentException($"map '{Name}': an entry in slot {slot} of {Spec.MaxEntries}", nameof(state));
            _hash[new HashKey(key)] = slot;
        }
        _free!.Clear();
        for (int i = state.Free.Length - 1; i >= 0; i--) _free.Push(state.Free[i]);
    }

    private readonly struct HashKey : IEquatable<HashKey>
    {
        private readonly byte[] _bytes;
        private readonly int _hash;

        public HashKey(ReadOnlySpan<byte> key)
        {
            _bytes = key.ToArray();
            var h = new HashCode();
            h.AddBytes(key);
            _hash = h.ToHashCode();
        }

        public HashKey Own() => this;
        public ReadOnlySpan<byte> Bytes => _bytes;
        public bool Equals(HashKey o) => _bytes.AsSpan().SequenceEqual(o._bytes);
        public override bool Equals(object? obj) => obj is HashKey k && Equals(k);
        public override int GetHashCode() => _hash;
    }
}

/// <summary>A map's state (<see cref="BpfMap.ExportState"/>): value bytes, hash keys with their slots, free slots (next first).</summary>
public sealed record BpfMapState(byte[] Values, KeyValuePair<byte[], int>[] Entries, int[] Free);

namespace BpfTraceSim.Kernel.Perf;

/// <summary>
/// BPF_MAP_TYPE_PERF_EVENT_ARRAY: slots of perf event references. A slot may hold a
/// metadata-only copy of an event that lives on another CPU; helpers only ever touch the ring
/// of an event whose oncpu is the calling CPU.
/// </summary>
public sealed class PerfEventArray
{
    private readonly PerfEvent?[] _slots;
    private readonly object?[] _installers;

    public PerfEventArray(uint maxEntries)
    {
        MaxEntries = maxEntries;
        _slots = new PerfEvent?[maxEntries];
        _installers = new object?[maxEntries];
    }

    public uint MaxEntries { get; }

    /// <summary>
    /// bpf_fd_array_map_update_elem on a perf event array: -E2BIG past max_entries; an inherit
    /// event is refused with -EOPNOTSUPP (perf_event_fd_array_get_ptr) and the slot keeps its
    /// content; anything else is installed (type and CPU are not checked here).
    /// installer stands for the map file that installed it (see ReleaseFile).
    /// </summary>
    public long Update(uint index, PerfEvent perfEvent, object? installer = null)
    {
        if (index >= MaxEntries) return -Errno.E2BIG;
        if (perfEvent.Attr.Inherit) return -Errno.EOPNOTSUPP;
        _slots[index] = perfEvent;
        _installers[index] = installer;
        return 0;
    }

    /// <summary>fd_array_map_delete_elem: -E2BIG past max_entries, -ENOENT for an empty slot.</summary>
    public long Delete(uint index)
    {
        if (index >= MaxEntries) return -Errno.E2BIG;
        if (_slots[index] is null) return -Errno.ENOENT;
        _slots[index] = null;
        _installers[index] = null;
        return 0;
    }

    /// <summary>The event in a slot, or null (empty or out of range).</summary>
    public PerfEvent? Get(uint index) => index < MaxEntries ? _slots[index] : null;


    /// <summary>
    /// The slot a perf helper's flags name on cpu, as __bpf_perf_event_output and
    /// get_map_perf_counter resolve it: the index (BPF_F_CURRENT_CPU = this CPU), then max_entries
    /// (-E2BIG), then an empty slot (-ENOENT). The flags' other bits are the caller's check.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    internal long Lookup(ulong flags, int cpu, out PerfEvent? perfEvent)
    {
        ulong index = flags & BpfFlags.BPF_F_INDEX_MASK;
        if (index == BpfFlags.BPF_F_CURRENT_CPU) index = (uint)cpu;
        if (index >= MaxEntries)
        {
            perfEvent = null;
            return -Errno.E2BIG;
        }
        perfEvent = _slots[index];
        return perfEvent is null ? -Errno.ENOENT : 0;
    }

    /// <summary>
    /// The event a perf helper with these flags reaches on cpu, or null where it fails before it
    /// (flags other than the index, index past max_entries, empty slot). Owners use it to account
    /// for what the helper did to that event's ring.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public PerfEvent? SlotOf(ulong flags, int cpu)
    {
        if ((flags & ~BpfFlags.BPF_F_INDEX_MASK) != 0) return null;
        Lookup(flags, cpu, out var perfEvent);
        return perfEvent;
    }

    /// <summary>Replaces slot contents without the update checks (grains refreshing metadata copies).</summary>
    public void SetSlot(uint index, PerfEvent? perfEvent) => _slots[index] = perfEvent;

    /// <summary>perf_event_fd_array_release: the file that installed events is closed; its slots are cleared.</summary>
    public int ReleaseFile(object installer)
    {
        int cleared = 0;
        for (int i = 0; i < _slots.Length; i++)
        {
            if (_slots[i] is not null && ReferenceEquals(_installers[i], installer))
            {
                _slots[i] = null;
                _installers[i] = null;
                cleared++;
            }
        }
        return cleared;
    }
}

using System.Buffers.Binary;
using BpfTraceSim.Bpf.Loader;
using BpfTraceSim.Kernel;

namespace BpfTraceSim.Bpf.Vm;

/// <summary>
/// BPF_MAP_TYPE_PROG_ARRAY (kernel/bpf/arraymap.c prog_array_map_ops): max_entries 4-byte slots,
/// each empty or holding a program of the same object. A slot's bytes keep the program's id (see
/// <see cref="ProgId"/>), 0 for empty, so the map's state (ExportState) carries its slots.
/// </summary>
public sealed partial class BpfMap
{
    private IReadOnlyList<BpfProgram>? _programs;

    /// <summary>The map's owner (bpf_prog_map_compatible): set by the first program that uses it or goes into it.</summary>
    public TailCallOwner? Owner { get; private set; }

    /// <summary>
    /// The id a prog array slot reports to user space (prog_fd_array_sys_lookup_elem: the program's
    /// aux->id). The simulator numbers an object's programs from 1 in the object's order.
    /// </summary>
    public static uint ProgId(IReadOnlyList<BpfProgram> programs, BpfProgram p)
    {
        for (int i = 0; i < programs.Count; i++) if (ReferenceEquals(programs[i], p)) return (uint)i + 1;
        return 0;
    }

    internal void BindPrograms(IReadOnlyList<BpfProgram> programs) => _programs = programs;

    /// <summary>
    /// __bpf_prog_map_compatible: the first program becomes the owner; a later one must match it
    /// (type, expected attach type, sleepable, and for tracing programs the attach function).
    /// </summary>
    public bool Compatible(BpfProgram p)
    {
        var o = p.TailCallOwner;
        if (Owner is null) { Owner = o; return true; }
        var w = Owner.Value;
        if (w.Type != o.Type || w.Sleepable != o.Sleepable || w.ExpectedAttachType != o.ExpectedAttachType) return false;
        // attach_func_proto differs: refused only for tracing-type programs (TRACING, LSM, EXT, STRUCT_OPS)
        return w.AttachTarget == o.AttachTarget || o.Type is not (BpfProgramType.Tracing or BpfProgramType.Iter);
    }

    /// <summary>The program in slot index for bpf_tail_call, or null (past max_entries or empty).</summary>
    public BpfProgram? SlotProgram(uint index)
    {
        if (index >= (uint)Spec.MaxEntries || _programs is null) return null;
        uint id = BinaryPrimitives.ReadUInt32LittleEndian(_storage.AsSpan((int)index * 4, 4));
        return id == 0 || id > (uint)_programs.Count ? null : _programs[(int)id - 1];
    }

    /// <summary>
    /// bpf_fd_array_map_update_elem from user space with a program's fd: flags other than BPF_ANY
    /// -EINVAL, index past max_entries -E2BIG, then prog_fd_array_get_ptr's -EINVAL for a program
    /// the owner does not accept. The old program, if any, is replaced.
    /// </summary>
    public long UpdateProgSlot(uint index, BpfProgram program, ulong flags)
    {
        if (Spec.Type != BpfMapType.ProgArray) return -Errno.EINVAL;
        if (flags != 0) return -Errno.EINVAL;
        if (index >= (uint)Spec.MaxEntries) return -Errno.E2BIG;
        uint id = _programs is null ? 0 : ProgId(_programs, program);
        if (id == 0) return -Errno.EBADF; // not a program of this object: no fd the map could take
        if (!Compatible(program)) return -Errno.EINVAL;
        BinaryPrimitives.WriteUInt32LittleEndian(_storage.AsSpan((int)index * 4, 4), id);
        return 0;
    }

    /// <summary>fd_array_map_delete_elem: -E2BIG past max_entries, -ENOENT for an empty slot.</summary>
    public long DeleteProgSlot(uint index)
    {
        if (Spec.Type != BpfMapType.ProgArray) return -Errno.EINVAL;
        if (index >= (uint)Spec.MaxEntries) return -Errno.E2BIG;
        var span = _storage.AsSpan((int)index * 4, 4);
        if (BinaryPrimitives.ReadUInt32LittleEndian(span) == 0) return -Errno.ENOENT;
        span.Clear();
        return 0;
    }

    /// <summary>bpf_fd_array_map_lookup_elem from user space: the slot's program id, or -ENOENT (empty or past max_entries).</summary>
    public long LookupProgSlot(uint index)
    {
        if (Spec.Type != BpfMapType.ProgArray) return -Errno.EINVAL;
        var p = SlotProgram(index);
        return p is null ? -Errno.ENOENT : ProgId(_programs!, p);
    }
}

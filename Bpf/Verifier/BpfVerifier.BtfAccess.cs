using BpfTraceSim.Bpf.Loader;
using BpfTraceSim.Kernel;
using KBtf = BpfTraceSim.Kernel.Btf.Btf;

namespace BpfTraceSim.Bpf.Verifier;

public sealed partial class BpfVerifier
{
    // The simulated vmlinux BTF for programs loaded without a world's (hand-assembled ones); only read.
    private static readonly Lazy<KBtf> DefaultKernelBtf = new(Kernel.Btf.VmlinuxBtf.Create);

    private KBtf KernelBtf => _prog.KernelBtf ?? DefaultKernelBtf.Value;

    // The loads through PTR_TO_BTF_ID (the kernel's BPF_PROBE_MEM rewrite), by instruction.
    private bool[]? _probeMem;

    /// <summary>The proto's ret_btf_id resolved in the kernel BTF; 0 (untyped) when the kernel has no such type.</summary>
    private uint RetBtfType(HelperProto proto) =>
        proto.RetBtf is { } name && KernelBtf.TryFind(name, out uint id) ? id : 0;

    /// <summary>
    /// check_ptr_to_btf_access, in its order: a negative offset, a variable offset, a write, then
    /// btf_struct_access against the pointer's struct (the simulator runs as CAP_PERFMON and does not
    /// check the license). A load becomes BPF_PROBE_MEM. An untyped pointer (a BTF ctx argument, whose
    /// attach function's BTF the simulator does not have) is read as before: 8 bytes give another
    /// untyped pointer, less a scalar.
    /// </summary>
    private Reg PtrToBtfAccess(int regno, in Reg p, int insnOff, int size, bool write)
    {
        int off = p.Off + insnOff;
        uint id = p.BtfType;
        string tname = id == 0 ? "" : KernelBtf.TypeById(id)?.Name ?? "";
        if (id != 0 && off < 0) throw Access($"R{regno} is ptr_{tname} invalid negative access: off={off}");
        if (id != 0 && (!p.Var.IsConst || p.Var.Value != 0))
            throw Access($"R{regno} is ptr_{tname} invalid variable offset: off={off}, var_off={p.Var}");
        if (write) throw Access("only read is supported");
        (_probeMem ??= new bool[_insns.Length])[_pc] = true;
        if (id == 0) return size == 8 ? Reg.Ptr(RegType.BtfId) : Reg.UnknownBytes(size);

        var r = BtfStructWalk.Access(KernelBtf, id, off, size);
        if (!r.Ok) throw Fail(r.Errno, r.Error);
        switch (r.Kind)
        {
            case BtfStructWalk.Kind.Ptr:
            {
                var next = Reg.Ptr(RegType.BtfId);
                next.BtfType = r.NextId;
                return next;
            }
            case BtfStructWalk.Kind.UntrustedPtr:
                return Reg.Ptr(RegType.BtfId); // PTR_TO_MEM | MEM_RDONLY | PTR_UNTRUSTED: read like an untyped pointer
            default:
                return Reg.UnknownBytes(size);
        }
    }

    /// <summary>
    /// check_helper_call's RET_PTR_TO_MEM_OR_BTF_ID for bpf_this_cpu_ptr / bpf_per_cpu_ptr: the per-CPU
    /// variable's type (modifiers skipped) decides, PTR_TO_BTF_ID of that struct (MEM_RDONLY folded
    /// away) or PTR_TO_MEM | MEM_RDONLY of its size; maybeNull adds PTR_MAYBE_NULL with a fresh id.
    /// </summary>
    private Reg PerCpuRet(int ksym, bool maybeNull)
    {
        var k = _prog.TypedKsyms[ksym];
        Reg r;
        if (k.IsStruct)
        {
            KernelBtf.SkipModifiers(KernelBtf.TypeById((uint)k.BtfId)?.RefTypeId ?? 0, out uint typeId);
            r = Reg.Ptr(maybeNull ? RegType.BtfIdOrNull : RegType.BtfId);
            r.BtfType = typeId;
        }
        else
        {
            if (k.Size < 0) throw Fail(Errno.EINVAL, $"unable to resolve the size of type '{k.TypeName}': {k.Size}");
            r = Reg.Ptr(maybeNull ? RegType.RdonlyMemOrNull : RegType.RdonlyMem);
            r.MemSize = (int)k.Size;
        }
        if (maybeNull) r.Id = ++_idGen;
        return r;
    }

    /// <summary>check_mem_access for PTR_TO_MEM | MEM_RDONLY: no stores, reads inside the memory's size.</summary>
    private Reg RdonlyMemAccess(int regno, in Reg p, int insnOff, int size, bool write)
    {
        if (write) throw Access($"R{regno} cannot write into {Names.Of(p.Type)}");
        Region(regno, p, p.Off + insnOff, size, p.MemSize, "memory", zeroOk: false);
        return Reg.UnknownBytes(size);
    }

    /// <summary>
    /// btf_ctx_access for an iter/task program: the target's ctx is struct bpf_iter__task, whose
    /// meta (offset 0) is a trusted PTR_TO_BTF_ID of bpf_iter_meta (iterator args are trusted) and
    /// whose task (offset 8) is the ctx_arg_info's PTR_TO_BTF_ID_OR_NULL | PTR_TRUSTED of
    /// task_struct (NULL in task_seq_stop's last call), so a load through it needs a NULL check.
    /// Null: not such a load (other targets, other offsets keep the generic typing).
    /// </summary>
    private bool IsIterTask => _prog.IsTaskIterator;

    private Reg? IterCtxArg(int off, int size)
    {
        if (!IsIterTask || size != 8) return null;
        string? type = off == (int)Kernel.Btf.IterCtxLayout.Meta ? "struct bpf_iter_meta" : off == (int)Kernel.Btf.IterCtxLayout.Task ? "struct task_struct" : null;
        if (type is null || !KernelBtf.TryFind(type, out uint id)) return null;
        var r = Reg.Ptr(off == (int)Kernel.Btf.IterCtxLayout.Task ? RegType.BtfIdOrNull : RegType.BtfId);
        r.BtfType = id;
        r.Trusted = true;
        if (r.Type == RegType.BtfIdOrNull) r.Id = ++_idGen;
        return r;
    }
}

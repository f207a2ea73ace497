using BpfTraceSim.Kernel;
using KBtf = BpfTraceSim.Kernel.Btf.Btf;
using BpfTraceSim.Kernel.Btf;

namespace BpfTraceSim.Bpf.Verifier;

/// <summary>
/// btf_struct_access / btf_struct_walk (kernel/bpf/btf.c): what a read of size bytes at off inside a
/// kernel struct reaches. The walk descends into nested structs and unions (at their start it goes on
/// at offset 0 of the inner type), treats an array member as its elements laid end to end (an int
/// array may be read across elements up to the array's end), and ends at an int-like member (a
/// scalar), at a pointer member read whole (the pointed-to struct's id, or an untrusted pointer to
/// anything else) or at a refusal with the kernel's message. Flexible array members are not
/// modelled: the simulated vmlinux has none.
/// </summary>
internal static class BtfStructWalk
{
    internal enum Kind { Scalar, Ptr, UntrustedPtr }

    internal readonly record struct Result(Kind Kind, uint NextId, int Errno, string? Error)
    {
        public bool Ok => Error is null;
    }

    private static Result Refuse(int errno, string msg) => new(Kind.Scalar, 0, errno, msg);

    public static Result Access(KBtf btf, uint typeId, int off, int size)
    {
        var t = btf.SkipModifiers(typeId, out _);
        for (int depth = 0; depth < 32 && t is not null; depth++)
        {
            if (t.Kind is not (BtfKind.Struct or BtfKind.Union))
                return Refuse(Errno.EINVAL, $"Type '{t.Name}' is not a struct");
            if ((long)off + size > t.Size)
                return Refuse(Errno.EACCES, $"access beyond struct {t.Name} at off {(uint)off} size {(uint)size}");
            var step = Member(btf, t, ref off, size, out uint inner);
            if (step is { } done) return done;
            t = btf.TypeById(inner); // a nested struct: go on inside it
        }
        return Refuse(Errno.EINVAL, "verifier internal error: struct walk too deep");
    }

    // One level of btf_struct_walk: the member of t that [off, off+size) falls in. null: continue
    // inside the nested struct inner, off now relative to it.
    private static Result? Member(KBtf btf, BtfType t, ref int off, int size, out uint inner)
    {
        inner = 0;
        foreach (var m in t.Members)
        {
            int moff = (int)(m.OffsetBits / 8);
            if (off + size <= moff) break; // members are past the access
            if (m.BitfieldBits != 0)
            {
                // a read covering the whole bitfield is a scalar; a partial one looks further, then fails
                uint endBit = m.OffsetBits + m.BitfieldBits;
                if (off <= moff && (endBit + 7) / 8 <= off + size) return new Result(Kind.Scalar, 0, 0, null);
                continue;
            }
            if (off < moff) break; // in a hole
            var mt = Resolve(btf, m.TypeId, out uint mid, out long msize, out uint nelems);
            if (mt is null || msize < 0) return Refuse(Errno.EFAULT, $"field {m.Name} doesn't have size");
            int trueEnd = moff + (int)msize;
            if (off >= trueEnd) continue;
            if (nelems != 1)
            {
                if (moff == trueEnd) continue; // empty array
                msize /= nelems;
                moff += (off - moff) / (int)msize * (int)msize;
            }
            if (mt.Kind is BtfKind.Struct or BtfKind.Union)
            {
                if (off == moff)
                {
                    inner = mid;
                    off = 0;
                    return null;
                }
                off -= moff;
                inner = mid;
                return null;
            }
            if (mt.Kind == BtfKind.Ptr)
            {
                if (msize != size || off != moff)
                    return Refuse(Errno.EACCES, $"cannot access ptr member {m.Name} with moff {moff} in struct {t.Name} with off {off} size {size}");
                var target = btf.SkipModifiers(mt.RefTypeId, out uint tid);
                return target?.Kind is BtfKind.Struct or BtfKind.Union ? new Result(Kind.Ptr, tid, 0, null) : new Result(Kind.UntrustedPtr, 0, 0, null);
            }
            if (off + size > trueEnd)
                return Refuse(Errno.EACCES, $"access beyond the end of member {m.Name} (mend:{trueEnd}) in struct {t.Name} with off {off} size {size}");
            return new Result(Kind.Scalar, 0, 0, null);
        }
        return Refuse(Errno.EINVAL, $"struct {t.Name} doesn't have field at offset {off}");
    }

    // __btf_resolve_size: the member's type past modifiers and arrays (its element for an array,
    // multi-dimensional ones linearized), the whole member's size and how many elements it holds.
    private static BtfType? Resolve(KBtf btf, uint id, out uint elemId, out long size, out uint nelems)
    {
        nelems = 1;
        var t = btf.SkipModifiers(id, out elemId);
        size = btf.ResolveSize(t);
        for (int i = 0; i < 32 && t is { Kind: BtfKind.Array }; i++)
        {
            nelems *= t.ArrayLen;
            t = btf.SkipModifiers(t.RefTypeId, out elemId);
        }
        return t;
    }
}

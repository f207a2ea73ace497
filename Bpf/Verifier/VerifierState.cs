namespace BpfTraceSim.Bpf.Verifier;

/// <summary>Register types the verifier tracks (enum bpf_reg_type, the tracing subset).</summary>
internal enum RegType : byte
{
    NotInit, Scalar, Ctx, Stack, MapPtr, MapValue, MapValueOrNull, RingbufMem, RingbufMemOrNull,
    /// <summary>PTR_TO_BTF_ID: a kernel object read from a BTF-typed context (tracing, iter).</summary>
    BtfId,
    /// <summary>PTR_TO_FUNC: ld_imm64 of a subprogram (callbacks).</summary>
    Func,
    /// <summary>PTR_TO_BTF_ID | MEM_PERCPU: a typed __ksym of a per-CPU variable (not dereferenceable).</summary>
    PercpuBtfId,
    /// <summary>PTR_TO_BTF_ID | PTR_MAYBE_NULL: bpf_per_cpu_ptr of a struct variable.</summary>
    BtfIdOrNull,
    /// <summary>PTR_TO_MEM | MEM_RDONLY with MemSize: bpf_this_cpu_ptr of a non-struct variable.</summary>
    RdonlyMem,
    /// <summary>PTR_TO_MEM | MEM_RDONLY | PTR_MAYBE_NULL: bpf_per_cpu_ptr of one.</summary>
    RdonlyMemOrNull,
}

/// <summary>
/// One register's state (struct bpf_reg_state): the type, a pointer's fixed offset, the scalar value
/// (or a pointer's variable offset) as tnum plus signed and unsigned bounds, the map, the id shared by
/// copies of a maybe-NULL pointer, the reference id of an acquired object, and a memory size.
/// </summary>
internal struct Reg
{
    public RegType Type;
    public byte Frame;
    public int Off;
    public Tnum Var;
    public long SMin, SMax;
    public ulong UMin, UMax;
    public int Map;
    public int Id;
    public int RefId;
    public int MemSize;
    /// <summary>PTR_TO_BTF_ID's btf_id in the kernel BTF (struct task_struct, ...); 0: untyped (a BTF ctx argument).</summary>
    public uint BtfType;
    /// <summary>PTR_TRUSTED (an iterator's ctx pointers): reg_type_str prefixes "trusted_".</summary>
    public bool Trusted;

    public static Reg Unknown() => new() { Type = RegType.Scalar, Var = Tnum.Unknown, SMin = long.MinValue, SMax = long.MaxValue, UMin = 0, UMax = ulong.MaxValue };

    public static Reg Known(ulong v) => new() { Type = RegType.Scalar, Var = Tnum.Const(v), SMin = (long)v, SMax = (long)v, UMin = v, UMax = v };

    /// <summary>A pointer with a known zero variable part.</summary>
    public static Reg Ptr(RegType t, int off = 0) =>
        new() { Type = t, Off = off, Var = Tnum.Const(0), SMin = 0, SMax = 0, UMin = 0, UMax = 0 };

    /// <summary>An unknown value zero-extended from n bytes.</summary>
    public static Reg UnknownBytes(int n)
    {
        if (n >= 8) return Unknown();
        ulong max = (1UL << (n * 8)) - 1;
        return new() { Type = RegType.Scalar, Var = new Tnum(0, max), SMin = 0, SMax = (long)max, UMin = 0, UMax = max };
    }

    public readonly bool IsScalar => Type == RegType.Scalar;
    public readonly bool IsConst => Type == RegType.Scalar && Var.IsConst;
    public readonly bool IsNull => IsConst && Var.Value == 0;
    public readonly bool IsPointer => Type is not (RegType.NotInit or RegType.Scalar);
    public readonly bool MaybeNull => Type is RegType.MapValueOrNull or RegType.RingbufMemOrNull or RegType.BtfIdOrNull or RegType.RdonlyMemOrNull;

    /// <summary>reg_bounds_sync: tighten tnum, signed and unsigned bounds against each other.</summary>
    public void Sync()
    {
        for (int round = 0; round < 2; round++)
        {
            // from the tnum
            UMin = Math.Max(UMin, Var.Value);
            UMax = Math.Min(UMax, Var.Max);
            const ulong sign = 1UL << 63;
            if ((Var.Mask & sign) == 0)
            {
                SMin = Math.Max(SMin, (long)Var.Value);
                SMax = Math.Min(SMax, (long)Var.Max);
            }
            else
            {
                SMin = Math.Max(SMin, (long)(Var.Value | sign));
                SMax = Math.Min(SMax, (long)(Var.Max & ~sign));
            }
            // signed and unsigned agree when the range does not cross the sign boundary
            if ((SMin >= 0) == (SMax >= 0) && SMin <= SMax)
            {
                UMin = Math.Max(UMin, (ulong)SMin);
                UMax = Math.Min(UMax, (ulong)SMax);
            }
            if (((long)UMin >= 0) == ((long)UMax >= 0) && UMin <= UMax)
            {
                SMin = Math.Max(SMin, (long)UMin);
                SMax = Math.Min(SMax, (long)UMax);
            }
            if (UMin <= UMax) Var = Var.Intersect(Tnum.Range(UMin, UMax));
        }
    }

    /// <summary>The bounds as the kernel's log prints a scalar.</summary>
    public readonly string Describe()
    {
        if (Type != RegType.Scalar) return Names.Of(Type);
        if (Var.IsConst) return ((long)Var.Value).ToString(System.Globalization.CultureInfo.InvariantCulture);
        return $"scalar(smin={SMin},smax={SMax},umin={UMin},umax={UMax},var_off={Var})";
    }
}

/// <summary>reg_type_str: the names the kernel's messages use.</summary>
internal static class Names
{
    public static string Of(RegType t) => t switch
    {
        RegType.NotInit => "?",
        RegType.Scalar => "scalar",
        RegType.Ctx => "ctx",
        RegType.Stack => "fp",
        RegType.MapPtr => "map_ptr",
        RegType.MapValue => "map_value",
        RegType.MapValueOrNull => "map_value_or_null",
        RegType.RingbufMem => "ringbuf_mem",
        RegType.RingbufMemOrNull => "ringbuf_mem_or_null",
        RegType.BtfId => "ptr_",
        RegType.Func => "func",
        RegType.PercpuBtfId => "percpu_ptr_",
        RegType.BtfIdOrNull => "ptr_or_null_",
        RegType.RdonlyMem => "rdonly_mem",
        RegType.RdonlyMemOrNull => "rdonly_mem_or_null",
        _ => "?",
    };
}

/// <summary>Stack byte kinds (enum bpf_stack_slot_type).</summary>
internal static class StackByte
{
    public const byte Invalid = 0, Misc = 1, Zero = 2, Spill = 3;
}

/// <summary>One call frame: registers and a 512-byte stack, grown as deep as the program uses it.</summary>
internal sealed class FrameState
{
    public readonly Reg[] Regs = new Reg[11];
    /// <summary>Kinds of the used stack bytes: index 0 is fp-1, index i is fp-1-i.</summary>
    public byte[] Kinds = [];
    /// <summary>Spilled registers by 8-byte slot (slot 0 is fp-8).</summary>
    public Reg[] Spills = [];
    public int CallSite = -1;
    public int FrameNo;
    public bool InCallback;
    /// <summary>The first instruction of the function this frame runs (0: the main program): its subprogram's stack depth grows.</summary>
    public int Func;

    public FrameState Clone()
    {
        var f = new FrameState { Kinds = (byte[])Kinds.Clone(), Spills = (Reg[])Spills.Clone(), CallSite = CallSite, FrameNo = FrameNo, InCallback = InCallback, Func = Func };
        Regs.CopyTo(f.Regs, 0);
        return f;
    }

    public void Grow(int bytes)
    {
        if (bytes <= Kinds.Length) return;
        int n = Math.Min(512, (bytes + 7) & ~7);
        Array.Resize(ref Kinds, n);
        Array.Resize(ref Spills, n / 8);
    }

    public byte Kind(int fpOffset)
    {
        int i = -fpOffset - 1;
        return i < Kinds.Length ? Kinds[i] : StackByte.Invalid;
    }
}

/// <summary>A verifier state (struct bpf_verifier_state): frames, acquired references, the path.</summary>
internal sealed class VState
{
    public FrameState[] Frames = new FrameState[8];
    public int Cur;
    public List<(int Id, int Insn)> Refs = [];
    public int Pc;
    /// <summary>The checkpoint this path continues from, and how many paths still continue from this one.</summary>
    public VState? Parent;
    public int Branches;
    public int Hits, Misses;
    /// <summary>
    /// Some path continuing from this checkpoint relied on a scalar's value (a decided branch, an
    /// offset, a size, a return range): compare scalars by range. Otherwise any scalar matches.
    /// </summary>
    public bool Precise;

    public FrameState F => Frames[Cur];
    public Reg[] R => Frames[Cur].Regs;

    public VState Clone()
    {
        var s = new VState { Cur = Cur, Refs = new(Refs), Pc = Pc, Parent = Parent };
        for (int i = 0; i <= Cur; i++) s.Frames[i] = Frames[i].Clone();
        return s;
    }

    /// <summary>Every register and spill of every frame, for marking copies (NULL checks, releases).</summary>
    public void ForEachReg(Func<Reg, Reg> f)
    {
        for (int i = 0; i <= Cur; i++)
        {
            var fr = Frames[i];
            for (int r = 0; r < 11; r++) fr.Regs[r] = f(fr.Regs[r]);
            for (int s = 0; s < fr.Spills.Length; s++)
                if (fr.Kinds[s * 8] == StackByte.Spill) fr.Spills[s] = f(fr.Spills[s]);
        }
    }
}

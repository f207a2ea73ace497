namespace BpfTraceSim.Kernel.Btf;

/// <summary>BTF kinds (include/uapi/linux/btf.h BTF_KIND_*), the subset the simulator models.</summary>
public enum BtfKind : byte
{
    Void = 0,
    Int = 1,
    Ptr = 2,
    Array = 3,
    Struct = 4,
    Union = 5,
    Enum = 6,
    Fwd = 7,
    Typedef = 8,
    Volatile = 9,
    Const = 10,
    /// <summary>A kernel variable (BTF_KIND_VAR): typed __ksym externs resolve to one by name.</summary>
    Var = 14,
}

/// <summary>BTF_INT_ENCODING bits: at most one is set in valid BTF.</summary>
[Flags]
public enum BtfIntEncoding : byte
{
    None = 0,
    Signed = 1,
    Char = 2,
    Bool = 4,
}

/// <summary>A struct/union member (struct btf_member with the kind_flag layout: bit offset + bitfield size).</summary>
public sealed record BtfMember(string Name, uint TypeId, uint OffsetBits, uint BitfieldBits = 0);

/// <summary>One enumerator (struct btf_enum): a name and a 32-bit value.</summary>
public sealed record BtfEnumValue(string Name, int Value);

/// <summary>
/// One BTF type (struct btf_type plus its trailing data). Reference kinds (ptr, typedef, const,
/// volatile) and arrays point at another type by id; id 0 is void.
/// </summary>
public sealed class BtfType
{
    public uint Id { get; internal set; }
    public BtfKind Kind { get; init; }
    /// <summary>The name without a struct/union/enum keyword; "" when anonymous.</summary>
    public string Name { get; init; } = "";
    /// <summary>Byte size for int, struct, union, enum (btf_type.size).</summary>
    public uint Size { get; init; }
    /// <summary>Referenced type: ptr/typedef/const/volatile target, array element.</summary>
    public uint RefTypeId { get; internal set; }
    public uint ArrayLen { get; init; }
    public BtfIntEncoding IntEncoding { get; init; }
    /// <summary>BTF_INT_BITS: value bits of an int.</summary>
    public byte IntBits { get; init; }
    /// <summary>BTF_INT_OFFSET: bit offset of an int's value inside its storage.</summary>
    public byte IntOffset { get; init; }
    public IReadOnlyList<BtfMember> Members { get; internal set; } = System.Array.Empty<BtfMember>();
    public IReadOnlyList<BtfEnumValue> EnumValues { get; init; } = System.Array.Empty<BtfEnumValue>();
    /// <summary>Enum kind_flag: values are signed (printed with %d instead of %u).</summary>
    public bool EnumSigned { get; init; }
    /// <summary>Fwd kind_flag: a forward-declared union rather than struct.</summary>
    public bool FwdIsUnion { get; init; }
    /// <summary>Var: listed in the .data..percpu DATASEC (pahole encodes per-CPU variables).</summary>
    public bool VarPerCpu { get; init; }

    public bool IsModifier => Kind is BtfKind.Typedef or BtfKind.Const or BtfKind.Volatile;

    /// <summary>btf_type_str: the kind as the kernel's btf_kind_str table spells it.</summary>
    public static string KindString(BtfKind k) => k switch
    {
        BtfKind.Void => "UNKNOWN",
        BtfKind.Int => "INT",
        BtfKind.Ptr => "PTR",
        BtfKind.Array => "ARRAY",
        BtfKind.Struct => "STRUCT",
        BtfKind.Union => "UNION",
        BtfKind.Enum => "ENUM",
        BtfKind.Fwd => "FWD",
        BtfKind.Typedef => "TYPEDEF",
        BtfKind.Volatile => "VOLATILE",
        BtfKind.Const => "CONST",
        BtfKind.Var => "VAR",
        _ => "UNKNOWN",
    };

    public static BtfType Int(string name, uint size, BtfIntEncoding enc = BtfIntEncoding.None, byte bits = 0, byte offset = 0) =>
        new() { Kind = BtfKind.Int, Name = name, Size = size, IntEncoding = enc, IntBits = bits == 0 ? (byte)(size * 8) : bits, IntOffset = offset };

    public static BtfType Ptr(uint target) => new() { Kind = BtfKind.Ptr, RefTypeId = target };
    public static BtfType Typedef(string name, uint target) => new() { Kind = BtfKind.Typedef, Name = name, RefTypeId = target };
    public static BtfType Const(uint target) => new() { Kind = BtfKind.Const, RefTypeId = target };
    public static BtfType Volatile(uint target) => new() { Kind = BtfKind.Volatile, RefTypeId = target };
    public static BtfType Array(uint elem, uint len) => new() { Kind = BtfKind.Array, RefTypeId = elem, ArrayLen = len };
    public static BtfType Struct(string name, uint size, params BtfMember[] members) =>
        new() { Kind = BtfKind.Struct, Name = name, Size = size, Members = members };
    public static BtfType Union(string name, uint size, params BtfMember[] members) =>
        new() { Kind = BtfKind.Union, Name = name, Size = size, Members = members };
    public static BtfType Enum(string name, uint size, bool signed, params BtfEnumValue[] values) =>
        new() { Kind = BtfKind.Enum, Name = name, Size = size, EnumSigned = signed, EnumValues = values };
    public static BtfType Fwd(string name, bool union = false) => new() { Kind = BtfKind.Fwd, Name = name, FwdIsUnion = union };
    public static BtfType Var(string name, uint type, bool perCpu) => new() { Kind = BtfKind.Var, Name = name, RefTypeId = type, VarPerCpu = perCpu };
}

/// <summary>
/// A BTF object: types by id (1..N; 0 is void) and lookup by C name ("int", "struct list_head",
/// "enum bpf_cmd", "u64"). Like the kernel's vmlinux BTF it keeps no resolved ids, so a typedef
/// is shown under its own name (btf_modifier_show's skip-modifiers path).
/// </summary>
public sealed class Btf
{
    private readonly List<BtfType> _types = new() { new BtfType { Kind = BtfKind.Void } };
    private readonly Dictionary<string, uint> _byName = new(StringComparer.Ordinal);

    public int Count => _types.Count; // includes void

    /// <summary>btf_type_by_id: null for an id with no type (id 0 is void, which has no type either).</summary>
    public BtfType? TypeById(uint id) => id == 0 || id >= (uint)_types.Count ? null : _types[(int)id];

    /// <summary>Adds a type and returns its id; named types also become findable by their C name.</summary>
    public uint Add(BtfType t)
    {
        uint id = (uint)_types.Count;
        t.Id = id;
        _types.Add(t);
        string? key = CName(t);
        if (key is not null) _byName.TryAdd(key, id);
        return id;
    }

    /// <summary>Sets the target of a reference type added earlier (for forward references while building).</summary>
    public void SetRef(uint id, uint target) => _types[(int)id].RefTypeId = target;

    /// <summary>Sets the members of a struct/union added earlier.</summary>
    public void SetMembers(uint id, IReadOnlyList<BtfMember> members) => _types[(int)id].Members = members;

    /// <summary>How C code names the type, e.g. "struct list_head", "int", "u64"; null when anonymous (and for variables, which are not types).</summary>
    public static string? CName(BtfType t)
    {
        if (t.Name.Length == 0 || t.Kind == BtfKind.Var) return null;
        return t.Kind switch
        {
            BtfKind.Struct => "struct " + t.Name,
            BtfKind.Union => "union " + t.Name,
            BtfKind.Enum => "enum " + t.Name,
            BtfKind.Fwd => (t.FwdIsUnion ? "union " : "struct ") + t.Name,
            _ => t.Name,
        };
    }

    /// <summary>btf__find_by_name_kind(name, BTF_KIND_VAR): the kernel variable's id, or false.</summary>
    public bool TryFindVar(string name, out uint id)
    {
        for (int i = 1; i < _types.Count; i++)
            if (_types[i].Kind == BtfKind.Var && _types[i].Name == name) { id = (uint)i; return true; }
        id = 0;
        return false;
    }

    /// <summary>Finds a type by C name; "T *" and "T[N]" suffixes name a pointer/array of T (added on demand).</summary>
    public bool TryFind(string cName, out uint id)
    {
        string n = cName.Trim();
        if (_byName.TryGetValue(n, out id)) return true;
        if (n.EndsWith('*'))
        {
            if (!TryFind(n[..^1], out uint target)) return false;
            id = FindOrAddDerived(BtfKind.Ptr, target, 0);
            return true;
        }
        if (n.EndsWith(']'))
        {
            int open = n.LastIndexOf('[');
            if (open > 0 && uint.TryParse(n.AsSpan(open + 1, n.Length - open - 2), out uint len) &&
                TryFind(n[..open], out uint elem))
            {
                id = FindOrAddDerived(BtfKind.Array, elem, len);
                return true;
            }
        }
        if (n == "void")
        {
            id = 0;
            return true;
        }
        id = 0;
        return false;
    }

    private uint FindOrAddDerived(BtfKind kind, uint target, uint len)
    {
        for (int i = 1; i < _types.Count; i++)
        {
            var t = _types[i];
            if (t.Kind == kind && t.RefTypeId == target && t.ArrayLen == len && t.Name.Length == 0) return (uint)i;
        }
        return Add(kind == BtfKind.Ptr ? BtfType.Ptr(target) : BtfType.Array(target, len));
    }

    /// <summary>btf_type_skip_modifiers: follows typedef/const/volatile to the first other type (null for void).</summary>
    public BtfType? SkipModifiers(uint id, out uint resId)
    {
        var t = TypeById(id);
        int guard = 0;
        while (t is not null && t.IsModifier && guard++ < 64)
        {
            id = t.RefTypeId;
            t = TypeById(id);
        }
        resId = id;
        return t;
    }

    /// <summary>btf_resolve_size: byte size of a type through modifiers and arrays; -EINVAL for sizeless kinds.</summary>
    public long ResolveSize(BtfType? t)
    {
        ulong nelems = 1;
        for (int i = 0; i < 32; i++)
        {
            if (t is null) return -Errno.EINVAL;
            switch (t.Kind)
            {
                case BtfKind.Int:
                case BtfKind.Struct:
                case BtfKind.Union:
                case BtfKind.Enum:
                    return Finish(nelems, t.Size);
                case BtfKind.Ptr:
                    return Finish(nelems, 8);
                case BtfKind.Typedef:
                case BtfKind.Const:
                case BtfKind.Volatile:
                    t = TypeById(t.RefTypeId);
                    break;
                case BtfKind.Array:
                    if (t.ArrayLen != 0 && nelems > uint.MaxValue / t.ArrayLen) return -Errno.EINVAL;
                    nelems *= t.ArrayLen;
                    t = TypeById(t.RefTypeId);
                    break;
                default:
                    return -Errno.EINVAL;
            }
        }
        return -Errno.EINVAL;

        static long Finish(ulong n, uint size) => n != 0 && size > uint.MaxValue / n ? -Errno.EINVAL : (long)(n * size);
    }
}

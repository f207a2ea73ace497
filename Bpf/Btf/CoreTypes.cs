using K = BpfTraceSim.Kernel.Btf;

namespace BpfTraceSim.Bpf.Btf;

/// <summary>A struct/union member as CO-RE sees it: bit offset and bitfield size already split.</summary>
internal readonly record struct CoreMember(string Name, int Type, uint BitOffset, uint BitSize);

/// <summary>
/// One BTF type in the shape libbpf's relo_core.c reads, the same for the object's BTF and the
/// simulated kernel's (two models, one view). Kind numbers are the uapi BTF_KIND_* values.
/// </summary>
internal sealed record CoreType(int Id, BtfKind Kind, string Name, uint Size, int Ref, uint ArrayLen,
    uint IntEncoding, uint IntOffset, bool KindFlag, CoreMember[] Members, (string Name, long Value)[] Enums)
{
    public bool IsComposite => Kind is BtfKind.Struct or BtfKind.Union;
    public bool IsEnum => Kind is BtfKind.Enum or BtfKind.Enum64;
    public bool IsModifier => Kind is BtfKind.Typedef or BtfKind.Const or BtfKind.Volatile or BtfKind.Restrict or BtfKind.TypeTag;
    public int Vlen => IsEnum ? Enums.Length : Members.Length;
}

/// <summary>A whole BTF (ids 1..N, 0 void) in the CO-RE view.</summary>
internal sealed class CoreBtf
{
    private readonly CoreType?[] _types;

    private CoreBtf(CoreType?[] types) => _types = types;

    public int Count => _types.Length;

    /// <summary>btf__type_by_id: id 0 is void (a type of kind UNKN), ids past the end null.</summary>
    public CoreType? this[int id] => id == 0 ? Void : id > 0 && id < _types.Length ? _types[id] : null;

    private static readonly CoreType Void = new(0, BtfKind.Unknown, "", 0, 0, 0, 0, 0, false, [], []);

    /// <summary>The object's BTF (btf__parse of .BTF).</summary>
    public static CoreBtf FromObject(BtfData btf)
    {
        var types = new CoreType?[btf.Types.Count];
        for (int i = 1; i < types.Length; i++)
        {
            var t = btf.Types[i];
            CoreMember[] members = [];
            (string, long)[] enums = [];
            if (t.Kind is BtfKind.Struct or BtfKind.Union)
            {
                members = new CoreMember[t.Members.Count];
                for (int m = 0; m < members.Length; m++)
                {
                    var x = t.Members[m];
                    // kind_flag: offset is bitfield_size << 24 | bit_offset (btf_member_bit_offset / _bitfield_size)
                    members[m] = t.KindFlag ? new(x.Name, x.Type, x.Offset & 0xffffff, x.Offset >> 24) : new(x.Name, x.Type, x.Offset, 0);
                }
            }
            else if (t.Kind == BtfKind.Enum)
            {
                enums = new (string, long)[t.Members.Count];
                for (int m = 0; m < enums.Length; m++)
                    enums[m] = (t.Members[m].Name, t.KindFlag ? (int)t.Members[m].Offset : (long)t.Members[m].Offset);
            }
            else if (t.Kind == BtfKind.Enum64)
            {
                enums = new (string, long)[t.Members.Count];
                for (int m = 0; m < enums.Length; m++)
                    enums[m] = (t.Members[m].Name, (long)((ulong)t.Members[m].Size << 32 | t.Members[m].Offset));
            }
            bool sized = t.Kind is BtfKind.Int or BtfKind.Struct or BtfKind.Union or BtfKind.Enum or BtfKind.Enum64 or BtfKind.Float or BtfKind.DataSec;
            int reff = t.Kind == BtfKind.Array ? t.ArrayElem : sized ? 0 : (int)t.SizeOrType;
            types[i] = new CoreType(i, t.Kind, t.Name, sized ? t.SizeOrType : 0, reff, t.ArrayLen,
                (t.IntEncoding >> 24) & 0xf, (t.IntEncoding >> 16) & 0xff, t.KindFlag, members, enums);
        }
        return new CoreBtf(types);
    }

    /// <summary>The simulated kernel's BTF (vmlinux plus a world's btf_types).</summary>
    public static CoreBtf FromKernel(K.Btf btf)
    {
        var types = new CoreType?[btf.Count];
        for (uint i = 1; i < (uint)types.Length; i++)
        {
            var t = btf.TypeById(i)!;
            var members = new CoreMember[t.Members.Count];
            for (int m = 0; m < members.Length; m++)
                members[m] = new(t.Members[m].Name, (int)t.Members[m].TypeId, t.Members[m].OffsetBits, t.Members[m].BitfieldBits);
            var enums = new (string, long)[t.EnumValues.Count];
            for (int m = 0; m < enums.Length; m++) enums[m] = (t.EnumValues[m].Name, t.EnumSigned ? t.EnumValues[m].Value : (uint)t.EnumValues[m].Value);
            uint enc = (uint)t.IntEncoding;
            types[i] = new CoreType((int)i, (BtfKind)(int)t.Kind, t.Name, t.Size, (int)t.RefTypeId, t.ArrayLen, enc, t.IntOffset,
                t.Kind == K.BtfKind.Fwd ? t.FwdIsUnion : t.EnumSigned, members, enums);
        }
        return new CoreBtf(types);
    }

    /// <summary>skip_mods_and_typedefs: the first type under typedef/const/volatile/restrict/type_tag (null: void or none).</summary>
    public CoreType? SkipMods(int id, out int resId)
    {
        for (int guard = 0; guard < 64; guard++)
        {
            var t = this[id];
            if (t is null || !t.IsModifier) { resId = id; return t; } // void included
            id = t.Ref;
        }
        resId = id;
        return null;
    }

    /// <summary>btf__resolve_size: bytes of a type through modifiers, vars and arrays; -EINVAL (-22) for sizeless kinds.</summary>
    public long ResolveSize(int id)
    {
        long nelems = 1;
        for (int depth = 0; depth < 32; depth++)
        {
            var t = this[id];
            if (t is null) return -22;
            switch (t.Kind)
            {
                case BtfKind.Int or BtfKind.Struct or BtfKind.Union or BtfKind.Enum or BtfKind.Enum64 or BtfKind.DataSec or BtfKind.Float:
                    return nelems * t.Size > uint.MaxValue ? -7 : nelems * t.Size;
                case BtfKind.Ptr:
                    return nelems * 8;
                case BtfKind.Typedef or BtfKind.Volatile or BtfKind.Const or BtfKind.Restrict or BtfKind.TypeTag or BtfKind.Var:
                    id = t.Ref;
                    break;
                case BtfKind.Array:
                    if (t.ArrayLen != 0 && nelems > uint.MaxValue / t.ArrayLen) return -7;
                    nelems *= t.ArrayLen;
                    id = t.Ref;
                    break;
                default:
                    return -22;
            }
        }
        return -22;
    }

    /// <summary>libbpf's btf_kind_str: the lower-case kind names its messages print.</summary>
    public static string KindStr(CoreType? t) => t is null ? "void" : t.Kind switch
    {
        BtfKind.Unknown => "void", BtfKind.Int => "int", BtfKind.Ptr => "ptr", BtfKind.Array => "array",
        BtfKind.Struct => "struct", BtfKind.Union => "union", BtfKind.Enum => "enum", BtfKind.Fwd => "fwd",
        BtfKind.Typedef => "typedef", BtfKind.Volatile => "volatile", BtfKind.Const => "const", BtfKind.Restrict => "restrict",
        BtfKind.Func => "func", BtfKind.FuncProto => "func_proto", BtfKind.Var => "var", BtfKind.DataSec => "datasec",
        BtfKind.Float => "float", BtfKind.DeclTag => "decl_tag", BtfKind.TypeTag => "type_tag", BtfKind.Enum64 => "enum64",
        _ => "unknown",
    };

    /// <summary>
    /// bpf_core_essential_name_len: the name up to its last "X___Y" flavor separator (X and Y not
    /// underscores), so task_struct___old and task_struct match each other.
    /// </summary>
    public static int EssentialNameLen(string name)
    {
        for (int i = name.Length - 5; i >= 0; i--)
            if (name[i] != '_' && name[i + 1] == '_' && name[i + 2] == '_' && name[i + 3] == '_' && name[i + 4] != '_')
                return i + 1;
        return name.Length;
    }
}

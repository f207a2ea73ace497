using System.Text;
using BpfTraceSim.Bpf.Isa;

namespace BpfTraceSim.Bpf.Btf;

/// <summary>One accessor of a CO-RE spec (struct bpf_core_accessor): a named field, or an array index (Name null).</summary>
internal readonly record struct CoreAccessor(int TypeId, int Idx, string? Name);

/// <summary>struct bpf_core_spec: the access chain over one BTF, its raw indices and the field's bit offset.</summary>
internal sealed class CoreSpec
{
    public required CoreBtf Btf;
    public int RootTypeId;
    public BpfCoreReloKind Kind;
    public readonly List<CoreAccessor> Spec = new();
    public readonly List<int> Raw = new();
    public long BitOffset;

    /// <summary>bpf_core_format_spec: "&lt;byte_off&gt; [7] struct task_struct.pid (0:12 @ offset 1234)".</summary>
    public string Format()
    {
        var sb = new StringBuilder();
        var t = Btf[RootTypeId];
        sb.Append('<').Append(CoreRelocator.KindStr(Kind)).Append("> [").Append(RootTypeId).Append("] ")
          .Append(CoreBtf.KindStr(t)).Append(' ').Append(string.IsNullOrEmpty(t?.Name) ? "<anon>" : t!.Name);
        if (CoreRelocator.IsTypeBased(Kind)) return sb.ToString();
        if (CoreRelocator.IsEnumvalBased(Kind))
        {
            var e = Btf.SkipMods(RootTypeId, out _);
            if (e is { IsEnum: true } && Raw.Count > 0 && Raw[0] < e.Enums.Length)
            {
                var (name, val) = e.Enums[Raw[0]];
                // "%d" for a signed enum (kind_flag), "%u" otherwise; 64-bit values as they are
                sb.Append("::").Append(name).Append(" = ").Append(e.Kind == BtfKind.Enum && !e.KindFlag ? (uint)val : val);
            }
            return sb.ToString();
        }
        for (int i = 0; i < Spec.Count; i++)
        {
            if (Spec[i].Name is { } n) sb.Append('.').Append(n);
            else if (i > 0 || Spec[i].Idx > 0) sb.Append('[').Append(Spec[i].Idx).Append(']');
        }
        sb.Append(" (");
        for (int i = 0; i < Raw.Count; i++) sb.Append(i == 0 ? "" : ":").Append(Raw[i]);
        if (BitOffset % 8 != 0) sb.Append(" @ offset ").Append(BitOffset / 8).Append('.').Append(BitOffset % 8).Append(')');
        else sb.Append(" @ offset ").Append(BitOffset / 8).Append(')');
        return sb.ToString();
    }
}

/// <summary>A relocation the loader refuses (libbpf fails bpf_object__load): its warning lines and errno.</summary>
internal sealed class CoreReloException(string libbpfLog, int errno) : Exception(libbpfLog)
{
    public int Errno { get; } = errno;
}

/// <summary>
/// libbpf's CO-RE relocation (tools/lib/bpf/relo_core.c bpf_core_calc_relo_insn and
/// bpf_core_patch_insn, libbpf.c bpf_object__relocate_core) against the simulated kernel's BTF:
/// candidates by essential name, local and target specs, the value for each relocation kind, the
/// patched instruction, and the poisoned call 0xbad2310 when a relocation cannot be satisfied.
/// Written from the behaviour (docs/core.md), not from libbpf's source.
/// </summary>
internal sealed class CoreRelocator
{
    /// <summary>The helper id a poisoned instruction calls: 0xbad2310, "bad relo".</summary>
    public const int PoisonImm = 195896080;
    private const int SpecMaxLen = 64; // BPF_CORE_SPEC_MAX_LEN
    private const int EINVAL = 22, E2BIG = 7, ERANGE = 34, EOPNOTSUPP = 95;

    private readonly CoreBtf _local, _targ;
    private readonly Dictionary<int, List<int>> _cands = new();
    private readonly List<string> _log = new();

    public CoreRelocator(CoreBtf local, CoreBtf targ)
    {
        _local = local;
        _targ = targ;
    }

    public static string KindStr(BpfCoreReloKind k) => k switch
    {
        BpfCoreReloKind.FieldByteOffset => "byte_off", BpfCoreReloKind.FieldByteSize => "byte_sz",
        BpfCoreReloKind.FieldExists => "field_exists", BpfCoreReloKind.FieldSigned => "signed",
        BpfCoreReloKind.FieldLshiftU64 => "lshift_u64", BpfCoreReloKind.FieldRshiftU64 => "rshift_u64",
        BpfCoreReloKind.TypeIdLocal => "local_type_id", BpfCoreReloKind.TypeIdTarget => "target_type_id",
        BpfCoreReloKind.TypeExists => "type_exists", BpfCoreReloKind.TypeMatches => "type_matches",
        BpfCoreReloKind.TypeSize => "type_size", BpfCoreReloKind.EnumvalExists => "enumval_exists",
        BpfCoreReloKind.EnumvalValue => "enumval_value", _ => "unknown",
    };

    public static bool IsFieldBased(BpfCoreReloKind k) => k <= BpfCoreReloKind.FieldRshiftU64;
    public static bool IsTypeBased(BpfCoreReloKind k) => k is BpfCoreReloKind.TypeIdLocal or BpfCoreReloKind.TypeIdTarget
        or BpfCoreReloKind.TypeExists or BpfCoreReloKind.TypeMatches or BpfCoreReloKind.TypeSize;
    public static bool IsEnumvalBased(BpfCoreReloKind k) => k is BpfCoreReloKind.EnumvalExists or BpfCoreReloKind.EnumvalValue;

    /// <summary>The local spec libbpf prints for a relocation (the verifier-log fixup of a poisoned insn), or null.</summary>
    public string? LocalSpecText(BtfCoreRelo relo) => ParseSpec(_local, relo.TypeId, relo.Access, relo.Kind, out var s, "") == 0 ? s.Format() : null;

    // ---- bpf_core_parse_spec ---------------------------------------------------------------------

    private int ParseSpec(CoreBtf btf, int typeId, string access, BpfCoreReloKind kind, out CoreSpec spec, string prog)
    {
        spec = new CoreSpec { Btf = btf, RootTypeId = typeId, Kind = kind };
        if (access.Length == 0 || access[0] == ':') return -EINVAL;
        if (IsTypeBased(kind)) return access == "0" ? 0 : -EINVAL;
        foreach (var part in access.Split(':'))
        {
            if (!int.TryParse(part, System.Globalization.NumberStyles.AllowLeadingSign, null, out int idx)) return -EINVAL;
            if (spec.Raw.Count == SpecMaxLen) return -E2BIG;
            spec.Raw.Add(idx);
        }
        var t = btf.SkipMods(typeId, out int id);
        if (t is null) return -EINVAL;
        int access0 = spec.Raw[0];
        spec.Spec.Add(new CoreAccessor(id, access0, null));
        if (IsEnumvalBased(kind))
        {
            if (!t.IsEnum || spec.Raw.Count > 1 || access0 < 0 || access0 >= t.Vlen) return -EINVAL;
            spec.Spec[0] = new CoreAccessor(id, access0, t.Enums[access0].Name);
            return 0;
        }
        if (!IsFieldBased(kind)) return -EINVAL;
        long sz = btf.ResolveSize(id);
        if (sz < 0) return (int)sz;
        spec.BitOffset = access0 * sz * 8;
        for (int i = 1; i < spec.Raw.Count; i++)
        {
            t = btf.SkipMods(id, out id);
            if (t is null) return -EINVAL;
            int ai = spec.Raw[i];
            if (t.IsComposite)
            {
                if (ai < 0 || ai >= t.Members.Length) return -EINVAL;
                var m = t.Members[ai];
                spec.BitOffset += m.BitOffset;
                if (m.Name.Length > 0) spec.Spec.Add(new CoreAccessor(id, ai, m.Name));
                id = m.Type;
            }
            else if (t.Kind == BtfKind.Array)
            {
                var elem = btf.SkipMods(t.Ref, out id);
                if (elem is null) return -EINVAL;
                bool flex = IsFlexArray(btf, spec.Spec[^1], t);
                if (!flex && (ai < 0 || ai >= t.ArrayLen)) return -EINVAL;
                spec.Spec.Add(new CoreAccessor(id, ai, null));
                sz = btf.ResolveSize(id);
                if (sz < 0) return (int)sz;
                spec.BitOffset += ai * sz * 8;
            }
            else
            {
                _log.Add($"libbpf: prog '{prog}': relo for [{typeId}] {access} (at idx {i}) captures type [{id}] of unexpected kind {CoreBtf.KindStr(t)}");
                return -EINVAL;
            }
        }
        return 0;
    }

    // is_flex_arr: a zero-length array that is the last member of the struct it was reached through
    private static bool IsFlexArray(CoreBtf btf, CoreAccessor parent, CoreType arr) =>
        parent.Name is not null && arr.ArrayLen == 0 && btf[parent.TypeId] is { } p && parent.Idx == p.Vlen - 1;

    // ---- type compatibility ----------------------------------------------------------------------

    // bpf_core_fields_are_compat: composites mix freely, kinds must match otherwise; fwd/enum by
    // essential name (or one anonymous), ints unless a legacy bitfield int, arrays by element.
    private int FieldsAreCompat(int localId, int targId)
    {
        for (int guard = 0; guard < 32; guard++)
        {
            var l = _local.SkipMods(localId, out localId);
            var t = _targ.SkipMods(targId, out targId);
            if (l is null || t is null) return -EINVAL;
            if (l.IsComposite && t.IsComposite) return 1;
            if (l.Kind != t.Kind) return 0;
            switch (l.Kind)
            {
                case BtfKind.Ptr or BtfKind.Float: return 1;
                case BtfKind.Fwd or BtfKind.Enum or BtfKind.Enum64: return NamesCompat(l.Name, t.Name) ? 1 : 0;
                case BtfKind.Int: return l.IntOffset == 0 && t.IntOffset == 0 ? 1 : 0;
                case BtfKind.Array: localId = l.Ref; targId = t.Ref; continue;
                default: return 0;
            }
        }
        return -EINVAL;
    }

    private static bool NamesCompat(string a, string b)
    {
        int la = CoreBtf.EssentialNameLen(a), lb = CoreBtf.EssentialNameLen(b);
        return la == 0 || lb == 0 || la == lb && string.CompareOrdinal(a, 0, b, 0, la) == 0;
    }

    // bpf_core_types_are_compat (TYPE_EXISTS / TYPE_SIZE / TYPE_ID_TARGET): same kind under the
    // modifiers; named kinds need nothing more; ints not legacy bitfields; pointers and arrays by
    // their target; function prototypes by return and parameter types.
    private int TypesAreCompat(int localId, int targId, int level = 32)
    {
        if (level <= 0) return -EINVAL;
        var l = _local.SkipMods(localId, out _);
        var t = _targ.SkipMods(targId, out _);
        if (l is null || t is null) return -EINVAL;
        if (l.Kind != t.Kind && !(l.IsEnum && t.IsEnum)) return 0;
        switch (l.Kind)
        {
            case BtfKind.Unknown or BtfKind.Struct or BtfKind.Union or BtfKind.Enum or BtfKind.Enum64 or BtfKind.Fwd: return 1;
            case BtfKind.Int: return l.IntOffset == 0 && t.IntOffset == 0 ? 1 : 0;
            case BtfKind.Ptr or BtfKind.Array: return TypesAreCompat(l.Ref, t.Ref, level - 1);
            default: return 0;
        }
    }

    /// <summary>
    /// bpf_core_types_are_compat for a typed __ksym: the extern's type (local id) against the kernel
    /// VAR's type (target id, modifiers skipped); also the "[id] kind name" of each for libbpf's message.
    /// </summary>
    public int TypesCompat(int localId, int targId, out string local, out string target)
    {
        var l = _local.SkipMods(localId, out int lid);
        var t = _targ[targId];
        local = $"[{lid}] {CoreBtf.KindStr(l)} {l?.Name}";
        target = $"[{targId}] {CoreBtf.KindStr(t)} {t?.Name}";
        return TypesAreCompat(lid, targId);
    }

    // bpf_core_types_match (TYPE_MATCHES): stricter than compat. Names agree (flavor-less, or one
    // anonymous); ints by size and signedness; arrays by length; enums: every local enumerator
    // exists in the target; composites: every local member exists by name with a matching type;
    // behind a pointer a struct/union also matches a fwd of the same flavour.
    private int TypesMatch(int localId, int targId, bool behindPtr, int level)
    {
        if (level <= 0) return -EINVAL;
        var l = _local.SkipMods(localId, out localId);
        var t = _targ.SkipMods(targId, out targId);
        if (l is null || t is null) return -EINVAL;
        if (!NamesCompat(l.Name, t.Name)) return 0;
        switch (l.Kind)
        {
            case BtfKind.Unknown:
                return t.Kind == BtfKind.Unknown ? 1 : 0;
            case BtfKind.Fwd:
                if (behindPtr && t.Kind != BtfKind.Fwd)
                    return (t.Kind == BtfKind.Struct && !l.KindFlag) || (t.Kind == BtfKind.Union && l.KindFlag) ? 1 : 0;
                return t.Kind == BtfKind.Fwd && l.KindFlag == t.KindFlag ? 1 : 0;
            case BtfKind.Enum or BtfKind.Enum64:
                if (!t.IsEnum) return 0;
                foreach (var (name, _) in l.Enums)
                    if (Array.FindIndex(t.Enums, e => e.Name == name) < 0) return 0;
                return 1;
            case BtfKind.Struct or BtfKind.Union:
                if (behindPtr)
                {
                    if (l.Kind == t.Kind) return 1;
                    return t.Kind == BtfKind.Fwd && (l.Kind == BtfKind.Union) == t.KindFlag ? 1 : 0;
                }
                if (l.Kind != t.Kind || l.Members.Length > t.Members.Length) return 0;
                foreach (var lm in l.Members)
                {
                    int ti = Array.FindIndex(t.Members, m => m.Name == lm.Name);
                    if (ti < 0) return 0;
                    int r = TypesMatch(lm.Type, t.Members[ti].Type, false, level - 1);
                    if (r <= 0) return r;
                }
                return 1;
            case BtfKind.Int:
                return t.Kind == BtfKind.Int && l.Size == t.Size && (l.IntEncoding & 1) == (t.IntEncoding & 1) ? 1 : 0;
            case BtfKind.Ptr:
                return t.Kind == BtfKind.Ptr ? TypesMatch(l.Ref, t.Ref, true, level - 1) : 0;
            case BtfKind.Array:
                return t.Kind == BtfKind.Array && l.ArrayLen == t.ArrayLen ? TypesMatch(l.Ref, t.Ref, behindPtr, level - 1) : 0;
            default:
                return 0;
        }
    }

    // ---- bpf_core_spec_match ----------------------------------------------------------------------

    private int SpecMatch(CoreSpec local, int targId, out CoreSpec targ)
    {
        targ = new CoreSpec { Btf = _targ, RootTypeId = targId, Kind = local.Kind };
        if (IsTypeBased(local.Kind))
            return local.Kind == BpfCoreReloKind.TypeMatches ? TypesMatch(local.RootTypeId, targId, false, 32) : TypesAreCompat(local.RootTypeId, targId);
        var la = local.Spec[0];
        if (IsEnumvalBased(local.Kind))
        {
            var tt = _targ.SkipMods(targId, out targId);
            if (tt is null || !tt.IsEnum) return 0;
            int len = CoreBtf.EssentialNameLen(la.Name!);
            for (int i = 0; i < tt.Enums.Length; i++)
            {
                string n = tt.Enums[i].Name;
                if (CoreBtf.EssentialNameLen(n) != len || string.CompareOrdinal(la.Name, 0, n, 0, len) != 0) continue;
                targ.Spec.Add(new CoreAccessor(targId, i, n));
                targ.Raw.Add(i);
                return 1;
            }
            return 0;
        }
        if (!IsFieldBased(local.Kind)) return -EINVAL;
        for (int i = 0; i < local.Spec.Count; i++)
        {
            var tt = _targ.SkipMods(targId, out targId);
            if (tt is null) return -EINVAL;
            var acc = local.Spec[i];
            if (acc.Name is not null)
            {
                int r = MatchMember(acc, targId, targ, out targId);
                if (r <= 0) return r;
                continue;
            }
            if (i > 0)
            {
                if (tt.Kind != BtfKind.Array) return 0;
                bool flex = IsFlexArray(_targ, targ.Spec[^1], tt);
                if (!flex && acc.Idx >= tt.ArrayLen) return 0;
                if (_targ.SkipMods(tt.Ref, out targId) is null) return -EINVAL;
            }
            if (targ.Raw.Count == SpecMaxLen) return -E2BIG;
            targ.Spec.Add(new CoreAccessor(targId, acc.Idx, null));
            targ.Raw.Add(acc.Idx);
            long sz = _targ.ResolveSize(targId);
            if (sz < 0) return (int)sz;
            targ.BitOffset += acc.Idx * sz * 8;
        }
        return 1;
    }

    // bpf_core_match_member: the local field by name in the target struct, looking through anonymous
    // members; the found field's type must be compatible with the local one.
    private int MatchMember(CoreAccessor localAcc, int targId, CoreSpec spec, out int nextTargId)
    {
        nextTargId = targId;
        var tt = _targ.SkipMods(targId, out targId);
        if (tt is null) return -EINVAL;
        if (!tt.IsComposite) return 0;
        var lm = _local[localAcc.TypeId]!.Members[localAcc.Idx];
        for (int i = 0; i < tt.Members.Length; i++)
        {
            var m = tt.Members[i];
            if (spec.Raw.Count == SpecMaxLen) return -E2BIG;
            spec.BitOffset += m.BitOffset;
            spec.Raw.Add(i);
            if (m.Name.Length == 0)
            {
                int found = MatchMember(localAcc, m.Type, spec, out nextTargId);
                if (found != 0) return found;
            }
            else if (m.Name == lm.Name)
            {
                spec.Spec.Add(new CoreAccessor(targId, i, m.Name));
                nextTargId = m.Type;
                int found = FieldsAreCompat(lm.Type, m.Type);
                if (found == 0) spec.Spec.RemoveAt(spec.Spec.Count - 1);
                return found;
            }
            spec.BitOffset -= m.BitOffset;
            spec.Raw.RemoveAt(spec.Raw.Count - 1);
        }
        return 0;
    }

    // ---- values ------------------------------------------------------------------------------------

    /// <summary>struct bpf_core_relo_res.</summary>
    public struct Result
    {
        public uint OrigVal, NewVal;
        public bool Poison, Validate, FailMemszAdjust;
        public uint OrigSz, NewSz;
        public int OrigTypeId, NewTypeId;
    }

    // bpf_core_calc_field_relo; -EUCLEAN (117) asks for poisoning.
    private int CalcField(BtfCoreRelo relo, CoreSpec? spec, ref uint val, ref uint fieldSz, ref int typeId, ref bool validate, string prog)
    {
        fieldSz = 0;
        if (relo.Kind == BpfCoreReloKind.FieldExists) { val = spec is null ? 0u : 1u; return 0; }
        if (spec is null) return -117;
        var acc = spec.Spec[^1];
        var t = spec.Btf[acc.TypeId]!;
        if (acc.Name is null)
        {
            long asz = spec.Btf.ResolveSize(acc.TypeId);
            if (relo.Kind == BpfCoreReloKind.FieldByteOffset)
            {
                val = (uint)(spec.BitOffset / 8);
                if (asz < 0) return -EINVAL;
                fieldSz = (uint)asz;
                typeId = acc.TypeId;
            }
            else if (relo.Kind == BpfCoreReloKind.FieldByteSize)
            {
                if (asz < 0) return -EINVAL;
                val = (uint)asz;
            }
            else
            {
                _log.Add($"libbpf: prog '{prog}': relo {(int)relo.Kind} at insn #{relo.InsnOff / 8} can't be applied to array access");
                return -EINVAL;
            }
            validate = true;
            return 0;
        }
        var m = t.Members[acc.Idx];
        var mt = spec.Btf.SkipMods(m.Type, out int fieldTypeId);
        long bitOff = spec.BitOffset;
        uint bitSz = m.BitSize, byteSz;
        long byteOff;
        bool bitfield = bitSz > 0;
        if (bitfield)
        {
            byteSz = mt?.Size ?? 0;
            if (byteSz == 0) return -EINVAL;
            byteOff = bitOff / 8 / byteSz * byteSz;
            // the smallest power-of-two load that covers the bitfield
            while (bitOff + bitSz - byteOff * 8 > byteSz * 8)
            {
                if (byteSz >= 8)
                {
                    _log.Add($"libbpf: prog '{prog}': relo {(int)relo.Kind} at insn #{relo.InsnOff / 8} can't be satisfied for bitfield");
                    return -E2BIG;
                }
                byteSz *= 2;
                byteOff = bitOff / 8 / byteSz * byteSz;
            }
        }
        else
        {
            long sz = spec.Btf.ResolveSize(fieldTypeId);
            if (sz < 0) return -EINVAL;
            byteSz = (uint)sz;
            byteOff = spec.BitOffset / 8;
            bitSz = byteSz * 8;
        }
        validate = !bitfield;
        switch (relo.Kind)
        {
            case BpfCoreReloKind.FieldByteOffset:
                val = (uint)byteOff;
                if (!bitfield) { fieldSz = byteSz; typeId = fieldTypeId; }
                break;
            case BpfCoreReloKind.FieldByteSize: val = byteSz; break;
            case BpfCoreReloKind.FieldSigned:
                // an enum is signed when its kind_flag says so, an int by BTF_INT_SIGNED
                val = mt is not null && (mt.IsEnum && mt.KindFlag || mt.Kind == BtfKind.Int && (mt.IntEncoding & 1) != 0) ? 1u : 0u;
                validate = true;
                break;
            case BpfCoreReloKind.FieldLshiftU64: val = (uint)(64 - (bitOff + bitSz - byteOff * 8)); break;
            case BpfCoreReloKind.FieldRshiftU64: val = 64 - bitSz; validate = true; break;
            default: return -EOPNOTSUPP;
        }
        return 0;
    }

    // bpf_core_calc_type_relo: type relocations are 0 when no target type matched.
    private int CalcType(BtfCoreRelo relo, CoreSpec? spec, ref uint val, ref bool validate)
    {
        validate = true;
        if (spec is null) { val = 0; return 0; }
        switch (relo.Kind)
        {
            case BpfCoreReloKind.TypeIdTarget: val = (uint)spec.RootTypeId; validate = false; break;
            case BpfCoreReloKind.TypeExists or BpfCoreReloKind.TypeMatches: val = 1; break;
            case BpfCoreReloKind.TypeSize:
                long sz = spec.Btf.ResolveSize(spec.RootTypeId);
                if (sz < 0) return -EINVAL;
                val = (uint)sz;
                break;
            default: return -EOPNOTSUPP;
        }
        return 0;
    }

    private static int CalcEnumval(BtfCoreRelo relo, CoreSpec? spec, ref uint val)
    {
        switch (relo.Kind)
        {
            case BpfCoreReloKind.EnumvalExists: val = spec is null ? 0u : 1u; return 0;
            case BpfCoreReloKind.EnumvalValue:
                if (spec is null) return -117;
                var e = spec.Btf[spec.Spec[0].TypeId]!;
                val = (uint)e.Enums[spec.Spec[0].Idx].Value;
                return 0;
            default: return -EOPNOTSUPP;
        }
    }

    // bpf_core_calc_relo: the local (expected) and target values, and whether the insn is poisoned.
    private int CalcRelo(BtfCoreRelo relo, int reloIdx, CoreSpec local, CoreSpec? targ, out Result res, string prog)
    {
        res = new Result { Validate = true };
        int err = -EOPNOTSUPP;
        if (IsFieldBased(relo.Kind))
        {
            err = CalcField(relo, local, ref res.OrigVal, ref res.OrigSz, ref res.OrigTypeId, ref res.Validate, prog);
            bool ignored = false;
            if (err == 0) err = CalcField(relo, targ, ref res.NewVal, ref res.NewSz, ref res.NewTypeId, ref ignored, prog);
            if (err == 0 && res.OrigSz != res.NewSz)
            {
                // a size change is safe only for pointers and unsigned integers (zero extension)
                var o = _local[res.OrigTypeId];
                var n = _targ[res.NewTypeId];
                bool ok = o?.Kind == BtfKind.Ptr && n?.Kind == BtfKind.Ptr
                    || o?.Kind == BtfKind.Int && n?.Kind == BtfKind.Int && o.IntEncoding != 1 && n.IntEncoding != 1;
                res.FailMemszAdjust = !ok;
            }
        }
        else if (IsTypeBased(relo.Kind))
        {
            err = CalcType(relo, local, ref res.OrigVal, ref res.Validate);
            bool ignored = false;
            if (err == 0) err = CalcType(relo, targ, ref res.NewVal, ref ignored);
        }
        else if (IsEnumvalBased(relo.Kind))
        {
            err = CalcEnumval(relo, local, ref res.OrigVal);
            if (err == 0) err = CalcEnumval(relo, targ, ref res.NewVal);
        }
        if (err == -117) { res.Poison = true; err = 0; }
        else if (err == -EOPNOTSUPP)
            _log.Add($"libbpf: prog '{prog}': relo #{reloIdx}: unrecognized CO-RE relocation {KindStr(relo.Kind)} ({(int)relo.Kind}) at insn #{relo.InsnOff / 8}");
        return err;
    }

    // bpf_core_find_cands: target types of the local type's kind (enum and enum64 together) whose
    // essential names are the local one's; cached per local type as libbpf does.
    private List<int>? FindCands(int localId)
    {
        if (_cands.TryGetValue(localId, out var c)) return c;
        var lt = _local[localId]!;
        if (lt.Name.Length == 0) return null;
        int len = CoreBtf.EssentialNameLen(lt.Name);
        c = new List<int>();
        for (int i = 1; i < _targ.Count; i++)
        {
            var t = _targ[i];
            if (t is null || !(t.Kind == lt.Kind || t.IsEnum && lt.IsEnum) || t.Name.Length == 0) continue;
            if (CoreBtf.EssentialNameLen(t.Name) != len || string.CompareOrdinal(t.Name, 0, lt.Name, 0, len) != 0) continue;
            c.Add(i);
        }
        _cands[localId] = c;
        return c;
    }

    /// <summary>
    /// bpf_core_resolve_relo + bpf_core_calc_relo_insn for one relocation: throws CoreReloException
    /// with libbpf's warnings when libbpf would fail the load.
    /// </summary>
    public Result Resolve(BtfCoreRelo relo, int reloIdx, string prog)
    {
        var lt = _local[relo.TypeId];
        if (lt is null || relo.TypeId == 0) throw Fail(prog, reloIdx, -EINVAL);
        // bpf_core_resolve_relo: the candidates first (anonymous types have none), then the spec
        var cands = relo.Kind == BpfCoreReloKind.TypeIdLocal ? [] : FindCands(relo.TypeId);
        if (cands is null)
        {
            _log.Add($"libbpf: prog '{prog}': relo #{reloIdx}: target candidate search failed for [{relo.TypeId}] {CoreBtf.KindStr(lt)} : -EINVAL");
            throw Fail(prog, reloIdx, -EINVAL);
        }
        int err = ParseSpec(_local, relo.TypeId, relo.Access, relo.Kind, out var local, prog);
        if (err != 0)
        {
            _log.Add($"libbpf: prog '{prog}': relo #{reloIdx}: parsing [{relo.TypeId}] {CoreBtf.KindStr(lt)} {(lt.Name.Length == 0 ? "<anon>" : lt.Name)} + {relo.Access} failed: {err}");
            throw Fail(prog, reloIdx, -EINVAL);
        }
        if (relo.Kind == BpfCoreReloKind.TypeIdLocal)
            return new Result { OrigVal = (uint)relo.TypeId, NewVal = (uint)relo.TypeId };
        Result targ = default;
        CoreSpec? targSpec = null;
        var kept = new List<int>();
        foreach (int cand in cands)
        {
            err = SpecMatch(local, cand, out var candSpec);
            if (err < 0)
            {
                _log.Add($"libbpf: prog '{prog}': relo #{reloIdx}: error matching candidate #{kept.Count} {candSpec.Format()}: {err}");
                throw Fail(prog, reloIdx, err);
            }
            if (err == 0) continue;
            err = CalcRelo(relo, reloIdx, local, candSpec, out var candRes, prog);
            if (err != 0) throw Fail(prog, reloIdx, err);
            if (targSpec is null) { targ = candRes; targSpec = candSpec; }
            else if (candSpec.BitOffset != targSpec.BitOffset)
            {
                _log.Add($"libbpf: prog '{prog}': relo #{reloIdx}: field offset ambiguity: {candSpec.BitOffset} != {targSpec.BitOffset}");
                throw Fail(prog, reloIdx, -EINVAL);
            }
            else if (candRes.Poison != targ.Poison || candRes.NewVal != targ.NewVal)
            {
                _log.Add($"libbpf: prog '{prog}': relo #{reloIdx}: relocation decision ambiguity: {(candRes.Poison ? "failure" : "success")} {candRes.NewVal} != {(targ.Poison ? "failure" : "success")} {targ.NewVal}");
                throw Fail(prog, reloIdx, -EINVAL);
            }
            kept.Add(cand);
        }
        // the candidates that did not match are dropped for later relocations of the same type
        if (kept.Count > 0) { cands.Clear(); cands.AddRange(kept); }
        if (targSpec is null)
        {
            err = CalcRelo(relo, reloIdx, local, null, out targ, prog);
            if (err != 0) throw Fail(prog, reloIdx, err);
        }
        return targ;
    }

    private CoreReloException Fail(string prog, int reloIdx, int err)
    {
        _log.Add($"libbpf: prog '{prog}': relo #{reloIdx}: failed to relocate: -{Kernel.Errno.Name(-err)}");
        return Done(-err);
    }

    private CoreReloException Done(int errno)
    {
        _log.Add($"libbpf: failed to perform CO-RE relocations: -{Kernel.Errno.Name(errno)}");
        return new CoreReloException(string.Join('\n', _log) + "\n", errno);
    }

    // ---- bpf_core_patch_insn -------------------------------------------------------------------

    private static BpfInsn Poisoned(BpfInsn i) => i with { Opcode = Op.JMP | Op.CALL, Dst = 0, Src = 0, Offset = 0, Imm = PoisonImm };

    /// <summary>Patches insns[idx] (and idx+1 of an ld_imm64) with the result; throws CoreReloException as libbpf fails.</summary>
    public void Patch(BpfInsn[] insns, int idx, int progIdx, int reloIdx, in Result res, string prog)
    {
        var ins = insns[idx];
        if (res.Poison)
        {
            Poison(insns, idx);
            return;
        }
        int cls = ins.Opcode & 7;
        switch (cls)
        {
            case Op.ALU or Op.ALU64:
                if ((ins.Opcode & Op.X) != 0) throw PatchFail(prog, reloIdx, progIdx, EINVAL);
                if (res.Validate && (uint)ins.Imm != res.OrigVal)
                {
                    _log.Add($"libbpf: prog '{prog}': relo #{reloIdx}: unexpected insn #{progIdx} (ALU/ALU64) value: got {(uint)ins.Imm}, exp {res.OrigVal} -> {res.NewVal}");
                    throw PatchFail(prog, reloIdx, progIdx, EINVAL);
                }
                insns[idx] = ins with { Imm = (int)res.NewVal };
                return;
            case Op.LDX or Op.ST or Op.STX:
                // the s16 offset compared as C compares it with a u32: a negative one never matches
                if (res.Validate && (uint)(int)ins.Offset != res.OrigVal)
                {
                    _log.Add($"libbpf: prog '{prog}': relo #{reloIdx}: unexpected insn #{progIdx} (LDX/ST/STX) value: got {(uint)(int)ins.Offset}, exp {res.OrigVal} -> {res.NewVal}");
                    throw PatchFail(prog, reloIdx, progIdx, EINVAL);
                }
                if (res.NewVal > short.MaxValue)
                {
                    _log.Add($"libbpf: prog '{prog}': relo #{reloIdx}: insn #{progIdx} (LDX/ST/STX) value too big: {res.NewVal}");
                    throw PatchFail(prog, reloIdx, progIdx, ERANGE);
                }
                if (res.FailMemszAdjust)
                {
                    _log.Add($"libbpf: prog '{prog}': relo #{reloIdx}: insn #{progIdx} (LDX/ST/STX) accesses field incorrectly. Make sure you are accessing pointers, unsigned integers, or fields of matching type and size.");
                    Poison(insns, idx);
                    return;
                }
                ins = ins with { Offset = (short)res.NewVal };
                if (res.NewSz != res.OrigSz)
                {
                    int bytes = SizeBytes(ins.Opcode);
                    if (bytes != res.OrigSz)
                    {
                        _log.Add($"libbpf: prog '{prog}': relo #{reloIdx}: insn #{progIdx} (LDX/ST/STX) unexpected mem size: got {bytes}, exp {res.OrigSz}");
                        throw PatchFail(prog, reloIdx, progIdx, EINVAL);
                    }
                    int sizeBits = res.NewSz switch { 8 => Op.DW, 4 => Op.W, 2 => Op.H, 1 => Op.B, _ => -1 };
                    if (sizeBits < 0)
                    {
                        _log.Add($"libbpf: prog '{prog}': relo #{reloIdx}: insn #{progIdx} (LDX/ST/STX) invalid new mem size: {res.NewSz}");
                        throw PatchFail(prog, reloIdx, progIdx, EINVAL);
                    }
                    ins = ins with { Opcode = (byte)((ins.Opcode & 0xe7) | sizeBits) };
                }
                insns[idx] = ins;
                return;
            case Op.LD:
            {
                var hi = idx + 1 < insns.Length ? insns[idx + 1] : default;
                if (!ins.IsLdImm64 || idx + 1 >= insns.Length || ins.Src != 0 || ins.Offset != 0 || hi.Opcode != 0 || hi.Dst != 0 || hi.Src != 0 || hi.Offset != 0)
                {
                    _log.Add($"libbpf: prog '{prog}': relo #{reloIdx}: insn #{progIdx} (LDIMM64) has unexpected form");
                    throw PatchFail(prog, reloIdx, progIdx, EINVAL);
                }
                ulong imm = (uint)ins.Imm | (ulong)(uint)hi.Imm << 32;
                if (res.Validate && imm != res.OrigVal)
                {
                    _log.Add($"libbpf: prog '{prog}': relo #{reloIdx}: unexpected insn #{progIdx} (LDIMM64) value: got {imm}, exp {res.OrigVal} -> {res.NewVal}");
                    throw PatchFail(prog, reloIdx, progIdx, EINVAL);
                }
                insns[idx] = ins with { Imm = (int)res.NewVal };
                insns[idx + 1] = hi with { Imm = 0 };
                return;
            }
            default:
                _log.Add($"libbpf: prog '{prog}': relo #{reloIdx}: trying to relocate unrecognized insn #{progIdx}, code:0x{ins.Opcode:x}, src:0x{ins.Src:x}, dst:0x{ins.Dst:x}, off:0x{(ushort)ins.Offset:x}, imm:0x{ins.Imm:x}");
                throw PatchFail(prog, reloIdx, progIdx, EINVAL);
        }
    }

    // bpf_core_poison_insn; the second half of an ld_imm64 too, so the verifier reports the call.
    private static void Poison(BpfInsn[] insns, int idx)
    {
        if (insns[idx].IsLdImm64 && idx + 1 < insns.Length) insns[idx + 1] = Poisoned(insns[idx + 1]);
        insns[idx] = Poisoned(insns[idx]);
    }

    private static int SizeBytes(byte op) => (op & 0x18) switch { Op.DW => 8, Op.W => 4, Op.H => 2, _ => 1 };

    private CoreReloException PatchFail(string prog, int reloIdx, int insnIdx, int errno)
    {
        _log.Add($"libbpf: prog '{prog}': relo #{reloIdx}: failed to patch insn #{insnIdx}: -{Kernel.Errno.Name(errno)}");
        return Done(errno);
    }
}

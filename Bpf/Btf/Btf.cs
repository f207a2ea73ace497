using System.Buffers.Binary;
using System.Text;

namespace BpfTraceSim.Bpf.Btf;

public enum BtfKind
{
    Unknown = 0, Int = 1, Ptr = 2, Array = 3, Struct = 4, Union = 5, Enum = 6, Fwd = 7, Typedef = 8,
    Volatile = 9, Const = 10, Restrict = 11, Func = 12, FuncProto = 13, Var = 14, DataSec = 15,
    Float = 16, DeclTag = 17, TypeTag = 18, Enum64 = 19,
}

/// <summary>A member of a struct/union, a DATASEC entry (Type, Offset, Size) or a func_proto parameter.</summary>
public readonly record struct BtfMember(string Name, int Type, uint Offset, uint Size);

/// <summary>One BTF type: kind, name, size or referenced type, and kind-specific entries.</summary>
public sealed class BtfType
{
    public int Id { get; init; }
    public BtfKind Kind { get; init; }
    public string Name { get; init; } = "";
    /// <summary>size for int/struct/union/enum/datasec/float, referenced type id otherwise.</summary>
    public uint SizeOrType { get; init; }
    public int Vlen { get; init; }
    public bool KindFlag { get; init; }
    public IReadOnlyList<BtfMember> Members { get; init; } = [];
    public int ArrayElem { get; init; }
    public uint ArrayLen { get; init; }
    public uint IntEncoding { get; init; }
    public uint VarLinkage { get; init; }
}

/// <summary>The .BTF section: types by id (0 = void) and the string table.</summary>
public sealed class BtfData
{
    private readonly byte[] _strings;
    public IReadOnlyList<BtfType> Types { get; }

    private BtfData(List<BtfType> types, byte[] strings)
    {
        Types = types;
        _strings = strings;
    }

    public string String(uint off)
    {
        if (off >= _strings.Length) return "";
        int end = Array.IndexOf(_strings, (byte)0, (int)off);
        if (end < 0) end = _strings.Length;
        return Encoding.UTF8.GetString(_strings, (int)off, end - (int)off);
    }

    public BtfType? this[int id] => id > 0 && id < Types.Count ? Types[id] : null;

    /// <summary>Parses a .BTF section; throws FormatException on a malformed one.</summary>
    public static BtfData Parse(ReadOnlySpan<byte> s)
    {
        if (s.Length < 24 || BinaryPrimitives.ReadUInt16LittleEndian(s) != 0xeB9F)
            throw new FormatException("bad BTF magic");
        // btf_parse_hdr: version must be BTF_VERSION (1), flags 0, and the header at least 24 bytes.
        if (s[2] != 1) throw new FormatException($"BTF version {s[2]} is not supported (only version 1 is)");
        if (s[3] != 0) throw new FormatException($"BTF flags {s[3]} are not supported (must be 0)");
        if (U32(s, 4) < 24) throw new FormatException($"BTF header length {U32(s, 4)} is shorter than the 24-byte header");
        uint hdrLen = U32(s, 4), typeOff = U32(s, 8), typeLen = U32(s, 12), strOff = U32(s, 16), strLen = U32(s, 20);
        if ((ulong)hdrLen + strOff + strLen > (ulong)s.Length || (ulong)hdrLen + typeOff + typeLen > (ulong)s.Length)
            throw new FormatException("BTF sections out of range");
        var strings = s.Slice((int)(hdrLen + strOff), (int)strLen).ToArray();
        var t = s.Slice((int)(hdrLen + typeOff), (int)typeLen);
        var types = new List<BtfType> { new() { Id = 0, Kind = BtfKind.Unknown, Name = "void" } };
        var tmp = new BtfData(types, strings);
        int p = 0;
        while (p + 12 <= t.Length)
        {
            uint nameOff = U32(t, p), info = U32(t, p + 4), sz = U32(t, p + 8);
            p += 12;
            var kind = (BtfKind)((info >> 24) & 0x1f);
            int vlen = (int)(info & 0xffff);
            string name = tmp.String(nameOff);
            var members = new List<BtfMember>();
            int elem = 0; uint alen = 0, enc = 0, linkage = 0;
            switch (kind)
            {
                case BtfKind.Int: enc = U32(t, p); p += 4; break;
                case BtfKind.Array: elem = (int)U32(t, p); alen = U32(t, p + 8); p += 12; break;
                case BtfKind.Struct or BtfKind.Union:
                    for (int i = 0; i < vlen; i++, p += 12) members.Add(new(tmp.String(U32(t, p)), (int)U32(t, p + 4), U32(t, p + 8), 0));
                    break;
                case BtfKind.Enum:
                    for (int i = 0; i < vlen; i++, p += 8) members.Add(new(tmp.String(U32(t, p)), 0, U32(t, p + 4), 0));
                    break;
                case BtfKind.Enum64:
                    for (int i = 0; i < vlen; i++, p += 12) members.Add(new(tmp.String(U32(t, p)), 0, U32(t, p + 4), U32(t, p + 8)));
                    break;
                case BtfKind.FuncProto:
                    for (int i = 0; i < vlen; i++, p += 8) members.Add(new(tmp.String(U32(t, p)), (int)U32(t, p + 4), 0, 0));
                    break;
                case BtfKind.Var: linkage = U32(t, p); p += 4; break;
                case BtfKind.DataSec:
                    for (int i = 0; i < vlen; i++, p += 12) members.Add(new("", (int)U32(t, p), U32(t, p + 4), U32(t, p + 8)));
                    break;
                case BtfKind.DeclTag: p += 4; break;
                case BtfKind.Ptr or BtfKind.Fwd or BtfKind.Typedef or BtfKind.Volatile or BtfKind.Const or BtfKind.Restrict
                    or BtfKind.Func or BtfKind.Float or BtfKind.TypeTag:
                    break;
                default: throw new FormatException($"unknown BTF kind {(int)kind} at type {types.Count}");
            }
            if (p > t.Length) throw new FormatException("BTF type data truncated");
            types.Add(new BtfType
            {
                Id = types.Count, Kind = kind, Name = name, SizeOrType = sz, Vlen = vlen, KindFlag = (info >> 31) != 0,
                Members = members, ArrayElem = elem, ArrayLen = alen, IntEncoding = enc, VarLinkage = linkage,
            });
        }
        return tmp;
    }

    /// <summary>Follows typedef/const/volatile/restrict/type_tag to the underlying type.</summary>
    public BtfType? Resolve(int id)
    {
        for (int guard = 0; guard < 64; guard++)
        {
            var t = this[id];
            if (t is null) return null;
            if (t.Kind is BtfKind.Typedef or BtfKind.Const or BtfKind.Volatile or BtfKind.Restrict or BtfKind.TypeTag)
            {
                id = (int)t.SizeOrType;
                continue;
            }
            return t;
        }
        return null;
    }

    /// <summary>Whether the type is void (id 0) under its typedef/const/volatile/restrict/type_tag modifiers.</summary>
    public bool IsVoid(int id)
    {
        for (int guard = 0; guard < 64; guard++)
        {
            if (id == 0) return true;
            if (this[id] is not { Kind: BtfKind.Typedef or BtfKind.Const or BtfKind.Volatile or BtfKind.Restrict or BtfKind.TypeTag } t) return false;
            id = (int)t.SizeOrType;
        }
        return false;
    }

    /// <summary>A type's size in bytes, or -1 when unknown (a chain deeper than the kernel's MAX_RESOLVE_DEPTH, 32, included: a cycle in corrupt BTF ends there).</summary>
    public long SizeOf(int id) => SizeOf(id, 0);

    private long SizeOf(int id, int depth)
    {
        if (depth > 32) return -1;
        var t = Resolve(id);
        if (t is null) return -1;
        return t.Kind switch
        {
            BtfKind.Int or BtfKind.Struct or BtfKind.Union or BtfKind.Enum or BtfKind.Enum64 or BtfKind.Float or BtfKind.DataSec => t.SizeOrType,
            BtfKind.Ptr => 8,
            BtfKind.Array => SizeOf(t.ArrayElem, depth + 1) is var e and >= 0 ? e * t.ArrayLen : -1,
            BtfKind.Var => SizeOf((int)t.SizeOrType, depth + 1),
            _ => -1,
        };
    }

    public BtfType? FindDataSec(string name)
    {
        foreach (var t in Types)
            if (t.Kind == BtfKind.DataSec && t.Name == name) return t;
        return null;
    }

    private static uint U32(ReadOnlySpan<byte> s, int off) => BinaryPrimitives.ReadUInt32LittleEndian(s[off..]);
}

/// <summary>One .BTF.ext line_info record: instruction byte offset in its section, file and line.</summary>
public readonly record struct BtfLineInfo(uint InsnOff, string File, string LineText, int Line, int Column);

/// <summary>
/// One .BTF.ext core_relo record (struct bpf_core_relo): the instruction's byte offset in its
/// section, the local BTF type, the access string ("0:1:2") and the relocation kind.
/// </summary>
public readonly record struct BtfCoreRelo(uint InsnOff, int TypeId, string Access, BpfCoreReloKind Kind, int ExtOffset);

/// <summary>enum bpf_core_relo_kind (include/uapi/linux/bpf.h).</summary>
public enum BpfCoreReloKind
{
    FieldByteOffset = 0, FieldByteSize = 1, FieldExists = 2, FieldSigned = 3, FieldLshiftU64 = 4, FieldRshiftU64 = 5,
    TypeIdLocal = 6, TypeIdTarget = 7, TypeExists = 8, TypeSize = 9, EnumvalExists = 10, EnumvalValue = 11, TypeMatches = 12,
}

/// <summary>The .BTF.ext section's func_info, line_info and core_relo, per ELF section name.</summary>
public sealed class BtfExt
{
    public Dictionary<string, List<BtfLineInfo>> LineInfo { get; } = new(StringComparer.Ordinal);
    public Dictionary<string, List<(uint InsnOff, int TypeId)>> FuncInfo { get; } = new(StringComparer.Ordinal);
    /// <summary>CO-RE relocations per section, in record order (libbpf numbers them "relo #i" per section).</summary>
    public Dictionary<string, List<BtfCoreRelo>> CoreRelos { get; } = new(StringComparer.Ordinal);

    public static BtfExt Parse(ReadOnlySpan<byte> s, BtfData btf)
    {
        var ext = new BtfExt();
        if (s.Length < 24 || BinaryPrimitives.ReadUInt16LittleEndian(s) != 0xeB9F)
            throw new FormatException("bad BTF.ext magic");
        uint hdrLen = U32(s, 4), fOff = U32(s, 8), fLen = U32(s, 12), lOff = U32(s, 16), lLen = U32(s, 20);
        ReadInfo(s, hdrLen + fOff, fLen, (sec, rec) =>
        {
            if (!ext.FuncInfo.TryGetValue(sec, out var l)) ext.FuncInfo[sec] = l = new();
            l.Add((U32(rec, 0), (int)U32(rec, 4)));
        }, btf);
        ReadInfo(s, hdrLen + lOff, lLen, (sec, rec) =>
        {
            if (!ext.LineInfo.TryGetValue(sec, out var l)) ext.LineInfo[sec] = l = new();
            uint lc = U32(rec, 12);
            l.Add(new(U32(rec, 0), btf.String(U32(rec, 4)), btf.String(U32(rec, 8)), (int)(lc >> 10), (int)(lc & 0x3ff)));
        }, btf);
        foreach (var l in ext.LineInfo.Values) l.Sort((a, b) => a.InsnOff.CompareTo(b.InsnOff));
        // btf_ext_parse_hdr: a header of 32 bytes or more also carries core_relo_off/len.
        if (hdrLen >= 32)
        {
            if (s.Length < 32) throw new FormatException($"header of {hdrLen} bytes is longer than the {s.Length}-byte section");
            uint cOff = U32(s, 24), cLen = U32(s, 28);
            ReadInfo(s, hdrLen + cOff, cLen, (sec, rec, at) =>
            {
                if (!ext.CoreRelos.TryGetValue(sec, out var l)) ext.CoreRelos[sec] = l = new();
                uint insnOff = U32(rec, 0), kind = U32(rec, 12);
                if (insnOff % 8 != 0) throw new FormatException($"core_relo record at offset {at}: insn_off {insnOff} is not a multiple of 8");
                if (kind > (uint)BpfCoreReloKind.TypeMatches) throw new FormatException($"core_relo record at offset {at}: unknown relocation kind {kind}");
                int typeId = (int)U32(rec, 4);
                if (btf[typeId] is null) throw new FormatException($"core_relo record at offset {at}: type_id {typeId} names no type in .BTF");
                string access = btf.String(U32(rec, 8));
                l.Add(new BtfCoreRelo(insnOff, typeId, access, (BpfCoreReloKind)kind, at));
            }, btf, "core_relo", 16);
        }
        return ext;
    }

    private delegate void RecordFn(string section, ReadOnlySpan<byte> rec, int at);
    private delegate void SimpleFn(string section, ReadOnlySpan<byte> rec);

    private static void ReadInfo(ReadOnlySpan<byte> s, uint off, uint len, SimpleFn fn, BtfData btf) =>
        ReadInfo(s, off, len, (sec, rec, _) => fn(sec, rec), btf, "info", 8);

    // One info subsection: rec_size, then per ELF section {sec_name_off, num_info, records}. Offsets
    // in messages are from the start of .BTF.ext.
    private static void ReadInfo(ReadOnlySpan<byte> s, uint off, uint len, RecordFn fn, BtfData btf, string what, uint minRec)
    {
        if (len == 0) return;
        if ((ulong)off + len > (ulong)s.Length) throw new FormatException($"BTF.ext {what} at offset {off} ({len} bytes) out of range of the {s.Length}-byte section");
        var d = s.Slice((int)off, (int)len);
        if (d.Length < 4) throw new FormatException($"BTF.ext {what} at offset {off}: no record size");
        uint recSize = U32(d, 0);
        if (recSize < minRec || recSize > 1024) throw new FormatException($"BTF.ext {what} at offset {off}: record size {recSize} is not valid (at least {minRec})");
        int p = 4;
        while (p + 8 <= d.Length)
        {
            string sec = btf.String(U32(d, p));
            uint n = U32(d, p + 4);
            p += 8;
            for (uint i = 0; i < n; i++, p += (int)recSize)
            {
                if (p + recSize > d.Length) throw new FormatException($"BTF.ext {what} record at offset {off + p} truncated (section '{sec}', record {i} of {n})");
                fn(sec, d.Slice(p, (int)recSize), (int)off + p);
            }
        }
        if (p != d.Length) throw new FormatException($"BTF.ext {what} at offset {off + p}: {d.Length - p} trailing bytes");
    }

    private static uint U32(ReadOnlySpan<byte> s, int off) => BinaryPrimitives.ReadUInt32LittleEndian(s[off..]);
    private static uint U32(ReadOnlySpan<byte> s, uint off) => U32(s, (int)off);
}

using System.Globalization;
using System.Text.Json;

namespace BpfTraceSim.Kernel.Btf;

/// <summary>A "btf_types" entry or a "value" that does not describe a valid type/value; Path names the member.</summary>
public sealed class BtfJsonException(string path, string message) : Exception($"{path}: {message}")
{
    public string Path { get; } = path;
    public string Detail { get; } = message;
}

/// <summary>
/// The exec document's BTF shapes: "btf_types" (types by name, BTF-like) and "value" (a JSON value
/// shaped like a type, encoded to the bytes the type lays out).
/// </summary>
public static class BtfJson
{
    /// <summary>
    /// Adds every entry of a "btf_types" object to btf. Keys are C names ("struct foo", "myint");
    /// references may name types of the same object in any order, "T *" and "T[N]" included.
    /// </summary>
    public static void AddTypes(Btf btf, JsonElement types, string path = "btf_types")
    {
        if (types.ValueKind != JsonValueKind.Object) throw new BtfJsonException(path, "must be an object of types by name");
        var pending = new List<(uint Id, string Path, JsonElement Def)>();
        // Pass 1: create every named type so that references resolve in any order.
        foreach (var p in types.EnumerateObject())
        {
            string ep = $"{path}[\"{p.Name}\"]";
            var def = p.Value;
            if (def.ValueKind != JsonValueKind.Object) throw new BtfJsonException(ep, "must be an object");
            string kind = Str(def, "kind", ep);
            string name = StripKeyword(p.Name.Trim(), kind, ep);
            if (btf.TryFind(KeyFor(kind, name), out _)) throw new BtfJsonException(ep, $"type '{p.Name}' is already defined");
            BtfType t = kind switch
            {
                "int" => MakeInt(def, name, ep),
                "struct" => new BtfType { Kind = BtfKind.Struct, Name = name, Size = U32(def, "size", ep) },
                "union" => new BtfType { Kind = BtfKind.Union, Name = name, Size = U32(def, "size", ep) },
                "enum" => MakeEnum(def, name, ep),
                "typedef" => BtfType.Typedef(name, 0),
                "ptr" => new BtfType { Kind = BtfKind.Ptr, Name = name },
                "const" => new BtfType { Kind = BtfKind.Const, Name = name },
                "volatile" => new BtfType { Kind = BtfKind.Volatile, Name = name },
                "array" => new BtfType { Kind = BtfKind.Array, Name = name, ArrayLen = U32(def, "len", ep) },
                "fwd" => BtfType.Fwd(name, def.TryGetProperty("union", out var u) && u.ValueKind == JsonValueKind.True),
                _ => throw new BtfJsonException(ep + ".kind", $"unknown kind '{kind}' (int, struct, union, enum, typedef, ptr, array, const, volatile, fwd)"),
            };
            pending.Add((btf.Add(t), ep, def));
        }
        // Pass 2: references and members.
        foreach (var (id, ep, def) in pending)
        {
            var t = btf.TypeById(id)!;
            switch (t.Kind)
            {
                case BtfKind.Typedef:
                case BtfKind.Ptr:
                case BtfKind.Const:
                case BtfKind.Volatile:
                case BtfKind.Array:
                    btf.SetRef(id, Ref(btf, def, "type", ep));
                    break;
                case BtfKind.Struct:
                case BtfKind.Union:
                    btf.SetMembers(id, Members(btf, t, def, ep));
                    break;
            }
        }
    }

    private static string KeyFor(string kind, string name) => kind switch
    {
        "struct" => "struct " + name,
        "union" => "union " + name,
        "enum" => "enum " + name,
        _ => name,
    };

    private static string StripKeyword(string key, string kind, string path)
    {
        foreach (var kw in new[] { "struct ", "union ", "enum " })
        {
            if (!key.StartsWith(kw, StringComparison.Ordinal)) continue;
            if (kw.TrimEnd() != kind && !(kind == "fwd" && kw != "enum "))
                throw new BtfJsonException(path, $"name says '{kw.TrimEnd()}' but kind is '{kind}'");
            return key[kw.Length..].Trim();
        }
        return key;
    }

    private static BtfType MakeInt(JsonElement def, string name, string path)
    {
        uint size = U32(def, "size", path);
        if (size is not (1 or 2 or 4 or 8 or 16)) throw new BtfJsonException(path + ".size", "an int is 1, 2, 4, 8 or 16 bytes");
        var enc = BtfIntEncoding.None;
        if (Bool(def, "signed", path)) enc |= BtfIntEncoding.Signed;
        if (Bool(def, "char", path)) enc |= BtfIntEncoding.Char;
        if (Bool(def, "bool", path)) enc |= BtfIntEncoding.Bool;
        if (enc is not (BtfIntEncoding.None or BtfIntEncoding.Signed or BtfIntEncoding.Char or BtfIntEncoding.Bool))
            throw new BtfJsonException(path, "at most one of signed, char, bool");
        uint bits = def.TryGetProperty("bits", out _) ? U32(def, "bits", path) : size * 8;
        uint off = def.TryGetProperty("offset", out _) ? U32(def, "offset", path) : 0;
        if (bits == 0 || bits + off > size * 8) throw new BtfJsonException(path + ".bits", "bits + offset must fit in the size");
        return BtfType.Int(name, size, enc, (byte)bits, (byte)off);
    }

    private static BtfType MakeEnum(JsonElement def, string name, string path)
    {
        uint size = def.TryGetProperty("size", out _) ? U32(def, "size", path) : 4;
        if (size is not (1 or 2 or 4 or 8)) throw new BtfJsonException(path + ".size", "an enum is 1, 2, 4 or 8 bytes");
        if (!def.TryGetProperty("values", out var vals) || vals.ValueKind != JsonValueKind.Object)
            throw new BtfJsonException(path + ".values", "must be an object of enumerator: value");
        var list = new List<BtfEnumValue>();
        foreach (var v in vals.EnumerateObject())
        {
            long x = Int(v.Value, $"{path}.values.{v.Name}");
            if (x < int.MinValue || x > uint.MaxValue) throw new BtfJsonException($"{path}.values.{v.Name}", "must fit in 32 bits");
            list.Add(new BtfEnumValue(v.Name, unchecked((int)x)));
        }
        return BtfType.Enum(name, size, Bool(def, "signed", path), list.ToArray());
    }

    private static List<BtfMember> Members(Btf btf, BtfType t, JsonElement def, string path)
    {
        if (!def.TryGetProperty("members", out var ms) || ms.ValueKind != JsonValueKind.Array)
            throw new BtfJsonException(path + ".members", "must be an array");
        var list = new List<BtfMember>();
        int i = 0;
        foreach (var m in ms.EnumerateArray())
        {
            string mp = $"{path}.members[{i++}]";
            if (m.ValueKind != JsonValueKind.Object) throw new BtfJsonException(mp, "must be an object");
            string name = m.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString()! : "";
            if (name.Length > 0) mp = $"{mp} ('{name}')";
            uint type = Ref(btf, m, "type", mp);
            uint off = m.TryGetProperty("offset_bits", out _) ? U32(m, "offset_bits", mp) : 0;
            uint bf = m.TryGetProperty("bitfield_bits", out _) ? U32(m, "bitfield_bits", mp) : 0;
            if (t.Kind == BtfKind.Union && off != 0) throw new BtfJsonException(mp + ".offset_bits", "union members start at bit 0");
            if (bf == 0 && (off & 7) != 0) throw new BtfJsonException(mp + ".offset_bits", "a member that is not a bitfield must be byte aligned");
            if (bf > 128) throw new BtfJsonException(mp + ".bitfield_bits", "at most 128");
            long msize = bf != 0 ? ((off & 7) + bf + 7) / 8 : btf.ResolveSize(btf.TypeById(type));
            if (msize < 0) msize = 0;
            if ((off >> 3) + msize > t.Size) throw new BtfJsonException(mp, $"member exceeds the {t.Size}-byte {(t.Kind == BtfKind.Union ? "union" : "struct")}");
            list.Add(new BtfMember(name, type, off, bf));
        }
        return list;
    }

    private static uint Ref(Btf btf, JsonElement def, string prop, string path)
    {
        string name = Str(def, prop, path);
        if (!btf.TryFind(name, out uint id)) throw new BtfJsonException(path + "." + prop, $"unknown type '{name}'");
        return id;
    }

    private static string Str(JsonElement def, string prop, string path)
    {
        if (!def.TryGetProperty(prop, out var v) || v.ValueKind != JsonValueKind.String)
            throw new BtfJsonException(path + "." + prop, "missing or not a string");
        return v.GetString()!;
    }

    private static bool Bool(JsonElement def, string prop, string path)
    {
        if (!def.TryGetProperty(prop, out var v)) return false;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new BtfJsonException(path + "." + prop, "must be true or false"),
        };
    }

    private static uint U32(JsonElement def, string prop, string path)
    {
        if (!def.TryGetProperty(prop, out var v)) throw new BtfJsonException(path + "." + prop, "missing");
        long x = Int(v, path + "." + prop);
        if (x < 0 || x > uint.MaxValue) throw new BtfJsonException(path + "." + prop, "out of range");
        return (uint)x;
    }

    /// <summary>An integer as a JSON number or a string ("0x10", "-22"); up to 64 bits signed or unsigned.</summary>
    public static long Int(JsonElement v, string path)
    {
        if (v.ValueKind == JsonValueKind.Number)
        {
            if (v.TryGetInt64(out long l)) return l;
            if (v.TryGetUInt64(out ulong u)) return unchecked((long)u);
            throw new BtfJsonException(path, "not an integer");
        }
        if (v.ValueKind == JsonValueKind.String)
        {
            string s = v.GetString()!.Trim();
            bool neg = s.StartsWith('-');
            string body = neg ? s[1..] : s;
            ulong u;
            bool ok = body.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
                ? ulong.TryParse(body.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out u)
                : ulong.TryParse(body, NumberStyles.None, CultureInfo.InvariantCulture, out u);
            if (!ok) throw new BtfJsonException(path, $"'{s}' is not an integer");
            return neg ? unchecked(-(long)u) : unchecked((long)u);
        }
        throw new BtfJsonException(path, "must be an integer (number or string)");
    }

    /// <summary>
    /// Encodes a JSON value shaped like type typeId into its bytes: ints and pointers as integers,
    /// enums as an enumerator name or integer, arrays as JSON arrays (char arrays also as a string),
    /// structs/unions as objects by member name (missing members are zero).
    /// </summary>
    public static byte[] EncodeValue(Btf btf, uint typeId, JsonElement value, string path = "value")
    {
        long size = btf.ResolveSize(btf.TypeById(typeId));
        if (size < 0) throw new BtfJsonException(path, "the type has no size");
        var buf = new byte[size];
        Encode(btf, typeId, value, buf, 0, path);
        return buf;
    }

    private static void Encode(Btf btf, uint typeId, JsonElement v, byte[] buf, int at, string path)
    {
        var t = btf.SkipModifiers(typeId, out _) ?? throw new BtfJsonException(path, "a void value");
        switch (t.Kind)
        {
            case BtfKind.Int:
            {
                long x = v.ValueKind == JsonValueKind.True ? 1 : v.ValueKind == JsonValueKind.False ? 0 : Int(v, path);
                if (t.IntBits < 64)
                {
                    long min = (t.IntEncoding & BtfIntEncoding.Signed) != 0 ? -(1L << (t.IntBits - 1)) : -(1L << (t.IntBits - 1));
                    long max = (1L << t.IntBits) - 1;
                    if (x < min || x > max) throw new BtfJsonException(path, $"{x} does not fit in {t.IntBits} bits");
                }
                PutBits(buf, at * 8 + t.IntOffset, t.IntBits, (UInt128)(ulong)x);
                break;
            }
            case BtfKind.Ptr:
                PutBits(buf, at * 8, 64, (ulong)Int(v, path));
                break;
            case BtfKind.Enum:
            {
                long x;
                if (v.ValueKind == JsonValueKind.String && t.EnumValues.FirstOrDefault(e => e.Name == v.GetString()) is { } e)
                    x = e.Value;
                else
                    x = Int(v, path);
                PutBits(buf, at * 8, (int)Math.Min(t.Size * 8, 64), (UInt128)(ulong)x);
                break;
            }
            case BtfKind.Array:
            {
                var elem = btf.SkipModifiers(t.RefTypeId, out _);
                long esize = btf.ResolveSize(btf.TypeById(t.RefTypeId));
                if (v.ValueKind == JsonValueKind.String && elem is { Kind: BtfKind.Int, Size: 1 })
                {
                    byte[] s = System.Text.Encoding.UTF8.GetBytes(v.GetString()!);
                    if (s.Length > t.ArrayLen) throw new BtfJsonException(path, $"string of {s.Length} bytes does not fit in {t.ArrayLen}");
                    s.CopyTo(buf, at);
                    break;
                }
                if (v.ValueKind != JsonValueKind.Array) throw new BtfJsonException(path, "must be an array");
                int i = 0;
                foreach (var e in v.EnumerateArray())
                {
                    if (i >= t.ArrayLen) throw new BtfJsonException(path, $"more than {t.ArrayLen} elements");
                    Encode(btf, t.RefTypeId, e, buf, at + (int)(i * esize), $"{path}[{i}]");
                    i++;
                }
                break;
            }
            case BtfKind.Struct:
            case BtfKind.Union:
            {
                if (v.ValueKind != JsonValueKind.Object) throw new BtfJsonException(path, "must be an object of members");
                foreach (var p in v.EnumerateObject())
                {
                    var m = t.Members.FirstOrDefault(x => x.Name == p.Name)
                        ?? throw new BtfJsonException($"{path}.{p.Name}", $"no member '{p.Name}' in {Btf.CName(t) ?? "the anonymous type"}");
                    string mp = $"{path}.{p.Name}";
                    if (m.BitfieldBits != 0)
                    {
                        long x = Int(p.Value, mp);
                        if (m.BitfieldBits < 64 && (x < 0 || x >= 1L << (int)m.BitfieldBits))
                            throw new BtfJsonException(mp, $"{x} does not fit in {m.BitfieldBits} bits");
                        PutBits(buf, at * 8 + (int)m.OffsetBits, (int)m.BitfieldBits, (UInt128)(ulong)x);
                    }
                    else
                    {
                        Encode(btf, m.TypeId, p.Value, buf, at + (int)(m.OffsetBits >> 3), mp);
                    }
                }
                break;
            }
            default:
                throw new BtfJsonException(path, $"cannot encode a value of kind {BtfType.KindString(t.Kind)}");
        }
    }

    private static void PutBits(byte[] buf, int bitOff, int bits, UInt128 v)
    {
        for (int i = 0; i < bits; i++)
        {
            int b = bitOff + i;
            if ((b >> 3) >= buf.Length) throw new BtfJsonException("value", "value runs past the object");
            if (((v >> i) & 1) != 0) buf[b >> 3] |= (byte)(1 << (b & 7));
            else buf[b >> 3] &= (byte)~(1 << (b & 7));
        }
    }
}

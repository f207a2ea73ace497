using System.Globalization;
using System.Text;

namespace BpfTraceSim.Kernel.Btf;

/// <summary>Where btf_show output goes (the kernel's showfn): one call per btf_show() chunk.</summary>
public interface IBtfShowSink
{
    void Show(ReadOnlySpan<byte> chunk);
}

/// <summary>
/// btf_type_show and the btf_*_show functions of kernel/bpf/btf.c: prints a typed object read from
/// simulated kernel memory through the kernel's 32-byte safe-copy window, with its two-pass
/// zero skipping, names, delimiters, indentation and quirks (see docs in the report).
/// </summary>
public sealed class BtfShow
{
    private const int SafeSize = 32;        // BTF_SHOW_OBJ_SAFE_SIZE
    private const int BaseTypeSize = 16;    // BTF_SHOW_OBJ_BASE_TYPE_SIZE
    private const int NameSize = 80;        // BTF_SHOW_NAME_SIZE (79 characters + NUL)
    private const int MaxIter = 10;         // BTF_SHOW_MAX_ITER
    public const int ERANGE = 34;

    private readonly Btf _btf;
    private readonly SimMemory _mem;
    private readonly ulong _flags;
    private readonly Func<ulong, ulong> _hashPointer;
    private readonly IBtfShowSink _sink;
    private readonly List<byte> _chunk = new(128);

    // show->state
    private int _depth, _depthToShow, _depthCheck;
    private bool _arrayMember, _arrayTerminated;
    private BtfIntEncoding _arrayEncoding;
    private uint _typeId;
    private BtfType? _type;
    private BtfMember? _member;
    private int _status;

    // show->obj
    private ulong _objSize, _objHead, _objData;
    private readonly byte[] _safe = new byte[SafeSize];

    private BtfShow(Btf btf, SimMemory mem, ulong flags, Func<ulong, ulong> hashPointer, IBtfShowSink sink)
    {
        _btf = btf;
        _mem = mem;
        _flags = flags;
        _hashPointer = hashPointer;
        _sink = sink;
    }

    private bool Compact => (_flags & BpfFlags.BTF_F_COMPACT) != 0;
    private bool NoName => (_flags & BpfFlags.BTF_F_NONAME) != 0;
    private bool ShowZero => (_flags & BpfFlags.BTF_F_ZERO) != 0;
    private bool PtrRaw => (_flags & BpfFlags.BTF_F_PTR_RAW) != 0;

    /// <summary>
    /// btf_type_show: prints the object of type typeId at addr (kernel memory). Returns the final
    /// show status: 0, or the negative errno of the last failed safe copy (-ERANGE for a user,
    /// NULL or non-canonical address, -EFAULT for an unmapped kernel address).
    /// hashPointer maps a pointer to what %p prints (the printk engine's per-boot hash).
    /// </summary>
    public static int Show(Btf btf, uint typeId, ulong addr, SimMemory mem, ulong flags,
        Func<ulong, ulong> hashPointer, IBtfShowSink sink)
    {
        var t = btf.TypeById(typeId) ?? throw new ArgumentException($"no BTF type {typeId}", nameof(typeId));
        var s = new BtfShow(btf, mem, flags, hashPointer, sink);
        s.Dispatch(t, typeId, addr, 0);
        return s._status;
    }

    /// <summary>Convenience for tests and bpf_snprintf_btf-like callers: the value bytes placed in fresh kernel memory.</summary>
    public static int ShowValue(Btf btf, uint typeId, ReadOnlySpan<byte> value, ulong flags,
        Func<ulong, ulong> hashPointer, IBtfShowSink sink)
    {
        var mem = new SimMemory();
        ulong addr = mem.Map(AddressSpace.Kernel, value.ToArray(), writable: false);
        return Show(btf, typeId, addr, mem, flags, hashPointer, sink);
    }

    /// <summary>copy_from_kernel_nofault on x86_64: user-half and non-canonical addresses are -ERANGE.</summary>
    public static int CopyFromKernelNofault(SimMemory mem, Span<byte> dst, ulong addr, long len)
    {
        // Below TASK_SIZE_MAX + PAGE_SIZE, or non-canonical (48-bit): both are below the kernel half.
        if (addr < 0xffff_8000_0000_0000UL) return -ERANGE;
        if (len < 0) return -Errno.EFAULT;
        if (len == 0) return 0;
        return mem.TryRead(addr, dst[..(int)len], AddressSpace.Kernel) ? 0 : -Errno.EFAULT;
    }

    private void Dispatch(BtfType t, uint typeId, ulong addr, int bitsOffset)
    {
        switch (t.Kind)
        {
            case BtfKind.Int: IntShow(t, typeId, addr, bitsOffset); break;
            case BtfKind.Ptr: PtrShow(t, typeId, addr); break;
            case BtfKind.Array: ArrayShow(t, typeId, addr, bitsOffset); break;
            case BtfKind.Struct:
            case BtfKind.Union: StructShow(t, typeId, addr, bitsOffset); break;
            case BtfKind.Enum: EnumShow(t, typeId, addr); break;
            case BtfKind.Typedef:
            case BtfKind.Const:
            case BtfKind.Volatile: ModifierShow(typeId, addr, bitsOffset); break;
            default: DfShow(t); break;
        }
    }

    // btf_modifier_show without resolved ids (as for vmlinux BTF): the original id is kept, so names show the typedef.
    private void ModifierShow(uint typeId, ulong addr, int bitsOffset)
    {
        var t = _btf.SkipModifiers(typeId, out _);
        if (t is null)
        {
            DfShow(new BtfType { Kind = BtfKind.Void });
            return;
        }
        Dispatch(t, typeId, addr, bitsOffset);
    }

    private void DfShow(BtfType t) => Emit("<unsupported kind:" + BtfType.KindString(t.Kind) + ">");

    // ---- output helpers -------------------------------------------------------------------

    private void Emit(string ascii)
    {
        if (_depthCheck != 0) return;
        _chunk.Clear();
        AppendAscii(ascii);
        Flush();
    }

    private void AppendAscii(string s)
    {
        foreach (char c in s) _chunk.Add((byte)c);
    }

    private void Flush()
    {
        Span<byte> tmp = _chunk.Count <= 512 ? stackalloc byte[_chunk.Count] : new byte[_chunk.Count];
        for (int i = 0; i < tmp.Length; i++) tmp[i] = _chunk[i];
        _sink.Show(tmp);
    }

    private string Indent() => Compact ? "" : new string(' ', Math.Min(_depth, 32));
    private string Newline() => Compact ? "" : "\n";

    private string Delim()
    {
        if (_depth == 0) return "";
        if (Compact && _type is not null && _type.Kind == BtfKind.Union) return "|";
        return ",";
    }

    // btf_show_type_value: zero values are skipped below the top level unless BTF_F_ZERO.
    private void TypeValue(string value, bool nonZero) => TypeValueBytes(Encoding.Latin1.GetBytes(value), nonZero);

    private void TypeValueBytes(ReadOnlySpan<byte> value, bool nonZero)
    {
        if (!nonZero && !ShowZero && _depth != 0) return;
        TypeValuesBytes(value);
    }

    // btf_show_type_values: always shown.
    private void TypeValuesBytes(ReadOnlySpan<byte> value)
    {
        if (_depthCheck == 0)
        {
            _chunk.Clear();
            AppendAscii(Indent());
            AppendAscii(Name());
            foreach (byte b in value) _chunk.Add(b);
            AppendAscii(Delim());
            AppendAscii(Newline());
            Flush();
        }
        if (_depth > _depthToShow) _depthToShow = _depth;
    }

    // btf_show_name: "[.member = ](type)parens", or just the parens with BTF_F_NONAME.
    private string Name()
    {
        if (_arrayMember) return "";
        uint id = _typeId;
        string? memberName = null;
        bool showMember = false;
        if (_member is not null)
        {
            memberName = _member.Name;
            showMember = memberName.Length > 0;
            id = _member.TypeId;
        }
        var t = _btf.TypeById(id);
        if (t is null) return "";

        string? name = null;
        string prefix = "", parens = "";
        bool sawTypedef = false, sawArray = false, sawPtr = false;
        int arrays = 0, ptrs = 0;
        int i;
        for (i = 0; i < MaxIter; i++)
        {
            switch (t!.Kind)
            {
                case BtfKind.Typedef:
                    name ??= t.Name;
                    sawTypedef = true;
                    id = t.RefTypeId;
                    break;
                case BtfKind.Array:
                    sawArray = true;
                    parens = "[";
                    if (arrays < MaxIter) arrays++;
                    id = t.RefTypeId;
                    break;
                case BtfKind.Ptr:
                    sawPtr = true;
                    if (ptrs < MaxIter) ptrs++;
                    id = t.RefTypeId;
                    break;
                default:
                    id = 0;
                    break;
            }
            if (id == 0) break;
            t = SkipQualifiers(id);
            if (t is null) return "";
        }
        if (i == MaxIter) return "";
        name ??= t!.Name;
        switch (t!.Kind)
        {
            case BtfKind.Struct:
            case BtfKind.Union:
                prefix = t.Kind == BtfKind.Struct ? "struct" : "union";
                if (!sawArray) parens = "{";
                break;
            case BtfKind.Enum:
                prefix = "enum";
                break;
        }
        if (sawPtr) parens = "";
        if (sawTypedef) prefix = "";

        string full;
        if (NoName)
        {
            full = parens;
        }
        else
        {
            var sb = new StringBuilder(64);
            if (showMember) sb.Append('.').Append(memberName).Append(" = ");
            sb.Append('(').Append(prefix);
            if (prefix.Length > 0 && name.Length > 0) sb.Append(' ');
            sb.Append(name);
            if (ptrs > 0) sb.Append(' ').Append('*', ptrs);
            for (int k = 0; k < arrays; k++) sb.Append("[]");
            sb.Append(')').Append(parens);
            full = sb.ToString();
        }
        return full.Length >= NameSize ? full[..(NameSize - 1)] : full;
    }

    // btf_type_skip_qualifiers: like skip_modifiers but stops at a typedef.
    private BtfType? SkipQualifiers(uint id)
    {
        var t = _btf.TypeById(id);
        int guard = 0;
        while (t is not null && (t.Kind == BtfKind.Const || t.Kind == BtfKind.Volatile) && guard++ < 64)
            t = _btf.TypeById(t.RefTypeId);
        return t;
    }

    // ---- safe copy window (btf_show_obj_safe) ------------------------------------------------

    /// <summary>Offset of addr's data in the safe buffer, copying a new window when needed; -1 on failure.</summary>
    private int ObjSafe(BtfType t, ulong addr)
    {
        long size = _btf.ResolveSize(t);
        if (size < 0)
        {
            _status = (int)size;
            return -1;
        }
        int safe = -1;
        if (_depth == 0)
        {
            _objSize = (ulong)size;
            _objHead = addr;
        }
        else
        {
            ulong need = (ulong)Math.Min(size, BaseTypeSize);
            if (addr >= _objData && addr + need < _objData + SafeSize) safe = (int)(addr - _objData);
        }
        if (safe < 0)
        {
            long sizeLeft = (long)(_objHead + _objSize - addr);
            if (sizeLeft > SafeSize) sizeLeft = SafeSize;
            _status = CopyFromKernelNofault(_mem, _safe, addr, sizeLeft);
            if (_status == 0)
            {
                _objData = addr;
                safe = 0;
            }
        }
        return safe;
    }

    private int StartType(BtfType t, uint typeId, ulong addr)
    {
        _type = t;
        _typeId = typeId;
        return ObjSafe(t, addr);
    }

    private void EndType()
    {
        _type = null;
        _typeId = 0;
    }

    private int StartAggrType(BtfType t, uint typeId, ulong addr)
    {
        int safe = StartType(t, typeId, addr);
        if (safe < 0) return safe;
        Emit(Indent() + Name() + Newline());
        _depth++;
        return safe;
    }

    private void EndAggrType(string suffix)
    {
        _depth--;
        Emit(Indent() + suffix + Delim() + Newline());
        EndType();
    }

    // ---- kinds ------------------------------------------------------------------------------

    private void IntShow(BtfType t, uint typeId, ulong addr, int bitsOffset)
    {
        bool sign = (t.IntEncoding & BtfIntEncoding.Signed) != 0;
        int safe = StartType(t, typeId, addr);
        if (safe < 0) return;
        var d = _safe.AsSpan(safe);
        if (bitsOffset != 0 || t.IntOffset != 0 || (t.IntBits & 7) != 0)
        {
            IntBitsShow(t, safe, bitsOffset);
            EndType();
            return;
        }
        switch (t.IntBits)
        {
            case 128:
                Int128Print(Le128(d, 16));
                break;
            case 64:
            {
                ulong v = BitConverter.ToUInt64(d);
                TypeValue(sign ? ((long)v).ToString(CultureInfo.InvariantCulture) : v.ToString(CultureInfo.InvariantCulture), v != 0);
                break;
            }
            case 32:
            {
                uint v = BitConverter.ToUInt32(d);
                TypeValue(sign ? ((int)v).ToString(CultureInfo.InvariantCulture) : v.ToString(CultureInfo.InvariantCulture), v != 0);
                break;
            }
            case 16:
            {
                ushort v = BitConverter.ToUInt16(d);
                TypeValue(sign ? ((short)v).ToString(CultureInfo.InvariantCulture) : v.ToString(CultureInfo.InvariantCulture), v != 0);
                break;
            }
            case 8:
            {
                byte c = d[0];
                if (_arrayEncoding == BtfIntEncoding.Char)
                {
                    if (_arrayTerminated) break;
                    if (c == 0)
                    {
                        _arrayTerminated = true;
                        break;
                    }
                    if (IsPrint(c))
                    {
                        ReadOnlySpan<byte> quoted = stackalloc byte[] { (byte)'\'', c, (byte)'\'' };
                        TypeValueBytes(quoted, true);
                        break;
                    }
                }
                TypeValue(sign ? ((sbyte)c).ToString(CultureInfo.InvariantCulture) : c.ToString(CultureInfo.InvariantCulture), c != 0);
                break;
            }
            default:
                IntBitsShow(t, safe, bitsOffset);
                break;
        }
        EndType();
    }

    /// <summary>The kernel's isprint (lib/ctype.c, Latin-1): 0x20-0x7e and 0xa0-0xff.</summary>
    public static bool IsPrint(byte c) => (c >= 0x20 && c <= 0x7e) || c >= 0xa0;

    private void IntBitsShow(BtfType t, int safe, int bitsOffset)
    {
        int total = bitsOffset + t.IntOffset;
        BitfieldShow(safe + (total >> 3), total & 7, t.IntBits);
    }

    // btf_bitfield_show: extract nrBits at bitsOffset (little-endian) and print in hex.
    private void BitfieldShow(int safe, int bitsOffset, int nrBits)
    {
        int nrCopyBits = nrBits + bitsOffset;
        int nrCopyBytes = (nrCopyBits + 7) >> 3;
        UInt128 v = Le128(_safe.AsSpan(safe), Math.Min(nrCopyBytes, Math.Min(16, SafeSize - safe)));
        int left = 128 - nrCopyBits, right = 128 - nrBits;
        v = left >= 128 ? 0 : v << left;
        v = right >= 128 ? 0 : v >> right;
        Int128Print(v);
    }

    private static UInt128 Le128(ReadOnlySpan<byte> d, int n)
    {
        UInt128 v = 0;
        for (int i = Math.Min(n, d.Length) - 1; i >= 0; i--) v = (v << 8) | d[i];
        return v;
    }

    private void Int128Print(UInt128 v)
    {
        ulong upper = (ulong)(v >> 64), lower = (ulong)v;
        if (upper == 0)
            TypeValue("0x" + lower.ToString("x", CultureInfo.InvariantCulture), lower != 0);
        else
            TypeValuesBytes(Encoding.ASCII.GetBytes("0x" + upper.ToString("x", CultureInfo.InvariantCulture) +
                lower.ToString("x16", CultureInfo.InvariantCulture)));
    }

    private void PtrShow(BtfType t, uint typeId, ulong addr)
    {
        int safe = StartType(t, typeId, addr);
        if (safe < 0) return;
        ulong p = BitConverter.ToUInt64(_safe, safe);
        // "0x%px" raw; "0x%p" hashed, except NULL and error values which %p prints raw.
        ulong shown = PtrRaw || p == 0 || p > unchecked((ulong)-4096L) ? p : _hashPointer(p);
        TypeValue("0x" + shown.ToString("x16", CultureInfo.InvariantCulture), p != 0);
        EndType();
    }

    private void EnumShow(BtfType t, uint typeId, ulong addr)
    {
        int safe = StartType(t, typeId, addr);
        if (safe < 0) return;
        int v = BitConverter.ToInt32(_safe, safe); // the kernel reads an int whatever the enum's size
        foreach (var e in t.EnumValues)
        {
            if (e.Value != v) continue;
            TypeValue(e.Name, true); // the value passed is the name pointer: never zero
            EndType();
            return;
        }
        TypeValue(t.EnumSigned ? v.ToString(CultureInfo.InvariantCulture) : ((uint)v).ToString(CultureInfo.InvariantCulture), v != 0);
        EndType();
    }

    // btf_array_show / btf_struct_show: below the top level (and without BTF_F_ZERO) a silent first
    // pass finds whether anything non-zero would be shown.
    private void ArrayShow(BtfType t, uint typeId, ulong addr, int bitsOffset)
    {
        if (CheckPass(() => ArrayShowInner(t, typeId, addr, bitsOffset))) ArrayShowInner(t, typeId, addr, bitsOffset);
    }

    private void StructShow(BtfType t, uint typeId, ulong addr, int bitsOffset)
    {
        if (CheckPass(() => StructShowInner(t, typeId, addr))) StructShowInner(t, typeId, addr);
    }

    /// <summary>Runs the zero-check pass when needed; true when the real pass should run.</summary>
    private bool CheckPass(Action inner)
    {
        var m = _member;
        if (_depth > 0 && !ShowZero)
        {
            if (_depthCheck == 0)
            {
                _depthCheck = _depth + 1;
                _depthToShow = 0;
            }
            inner();
            _member = m;
            if (_depthCheck != _depth + 1) return false;
            _depthCheck = 0;
            if (_depthToShow <= _depth) return false;
        }
        return true;
    }

    private void ArrayShowInner(BtfType t, uint typeId, ulong addr, int bitsOffset)
    {
        uint elemTypeId = t.RefTypeId;
        var elem = _btf.SkipModifiers(elemTypeId, out _);
        // btf_type_has_size: pointers and arrays have none, so their elements all show the first one.
        uint elemSize = elem is not null && elem.Kind is BtfKind.Int or BtfKind.Struct or BtfKind.Union or BtfKind.Enum ? elem.Size : 0;
        var encoding = BtfIntEncoding.None;
        if (elem is not null && elem.Kind == BtfKind.Int)
        {
            encoding = elem.IntEncoding;
            if (elemSize == 1) encoding = BtfIntEncoding.Char;
        }
        _arrayEncoding = encoding;
        _arrayTerminated = false;
        if (StartAggrType(t, typeId, addr) < 0) return;
        if (elem is not null)
        {
            for (uint i = 0; i < t.ArrayLen; i++)
            {
                _arrayMember = true;
                _member = null;
                Dispatch(elem, elemTypeId, addr, bitsOffset);
                addr += elemSize;
                _arrayMember = false;
                _member = null;
                if (_arrayTerminated) break;
            }
        }
        _arrayEncoding = BtfIntEncoding.None;
        _arrayTerminated = false;
        EndAggrType("]");
    }

    private void StructShowInner(BtfType t, uint typeId, ulong addr)
    {
        if (StartAggrType(t, typeId, addr) < 0) return;
        foreach (var m in t.Members)
        {
            _member = m;
            var mt = _btf.TypeById(m.TypeId);
            ulong at = addr + (m.OffsetBits >> 3);
            int bits8 = (int)(m.OffsetBits & 7);
            if (mt is null)
            {
                DfShow(new BtfType { Kind = BtfKind.Void });
            }
            else if (m.BitfieldBits != 0)
            {
                int safe = StartType(mt, m.TypeId, at);
                if (safe >= 0) BitfieldShow(safe, bits8, (int)m.BitfieldBits);
                EndType();
            }
            else
            {
                Dispatch(mt, m.TypeId, at, bits8);
            }
            _member = null;
        }
        EndAggrType("}");
    }
}

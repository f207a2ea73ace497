using System.Buffers.Binary;
using BpfTraceSim.Bpf.Btf;
using BpfTraceSim.Bpf.Isa;
using BpfTraceSim.Kernel;
using ELFSharp.ELF;
using ELFSharp.ELF.Sections;

namespace BpfTraceSim.Bpf.Loader;

/// <summary>
/// Reads ELF64 little-endian BPF objects as clang builds them (libbpf conventions): programs by
/// SEC() name and function symbol, BTF-defined maps in .maps, global data sections as array maps,
/// R_BPF_64_64 / R_BPF_64_32 relocations, .BTF and .BTF.ext line info.
/// </summary>
internal static class ElfBpfLoader
{
    private const ushort EM_BPF = 247;
    private const uint R_BPF_64_64 = 1, R_BPF_64_ABS64 = 2, R_BPF_64_ABS32 = 3, R_BPF_64_NODYLD32 = 4, R_BPF_64_32 = 10;

    // the object's __ksym externs by name: typeless ones (their index in BpfObject.Ksyms) and typed
    // ones (the kernel VAR's BTF id, or 0 for a weak one the kernel lacks)
    private sealed record Externs(Dictionary<string, int> Ksyms, Dictionary<string, int> Typed, List<BpfTypedKsym> TypedList, Kernel.Btf.Btf? KernelBtf);

    private sealed record Sym(string Name, ulong Value, ulong Size, SymbolType Type, SymbolBinding Binding, int Shndx);
    private sealed record Rel(ulong Offset, uint Type, Sym Sym);
    private sealed class Sec
    {
        public required int Index;
        public required string Name;
        public required SectionType Type;
        public required ulong Flags;
        public required byte[] Data;
        public required ulong Size;
        public List<Rel> Rels = new();
        public bool IsExec => (Flags & 0x4) != 0 && Type == SectionType.ProgBits;
    }

    /// <param name="kernelBtf">The kernel BTF CO-RE relocations resolve against (null: the simulated vmlinux's, built when the object has any).</param>
    public static BpfObject Load(byte[] bytes, string name, Kernel.Btf.Btf? kernelBtf = null)
    {
        try
        {
            return LoadCore(bytes, name, kernelBtf);
        }
        catch (BpfLoadException) { throw; }
        catch (Exception e) when (e is FormatException or ArgumentException or IndexOutOfRangeException or InvalidOperationException or ArgumentOutOfRangeException
                                   or IOException or OverflowException or KeyNotFoundException or NullReferenceException
                                   or InvalidCastException)
        {
            throw new BpfLoadException($"{name}: not a valid BPF ELF object: {e.Message}");
        }
    }

    // The section header table and every section's extent, checked before ELFSharp reads them, so
    // that a corrupt size or count is refused by name and offset instead of allocating or reading
    // past the file (limits in Kernel's SimLimits).
    private static void CheckSectionTable(byte[] bytes, string name)
    {
        ulong shoff = BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(0x28));
        ushort shentsize = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(0x3a));
        ushort shnum = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(0x3c));
        ushort shstrndx = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(0x3e));
        if (shentsize != 64)
            throw new BpfLoadException($"{name}: e_shentsize {shentsize} is not 64 (sizeof Elf64_Shdr)");
        if (shnum > BpfTraceSim.Kernel.SimLimits.MaxElfSections)
            throw new BpfLoadException($"{name}: {shnum} sections, more than the {BpfTraceSim.Kernel.SimLimits.MaxElfSections} an object may have");
        if (shoff > (ulong)bytes.Length || (ulong)bytes.Length - shoff < (ulong)shnum * 64)
            throw new BpfLoadException($"{name}: section header table at offset {shoff} ({shnum} x 64 bytes) is past the end of the {bytes.Length}-byte file");
        if (shnum > 0 && shstrndx >= shnum)
            throw new BpfLoadException($"{name}: e_shstrndx {shstrndx} names no section (there are {shnum})");
        for (int i = 0; i < shnum; i++)
        {
            var h = bytes.AsSpan((int)shoff + i * 64, 64);
            uint type = BinaryPrimitives.ReadUInt32LittleEndian(h[4..]);
            ulong off = BinaryPrimitives.ReadUInt64LittleEndian(h[0x18..]);
            ulong size = BinaryPrimitives.ReadUInt64LittleEndian(h[0x20..]);
            if (type == 8 /* SHT_NOBITS */)
            {
                if (size > (ulong)BpfTraceSim.Kernel.SimLimits.MaxElfSectionBytes)
                    throw new BpfLoadException($"{name}: section {i} (SHT_NOBITS) is {size} bytes, more than the {BpfTraceSim.Kernel.SimLimits.MaxElfSectionBytes} a section may be");
            }
            // SHT_NULL too: ELFSharp reads every section's contents, and a real null section is empty.
            else if (off > (ulong)bytes.Length || (ulong)bytes.Length - off < size)
                throw new BpfLoadException($"{name}: section {i} at offset {off}, {size} bytes, is past the end of the {bytes.Length}-byte file");
        }
    }

    private static BpfObject LoadCore(byte[] bytes, string name, Kernel.Btf.Btf? kernelBtf)
    {
        if (bytes.Length < 64 || bytes[0] != 0x7f || bytes[1] != (byte)'E' || bytes[2] != (byte)'L' || bytes[3] != (byte)'F')
            throw new BpfLoadException($"{name}: not an ELF file");
        if (bytes[4] != 2 || bytes[5] != 1)
            throw new BpfLoadException($"{name}: not ELF64 little endian (class {bytes[4]}, data {bytes[5]})");
        ushort machine = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(18));
        if (machine != EM_BPF)
            throw new BpfLoadException($"{name}: e_machine {machine} is not EM_BPF (247)");

        CheckSectionTable(bytes, name);
        using var elf = ELFReader.Load<ulong>(new MemoryStream(bytes), true);
        var secs = new List<Sec>();
        foreach (var s in elf.Sections)
        {
            byte[] data = s.Type == SectionType.NoBits ? new byte[(int)s.Size] : s.GetContents();
            secs.Add(new Sec { Index = secs.Count, Name = s.Name, Type = s.Type, Flags = (ulong)s.RawFlags, Data = data, Size = s.Size });
        }

        // Symbols
        var symtab = elf.Sections.OfType<ISymbolTable>().FirstOrDefault()
            ?? throw new BpfLoadException($"{name}: no symbol table");
        var syms = new List<Sym>();
        foreach (var e in symtab.Entries.Cast<SymbolEntry<ulong>>())
            syms.Add(new Sym(e.Name, e.Value, e.Size, e.Type, e.Binding, e.PointedSectionIndex));

        // Relocations: Elf64_Rel entries; sh_info names the section they patch.
        ulong shoff = BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(0x28));
        int shentsize = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(0x3a));
        if (BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(0x3c)) != secs.Count)
            throw new BpfLoadException($"{name}: section count mismatch");
        int secIndex = -1;
        foreach (var s in elf.Sections)
        {
            secIndex++;
            if (s.Type != SectionType.Relocation) continue;
            // sh_info (offset 44 of Elf64_Shdr) names the section the relocations patch.
            int target = (int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(checked((int)shoff + secIndex * shentsize + 44)));
            if (target <= 0 || target >= secs.Count) continue;
            var d = s.GetContents();
            for (int p = 0; p + 16 <= d.Length; p += 16)
            {
                ulong off = BinaryPrimitives.ReadUInt64LittleEndian(d.AsSpan(p));
                ulong info = BinaryPrimitives.ReadUInt64LittleEndian(d.AsSpan(p + 8));
                int si = (int)(info >> 32);
                if (si >= syms.Count) throw new BpfLoadException($"{name}: relocation in '{secs[target].Name}' names symbol {si} of {syms.Count}");
                secs[target].Rels.Add(new Rel(off, (uint)info, syms[si]));
            }
        }

        var btfSec = secs.FirstOrDefault(s => s.Name == ".BTF");
        BtfData? btf = null;
        try
        {
            if (btfSec is not null) btf = BtfData.Parse(btfSec.Data);
        }
        catch (FormatException e) { throw new BpfLoadException($"{name}: section '.BTF': {e.Message}"); }
        BtfExt? ext = null;
        var extSec = secs.FirstOrDefault(s => s.Name == ".BTF.ext");
        try
        {
            if (extSec is not null && btf is not null) ext = BtfExt.Parse(extSec.Data, btf);
        }
        catch (FormatException e) { throw new BpfLoadException($"{name}: section '.BTF.ext': {e.Message}"); }

        // Maps: BTF-defined ones first (in .maps symbol order), then global data sections.
        var maps = new List<BpfMapSpec>();
        var mapBySym = new Dictionary<(int Shndx, ulong Value), int>();
        var mapsSec = secs.FirstOrDefault(s => s.Name == ".maps");
        if (mapsSec is not null)
        {
            if (btf is null) throw new BpfLoadException($"{name}: section '.maps' needs BTF to describe its maps");
            var ds = btf.FindDataSec(".maps") ?? throw new BpfLoadException($"{name}: no BTF DATASEC for '.maps'");
            foreach (var m in ds.Members)
            {
                var v = btf[m.Type];
                if (v is null || v.Kind != BtfKind.Var) throw new BpfLoadException($"{name}: '.maps' entry is not a BTF VAR");
                var sym = syms.FirstOrDefault(s => s.Shndx == mapsSec.Index && s.Name == v.Name && s.Type == SymbolType.Object)
                    ?? throw new BpfLoadException($"{name}: map '{v.Name}' has no ELF symbol in '.maps'");
                var spec = ParseBtfMap(btf, v.Name, (int)v.SizeOrType, name, out int valuesOffset);
                if (spec.Type == BpfMapType.ProgArray) spec = spec with { ProgSlots = ProgArraySlots(name, spec, sym, valuesOffset, mapsSec, secs) };
                mapBySym[(mapsSec.Index, sym.Value)] = maps.Count;
                maps.Add(spec);
            }
        }
        if (secs.Any(s => s.Name == "maps" && s.Size > 0))
            throw new BpfLoadException($"{name}: legacy 'maps' section (struct bpf_map_def) is not supported; use BTF-defined maps in '.maps'", "maps", -1, null);

        var dataMapBySec = new Dictionary<int, int>();
        foreach (var s in secs)
        {
            bool isData = s.Name.StartsWith(".rodata", StringComparison.Ordinal) || s.Name.StartsWith(".data", StringComparison.Ordinal)
                || s.Name.StartsWith(".bss", StringComparison.Ordinal);
            if (!isData || (s.Flags & 0x2) == 0) continue; // SHF_ALLOC only
            dataMapBySec[s.Index] = maps.Count;
            maps.Add(new BpfMapSpec(s.Name, BpfMapType.Array, 4, Math.Max(1, (int)s.Size), 1, 0)
            {
                InitialValue = s.Type == SectionType.NoBits ? new byte[Math.Max(1, (int)s.Size)] : PadTo(s.Data, Math.Max(1, (int)s.Size)),
                ReadOnly = s.Name.StartsWith(".rodata", StringComparison.Ordinal),
            });
        }

        // Globals: BTF DATASEC vars, offsets from the ELF symbols (as libbpf fixes them up).
        var globals = new List<BpfGlobal>();
        if (btf is not null)
        {
            foreach (var (secIdx, mapIdx) in dataMapBySec)
            {
                var ds = btf.FindDataSec(secs[secIdx].Name);
                if (ds is null) continue;
                foreach (var m in ds.Members)
                {
                    var v = btf[m.Type];
                    if (v is null || v.Kind != BtfKind.Var) continue;
                    var sym = syms.FirstOrDefault(s => s.Shndx == secIdx && s.Name == v.Name);
                    long off = sym is not null ? (long)sym.Value : m.Offset;
                    long size = btf.SizeOf((int)v.SizeOrType);
                    if (size < 0) size = sym is not null ? (long)sym.Size : m.Size;
                    globals.Add(new BpfGlobal(v.Name, mapIdx, (int)off, (int)size, secs[secIdx].Name));
                }
            }
        }

        // __ksym externs: VARs of DATASEC .ksyms; typeless (void) ones become addresses at instantiation.
        var ksyms = new List<BpfKsym>();
        var ksymIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        var typedKsyms = new Dictionary<string, int>(StringComparer.Ordinal);
        var typedList = new List<BpfTypedKsym>();
        // the kernel BTF, built once when CO-RE or a typed __ksym needs it
        Kernel.Btf.Btf? kbtf = null;
        CoreRelocator? relocator = null;
        CoreRelocator Relocator() => relocator ??= new CoreRelocator(CoreBtf.FromObject(btf!), CoreBtf.FromKernel(kbtf ??= kernelBtf ?? Kernel.Btf.VmlinuxBtf.Create()));
        if (btf?.FindDataSec(".ksyms") is { } kds)
            foreach (var m in kds.Members)
            {
                if (btf[m.Type] is not { Kind: BtfKind.Var } v) continue;
                bool weak = syms.Any(y => y.Name == v.Name && y.Shndx == 0 && y.Binding == SymbolBinding.Weak);
                if (!btf.IsVoid((int)v.SizeOrType))
                {
                    var typed = ResolveTypedKsym(name, btf, v, weak, Relocator(), kbtf!);
                    typedKsyms[v.Name] = typed?.BtfId ?? 0;
                    if (typed is not null) typedList.Add(typed);
                    continue;
                }
                ksymIndex[v.Name] = ksyms.Count;
                ksyms.Add(new BpfKsym(v.Name, weak));
            }
        var externs = new Externs(ksymIndex, typedKsyms, typedList, kernelBtf);
        var core = ext is { CoreRelos.Count: > 0 } && btf is not null ? Relocator() : null;

        // Programs: function symbols of executable sections (.text: global functions only).
        var text = secs.FirstOrDefault(s => s.Name == ".text" && s.IsExec && s.Size > 0);
        var programs = new List<BpfProgram>();
        foreach (var s in secs.Where(s => s.IsExec && s.Size > 0))
        {
            if (s.Size % BpfInsn.Size != 0)
                throw new BpfLoadException($"{name}: section size {s.Size} is not a multiple of 8", s.Name, -1, null);
            var funcs = syms.Where(y => y.Shndx == s.Index && y.Type == SymbolType.Function
                    && (s != text || y.Binding == SymbolBinding.Global))
                .OrderBy(y => y.Value).ToList();
            foreach (var f in funcs)
                programs.Add(BuildProgram(name, s, f, text, secs, syms, maps, mapBySym, dataMapBySec, ext, externs, core));
        }
        if (programs.Count == 0) throw new BpfLoadException($"{name}: no programs (no function symbols in executable sections)");

        return new BpfObject(name, programs, maps, globals, btf, ksyms);
    }

    // libbpf's bpf_object__resolve_ksym_var_btf_id: the kernel VAR of that name, its type compatible
    // with the extern's (bpf_core_types_are_compat); a weak one the kernel lacks stays unset (null).
    private static BpfTypedKsym? ResolveTypedKsym(string obj, BtfData btf, BtfType v, bool weak, CoreRelocator core, Kernel.Btf.Btf kernel)
    {
        if (!kernel.TryFindVar(v.Name, out uint varId))
        {
            if (weak) return null;
            string msg = $"libbpf: extern (var ksym) '{v.Name}': not found in kernel BTF";
            throw new BpfVerifierException($"{obj}: {msg}", ".ksyms", -1, null, Errno.ESRCH, msg + "\n");
        }
        var kv = kernel.TypeById(varId)!;
        kernel.SkipModifiers(kv.RefTypeId, out uint targId);
        if (core.TypesCompat((int)v.SizeOrType, (int)targId, out string local, out string target) <= 0)
        {
            string msg = $"libbpf: extern (var ksym) '{v.Name}': incompatible types, expected {local}, but kernel has {target}";
            throw new BpfVerifierException($"{obj}: {msg}", ".ksyms", -1, null, Errno.EINVAL, msg + "\n");
        }
        var t = kernel.TypeById(targId);
        return new BpfTypedKsym(v.Name, (int)varId, kv.VarPerCpu, t is null ? "void" : t.Name, t?.Kind is Kernel.Btf.BtfKind.Struct or Kernel.Btf.BtfKind.Union,
            kernel.ResolveSize(t));
    }

    private static byte[] PadTo(byte[] d, int n)
    {
        if (d.Length == n) return (byte[])d.Clone();
        var r = new byte[n];
        d.AsSpan(0, Math.Min(n, d.Length)).CopyTo(r);
        return r;
    }

    /// <summary>
    /// A prog array's initial slots, as libbpf's bpf_object__collect_map_relos reads them: each
    /// R_BPF_64_ABS64 relocation in .maps inside the map's variable, at valuesOffset + 8 * i, names
    /// the program (a function symbol of an executable section) that init_prog_array_slots puts in
    /// slot i after the object's programs are loaded.
    /// </summary>
    private static IReadOnlyList<BpfProgSlot> ProgArraySlots(string obj, BpfMapSpec spec, Sym mapSym, int valuesOffset, Sec mapsSec, List<Sec> secs)
    {
        var slots = new List<BpfProgSlot>();
        foreach (var r in mapsSec.Rels)
        {
            if (r.Offset < mapSym.Value || r.Offset >= mapSym.Value + Math.Max(mapSym.Size, 1)) continue;
            long moff = (long)(r.Offset - mapSym.Value) - valuesOffset;
            if (valuesOffset < 0 || moff < 0 || moff % 8 != 0)
                throw new BpfLoadException($"{obj}: map '{spec.Name}': relocation at .maps+{r.Offset} against '{r.Sym.Name}' is not inside its 'values' array", ".maps", -1, null);
            bool isProg = r.Sym.Type == SymbolType.Function && r.Sym.Shndx > 0 && r.Sym.Shndx < secs.Count && secs[r.Sym.Shndx].IsExec;
            if (!isProg)
                throw new BpfLoadException($"{obj}: map '{spec.Name}': slot [{moff / 8}] names '{r.Sym.Name}', which is not a program", ".maps", -1, null);
            slots.Add(new BpfProgSlot((int)(moff / 8), r.Sym.Name));
        }
        return slots;
    }

    private static BpfMapSpec ParseBtfMap(BtfData btf, string mapName, int typeId, string obj) => ParseBtfMap(btf, mapName, typeId, obj, out _);

    private static BpfMapSpec ParseBtfMap(BtfData btf, string mapName, int typeId, string obj, out int valuesOffset)
    {
        valuesOffset = -1;
        var st = btf.Resolve(typeId);
        if (st is null || st.Kind != BtfKind.Struct)
            throw new BpfLoadException($"{obj}: map '{mapName}' is not a BTF struct");
        int type = 0, maxEntries = 0, keySize = 0, valueSize = 0;
        uint flags = 0;
        foreach (var m in st.Members)
        {
            switch (m.Name)
            {
                case "type": type = UintMember(btf, m, mapName, obj); break;
                case "max_entries": maxEntries = UintMember(btf, m, mapName, obj); break;
                case "map_flags": flags = (uint)UintMember(btf, m, mapName, obj); break;
                case "key_size": keySize = UintMember(btf, m, mapName, obj); break;
                case "value_size": valueSize = UintMember(btf, m, mapName, obj); break;
                case "key": keySize = (int)PointeeSize(btf, m, mapName, obj); break;
                case "value": valueSize = (int)PointeeSize(btf, m, mapName, obj); break;
                case "pinning" or "numa_node" or "map_extra": break;
                // __array(values, int (void *)): the initial slots of a prog array (ProgArraySlots)
                case "values": valuesOffset = (int)((m.Offset & 0xffffff) / 8); break;
                default: throw new BpfLoadException($"{obj}: map '{mapName}': unsupported BTF map attribute '{m.Name}'", ".maps", -1, null);
            }
        }
        var t = (BpfMapType)type;
        if (t is not (BpfMapType.Array or BpfMapType.PercpuArray or BpfMapType.Hash or BpfMapType.PercpuHash
            or BpfMapType.LruHash or BpfMapType.PerfEventArray or BpfMapType.RingBuf or BpfMapType.StackTrace or BpfMapType.ProgArray))
            throw new BpfLoadException($"{obj}: map '{mapName}': map type {type} ({t}) is not supported (supported: array, percpu_array, hash, percpu_hash, lru_hash, perf_event_array, ringbuf, stack_trace, prog_array)", ".maps", -1, null);
        if (t == BpfMapType.ProgArray) return ProgArraySpec(obj, mapName, keySize, valueSize, maxEntries, flags, valuesOffset >= 0);
        if (valuesOffset >= 0)
            throw new BpfLoadException($"{obj}: map '{mapName}': should be map-in-map or prog-array (it has 'values')", ".maps", -1, null);
        if (t == BpfMapType.StackTrace) return StackTraceMap(mapName, keySize, valueSize, maxEntries, flags, obj);
        if (t == BpfMapType.RingBuf)
        {
            // No key or value; max_entries is the ring's byte size (ringbuf_map_alloc's rules).
            int rbErr = Kernel.Ringbuf.BpfRingbuf.CheckCreate((ulong)(uint)maxEntries, (uint)keySize, (uint)valueSize, flags);
            if (rbErr != 0)
                throw new BpfLoadException($"{obj}: map '{mapName}': BPF_MAP_CREATE of a ringbuf refuses it with -{Errno.Name(rbErr)}: max_entries {maxEntries} must be a power of 2 and a multiple of {BpfFlags.PAGE_SIZE}, key and value sizes 0, map_flags only BPF_F_NUMA_NODE", ".maps", -1, null);
            return new BpfMapSpec(mapName, t, 0, 0, maxEntries, flags);
        }
        if (t == BpfMapType.PerfEventArray)
        {
            // libbpf: key and value are 4-byte ints; max_entries 0 means "number of CPUs".
            if (keySize == 0) keySize = 4;
            if (valueSize == 0) valueSize = 4;
        }
        if (t is BpfMapType.Array or BpfMapType.PercpuArray && keySize != 4)
            throw new BpfLoadException($"{obj}: map '{mapName}': array maps need a 4-byte key, not {keySize}", ".maps", -1, null);
        if (keySize <= 0 || valueSize <= 0 || (maxEntries <= 0 && t != BpfMapType.PerfEventArray))
            throw new BpfLoadException($"{obj}: map '{mapName}': key_size {keySize}, value_size {valueSize}, max_entries {maxEntries} are not valid", ".maps", -1, null);
        return new BpfMapSpec(mapName, t, keySize, valueSize, maxEntries, flags);
    }

    // stack_map_alloc's checks (BpfStackMap.CheckCreate), then the simulator's bucket limit
    private static BpfMapSpec StackTraceMap(string mapName, int keySize, int valueSize, int maxEntries, uint flags, string obj)
    {
        long entries = (uint)maxEntries;
        int err = Vm.BpfStackMap.CheckCreate(keySize, valueSize, entries, flags);
        if (err != 0)
            throw new BpfLoadException($"{obj}: map '{mapName}': BPF_MAP_CREATE of a stack_trace map refuses it with -{Errno.Name(err)}: key_size must be 4, value_size a multiple of 8 " +
                $"(of 32 with BPF_F_STACK_BUILD_ID) holding at most {Vm.BpfStackMap.MaxStack} frames, max_entries 1..2^31, map_flags only BPF_F_NUMA_NODE, BPF_F_RDONLY, BPF_F_WRONLY, BPF_F_STACK_BUILD_ID " +
                $"(key_size {keySize}, value_size {valueSize}, max_entries {entries}, map_flags 0x{flags:x})", ".maps", -1, null);
        if (entries > SimLimits.MaxStackMapEntries)
            throw new BpfLoadException($"{obj}: map '{mapName}': max_entries {entries} is more stack buckets than the simulator holds ({SimLimits.MaxStackMapEntries})", ".maps", -1, null);
        return new BpfMapSpec(mapName, BpfMapType.StackTrace, keySize, valueSize, maxEntries, flags);
    }

    /// <summary>
    /// A prog array's spec: libbpf makes value_size 4 when 'values' is declared (another size is a
    /// conflict), then BPF_MAP_CREATE's fd_array_map_alloc_check / array_map_alloc_check refuse with
    /// -EINVAL a value_size other than 4, BPF_F_RDONLY_PROG / BPF_F_WRONLY_PROG, a key_size other
    /// than 4, and max_entries 0.
    /// </summary>
    private static BpfMapSpec ProgArraySpec(string obj, string mapName, int keySize, int valueSize, int maxEntries, uint flags, bool hasValues)
    {
        if (hasValues && valueSize != 0 && valueSize != 4)
            throw new BpfLoadException($"{obj}: map '{mapName}': conflicting value size {valueSize} != 4", ".maps", -1, null);
        if (hasValues) valueSize = 4;
        string? why = valueSize != 4 ? $"value_size {valueSize} (a prog array holds 4-byte program fds)"
            : (flags & (BpfFlags.BPF_F_RDONLY_PROG | BpfFlags.BPF_F_WRONLY_PROG)) != 0 ? $"map_flags 0x{flags:x} (BPF_F_RDONLY_PROG / BPF_F_WRONLY_PROG)"
            : keySize != 4 ? $"key_size {keySize} (an array's key is 4 bytes)"
            : maxEntries <= 0 ? $"max_entries {maxEntries}"
            : null;
        if (why is not null)
            throw new BpfLoadException($"{obj}: map '{mapName}': BPF_MAP_CREATE of a prog array refuses it with -EINVAL: {why}", ".maps", -1, null);
        return new BpfMapSpec(mapName, BpfMapType.ProgArray, keySize, valueSize, maxEntries, flags);
    }

    // __uint(name, N) is "int (*name)[N]": a pointer to an array of N elements.
    private static int UintMember(BtfData btf, BtfMember m, string mapName, string obj)
    {
        var p = btf.Resolve(m.Type);
        var a = p is { Kind: BtfKind.Ptr } ? btf.Resolve((int)p.SizeOrType) : null;
        if (a is null || a.Kind != BtfKind.Array)
            throw new BpfLoadException($"{obj}: map '{mapName}': attribute '{m.Name}' is not __uint()", ".maps", -1, null);
        return (int)a.ArrayLen;
    }

    // __type(name, T) is "T *name".
    private static long PointeeSize(BtfData btf, BtfMember m, string mapName, string obj)
    {
        var p = btf.Resolve(m.Type);
        if (p is null || p.Kind != BtfKind.Ptr)
            throw new BpfLoadException($"{obj}: map '{mapName}': attribute '{m.Name}' is not __type()", ".maps", -1, null);
        long sz = btf.SizeOf((int)p.SizeOrType);
        if (sz <= 0) throw new BpfLoadException($"{obj}: map '{mapName}': size of '{m.Name}' type unknown", ".maps", -1, null);
        return sz;
    }

    private static BpfProgram BuildProgram(string obj, Sec sec, Sym func, Sec? text, List<Sec> secs, List<Sym> syms,
        List<BpfMapSpec> maps, Dictionary<(int, ulong), int> mapBySym, Dictionary<int, int> dataMapBySec, BtfExt? ext, Externs externs,
        CoreRelocator? core)
    {
        // Layout: the function's own instructions, then (for non-.text programs) all of .text, as
        // libbpf appends subprograms. A .text program keeps .text whole with its entry at index 0
        // by rotating: we copy the function first, then .text.
        ulong fStart = func.Value, fSize = func.Size;
        if (fSize == 0)
        {
            // symbol without size: up to the next function symbol or the section end
            ulong next = syms.Where(s => s.Shndx == sec.Index && s.Type == SymbolType.Function && s.Value > fStart).Select(s => s.Value).DefaultIfEmpty(sec.Size).Min();
            fSize = next - fStart;
        }
        if (fStart > sec.Size || fSize > sec.Size - fStart)
            throw new BpfLoadException($"{obj}: section '{sec.Name}': function at {fStart} with size {fSize} extends past the section's {sec.Size} bytes");
        int bodyLen = (int)(fSize / BpfInsn.Size);
        var body = BpfInsn.DecodeAll(sec.Data.AsSpan((int)fStart, (int)fSize));
        bool appendText = text is not null;
        int textBase = bodyLen;
        var textInsns = appendText ? BpfInsn.DecodeAll(text!.Data) : [];
        var insns = new BpfInsn[bodyLen + textInsns.Length];
        body.CopyTo(insns, 0);
        textInsns.CopyTo(insns, textBase);

        // Source lines for both parts.
        var lines = new BpfSourceLine?[insns.Length];
        FillLines(lines, ext, sec.Name, fStart, 0, bodyLen);
        if (appendText) FillLines(lines, ext, ".text", 0, textBase, textInsns.Length);

        // CO-RE first, on the instructions as compiled (libbpf's bpf_object__relocate_core runs before
        // the map and call relocations), for the function's own part and the appended .text.
        Dictionary<int, string>? poisoned = null;
        if (core is not null)
        {
            RelocateCore(obj, core, ext!, sec, func.Name, fStart, fSize, 0, insns, lines, syms, ref poisoned);
            if (appendText) RelocateCore(obj, core, ext!, text!, null, 0, text!.Size, textBase, insns, lines, syms, ref poisoned);
        }

        // Map an instruction byte offset in a section to its index in this program's image.
        int ImageIndex(Sec s, ulong byteOff)
        {
            if (s == sec && byteOff >= fStart && byteOff < fStart + fSize) return (int)((byteOff - fStart) / BpfInsn.Size);
            if (appendText && s == text) return textBase + (int)(byteOff / BpfInsn.Size);
            return -1;
        }

        void Patch(Sec s, int imgBase, int count, ulong secStart)
        {
            foreach (var r in s.Rels)
            {
                if (r.Offset < secStart || r.Offset >= secStart + (ulong)count * BpfInsn.Size) continue;
                int idx = imgBase + (int)((r.Offset - secStart) / BpfInsn.Size);
                ApplyReloc(obj, s.Name, insns, lines, idx, r, sec, text, textBase, secs, maps, mapBySym, dataMapBySec, ImageIndex, externs);
            }
        }
        Patch(sec, 0, bodyLen, fStart);
        if (appendText) Patch(text!, textBase, textInsns.Length, 0);

        // Calls without relocations are pc-relative inside their own section: they must stay in the image.
        for (int i = 0; i < insns.Length; i++)
        {
            var ins = insns[i];
            if (ins.IsCall && ins.Src == Op.CALL_LOCAL)
            {
                long target = (long)i + 1 + ins.Imm;
                if (target < 0 || target >= insns.Length)
                    throw new BpfLoadException($"{obj}: bpf-to-bpf call target {target} outside program '{func.Name}'", sec.Name, i, lines[i]);
            }
            if (ins.IsLdImm64) i++;
        }
        return new BpfProgram(func.Name, sec.Name, insns, lines, bodyLen) { CorePoisoned = poisoned, TypedKsyms = externs.TypedList, KernelBtf = externs.KernelBtf };
    }

    // The CO-RE relocations of one section that fall in [start, start+size), applied to the image at
    // imgBase. libbpf names the (sub)program owning the instruction and its index inside it.
    private static void RelocateCore(string obj, CoreRelocator core, BtfExt ext, Sec s, string? funcName, ulong start, ulong size, int imgBase,
        BpfInsn[] insns, BpfSourceLine?[] lines, List<Sym> syms, ref Dictionary<int, string>? poisoned)
    {
        if (!ext.CoreRelos.TryGetValue(s.Name, out var relos)) return;
        for (int i = 0; i < relos.Count; i++)
        {
            var r = relos[i];
            if (r.InsnOff < start || r.InsnOff >= start + size) continue;
            int idx = imgBase + (int)((r.InsnOff - start) / BpfInsn.Size);
            var owner = funcName is not null ? (Name: funcName, Value: start)
                : syms.Where(y => y.Shndx == s.Index && y.Type == SymbolType.Function && y.Value <= r.InsnOff)
                    .OrderByDescending(y => y.Value).Select(y => (y.Name, y.Value)).FirstOrDefault();
            string prog = owner.Name ?? s.Name;
            int progIdx = (int)((r.InsnOff - owner.Value) / BpfInsn.Size);
            try
            {
                var res = core.Resolve(r, i, prog);
                core.Patch(insns, idx, progIdx, i, res, prog);
                if (insns[idx].IsCall && insns[idx].Imm == CoreRelocator.PoisonImm && core.LocalSpecText(r) is { } spec)
                    (poisoned ??= new())[idx] = spec;
            }
            catch (CoreReloException e)
            {
                string first = e.Message[..e.Message.IndexOf('\n')];
                throw new BpfVerifierException($"{obj}: {first}", s.Name, idx, lines[idx], e.Errno, e.Message);
            }
        }
    }

    private static void FillLines(BpfSourceLine?[] lines, BtfExt? ext, string secName, ulong secStart, int imgBase, int count)
    {
        if (ext is null || !ext.LineInfo.TryGetValue(secName, out var recs)) return;
        BpfSourceLine? cur = null;
        int ri = 0;
        // records are sorted by InsnOff; carry the latest one at or before each instruction
        while (ri < recs.Count && recs[ri].InsnOff < secStart)
        {
            cur = new BpfSourceLine(recs[ri].File, recs[ri].Line, recs[ri].LineText);
            ri++;
        }
        for (int i = 0; i < count; i++)
        {
            ulong off = secStart + (ulong)i * BpfInsn.Size;
            while (ri < recs.Count && recs[ri].InsnOff <= off)
            {
                cur = new BpfSourceLine(recs[ri].File, recs[ri].Line, recs[ri].LineText);
                ri++;
            }
            lines[imgBase + i] = cur;
        }
    }

    private static void ApplyReloc(string obj, string secName, BpfInsn[] insns, BpfSourceLine?[] lines, int idx, Rel r,
        Sec progSec, Sec? text, int textBase, List<Sec> secs, List<BpfMapSpec> maps, Dictionary<(int, ulong), int> mapBySym,
        Dictionary<int, int> dataMapBySec, Func<Sec, ulong, int> imageIndex, Externs externs)
    {
        var ins = insns[idx];
        var sym = r.Sym;
        BpfLoadException Fail(string msg) => new($"{obj}: {msg}", secName, idx, lines[idx]);

        if (sym.Shndx == 0 || sym.Shndx >= 0xff00)
        {
            if (ins.IsCall) throw Fail($"call to extern function '{sym.Name}' (a kfunc) is not supported");
            if (sym.Shndx == 0 && r.Type == R_BPF_64_64 && ins.IsLdImm64 && idx + 1 < insns.Length && externs.Ksyms.TryGetValue(sym.Name, out int k))
            {
                // a typeless __ksym: its address, from the simulated host's kallsyms when instantiated
                insns[idx] = ins with { Src = Op.PSEUDO_KSYM_IDX, Imm = k };
                insns[idx + 1] = insns[idx + 1] with { Imm = 0 };
                return;
            }
            if (sym.Shndx == 0 && r.Type == R_BPF_64_64 && ins.IsLdImm64 && idx + 1 < insns.Length && externs.Typed.TryGetValue(sym.Name, out int btfId))
            {
                // a typed __ksym: ld_imm64 BPF_PSEUDO_BTF_ID of the kernel VAR (fd 0: vmlinux); an unset weak one is 0
                insns[idx] = btfId != 0 ? ins with { Src = Op.PSEUDO_BTF_ID, Imm = btfId } : ins with { Src = 0, Imm = 0 };
                insns[idx + 1] = insns[idx + 1] with { Imm = 0 };
                return;
            }
            throw Fail($"reference to extern symbol '{sym.Name}' (.kconfig/.ksyms) is not supported");
        }
        var target = secs[sym.Shndx];
        if (r.Type == R_BPF_64_64)
        {
            if (!ins.IsLdImm64 || idx + 1 >= insns.Length) throw Fail($"R_BPF_64_64 relocation against '{sym.Name}' on a non-ld_imm64 instruction");
            if (target.Name == ".maps")
            {
                if (!mapBySym.TryGetValue((sym.Shndx, sym.Value), out int mi)) throw Fail($"'{sym.Name}' is not a map in '.maps'");
                insns[idx] = ins with { Src = Op.PSEUDO_MAP_IDX, Imm = mi };
                insns[idx + 1] = insns[idx + 1] with { Imm = 0 };
                return;
            }
            if (dataMapBySec.TryGetValue(sym.Shndx, out int dmi))
            {
                long off = (long)sym.Value + ins.Imm;
                if (off < 0 || off >= Math.Max(1, (long)target.Size) + 1) throw Fail($"offset {off} outside '{target.Name}'");
                insns[idx] = ins with { Src = Op.PSEUDO_MAP_IDX_VALUE, Imm = dmi };
                insns[idx + 1] = insns[idx + 1] with { Imm = (int)off };
                return;
            }
            if (target.IsExec)
            {
                // ld_imm64 of a function address (callbacks): pc-relative like the kernel's BPF_PSEUDO_FUNC.
                int t = imageIndex(target, sym.Value + (ulong)(long)ins.Imm * (sym.Type == SymbolType.Section ? 1ul : 0ul));
                if (t < 0) throw Fail($"function '{sym.Name}' is outside the program");
                insns[idx] = ins with { Src = Op.PSEUDO_FUNC, Imm = t - (idx + 1) };
                return;
            }
            throw Fail($"ld_imm64 relocation against '{sym.Name}' in unsupported section '{target.Name}'");
        }
        if (r.Type == R_BPF_64_32)
        {
            if (!ins.IsCall) throw Fail($"R_BPF_64_32 relocation against '{sym.Name}' on a non-call instruction");
            if (!target.IsExec) throw Fail($"call target '{sym.Name}' is not code");
            // libbpf: target = symbol value (in insns) + imm + 1, relative to the target section
            long tOff = (long)sym.Value / BpfInsn.Size + ins.Imm + 1;
            int t = imageIndex(target, (ulong)(tOff * BpfInsn.Size));
            if (t < 0) throw Fail($"call target '{sym.Name}'+{tOff} is outside the program");
            insns[idx] = ins with { Src = Op.CALL_LOCAL, Imm = t - (idx + 1) };
            return;
        }
        if (r.Type is R_BPF_64_ABS64 or R_BPF_64_ABS32 or R_BPF_64_NODYLD32) return; // data/debug relocations
        throw Fail($"relocation type {r.Type} is not supported");
    }
}
